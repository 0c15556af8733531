//! What the translation needs to know about the host and the daemon's configuration. Both are
//! plain data so tests can state them; `detect` reads the running machine.

use berth_api::models::container::Ulimit;
use std::collections::BTreeSet;

/// Host facts Docker's validation consults (moby `sysinfo.SysInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub cgroup_v2: bool,
    /// Online CPUs (`/sys/devices/system/cpu/online`) and memory nodes.
    pub cpus: BTreeSet<u32>,
    pub mems: BTreeSet<u32>,
    /// The raw lists, for Docker's "available: 0-1" messages.
    pub cpus_text: String,
    pub mems_text: String,
    /// Whether memory+swap can be limited (v1 `memory.memsw.*`, v2 `memory.swap.max`).
    pub swap_limit: bool,
    /// Go's architecture name ("amd64") and the kernel's (major, minor), for seccomp.
    pub arch: String,
    pub kernel: (u32, u32),
    /// The host's hostname (containers on the host network inherit it).
    pub hostname: String,
}

impl HostFacts {
    pub fn detect() -> HostFacts {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let cpus_text = read("/sys/devices/system/cpu/online");
        let mut mems_text = read("/sys/devices/system/node/online");
        if mems_text.is_empty() {
            // Kernels without NUMA support have a single node 0.
            mems_text = "0".into();
        }
        let swap_limit = if cgroup_v2 {
            std::path::Path::new("/sys/fs/cgroup/init.scope/memory.swap.max").exists()
                || std::path::Path::new("/sys/fs/cgroup/system.slice/memory.swap.max").exists()
        } else {
            std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        HostFacts {
            cgroup_v2,
            cpus: parse_list(&cpus_text).unwrap_or_default(),
            mems: parse_list(&mems_text).unwrap_or_default(),
            cpus_text,
            mems_text,
            swap_limit,
            arch: berth_runtime::profile::native_arch().to_string(),
            kernel: berth_runtime::profile::kernel_version(),
            hostname: crate::host::hostname(),
        }
    }
}

/// Parses a kernel list such as `0-3,7` (moby `parsers.ParseUintList`); `None` when malformed.
pub fn parse_list(text: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

/// Daemon-wide settings that reach every container (daemon.json keys in comments).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonDefaults {
    /// `default-ulimits`; a container's `--ulimit` of the same name wins.
    pub ulimits: Vec<Ulimit>,
    /// `default-shm-size`: 64 MiB.
    pub shm_size: i64,
    /// `cgroup-parent`: containers go to `<parent>/<id>`.
    pub cgroup_parent: String,
    /// `seccomp-profile`: a JSON profile replacing the built-in default.
    pub seccomp_profile: Option<String>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
    /// `init`: run an init as PID 1 unless the container says otherwise.
    pub init: bool,
    /// `init-path`: the init binary bind-mounted at `/sbin/docker-init` for `--init`;
    /// by default `berth-init` next to the running binary, else on PATH.
    pub init_path: Option<std::path::PathBuf>,
}

/// Docker's `DefaultShmSize`.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;
/// systemd's default hard `nofile` (the value Docker's containers inherit since moby
/// c8930105bc removed `LimitNOFILE=infinity`).
pub const SYSTEMD_NOFILE_HARD: i64 = 524_288;

impl DaemonDefaults {
    /// berthd's defaults. Docker sets no rlimits itself and containers inherit the daemon's
    /// (under systemd: nofile 1024:524288). berthd states that value explicitly so it does not
    /// depend on how berthd was started, but the hard limit cannot exceed what berthd itself
    /// may raise to, so it is capped at the host's hard limit (20000 on the CI machines).
    pub fn for_host() -> DaemonDefaults {
        let host_hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .map_or(SYSTEMD_NOFILE_HARD, |m| {
                m.min(SYSTEMD_NOFILE_HARD as u64) as i64
            });
        DaemonDefaults {
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1024.min(host_hard),
                hard: host_hard,
            }],
            init_path: crate::host::companion("berth-init"),
            ..DaemonDefaults::docker()
        }
    }

    /// Docker's own defaults: no ulimits at all.
    pub fn docker() -> DaemonDefaults {
        DaemonDefaults {
            ulimits: Vec::new(),
            shm_size: DEFAULT_SHM_SIZE,
            cgroup_parent: "/berth".into(),
            seccomp_profile: None,
            no_new_privileges: false,
            init: false,
            init_path: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lists_parse_like_parse_uint_list() {
        assert_eq!(parse_list("0-2,5").unwrap(), [0, 1, 2, 5].into());
        assert_eq!(parse_list("3").unwrap(), [3].into());
        assert!(parse_list("1-").is_none());
        assert!(parse_list("3-1").is_none());
        assert!(parse_list("a").is_none());
    }

    #[test]
    fn default_nofile_fits_under_the_hosts_hard_limit() {
        let d = DaemonDefaults::for_host();
        let host = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        let nofile = &d.ulimits[0];
        assert_eq!(nofile.name, "nofile");
        assert!(nofile.soft <= nofile.hard && nofile.hard <= SYSTEMD_NOFILE_HARD);
        if let Some(h) = host {
            assert!(nofile.hard as u64 <= h);
        }
    }
}
