//! The container's cgroup, through berth-cgroups: its path from `linux.cgroupsPath` (runc's
//! default `/<id>` when absent), its limits from `linux.resources`, and
//! placing a process in it before that process unshares its cgroup namespace.

use berth_cgroups::{
    Access, Cgroup, CgroupError, CgroupPath, CgroupPathError, CgroupSetup, DetectError, DeviceRule,
    DeviceType, Limit, Resources,
};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// Parent of the cgroups of containers whose config names no cgroupsPath (runc uses `/<id>`,
/// so nothing shared is left behind).
pub const DEFAULT_PARENT: &str = "/";

/// Errors of cgroup handling.
#[derive(Debug, thiserror::Error)]
pub enum CgroupsError {
    #[error("detecting the cgroup hierarchies")]
    Detect(#[source] DetectError),
    #[error("invalid cgroupsPath")]
    Path(#[source] CgroupPathError),
    #[error("invalid device rule {0:?}")]
    Device(String),
    #[error("cgroup operation")]
    Cgroup(#[source] CgroupError),
}

/// The cgroup path for a container.
pub fn path_for(cgroups_path: Option<&str>, id: &str) -> Result<CgroupPath, CgroupsError> {
    match cgroups_path {
        Some(p) => CgroupPath::parse(p),
        None => CgroupPath::new(DEFAULT_PARENT, id),
    }
    .map_err(CgroupsError::Path)
}

fn device_rule(d: &LinuxDeviceCgroup) -> Result<DeviceRule, CgroupsError> {
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DeviceType::All,
        LinuxDeviceType::B => DeviceType::Block,
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
        LinuxDeviceType::P => return Err(CgroupsError::Device(format!("{d:?}"))),
    };
    let access = d
        .access()
        .as_deref()
        .unwrap_or("rwm")
        .chars()
        .try_fold(Access::NONE, |acc, c| {
            Some(acc.union(match c {
                'r' => Access::READ,
                'w' => Access::WRITE,
                'm' => Access::MKNOD,
                _ => return None,
            }))
        });
    let access = access.ok_or_else(|| CgroupsError::Device(format!("{d:?}")))?;
    let num = |v: Option<i64>| v.and_then(|n| u32::try_from(n).ok());
    Ok(DeviceRule {
        allow: d.allow(),
        kind,
        major: num(d.major()),
        minor: num(d.minor()),
        access,
    })
}

/// Converts OCI `linux.resources` to berth-cgroups' limits.
pub fn resources(spec: &LinuxResources) -> Result<Resources, CgroupsError> {
    let mut out = Resources::default();
    if let Some(m) = spec.memory() {
        out.memory.limit = m.limit().map(Limit::from_i64);
        out.memory.reservation = m.reservation().map(Limit::from_i64);
        out.memory.swap = m.swap().map(Limit::from_i64);
        out.memory.swappiness = m.swappiness();
        out.memory.disable_oom_killer = m.disable_oom_killer();
    }
    if let Some(c) = spec.cpu() {
        out.cpu.shares = c.shares();
        out.cpu.quota = c.quota().map(Limit::from_i64);
        out.cpu.period = c.period();
        out.cpu.cpus = c.cpus().clone();
        out.cpu.mems = c.mems().clone();
    }
    if let Some(p) = spec.pids() {
        out.pids_limit = Some(Limit::from_i64(p.limit()));
    }
    out.blkio_weight = spec.block_io().as_ref().and_then(|b| b.weight());
    if let Some(devices) = spec.devices() {
        out.devices = Some(devices.iter().map(device_rule).collect::<Result<_, _>>()?);
    }
    Ok(out)
}

/// Appends allow rules for the nodes the runtime itself creates (the default devices, the
/// console, ptmx and the devpts peers) and for `extra` (linux.devices), so a "deny all" policy
/// keeps the container's /dev usable. Unlike runc we do not allow mknod of every device.
pub fn allow_runtime_devices(limits: &mut Resources, extra: &[(DeviceType, u32, u32)]) {
    let Some(rules) = limits.devices.as_mut() else {
        return;
    };
    let char_dev = |major, minor: Option<u32>| DeviceRule {
        allow: true,
        kind: DeviceType::Char,
        major: Some(major),
        minor,
        access: Access::RWM,
    };
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(char_dev(major, Some(minor)));
    }
    rules.push(char_dev(136, None));
    for (kind, major, minor) in extra {
        rules.push(DeviceRule {
            allow: true,
            kind: *kind,
            major: Some(*major),
            minor: Some(*minor),
            access: Access::RWM,
        });
    }
}

/// The host's cgroup mounts, read from /proc/self/mountinfo once per process: a shim asks
/// for every exec and signal, and mountinfo grows with every mount on the host.
fn setup() -> Result<CgroupSetup, CgroupsError> {
    static SETUP: std::sync::OnceLock<CgroupSetup> = std::sync::OnceLock::new();
    if let Some(setup) = SETUP.get() {
        return Ok(setup.clone());
    }
    let setup = CgroupSetup::detect().map_err(CgroupsError::Detect)?;
    Ok(SETUP.get_or_init(|| setup).clone())
}

/// Creates the cgroup and applies the limits; the process to run in it moves itself in
/// ([`Cgroup::add_current_thread`]).
pub fn create(path: &CgroupPath, limits: &Resources) -> Result<Cgroup, CgroupsError> {
    let setup = setup()?;
    let cgroup = Cgroup::create(&setup, path).map_err(CgroupsError::Cgroup)?;
    if let Err(e) = cgroup.apply(limits) {
        let _ = cgroup.destroy();
        return Err(CgroupsError::Cgroup(e));
    }
    Ok(cgroup)
}

/// The existing cgroup at `path` (for exec), without touching it.
pub fn open(path: &CgroupPath) -> Result<Cgroup, CgroupsError> {
    let setup = setup()?;
    Cgroup::open(&setup, path).map_err(CgroupsError::Cgroup)
}

/// The pids in the cgroup.
pub fn processes(path: &CgroupPath) -> Result<Vec<i32>, CgroupsError> {
    let setup = setup()?;
    let cgroup = Cgroup::open(&setup, path).map_err(CgroupsError::Cgroup)?;
    let pids = cgroup.processes().map_err(CgroupsError::Cgroup)?;
    Ok(pids.into_iter().map(|p| p as i32).collect())
}

/// Kills what is left and removes the cgroup; a missing cgroup is fine.
pub fn destroy(path: &CgroupPath) -> Result<(), CgroupsError> {
    let setup = setup()?;
    match Cgroup::open(&setup, path) {
        Ok(cgroup) => cgroup.destroy().map_err(CgroupsError::Cgroup),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_resources_convert() {
        let spec: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 33554432, "swap": -1},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 64},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
        }))
        .unwrap();
        let r = resources(&spec).unwrap();
        assert_eq!(r.memory.limit, Some(Limit::Value(32 << 20)));
        assert_eq!(r.memory.swap, Some(Limit::Unlimited));
        assert_eq!(r.pids_limit, Some(Limit::Value(64)));
        assert_eq!(r.cpu.quota, Some(Limit::Value(50000)));
        let devices = r.devices.unwrap();
        assert_eq!(devices[0], DeviceRule::DENY_ALL);
        assert_eq!(devices[1].access, Access::READ.union(Access::WRITE));
        assert_eq!(
            path_for(None, "c1").unwrap().relative(),
            std::path::Path::new("c1")
        );
        assert!(path_for(Some("/a/../b"), "c1").is_err());
    }
}
