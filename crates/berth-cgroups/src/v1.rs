//! cgroup v1: one directory per mounted hierarchy (co-mounted controllers share one).

use crate::cgroup::{poll_until, CgroupError, FreezerState};
use crate::cgroup_path::CgroupPath;
use crate::cgroupfs::{self, errno, FsError};
use crate::detect::{CgroupSetup, Controller};
use crate::devices::DevicePolicy;
use crate::resources::{Limit, Resources};
use crate::stats::{self, BlkioStats, Stats};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// v1 reports "no limit" as PAGE_COUNTER_MAX pages, a little under i64::MAX bytes.
const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

/// (bytes, operations) files of BFQ, CFQ and the throttle layer, in order of preference.
const BLKIO_FILES: [(&str, &str); 3] = [
    (
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.bfq.io_serviced_recursive",
    ),
    (
        "blkio.io_service_bytes_recursive",
        "blkio.io_serviced_recursive",
    ),
    (
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_serviced_recursive",
    ),
];

#[derive(Debug, Clone)]
pub(crate) struct V1Cgroup {
    /// The cgroup's directory in each mounted hierarchy.
    dirs: BTreeMap<Controller, PathBuf>,
    /// The mount point of each hierarchy, for creation.
    mounts: BTreeMap<Controller, PathBuf>,
    rel: PathBuf,
}

impl V1Cgroup {
    pub(crate) fn new(setup: &CgroupSetup, path: &CgroupPath) -> Result<V1Cgroup, CgroupError> {
        // The device cgroup is the only thing between CAP_MKNOD and the host's disks.
        if setup.v1_mount(Controller::Devices).is_none() {
            return Err(CgroupError::NotMounted("devices"));
        }
        let mounts = setup.v1_mounts.clone();
        let dirs = mounts.iter().map(|(c, m)| (*c, path.under(m))).collect();
        Ok(V1Cgroup {
            dirs,
            mounts,
            rel: path.relative().to_owned(),
        })
    }

    pub(crate) fn dir(&self, c: Controller) -> Option<&Path> {
        self.dirs.get(&c).map(PathBuf::as_path)
    }

    fn file(&self, c: Controller, name: &str) -> Option<PathBuf> {
        self.dir(c).map(|d| d.join(name))
    }

    /// The distinct directories (co-mounted controllers appear once).
    fn unique_dirs(&self) -> BTreeSet<&Path> {
        self.dirs.values().map(PathBuf::as_path).collect()
    }

    pub(crate) fn primary_dir(&self) -> &Path {
        self.dir(Controller::Freezer)
            .or_else(|| self.dir(Controller::Devices))
            .expect("devices is mounted (checked in new)")
    }

    pub(crate) fn has_freezer(&self) -> bool {
        self.dirs.contains_key(&Controller::Freezer)
    }

    pub(crate) fn exists(&self) -> bool {
        self.unique_dirs().iter().any(|d| cgroupfs::exists(d))
    }

    pub(crate) fn create(&self) -> Result<(), CgroupError> {
        let mut done = BTreeSet::new();
        for mount in self.mounts.values() {
            if !done.insert(mount) {
                continue;
            }
            let cpuset = self.mounts.get(&Controller::Cpuset) == Some(mount);
            cgroupfs::mkdir_all(mount, &self.rel, |level| {
                if cpuset {
                    inherit_cpuset(level)?;
                }
                Ok(())
            })
            .map_err(CgroupError::Create)?;
        }
        Ok(())
    }

    pub(crate) fn add_process(&self, pid: u32) -> Result<(), CgroupError> {
        for dir in self.unique_dirs() {
            cgroupfs::write(&dir.join("cgroup.procs"), &pid.to_string())
                .map_err(|source| CgroupError::AddProcess { pid, source })?;
        }
        Ok(())
    }

