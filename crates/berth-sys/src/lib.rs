//! The one crate of Berth that may contain `unsafe`. It wraps the few system calls that safe
//! crates (rustix, nix) do not cover, each behind a safe function whose `// SAFETY:` comment
//! says why the call is sound. Everything above this crate is `#![deny(unsafe_code)]`.
//!
//! - [`bpf`]: loading and attaching cgroup v2 device programs.
//! - [`mount_attr`]: mount_setattr, to make a detached mount read-only.
//! - [`process`]: fork for the single-threaded runtime, close_range(CLOEXEC), _exit, and
//!   resetting signal dispositions before execve.
//! - [`seccomp`]: loading a classic-BPF seccomp program the runtime compiled (and prefixed
//!   with its ENOSYS stub) beforehand.
//! - [`safe_path`]: the one primitive for every operation inside an untrusted tree (layer
//!   directories, container roots, build contexts): openat2 `RESOLVE_IN_ROOT`, or an
//!   `O_PATH|O_NOFOLLOW` walk where openat2 is unavailable.

pub mod bpf;
pub mod mount_attr;
pub mod process;
pub mod safe_path;
pub mod seccomp;
