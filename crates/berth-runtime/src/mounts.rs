//! Mounting inside the container rootfs: option parsing, destinations resolved with
//! openat2(RESOLVE_IN_ROOT) so symlinks never lead out of the rootfs, and every mount made
//! onto `/proc/thread-self/fd/N` of the resolved fd, never onto a path re-resolved later.

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Errors of mount setup; each names the destination.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount destination {0:?} must be an absolute path")]
    RelativeDestination(PathBuf),
    #[error("resolving {0:?} inside the rootfs")]
    Resolve(PathBuf, #[source] Errno),
    #[error("creating mountpoint {0:?}")]
    Mkdir(PathBuf, #[source] Errno),
    #[error("{0:?} cannot be mounted: must be mounted on ordinary directory")]
    NotOrdinaryDirectory(PathBuf),
    #[error("mounting onto {0:?} is not allowed: it lies under /proc or /sys")]
    Forbidden(PathBuf),
    #[error("reading mount source {0:?}")]
    Source(PathBuf, #[source] std::io::Error),
    #[error("mounting {kind} on {dest:?}")]
    Mount {
        kind: String,
        dest: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("remounting {0:?} with its flags")]
    Remount(PathBuf, #[source] Errno),
    #[error("setting propagation of {0:?}")]
    Propagation(PathBuf, #[source] Errno),
}

/// Parsed mount options: flags for mount(2), propagation changes, and fs data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: u32,
    pub clear: u32,
    pub propagation: Vec<MountPropagationFlags>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

impl MountOptions {
    /// Parses OCI/fstab-style options the way runc does; unknown ones become fs data.
    pub fn parse(options: &[String]) -> MountOptions {
        let mut out = MountOptions::default();
        for opt in options {
            let (set, clear): (u32, u32) = match opt.as_str() {
                "ro" => (0x1, 0),
                "rw" => (0, 0x1),
                "nosuid" => (0x2, 0),
                "suid" => (0, 0x2),
                "nodev" => (0x4, 0),
                "dev" => (0, 0x4),
                "noexec" => (0x8, 0),
                "exec" => (0, 0x8),
                "sync" => (0x10, 0),
                "async" => (0, 0x10),
                "dirsync" => (0x80, 0),
                "mand" => (0x40, 0),
                "nomand" => (0, 0x40),
                "noatime" => (0x400, 0),
                "atime" => (0, 0x400),
                "nodiratime" => (0x800, 0),
                "diratime" => (0, 0x800),
                "relatime" => (0x20_0000, 0),
                "norelatime" => (0, 0x20_0000),
                "strictatime" => (0x100_0000, 0),
                "nostrictatime" => (0, 0x100_0000),
                "bind" => {
                    out.bind = true;
                    (0, 0)
                }
                "rbind" => {
                    out.bind = true;
                    out.recursive = true;
                    (0, 0)
                }
                "tmpcopyup" | "idmap" | "ridmap" | "defaults" => (0, 0),
                other => {
                    if let Some(p) = propagation(other) {
                        out.propagation.push(p);
                    } else {
                        out.data.push(other.to_string());
                    }
                    (0, 0)
                }
            };
            out.flags = (out.flags | set) & !clear;
            out.clear = (out.clear | clear) & !set;
        }
        out
    }

    fn mount_flags(&self) -> MountFlags {
        MountFlags::from_bits_retain(self.flags)
    }
}

/// Maps a propagation option name to its flags.
pub fn propagation(name: &str) -> Option<MountPropagationFlags> {
    use MountPropagationFlags as P;
    Some(match name {
        "private" => P::PRIVATE,
        "rprivate" => P::PRIVATE | P::REC,
        "shared" => P::SHARED,
        "rshared" => P::SHARED | P::REC,
        "slave" => P::DOWNSTREAM,
        "rslave" => P::DOWNSTREAM | P::REC,
        "unbindable" => P::UNBINDABLE,
        "runbindable" => P::UNBINDABLE | P::REC,
        _ => return None,
    })
}

/// The path of an fd in procfs, usable as a mount target or source.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/thread-self/fd/{}", fd.as_raw_fd())
}

/// Opens `path` (absolute, as seen from inside the container) below `root` as O_PATH,
/// resolving symlinks as if `root` were `/`.
pub fn open_in_root(root: impl AsFd, path: &Path, extra: ResolveFlags) -> Result<OwnedFd, Errno> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    rustix::fs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | extra,
    )
}

/// Creates every missing directory of `path` below `root`, one component at a time, each
/// resolved in the root, and returns an O_PATH fd of the last one.
pub fn mkdir_all_in_root(root: impl AsFd, path: &Path) -> Result<OwnedFd, MountError> {
    let root = root.as_fd();
    if let Ok(fd) = open_in_root(root, path, ResolveFlags::empty()) {
        return Ok(fd);
    }
    let mut current = PathBuf::from("/");
    for comp in path.components() {
        let Component::Normal(name) = comp else {
            continue;
        };
        let parent = open_in_root(root, &current, ResolveFlags::empty())
            .map_err(|e| MountError::Resolve(current.clone(), e))?;
        current.push(name);
        if open_in_root(root, &current, ResolveFlags::empty()).is_ok() {
            continue;
        }
        // mkdirat on an O_PATH directory fd: the kernel accepts it as a dirfd.
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(MountError::Mkdir(current, e)),
        }
    }
    open_in_root(root, path, ResolveFlags::empty()).map_err(|e| MountError::Resolve(path.into(), e))
}