    /// Writes "0" (the writer itself) to `tasks` in each hierarchy: the kernel moves one
    /// thread without taking the global threadgroup lock that cgroup.procs needs.
    pub(crate) fn add_current_thread(&self) -> Result<(), CgroupError> {
        for dir in self.unique_dirs() {
            cgroupfs::write(&dir.join("tasks"), "0")
                .map_err(|source| CgroupError::AddProcess { pid: 0, source })?;
        }
        Ok(())
    }

    /// Applies `r`; `live` updates the device rules by difference from devices.list, so a
    /// running container never sees a moment of "deny all".
    pub(crate) fn apply(&self, r: &Resources, live: bool) -> Result<(), CgroupError> {
        self.apply_memory(r)?;
        self.apply_cpu(r)?;
        if let Some(pids) = r.pids_limit {
            let value = match pids {
                Limit::Value(n) if n > 0 => n.to_string(),
                _ => "max".to_owned(),
            };
            self.write(Controller::Pids, "pids.max", &value, "pids limit")?;
        }
        if let Some(weight) = r.blkio_weight {
            self.apply_blkio_weight(weight)?;
        }
        if let Some(rules) = &r.devices {
            self.apply_devices(rules, live)?;
        }
        Ok(())
    }

    /// Writes a control file of a controller that must be mounted and have the file.
    fn write(
        &self,
        c: Controller,
        name: &str,
        value: &str,
        what: &'static str,
    ) -> Result<(), CgroupError> {
        let path = self
            .file(c, name)
            .ok_or(CgroupError::NotMounted(c.name()))?;
        cgroupfs::write(&path, value).map_err(|source| {
            if source.is_not_found() {
                CgroupError::Unsupported { what, path }
            } else {
                CgroupError::Apply { what, source }
            }
        })
    }

    fn apply_memory(&self, r: &Resources) -> Result<(), CgroupError> {
        let m = &r.memory;
        let mut swap = m.swap;
        // Unlimited memory with swap unset means unlimited swap too (as runc does), or
        // the kernel refuses memory > memsw.
        if m.limit == Some(Limit::Unlimited) && swap.is_none() && self.has_memsw() {
            swap = Some(Limit::Unlimited);
        }
        let set_memory = |l: Limit| {
            self.write(
                Controller::Memory,
                "memory.limit_in_bytes",
                &l.v1_string(),
                "memory limit",
            )
        };
        let set_swap = |l: Limit| {
            self.write(
                Controller::Memory,
                "memory.memsw.limit_in_bytes",
                &l.v1_string(),
                "memory+swap limit",
            )
        };
        match (m.limit, swap) {
            (Some(limit), Some(swap)) => {
                // memory <= memsw at every moment: raise memsw first when growing it.
                let current = self.read_memory_limit()?;
                let swap_first = match swap {
                    Limit::Unlimited => true,
                    Limit::Value(s) => current < s,
                };
                if swap_first {
                    set_swap(swap)?;
                    set_memory(limit)?;
                } else {
                    set_memory(limit)?;
                    set_swap(swap)?;
                }
            }
            (Some(limit), None) => set_memory(limit)?,
            (None, Some(swap)) => set_swap(swap)?,
            (None, None) => {}
        }
        if let Some(reservation) = m.reservation {
            let v = reservation.v1_string();
            self.write(
                Controller::Memory,
                "memory.soft_limit_in_bytes",
                &v,
                "memory reservation",
            )?;
        }
        if let Some(disable) = m.disable_oom_killer {
            let v = if disable { "1" } else { "0" };
            self.write(
                Controller::Memory,
                "memory.oom_control",
                v,
                "OOM killer setting",
            )?;
        }
        if let Some(swappiness) = m.swappiness {
            let v = swappiness.to_string();
            self.write(
                Controller::Memory,
                "memory.swappiness",
                &v,
                "memory swappiness",
            )?;
        }
        Ok(())
    }

