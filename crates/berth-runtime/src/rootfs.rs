//! Building the container's root filesystem in its new mount namespace: propagation, the
//! rootfs self-bind, the config's mounts in order, /dev, and pivot_root (never chroot).

use crate::devices::{self, Device, DeviceError};
use crate::mounts::{self, MountError, MountOptions, MountSpec};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Errors of rootfs setup; each names the step.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("setting the propagation of / to {0}")]
    RootPropagation(String, #[source] Errno),
    #[error("bind-mounting the rootfs {0:?} onto itself")]
    SelfBind(PathBuf, #[source] Errno),
    #[error("opening the rootfs {0:?}")]
    OpenRoot(PathBuf, #[source] Errno),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("mounting cgroup hierarchy {0}")]
    Cgroup(String, #[source] Errno),
    #[error("pivot_root into the rootfs")]
    PivotRoot(#[source] Errno),
    #[error("detaching the old root")]
    DetachOldRoot(#[source] Errno),
    #[error("running the create hooks")]
    Hooks(String),
}

/// What the rootfs setup needs from the config.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    pub propagation: Option<String>,
    pub mounts: Vec<MountSpec>,
    pub devices: Vec<Device>,
    pub in_userns: bool,
    /// The container has its own cgroup namespace.
    pub cgroupns: bool,
}

/// Mounts everything and pivots into the rootfs. `before_pivot` runs the create hooks.
pub fn setup(
    plan: &RootfsPlan,
    before_pivot: impl FnOnce() -> Result<(), String>,
) -> Result<(), RootfsError> {
    let root_prop = plan.propagation.as_deref().unwrap_or("rslave");
    // Never let our mounts leak back to the host: / becomes rslave (or rprivate) first;
    // a requested shared propagation is applied to the new root after pivot_root.
    let first = match root_prop {
        "private" | "rprivate" => root_prop,
        _ => "rslave",
    };
    let flags = mounts::propagation(first)
        .unwrap_or(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC);
    rustix::mount::mount_change("/", flags)
        .map_err(|e| RootfsError::RootPropagation(first.into(), e))?;
    rustix::mount::mount_bind_recursive(&plan.rootfs, &plan.rootfs)
        .map_err(|e| RootfsError::SelfBind(plan.rootfs.clone(), e))?;
    let root = rustix::fs::open(
        &plan.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootfsError::OpenRoot(plan.rootfs.clone(), e))?;
    let mut dev_is_bind = false;
    let mut with_devpts = false;
    for spec in &plan.mounts {
        if spec.destination == Path::new("/dev") && spec.options.bind {
            dev_is_bind = true;
        }
        if spec.destination == Path::new("/dev/pts") && spec.fstype == "devpts" {
            with_devpts = true;
        }
        if spec.fstype == "cgroup" || spec.fstype == "cgroup2" {
            mount_cgroups(&root, spec, plan.cgroupns)?;
        } else {
            mounts::mount_in_root(&root, spec)?;
        }
    }
    if !dev_is_bind {
        let mut all = devices::default_devices();
        all.retain(|d| !plan.devices.iter().any(|c| c.path == d.path));
        all.extend(plan.devices.iter().cloned());
        devices::create_devices(&root, &all, plan.in_userns)?;
        devices::create_symlinks(&root, with_devpts)?;
    }
    before_pivot().map_err(RootfsError::Hooks)?;
    pivot(&root)?;
    if matches!(
        root_prop,
        "shared" | "rshared" | "unbindable" | "runbindable"
    ) {
        let flags = mounts::propagation(root_prop).unwrap_or(MountPropagationFlags::PRIVATE);
        rustix::mount::mount_change("/", flags)
            .map_err(|e| RootfsError::RootPropagation(root_prop.into(), e))?;
    }
    Ok(())
}

/// pivot_root(".", ".") then a lazy unmount of the old root stacked on top, the trick runc
/// uses so no directory for the old root is needed inside the image.
fn pivot(root: &OwnedFd) -> Result<(), RootfsError> {
    rustix::process::fchdir(root).map_err(RootfsError::PivotRoot)?;
    rustix::process::pivot_root(".", ".").map_err(RootfsError::PivotRoot)?;
    // The old root must not propagate the unmount to the host.
    rustix::mount::mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(RootfsError::DetachOldRoot)?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(RootfsError::DetachOldRoot)?;
    rustix::process::chdir("/").map_err(RootfsError::PivotRoot)?;
    Ok(())
}

/// A cgroup hierarchy of the host: mountpoint, its name under /sys/fs/cgroup, and our cgroup
/// path relative to its root.
struct Hierarchy {
    mountpoint: PathBuf,
    name: String,
    cgroup_path: PathBuf,
    v2: bool,
    /// The subsystem mount options ("cpu,cpuacct", "name=systemd"); empty for v2.
    options: String,
}

fn host_hierarchies() -> Vec<Hierarchy> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        let (Some(fstype), Some(mountpoint), Some(mroot)) =
            (rfields.first(), fields.get(4), fields.get(3))
        else {
            continue;
        };
        let supers = rfields.get(2).copied().unwrap_or("");
        let key = match *fstype {
            "cgroup2" => String::new(),
            "cgroup" => supers
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro" | "xattr")
                        && !o.starts_with("release_agent")
                        && !o.starts_with("clone_children")
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        // /proc/self/cgroup: "id:controllers:path"; cgroup2 has empty controllers.
        let Some(path) = cgroups.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctl, path) = (it.next()?, it.next()?, it.next()?);
            let mut a: Vec<&str> = ctl.split(',').collect();
            let mut b: Vec<&str> = key.split(',').collect();
            a.sort_unstable();
            b.sort_unstable();
            (a == b).then(|| path.to_string())
        }) else {
            continue;
        };
        let rel = Path::new(&path)
            .strip_prefix(mroot)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let mountpoint = PathBuf::from(mountpoint);
        let name = mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Hierarchy {
            mountpoint,
            name,
            cgroup_path: rel,
            v2: key.is_empty(),
            options: key.clone(),
        });
    }
    out
}

