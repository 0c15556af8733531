//! mount_setattr(2), which neither rustix nor nix wraps: used to make a detached mount
//! (from open_tree) read-only before anything can reach it, and to set the flags of a whole
//! tree of mounts with one call.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// struct mount_attr of <linux/mount.h> (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const AT_RECURSIVE: libc::c_int = 0x8000;

/// Makes the mount `fd` refers to (e.g. an open_tree(OPEN_TREE_CLONE) result) read-only,
/// nosuid and nodev.
pub fn make_mount_readonly(fd: impl AsFd) -> io::Result<()> {
    set_attr(
        fd,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
    )
}

/// Sets the `MOUNT_ATTR_*` flags `attr_set` (others untouched) on the mount `fd` is the root
/// of and on every mount below it.
pub fn set_recursive(fd: impl AsFd, attr_set: u64) -> io::Result<()> {
    set_attr(fd, attr_set, AT_RECURSIVE)
}

fn set_attr(fd: impl AsFd, attr_set: u64, flags: libc::c_int) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a live, correctly laid-out struct mount_attr whose size we pass; the
    // path is a static NUL-terminated empty string used with AT_EMPTY_PATH; the fd is
    // borrowed for the duration of the call. The kernel only reads `attr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_fd().as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