    fn has_memsw(&self) -> bool {
        self.file(Controller::Memory, "memory.memsw.limit_in_bytes")
            .is_some_and(|p| cgroupfs::exists(&p))
    }

    fn read_memory_limit(&self) -> Result<u64, CgroupError> {
        let path = self
            .file(Controller::Memory, "memory.limit_in_bytes")
            .ok_or(CgroupError::NotMounted("memory"))?;
        cgroupfs::read_u64(&path).map_err(|source| CgroupError::Apply {
            what: "memory limit",
            source,
        })
    }

    fn apply_cpu(&self, r: &Resources) -> Result<(), CgroupError> {
        let c = &r.cpu;
        if let Some(shares) = c.shares {
            self.write(
                Controller::Cpu,
                "cpu.shares",
                &shares.to_string(),
                "cpu shares",
            )?;
        }
        let mut period_pending = None;
        if let Some(period) = c.period {
            let v = period.to_string();
            match self.write(Controller::Cpu, "cpu.cfs_period_us", &v, "cpu period") {
                // A shorter period can make the old quota exceed the parent's: retry it
                // after the quota is written (runc does the same).
                Err(CgroupError::Apply { source, .. })
                    if source.errno() == Some(errno::EINVAL) && c.quota.is_some() =>
                {
                    period_pending = Some(v)
                }
                other => other?,
            }
        }
        if let Some(quota) = c.quota {
            let v = quota.v1_string();
            self.write(Controller::Cpu, "cpu.cfs_quota_us", &v, "cpu quota")?;
            if let Some(v) = period_pending {
                self.write(Controller::Cpu, "cpu.cfs_period_us", &v, "cpu period")?;
            }
        }
        if let Some(cpus) = &c.cpus {
            self.write(Controller::Cpuset, "cpuset.cpus", cpus, "cpuset cpus")?;
        }
        if let Some(mems) = &c.mems {
            self.write(Controller::Cpuset, "cpuset.mems", mems, "cpuset mems")?;
        }
        Ok(())
    }

