//! The [`Cgroup`] handle: one container's cgroup on v1 or v2, behind one interface.

use crate::cgroup_path::CgroupPath;
use crate::cgroupfs::FsError;
use crate::detect::{CgroupSetup, Controller};
use crate::devices::DeviceRuleError;
use crate::resources::{ResourceError, Resources};
use crate::stats::Stats;
use crate::{v1, v2};
use rustix::process::{Pid, Signal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long freeze and destroy wait for the kernel to settle before giving up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed cgroup operation; each variant names the step (file paths are in the source).
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no {0} hierarchy is mounted")]
    NotMounted(&'static str),
    #[error("creating the cgroup")]
    Create(#[source] FsError),
    #[error("moving process {pid} into the cgroup")]
    AddProcess {
        pid: u32,
        #[source]
        source: FsError,
    },
    #[error("invalid resources")]
    Invalid(#[from] ResourceError),
    #[error("invalid device rules")]
    DeviceRules(#[from] DeviceRuleError),
    #[error("setting the {what}")]
    Apply {
        what: &'static str,
        #[source]
        source: FsError,
    },
    #[error("the kernel has no {} for the {what}", path.display())]
    Unsupported { what: &'static str, path: PathBuf },
    #[error("installing the device filter program")]
    DeviceFilter(#[source] berth_sys::bpf::BpfError),
    #[error("opening the cgroup directory for the device filter")]
    OpenDir(#[source] FsError),
    #[error("freezing the cgroup")]
    Freeze(#[source] FsError),
    #[error("thawing the cgroup")]
    Thaw(#[source] FsError),
    #[error("the cgroup at {} did not reach the {want} state", path.display())]
    NotSettled { path: PathBuf, want: &'static str },
    #[error("reading the freezer state")]
    State(#[source] FsError),
    #[error("reading statistics")]
    Stats(#[source] FsError),
    #[error("reading the OOM kill count")]
    OomKillCount(#[source] FsError),
    #[error("listing the cgroup's processes")]
    Processes(#[source] FsError),
    #[error("signalling process {pid}")]
    Kill {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("killing the cgroup through cgroup.kill")]
    KillAll(#[source] FsError),
    #[error("{count} processes still in the cgroup at {} after SIGKILL", path.display())]
    ProcessesRemain { path: PathBuf, count: usize },
    #[error("removing the cgroup")]
    Remove(#[source] FsError),
}

/// The freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Freezing has been asked for but not every task has stopped yet.
    Freezing,
    Frozen,
}

#[derive(Debug, Clone)]
enum Inner {
    V1(v1::V1Cgroup),
    V2(v2::V2Cgroup),
}

/// One container's cgroup: the directory `path` in every v1 hierarchy we use, or in the v2
/// hierarchy. Cheap to build; only the methods touch the kernel.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: CgroupPath,
    inner: Inner,
}

impl Cgroup {
    /// A handle on the cgroup at `path` without touching the kernel, e.g. for a shim or
    /// daemon that finds a running container after a restart.
    pub fn open(setup: &CgroupSetup, path: &CgroupPath) -> Result<Cgroup, CgroupError> {
        let inner = if setup.is_v2() {
            Inner::V2(v2::V2Cgroup::new(setup, path)?)
        } else {
            Inner::V1(v1::V1Cgroup::new(setup, path)?)
        };
        Ok(Cgroup {
            path: path.clone(),
            inner,
        })
    }

    /// Creates the cgroup (and its missing parents): on v1 in every mounted hierarchy we
    /// use, copying cpuset.cpus/mems down from the parent where empty; on v2 the one
    /// directory, with the controllers enabled in each parent's cgroup.subtree_control.
    pub fn create(setup: &CgroupSetup, path: &CgroupPath) -> Result<Cgroup, CgroupError> {
        let cgroup = Cgroup::open(setup, path)?;
        match &cgroup.inner {
            Inner::V1(c) => c.create()?,
            Inner::V2(c) => c.create()?,
        }
        Ok(cgroup)
    }

    /// The cgroup path (e.g. `/berth/<id>`).
    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// The cgroup's directory in a mounted v1 hierarchy (None on v2 or if not mounted),
    /// e.g. for the runtime's read-only /sys/fs/cgroup bind mounts.
    pub fn v1_dir(&self, controller: Controller) -> Option<&Path> {
        match &self.inner {
            Inner::V1(c) => c.dir(controller),
            Inner::V2(_) => None,
        }
    }

    /// The cgroup's directory in the v2 hierarchy (None on v1 and hybrid hosts).
    pub fn v2_dir(&self) -> Option<&Path> {
        match &self.inner {
            Inner::V1(_) => None,
            Inner::V2(c) => Some(c.dir()),
        }
    }

    /// Moves process `pid` (all its threads) into the cgroup.
    pub fn add_process(&self, pid: u32) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.add_process(pid),
            Inner::V2(c) => c.add_process(pid),
        }
    }

    /// Moves the calling thread into the cgroup; for a single-threaded process (a runtime's
    /// freshly forked child) that is the whole process. On v1 this writes `0` to `tasks`,
    /// which the kernel does without the global threadgroup lock whose write side costs an
    /// RCU grace period (milliseconds) on every [`Cgroup::add_process`]. On v2 (no per-thread
    /// moves outside threaded subtrees) it writes `0` to cgroup.procs.
    pub fn add_current_thread(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.add_current_thread(),
            Inner::V2(c) => c.add_process(0),
        }
    }

    /// Applies every `Some` field of `resources`; `None` fields are left as they are.
    /// Device rules are written as runc does on v1: `a` to devices.deny, then each rule.
    pub fn apply(&self, resources: &Resources) -> Result<(), CgroupError> {
        resources.validate()?;
        match &self.inner {
            Inner::V1(c) => c.apply(resources, false),
            Inner::V2(c) => c.apply(resources),
        }
    }

    /// Changes limits of a running container (`docker update`): the writes of
    /// [`Cgroup::apply`], ordered so the kernel accepts each step (memory vs memory+swap,
    /// quota vs period), and device rules changed without a moment of "deny all" (v1:
    /// only the difference from devices.list; v2: the new program is attached before the
    /// old one is detached).
    pub fn update(&self, resources: &Resources) -> Result<(), CgroupError> {
        resources.validate()?;
        match &self.inner {
            Inner::V1(c) => c.apply(resources, true),
            Inner::V2(c) => c.apply(resources),
        }
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.freeze(),
            Inner::V2(c) => c.freeze(),
        }
    }

    /// Thaws the cgroup and waits until it is thawed.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.thaw(),
            Inner::V2(c) => c.thaw(),
        }
    }

    /// The freezer state.
    pub fn state(&self) -> Result<FreezerState, CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.state(),
            Inner::V2(c) => c.state(),
        }
    }

    /// One sample of usage for Docker's stats (controllers that are not mounted report 0).
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.stats(),
            Inner::V2(c) => c.stats(),
        }
    }

    /// How many processes the kernel OOM killer has killed in this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.oom_kill_count(),
            Inner::V2(c) => c.oom_kill_count(),
        }
    }

    /// The pids in the cgroup (`cgroup.procs`).
    pub fn processes(&self) -> Result<Vec<u32>, CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.processes(),
            Inner::V2(c) => c.processes(),
        }
    }

    /// Sends `signal` to every process in the cgroup. With a freezer, the cgroup is frozen
    /// while signalling so no process can fork a child that escapes the list. A paused
    /// cgroup stays paused, except after SIGKILL (frozen tasks cannot die).
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if let Inner::V2(c) = &self.inner {
            if signal == Signal::KILL && c.kill_via_cgroup_kill()? {
                return Ok(());
            }
        }
        let can_freeze = self.can_freeze();
        let was_paused = can_freeze && self.state()? == FreezerState::Frozen;
        let frozen = can_freeze
            && self
                .freeze()
                .inspect_err(|e| tracing::warn!(error = %e, "signalling without freezing"))
                .is_ok();
        let result = self.processes().and_then(|pids| signal_all(&pids, signal));
        if frozen && (!was_paused || signal == Signal::KILL) {
            self.thaw()?;
        }
        result
    }

    /// Kills what is left, waits until the cgroup is empty, and removes its directory in
    /// every hierarchy, after any cgroups the container made below it (deepest first).
    /// Parents such as `/berth` are shared and stay. A missing cgroup is not an error.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        if !self.processes()?.is_empty() {
            self.kill_all(Signal::KILL)?;
        }
        let mut remaining = 0;
        let empty = poll_until(|| {
            remaining = self.processes()?.len();
            Ok(remaining == 0)
        })?;
        if !empty {
            return Err(CgroupError::ProcessesRemain {
                path: self.primary_dir(),
                count: remaining,
            });
        }
        match &self.inner {
            Inner::V1(c) => c.remove(),
            Inner::V2(c) => c.remove(),
        }
    }

    fn exists(&self) -> bool {
        match &self.inner {
            Inner::V1(c) => c.exists(),
            Inner::V2(c) => c.exists(),
        }
    }

    fn can_freeze(&self) -> bool {
        match &self.inner {
            Inner::V1(c) => c.has_freezer(),
            Inner::V2(_) => true,
        }
    }

    fn primary_dir(&self) -> PathBuf {
        match &self.inner {
            Inner::V1(c) => c.primary_dir().to_owned(),
            Inner::V2(c) => c.dir().to_owned(),
        }
    }
}

fn signal_all(pids: &[u32], signal: Signal) -> Result<(), CgroupError> {
    for &pid in pids {
        let Some(target) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        match rustix::process::kill_process(target, signal) {
            // The process exited between listing and signalling.
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => {
                return Err(CgroupError::Kill {
                    pid,
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

/// Polls `done` with a short, growing sleep until it returns true or [`SETTLE_TIMEOUT`]
/// passes; returns whether it became true. The kernel offers no cheap wakeup for the
/// v1 freezer or for a cgroup emptying, so runc polls too.
pub(crate) fn poll_until(
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut pause = Duration::from_micros(200);
    loop {
        if done()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
