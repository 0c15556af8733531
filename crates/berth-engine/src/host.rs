//! Facts about the host that `/info` and `/version` report, read from /proc and /sys each time
//! they are asked for (they are cheap, and some change: memory, fds, forwarding), and where
//! the programs berthd runs are found.

use std::path::PathBuf;

/// `name` in a directory of PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// One of our own binaries (`berth-shim`, `berth-init`): beside the running berthd, so a
/// build tree or an install keeps its parts together, else on PATH.
pub fn companion(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)));
    beside.filter(|p| p.is_file()).or_else(|| on_path(name))
}

/// The kernel's release string, e.g. `6.1.0-18-amd64`.
pub fn kernel_version() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The architecture as `uname -m` names it (Docker's `/info` uses this form).
pub fn machine() -> String {
    rustix::system::uname()
        .machine()
        .to_string_lossy()
        .into_owned()
}

/// The architecture as Go names it (`/version` uses this form: amd64, arm64).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// `PRETTY_NAME` and `VERSION_ID` from os-release.
pub fn operating_system() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|value| value.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let name = field("PRETTY_NAME");
    (
        if name.is_empty() {
            "Linux".into()
        } else {
            name
        },
        field("VERSION_ID"),
    )
}

pub fn cpu_count() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Total memory in bytes (`MemTotal` in /proc/meminfo is in KiB).
pub fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// Threads of this process (reported where Docker reports goroutines).
pub fn threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Threads:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn proc_flag(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1")
}

pub fn ipv4_forwarding() -> bool {
    proc_flag("/proc/sys/net/ipv4/ip_forward")
}

pub fn bridge_nf_iptables() -> bool {
    proc_flag("/proc/sys/net/bridge/bridge-nf-call-iptables")
}

pub fn bridge_nf_ip6tables() -> bool {
    proc_flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
}

/// Whether the kernel offers a seccomp filter mode (`Seccomp:` in /proc/self/status).
pub fn seccomp_supported() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("\nSeccomp:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_plausible() {
        assert!(mem_total() > 0);
        assert!(cpu_count() >= 1);
        assert!(!kernel_version().is_empty());
        assert!(open_fds() >= 3);
    }
}
