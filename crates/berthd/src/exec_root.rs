//! The exec root on tmpfs. Runtime state (shim sockets and state files, the default API
//! socket) must not outlive a reboot, which is why /run is a tmpfs on most hosts; on a disk
//! filesystem every container also pays for inode allocation, journal commits and frees of
//! files that die with it (measured: about a sixth of the CPU of 20 concurrent `run --rm` on
//! this machine's ext4 /run). So when the exec root is on disk and empty, berthd mounts a
//! tmpfs there and marks it as its own; a clean stop that leaves no container state behind
//! unmounts it again. A non-empty exec root on disk is used as it is: it may hold the
//! state of containers that are still running.

use anyhow::Context;
use rustix::mount::{MountFlags, UnmountFlags};
use std::path::Path;

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// Present at the root of a tmpfs berthd mounted.
const MARKER: &str = ".berth-tmpfs";

fn on_memory(path: &Path) -> anyhow::Result<bool> {
    let fs = rustix::fs::statfs(path).with_context(|| format!("statfs {}", path.display()))?;
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64 but not on every target.
    let kind = fs.f_type as i64;
    Ok(kind == TMPFS_MAGIC || kind == RAMFS_MAGIC)
}

/// Mounts a tmpfs on `exec_root` when it is an empty directory on disk. Returns whether the
/// exec root is now on memory.
pub fn ensure_tmpfs(exec_root: &Path, mode: u32) -> anyhow::Result<bool> {
    if on_memory(exec_root)? {
        return Ok(true);
    }
    let empty = std::fs::read_dir(exec_root)
        .with_context(|| format!("reading {}", exec_root.display()))?
        .next()
        .is_none();
    if !empty {
        tracing::info!(
            exec_root = %exec_root.display(),
            "the exec root is on disk and holds state; not mounting a tmpfs over it"
        );
        return Ok(false);
    }
    let data = std::ffi::CString::new(format!("mode={mode:o}")).expect("no NUL in digits");
    rustix::mount::mount(
        "tmpfs",
        exec_root,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        data.as_c_str(),
    )
    .with_context(|| format!("mounting a tmpfs on {}", exec_root.display()))?;
    if let Err(err) = std::fs::write(exec_root.join(MARKER), b"") {
        let _ = rustix::mount::unmount(exec_root, UnmountFlags::DETACH);
        return Err(err).context("marking the exec root tmpfs");
    }
    tracing::info!(exec_root = %exec_root.display(), "mounted a tmpfs on the exec root");
    Ok(true)
}

/// At a clean stop: unmounts the tmpfs berthd mounted when no container state is left in
/// it (live-restored shims and stopped containers keep theirs until they are removed).
pub fn release_tmpfs(exec_root: &Path) {
    if !exec_root.join(MARKER).exists() {
        return;
    }
    let state_left = std::fs::read_dir(exec_root.join("shims"))
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if state_left {
        return;
    }
    if let Err(err) = rustix::mount::unmount(exec_root, UnmountFlags::DETACH) {
        tracing::warn!(error = %err, "unmounting the exec root tmpfs");
    }
}
