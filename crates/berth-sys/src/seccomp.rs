//! seccomp(2) with a program compiled beforehand: the runtime compiles a profile once (with
//! libseccomp, behind its own ENOSYS stub, which libseccomp could not load) and loads the
//! same instructions into every process that needs them.

use std::io;

/// One classic BPF instruction (`struct sock_filter`) is 8 bytes.
pub const INSN_SIZE: usize = 8;
/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const u8,
}

/// Installs the classic BPF `program` (raw `struct sock_filter` instructions, as
/// libseccomp's `seccomp_export_bpf` writes them) as a seccomp filter of the calling thread,
/// with no filter flags: what libseccomp's `seccomp_load` does for a filter without TSYNC,
/// LOG or SPEC_ALLOW attributes. The caller needs no_new_privs or CAP_SYS_ADMIN.
pub fn set_mode_filter(program: &[u8]) -> io::Result<()> {
    if program.is_empty()
        || !program.len().is_multiple_of(INSN_SIZE)
        || program.len() / INSN_SIZE > MAX_INSNS
    {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let prog = SockFprog {
        len: (program.len() / INSN_SIZE) as libc::c_ushort,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points at `program`, which holds exactly `len` 8-byte instructions and
    // outlives the call; the kernel copies the instructions and keeps no pointer to them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &prog as *const SockFprog,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_programs_are_refused_before_the_kernel() {
        for bad in [
            &[][..],
            &[0u8; 7][..],
            &vec![0u8; (MAX_INSNS + 1) * INSN_SIZE][..],
        ] {
            let err = set_mode_filter(bad).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        }
    }

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..2].copy_from_slice(&code.to_ne_bytes());
        out[2] = jt;
        out[3] = jf;
        out[4..].copy_from_slice(&k.to_ne_bytes());
        out
    }

    #[test]
    fn a_loaded_program_filters_the_calling_thread_only() {
        // ld [nr]; jeq getpgid ? next : skip; ret ERRNO(EPERM); ret ALLOW
        let program: Vec<u8> = [
            insn(0x20, 0, 0, 0),
            insn(0x15, 0, 1, libc::SYS_getpgid as u32),
            insn(0x06, 0, 0, 0x0005_0000 | libc::EPERM as u32),
            insn(0x06, 0, 0, 0x7fff_0000),
        ]
        .concat();
        // A thread of its own: the filter and no_new_privs stay with it and end with it.
        let filtered = std::thread::spawn(move || {
            rustix::thread::set_no_new_privs(true).unwrap();
            set_mode_filter(&program).unwrap();
            rustix::process::getpgid(None).unwrap_err()
        })
        .join()
        .unwrap();
        assert_eq!(filtered, rustix::io::Errno::PERM);
        assert!(rustix::process::getpgid(None).is_ok());
    }
}
