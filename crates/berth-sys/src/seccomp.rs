//! seccomp(2) with a classic-BPF program we assembled ourselves: the runtime prepends a stub
//! to libseccomp's filter (syscalls newer than the profile get ENOSYS, as runc's patchbpf
//! does), and libseccomp cannot load a program it did not build.

use std::io;

/// One classic-BPF instruction (`struct sock_filter`), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Loads `program` as a seccomp filter of the calling thread
/// (`seccomp(SECCOMP_SET_MODE_FILTER, 0, ...)`). The kernel requires no_new_privs or
/// CAP_SYS_ADMIN, and verifies the program (bounds, jumps, return values) itself.
pub fn load_filter(program: &[SockFilter]) -> io::Result<()> {
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp program too long"))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` instructions of `program`, a live slice whose layout is
    // `struct sock_filter` (repr(C), same fields); the kernel copies the program during the
    // call and keeps no pointer to it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