/// Creates an empty file at `path` below `root` (for bind-mounting a file) and opens it.
pub fn touch_in_root(root: impl AsFd, path: &Path) -> Result<OwnedFd, MountError> {
    touch_in_root_with(root, path, ResolveFlags::empty())
}

/// [`touch_in_root`] with extra resolve flags for the lookups (`NO_SYMLINKS` for a target
/// that must not be a symlink, such as `/dev/console`).
pub fn touch_in_root_with(
    root: impl AsFd,
    path: &Path,
    extra: ResolveFlags,
) -> Result<OwnedFd, MountError> {
    let root = root.as_fd();
    if let Ok(fd) = open_in_root(root, path, extra) {
        return Ok(fd);
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| MountError::RelativeDestination(path.into()))?;
    let dir = mkdir_all_in_root(root, parent)?;
    let dir = reopen_dir(&dir).map_err(|e| MountError::Mkdir(path.into(), e))?;
    match rustix::fs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(MountError::Mkdir(path.into(), e)),
    }
    open_in_root(root, path, extra).map_err(|e| MountError::Resolve(path.into(), e))
}

/// Turns an O_PATH directory fd into a real one (openat needs it for O_CREAT).
pub fn reopen_dir(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// True for destinations that must be a real directory of the rootfs (no symlink anywhere).
fn is_special(dest: &Path) -> bool {
    dest == Path::new("/proc") || dest == Path::new("/sys")
}

/// Refuses mounts that would shadow procfs or sysfs content (CVE-2019-16884 class): only proc
/// on /proc, sysfs on /sys, and cgroup/tmpfs/binds below /sys/fs/cgroup are allowed there.
fn check_destination(dest: &Path, fstype: &str) -> Result<(), MountError> {
    let under = |base: &str| dest.starts_with(base);
    let ok = if dest == Path::new("/proc") {
        fstype == "proc"
    } else if dest == Path::new("/sys") {
        fstype == "sysfs"
    } else if under("/proc") {
        false
    } else if under("/sys") {
        under("/sys/fs/cgroup")
    } else {
        true
    };
    if ok {
        Ok(())
    } else {
        Err(MountError::Forbidden(dest.into()))
    }
}

/// One mount of the config, with its source already resolved against the bundle.
#[derive(Debug, Clone)]
pub struct MountSpec {
    pub destination: PathBuf,
    pub fstype: String,
    pub source: Option<PathBuf>,
    pub options: MountOptions,
}

/// Mounts `spec` inside `root` (an fd of the rootfs, before pivot_root).
pub fn mount_in_root(root: &OwnedFd, spec: &MountSpec) -> Result<(), MountError> {
    let dest = &spec.destination;
    if !dest.is_absolute() {
        return Err(MountError::RelativeDestination(dest.clone()));
    }
    check_destination(dest, &spec.fstype)?;
    if is_special(dest) {
        check_ordinary_directory(root, dest)?;
    }
    let target = if spec.options.bind {
        let source = spec.source.clone().unwrap_or_default();
        let meta = std::fs::metadata(&source).map_err(|e| MountError::Source(source.clone(), e))?;
        if meta.is_dir() {
            mkdir_all_in_root(root, dest)?
        } else {
            touch_in_root(root, dest)?
        }
    } else {
        mkdir_all_in_root(root, dest)?
    };
    if spec.options.bind {
        bind_mount(root, spec, &target)
    } else {
        fs_mount(root, spec, &target)
    }
}

/// /proc and /sys must be real directories of the rootfs, with no symlink on the way
/// (CVE-2019-19921): checked on an fd opened with RESOLVE_NO_SYMLINKS, created if missing.
fn check_ordinary_directory(root: &OwnedFd, dest: &Path) -> Result<(), MountError> {
    let strict = || open_in_root(root, dest, ResolveFlags::NO_SYMLINKS);
    let fd = match strict() {
        Err(Errno::NOENT) => {
            let name = dest.strip_prefix("/").unwrap_or(dest);
            match rustix::fs::mkdirat(root, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(_) => return Err(MountError::NotOrdinaryDirectory(dest.into())),
            }
            strict()
        }
        other => other,
    }
    .map_err(|_| MountError::NotOrdinaryDirectory(dest.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| MountError::Resolve(dest.into(), e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(MountError::NotOrdinaryDirectory(dest.into()));
    }
    Ok(())
}

fn fs_mount(root: &OwnedFd, spec: &MountSpec, target: &OwnedFd) -> Result<(), MountError> {
    let source = spec
        .source
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.fstype.clone());
    let data = std::ffi::CString::new(spec.options.data.join(",")).unwrap_or_default();
    let data = (!spec.options.data.is_empty()).then_some(data.as_c_str());
    let mount = |flags: MountFlags, data: Option<&std::ffi::CStr>| {
        rustix::mount::mount(
            source.as_str(),
            fd_path(target),
            spec.fstype.as_str(),
            flags,
            data,
        )
    };
    let mut result = mount(spec.options.mount_flags(), data);
    if result == Err(Errno::PERM) && spec.options.flags & 0x1 != 0 {
        // A filesystem (e.g. sysfs in a user namespace) may refuse a read-only first mount:
        // mount it read-write, then remount it read-only.
        result = mount(
            MountFlags::from_bits_retain(spec.options.flags & !0x1),
            data,
        );
        if result.is_ok() {
            remount(root, spec, spec.options.flags)?;
        }
    }
    result.map_err(|source| MountError::Mount {
        kind: spec.fstype.clone(),
        dest: spec.destination.clone(),
        source,
    })?;
    set_propagation(root, spec)
}

fn bind_mount(root: &OwnedFd, spec: &MountSpec, target: &OwnedFd) -> Result<(), MountError> {
    let source = spec.source.clone().unwrap_or_default();
    let result = if spec.options.recursive {
        rustix::mount::mount_bind_recursive(&source, fd_path(target))
    } else {
        rustix::mount::mount_bind(&source, fd_path(target))
    };
    result.map_err(|e| MountError::Mount {
        kind: "bind".into(),
        dest: spec.destination.clone(),
        source: e,
    })?;
    // A bind mount ignores every flag but MS_REC: apply them with a remount.
    if spec.options.flags != 0 {
        remount(root, spec, spec.options.flags)?;
    }
    set_propagation(root, spec)
}

/// Remounts the mount now on `spec.destination` with `flags`, keeping the flags the kernel
/// locks (nosuid, nodev, noexec, atime) when they are set on the mount already.
pub fn remount(root: &OwnedFd, spec: &MountSpec, flags: u32) -> Result<(), MountError> {
    let dest = &spec.destination;
    let fd = open_in_root(root, dest, ResolveFlags::empty())
        .map_err(|e| MountError::Resolve(dest.clone(), e))?;
    let locked = rustix::fs::fstatvfs(&fd)
        .map(|st| st.f_flag.bits() as u32 & (0x2 | 0x4 | 0x8 | 0x400 | 0x800 | 0x1000))
        .unwrap_or(0);
    // ST_RELATIME (0x1000) is MS_RELATIME (0x200000) for mount(2).
    let locked = (locked & !0x1000) | if locked & 0x1000 != 0 { 0x20_0000 } else { 0 };
    let flags = (flags | locked) & !spec.options.clear | MountFlags::BIND.bits();
    rustix::mount::mount_remount(fd_path(&fd), MountFlags::from_bits_retain(flags), "")
        .map_err(|e| MountError::Remount(dest.clone(), e))
}

fn set_propagation(root: &OwnedFd, spec: &MountSpec) -> Result<(), MountError> {
    for flags in &spec.options.propagation {
        let fd = open_in_root(root, &spec.destination, ResolveFlags::empty())
            .map_err(|e| MountError::Resolve(spec.destination.clone(), e))?;
        rustix::mount::mount_change(fd_path(&fd), *flags)
            .map_err(|e| MountError::Propagation(spec.destination.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        MountOptions::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_map_to_flags_data_and_propagation() {
        let o = opts(&["nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, 0x1 | 0x2 | 0x4 | 0x8);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
        let o = opts(&["rbind", "ro", "rw", "rslave"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, 0);
        assert_eq!(o.clear, 0x1);
        assert_eq!(
            o.propagation,
            vec![MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC]
        );
    }

    #[test]
    fn proc_and_sys_destinations_are_guarded() {
        assert!(check_destination(Path::new("/proc"), "proc").is_ok());
        assert!(check_destination(Path::new("/proc"), "tmpfs").is_err());
        assert!(check_destination(Path::new("/proc/sys"), "bind").is_err());
        assert!(check_destination(Path::new("/sys/kernel"), "bind").is_err());
        assert!(check_destination(Path::new("/sys/fs/cgroup"), "cgroup").is_ok());
        assert!(check_destination(Path::new("/data"), "bind").is_ok());
    }

    #[test]
    fn mkdir_all_stays_inside_the_root_through_an_absolute_symlink() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("evil")).unwrap();
        let rootfd =
            rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        // A dangling target (inside the root) is refused, never created on the host.
        assert!(mkdir_all_in_root(&rootfd, Path::new("/evil/a/b")).is_err());
        let inside_target = root.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside_target).unwrap();
        mkdir_all_in_root(&rootfd, Path::new("/evil/a/b")).unwrap();
        assert!(
            std::fs::read_dir(outside.path()).unwrap().next().is_none(),
            "nothing may appear outside"
        );
        // The symlink resolved as if the rootfs were /: the target path exists inside it.
        let inside = root
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("a/b");
        assert!(inside.is_dir());
    }
}
