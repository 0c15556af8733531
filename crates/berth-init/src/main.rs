//! berth-init: the init of `docker run --init`, bind-mounted read-only at
//! `/sbin/docker-init` and run as `/sbin/docker-init -- COMMAND [ARG...]` (Docker's
//! docker-init is tini; this does what Docker relies on tini for).
//!
//! - It runs COMMAND as its child (found on PATH as execvp would) with the signal mask and
//!   dispositions reset, and exits with the child's status: its exit code, or 128 + the
//!   signal that killed it. A command that cannot be run exits 127 (not found) or 126.
//! - Every signal it can catch (all but the synchronous fault signals) is forwarded to the
//!   child. As PID 1 of the container the kernel would drop signals it has no handler
//!   for; it has none, it waits for them with sigwait.
//! - It reaps every child that ends, orphans re-parented to it included, so no zombie
//!   accumulates (also outside PID 1, as a child subreaper).
//!
//! Linked static by build.rs, so it runs in images without a C library.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::process::{Command, ExitCode};

/// Signals raised by a fault in the init itself: blocking them would hang on a fault.
const SYNCHRONOUS: [Signal; 6] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

fn fatal(message: &str) -> ExitCode {
    eprintln!("[berth-init] {message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        return fatal("usage: berth-init [--] COMMAND [ARG...]");
    }

    let mut handled = SigSet::all();
    for signal in SYNCHRONOUS {
        handled.remove(signal);
    }
    if let Err(err) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), None) {
        return fatal(&format!("blocking signals: {err}"));
    }
    // Orphans of the command are ours to reap even when we are not PID 1 (--pid=host).
    let _ = nix::sys::prctl::set_child_subreaper(true);

    // Forked by hand: std's spawn hands the child our blocked signal mask.
    let child = match berth_sys::process::fork() {
        Ok(berth_sys::process::Forked::Child) => run_command(&args),
        Ok(berth_sys::process::Forked::Parent(pid)) => Pid::from_raw(pid),
        Err(err) => return fatal(&format!("fork: {err}")),
    };
    // Signals from here on stay pending until the loop below reads and forwards them.

    loop {
        let signal = match handled.wait() {
            Ok(signal) => signal,
            Err(err) => return fatal(&format!("waiting for signals: {err}")),
        };
        if signal != Signal::SIGCHLD {
            // ESRCH: the child is gone and its SIGCHLD is about to be read.
            let _ = kill(child, signal);
            continue;
        }
        if let Some(code) = reap(child) {
            return ExitCode::from(code);
        }
    }
}

/// In the forked child: the signal mask and SIGPIPE (which the Rust runtime ignores) back
/// to their defaults, then exec of the command; 127 when it is not found, else 126.
fn run_command(args: &[std::ffi::OsString]) -> ! {
    use std::os::unix::process::CommandExt;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = berth_sys::process::reset_signal_to_default(Signal::SIGPIPE as i32);
    let err = Command::new(&args[0]).args(&args[1..]).exec();
    eprintln!(
        "[berth-init] exec {} failed: {err}",
        args[0].to_string_lossy()
    );
    berth_sys::process::exit_now(match err.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    })
}

/// Reaps every child that has ended; the command's exit status as an exit code once it is
/// among them.
fn reap(child: Pid) -> Option<u8> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) if pid == child => code = Some(status as u8),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                code = Some(128u8.wrapping_add(signal as u8))
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return code,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return code,
        }
    }
}