    fn apply_blkio_weight(&self, weight: u16) -> Result<(), CgroupError> {
        // CFQ's file where it exists, else BFQ's; kernels with neither get no weight.
        let file = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| {
            self.file(Controller::Blkio, f)
                .is_some_and(|p| cgroupfs::exists(&p))
        });
        match file {
            Some(f) => self.write(Controller::Blkio, f, &weight.to_string(), "blkio weight"),
            None => {
                tracing::warn!("the kernel has no blkio weight file; blkio weight not set");
                Ok(())
            }
        }
    }

    fn apply_devices(
        &self,
        rules: &[crate::devices::DeviceRule],
        live: bool,
    ) -> Result<(), CgroupError> {
        // Check the list first: v1 silently ignores some rules (holes in wildcards).
        let target = DevicePolicy::from_rules(rules)?;
        let write = |rule: &crate::devices::DeviceRule| {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            self.write(Controller::Devices, file, &rule.v1_line(), "device rules")
        };
        if live {
            let path = self
                .file(Controller::Devices, "devices.list")
                .ok_or(CgroupError::NotMounted("devices"))?;
            let text = cgroupfs::read(&path).map_err(|source| CgroupError::Apply {
                what: "device rules",
                source,
            })?;
            for rule in DevicePolicy::from_v1_list(&text)?.transition_to(&target) {
                write(&rule)?;
            }
            return Ok(());
        }
        // Deny everything, then replay the rules in order, as runc does: the kernel then
        // holds exactly the emulated policy.
        self.write(Controller::Devices, "devices.deny", "a", "device rules")?;
        rules.iter().try_for_each(write)
    }

    pub(crate) fn freeze(&self) -> Result<(), CgroupError> {
        let path = self.freezer_state_path()?;
        let mut attempts = 0u32;
        let frozen = poll_until(|| {
            attempts += 1;
            // Now and then thaw and retry: a task stuck in vfork can keep FREEZING forever.
            if attempts == 50 {
                attempts = 0;
                cgroupfs::write(&path, "THAWED").map_err(CgroupError::Freeze)?;
            }
            cgroupfs::write(&path, "FROZEN").map_err(CgroupError::Freeze)?;
            Ok(read_freezer_state(&path)? == FreezerState::Frozen)
        })?;
        if frozen {
            return Ok(());
        }
        // Do not leave it half frozen.
        cgroupfs::write(&path, "THAWED").map_err(CgroupError::Thaw)?;
        Err(CgroupError::NotSettled {
            path,
            want: "FROZEN",
        })
    }

    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        let path = self.freezer_state_path()?;
        let thawed = poll_until(|| {
            cgroupfs::write(&path, "THAWED").map_err(CgroupError::Thaw)?;
            Ok(read_freezer_state(&path)? == FreezerState::Thawed)
        })?;
        if thawed {
            Ok(())
        } else {
            Err(CgroupError::NotSettled {
                path,
                want: "THAWED",
            })
        }
    }

    pub(crate) fn state(&self) -> Result<FreezerState, CgroupError> {
        read_freezer_state(&self.freezer_state_path()?)
    }

    fn freezer_state_path(&self) -> Result<PathBuf, CgroupError> {
        self.file(Controller::Freezer, "freezer.state")
            .ok_or(CgroupError::NotMounted("freezer"))
    }

    pub(crate) fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        let mut buf = String::new();
        // Reads one file if its controller is mounted; a missing file reads as empty.
        let mut read = |c: Controller, name: &str, buf: &mut String| -> Result<bool, CgroupError> {
            buf.clear();
            let Some(path) = self.file(c, name) else {
                return Ok(false);
            };
            match cgroupfs::read_into(&path, buf) {
                Ok(()) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(CgroupError::Stats(e)),
            }
        };
        let num = |buf: &String| buf.trim().parse::<u64>().ok();

        read(Controller::Cpuacct, "cpuacct.usage", &mut buf)?;
        s.cpu.total_usage = num(&buf).unwrap_or(0);
        read(Controller::Cpuacct, "cpuacct.usage_percpu", &mut buf)?;
        s.cpu.per_cpu_usage = stats::parse_numbers(&buf);
        read(Controller::Cpuacct, "cpuacct.stat", &mut buf)?;
        let hz = stats::clock_ticks();
        let ticks = |key| stats::keyed_value(&buf, key).unwrap_or(0);
        s.cpu.usage_in_usermode = stats::ticks_to_ns(ticks("user"), hz);
        s.cpu.usage_in_kernelmode = stats::ticks_to_ns(ticks("system"), hz);
        read(Controller::Cpu, "cpu.stat", &mut buf)?;
        let value = |key| stats::keyed_value(&buf, key).unwrap_or(0);
        s.cpu.throttling.periods = value("nr_periods");
        s.cpu.throttling.throttled_periods = value("nr_throttled");
        s.cpu.throttling.throttled_time = value("throttled_time");

        read(Controller::Memory, "memory.usage_in_bytes", &mut buf)?;
        s.memory.usage = num(&buf).unwrap_or(0);
        read(Controller::Memory, "memory.max_usage_in_bytes", &mut buf)?;
        s.memory.max_usage = num(&buf);
        read(Controller::Memory, "memory.limit_in_bytes", &mut buf)?;
        s.memory.limit = num(&buf).filter(|l| *l < V1_UNLIMITED_FLOOR);
        read(Controller::Memory, "memory.failcnt", &mut buf)?;
        s.memory.failcnt = num(&buf);
        let mut raw = String::new();
        read(Controller::Memory, "memory.stat", &mut raw)?;
        s.memory.stat = stats::MemoryStat::from_raw(raw);

        read(Controller::Pids, "pids.current", &mut buf)?;
        s.pids.current = num(&buf).unwrap_or(0);
        read(Controller::Pids, "pids.max", &mut buf)?;
        s.pids.limit = num(&buf);

        s.blkio = self.blkio_stats(&mut read, &mut buf)?;
        Ok(s)
    }

    /// BFQ's recursive files, then CFQ's, then the throttle layer's (which sees all I/O):
    /// the first with entries wins, as in runc.
    fn blkio_stats(
        &self,
        read: &mut impl FnMut(Controller, &str, &mut String) -> Result<bool, CgroupError>,
        buf: &mut String,
    ) -> Result<BlkioStats, CgroupError> {
        let mut out = BlkioStats::default();
        for (bytes, ios) in BLKIO_FILES {
            read(Controller::Blkio, bytes, buf)?;
            stats::parse_v1_blkio(buf, &mut out.io_service_bytes_recursive);
            read(Controller::Blkio, ios, buf)?;
            stats::parse_v1_blkio(buf, &mut out.io_serviced_recursive);
            if !out.io_service_bytes_recursive.is_empty() || !out.io_serviced_recursive.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let path = self
            .file(Controller::Memory, "memory.oom_control")
            .ok_or(CgroupError::NotMounted("memory"))?;
        let text = cgroupfs::read(&path).map_err(CgroupError::OomKillCount)?;
        stats::keyed_value(&text, "oom_kill").ok_or_else(|| {
            CgroupError::OomKillCount(FsError::Parse {
                path,
                content: text.clone(),
            })
        })
    }

    pub(crate) fn processes(&self) -> Result<Vec<u32>, CgroupError> {
        read_procs_tree(self.primary_dir())
    }

    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        for dir in self.unique_dirs() {
            remove_tree(dir)?;
        }
        Ok(())
    }
}