/// Mounts the cgroup filesystem the container sees: on a pure v2 host the container's own
/// cgroup directory; on v1 a tmpfs holding a bind of our cgroup in each hierarchy.
fn mount_cgroups(root: &OwnedFd, spec: &MountSpec, cgroupns: bool) -> Result<(), RootfsError> {
    let hierarchies = host_hierarchies();
    let unified =
        hierarchies.len() == 1 && hierarchies[0].mountpoint == Path::new("/sys/fs/cgroup");
    // In a private cgroup namespace a fresh cgroupfs shows the namespace root (our cgroup);
    // otherwise bind our cgroup's directory, as /proc/self/cgroup names it on the host.
    let bind = |h: &Hierarchy, dest: PathBuf, flags: u32| -> Result<(), RootfsError> {
        let fresh = MountSpec {
            destination: dest.clone(),
            fstype: if h.v2 {
                "cgroup2".into()
            } else {
                "cgroup".into()
            },
            source: Some("cgroup".into()),
            options: MountOptions {
                data: if h.options.is_empty() {
                    vec![]
                } else {
                    vec![h.options.clone()]
                },
                ..spec.options.clone()
            },
        };
        let bound = MountSpec {
            destination: dest,
            fstype: "bind".into(),
            source: Some(h.mountpoint.join(&h.cgroup_path)),
            options: MountOptions {
                bind: true,
                recursive: true,
                flags,
                ..spec.options.clone()
            },
        };
        mounts::mount_in_root(root, if cgroupns { &fresh } else { &bound })?;
        Ok(())
    };
    if unified {
        return bind(
            &hierarchies[0],
            spec.destination.clone(),
            spec.options.flags,
        );
    }
    let rw_opts = MountOptions {
        flags: spec.options.flags & !0x1,
        data: vec!["mode=755".into()],
        ..Default::default()
    };
    let tmpfs = MountSpec {
        destination: spec.destination.clone(),
        fstype: "tmpfs".into(),
        source: Some("tmpfs".into()),
        options: rw_opts,
    };
    mounts::mount_in_root(root, &tmpfs)?;
    let dir = mounts::mkdir_all_in_root(root, &spec.destination)?;
    let dir = mounts::reopen_dir(&dir).map_err(|e| RootfsError::Cgroup("tmpfs".into(), e))?;
    // On a hybrid host runc leaves the v2 "unified" tree out of v1 containers; so do we.
    // The binds get their flags afterwards, all at once with the tmpfs (seal_cgroup_tree).
    let mut binds = Vec::new();
    for h in hierarchies.iter().filter(|h| !h.v2) {
        let dest = spec.destination.join(&h.name);
        bind(h, dest.clone(), 0)?;
        binds.push(dest);
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", like on the host.
        if h.name.contains(',') {
            for part in h.name.split(',') {
                match rustix::fs::symlinkat(h.name.as_str(), &dir, part) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(RootfsError::Cgroup(h.name.clone(), e)),
                }
            }
        }
    }
    seal_cgroup_tree(root, spec, &tmpfs, &binds)
}

/// The `MOUNT_ATTR_*` equivalent of mount flags, when each of them has one.
fn mount_attr(flags: u32) -> Option<u64> {
    use berth_sys::mount_attr::{
        MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
    };
    let known = [
        (0x1, MOUNT_ATTR_RDONLY),
        (0x2, MOUNT_ATTR_NOSUID),
        (0x4, MOUNT_ATTR_NODEV),
        (0x8, MOUNT_ATTR_NOEXEC),
    ];
    let mapped = known.iter().fold(0, |acc, (ms, _)| acc | ms);
    (flags & !mapped == 0).then(|| {
        known
            .iter()
            .filter(|(ms, _)| flags & ms != 0)
            .fold(0, |acc, (_, attr)| acc | attr)
    })
}

/// Gives the cgroup tmpfs and every bind below it the mount's flags (read-only, nosuid, ...):
/// one recursive mount_setattr, or (kernels before 5.12, flags it cannot express) a remount
/// of each bind and of the tmpfs.
fn seal_cgroup_tree(
    root: &OwnedFd,
    spec: &MountSpec,
    tmpfs: &MountSpec,
    binds: &[PathBuf],
) -> Result<(), RootfsError> {
    let flags = spec.options.flags;
    if let Some(attr) = mount_attr(flags) {
        let fd = mounts::open_in_root(root, &spec.destination, ResolveFlags::empty())
            .map_err(|e| RootfsError::Cgroup("tmpfs".into(), e))?;
        match berth_sys::mount_attr::set_recursive(&fd, attr) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(Errno::NOSYS.raw_os_error()) => {}
            Err(e) => {
                return Err(RootfsError::Cgroup(
                    "flags".into(),
                    Errno::from_io_error(&e).unwrap_or(Errno::INVAL),
                ))
            }
        }
    }
    for dest in binds {
        let bind = MountSpec {
            destination: dest.clone(),
            ..spec.clone()
        };
        mounts::remount(root, &bind, flags)?;
    }
    if flags & 0x1 != 0 {
        mounts::remount(root, tmpfs, flags)?;
    }
    Ok(())
}