/// The pids in the cgroup `dir` and in every cgroup below it (a container may make its
/// own sub-cgroups).
pub(crate) fn read_procs_tree(dir: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut pids = read_procs(&dir.join("cgroup.procs"))?;
    for child in cgroupfs::subdirs(dir).map_err(CgroupError::Processes)? {
        pids.extend(read_procs_tree(&child)?);
    }
    Ok(pids)
}

/// Removes the cgroup `dir` after the cgroups below it, leaves first.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for child in cgroupfs::subdirs(dir).map_err(CgroupError::Remove)? {
        remove_tree(&child)?;
    }
    remove_dir(dir)
}

/// Removes one cgroup directory, retrying EBUSY briefly: the kernel frees a cgroup a
/// moment after its last task is reaped.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), CgroupError> {
    let mut last = None;
    poll_until(|| match cgroupfs::rmdir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == Some(errno::EBUSY) => {
            last = Some(e);
            Ok(false)
        }
        Err(e) => Err(CgroupError::Remove(e)),
    })?
    .then_some(())
    .ok_or_else(|| CgroupError::Remove(last.expect("EBUSY seen")))
}

pub(crate) fn read_procs(path: &Path) -> Result<Vec<u32>, CgroupError> {
    match cgroupfs::read(path) {
        Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(CgroupError::Processes(e)),
    }
}

fn read_freezer_state(path: &Path) -> Result<FreezerState, CgroupError> {
    let text = cgroupfs::read(path).map_err(CgroupError::State)?;
    match text.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        _ => Err(CgroupError::State(FsError::Parse {
            path: path.to_owned(),
            content: text.clone(),
        })),
    }
}

/// A new v1 cpuset starts with empty cpus and mems, and no task can join it until both
/// are set: copy them from the parent, level by level.
fn inherit_cpuset(dir: &Path) -> Result<(), FsError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = cgroupfs::read(&dir.join(file))?;
        if own.trim().is_empty() {
            let inherited = cgroupfs::read(&parent.join(file))?;
            cgroupfs::write(&dir.join(file), inherited.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "v1_tests.rs"]
mod tests;
