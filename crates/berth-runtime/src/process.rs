//! The last steps before execve, shared by the container init and `exec`: rlimits, user and
//! groups, capabilities, no_new_privileges, seccomp, umask, a verified cwd (CVE-2024-21626),
//! fd hygiene, and the entrypoint lookup with Docker's error texts (exit 127/126).

use crate::capabilities::{self, CapPlan, CapsError};
use crate::message::FailureKind;
use crate::seccomp::{Program, SeccompError};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// PATH used when the process environment has none (runc's and Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors of process finalisation; [`ProcessError::kind`] gives the exit-code class.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("setting rlimit {0}")]
    Rlimit(String, #[source] Errno),
    #[error("setting supplementary groups")]
    Groups(#[source] nix::Error),
    #[error("setting uid/gid {0}:{1}")]
    User(u32, u32, #[source] nix::Error),
    #[error("setting keep-capabilities")]
    KeepCaps(#[source] Errno),
    #[error(transparent)]
    Caps(#[from] CapsError),
    #[error("setting no_new_privs")]
    NoNewPrivs(#[source] Errno),
    #[error("installing the seccomp filter")]
    Seccomp(#[from] SeccompError),
    #[error("chdir to {0:?}")]
    Chdir(PathBuf, #[source] Errno),
    #[error("current working directory is outside of container mount namespace root -- possible container breakout detected")]
    CwdOutsideRoot,
    #[error("marking fds close-on-exec")]
    CloseFds(#[source] std::io::Error),
    #[error("resetting SIGPIPE to its default disposition")]
    SignalDisposition(#[source] std::io::Error),
    #[error("resetting the signal mask")]
    SignalMask(#[source] nix::Error),
    #[error("the process has no args")]
    NoArgs,
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("exec: {0:?}: stat {0}: no such file or directory")]
    NoSuchFile(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error("exec {0:?}")]
    Exec(String, #[source] nix::Error),
    #[error("argument or environment holds a NUL byte")]
    Nul,
}

impl ProcessError {
    /// The failure class the caller maps to Docker's exit codes.
    pub fn kind(&self) -> FailureKind {
        match self {
            ProcessError::NotInPath(_) | ProcessError::NoSuchFile(_) => FailureKind::NotFound,
            ProcessError::NotExecutable(_) => FailureKind::NotExecutable,
            ProcessError::Exec(_, nix::Error::ENOENT) => FailureKind::NotFound,
            ProcessError::Exec(_, nix::Error::EACCES) => FailureKind::NotExecutable,
            _ => FailureKind::Other,
        }
    }
}

fn resource(t: PosixRlimitType) -> Option<Resource> {
    use PosixRlimitType as T;
    Some(match t {
        T::RlimitCpu => Resource::Cpu,
        T::RlimitFsize => Resource::Fsize,
        T::RlimitData => Resource::Data,
        T::RlimitStack => Resource::Stack,
        T::RlimitCore => Resource::Core,
        T::RlimitRss => Resource::Rss,
        T::RlimitNproc => Resource::Nproc,
        T::RlimitNofile => Resource::Nofile,
        T::RlimitMemlock => Resource::Memlock,
        T::RlimitAs => Resource::As,
        T::RlimitLocks => Resource::Locks,
        T::RlimitSigpending => Resource::Sigpending,
        T::RlimitMsgqueue => Resource::Msgqueue,
        T::RlimitNice => Resource::Nice,
        T::RlimitRtprio => Resource::Rtprio,
        T::RlimitRttime => Resource::Rttime,
    })
}

/// Applies process.rlimits.
pub fn apply_rlimits(process: &Process) -> Result<(), ProcessError> {
    for rl in process.rlimits().iter().flatten() {
        let Some(res) = resource(rl.typ()) else {
            continue;
        };
        let limit = |v: u64| (v != u64::MAX).then_some(v);
        rustix::process::setrlimit(
            res,
            Rlimit {
                current: limit(rl.soft()),
                maximum: limit(rl.hard()),
            },
        )
        .map_err(|e| ProcessError::Rlimit(format!("{:?}", rl.typ()), e))?;
    }
    Ok(())
}

/// Switches to the configured uid, gid and supplementary groups, keeping capabilities so
/// they can be set afterwards.
pub fn apply_user(process: &Process) -> Result<(), ProcessError> {
    let user = process.user();
    rustix::thread::set_keep_capabilities(true).map_err(ProcessError::KeepCaps)?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is denied in a user namespace whose setgroups file says "deny": skip then.
    let denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        nix::unistd::setgroups(&groups).map_err(ProcessError::Groups)?;
    }
    let (uid, gid) = (user.uid(), user.gid());
    let g = Gid::from_raw(gid);
    nix::unistd::setresgid(g, g, g).map_err(|e| ProcessError::User(uid, gid, e))?;
    let u = Uid::from_raw(uid);
    nix::unistd::setresuid(u, u, u).map_err(|e| ProcessError::User(uid, gid, e))?;
    rustix::thread::set_keep_capabilities(false).map_err(ProcessError::KeepCaps)?;
    Ok(())
}

/// chdir to `cwd` and check that the kernel can name the result from our root: a cwd reached
/// through a leaked fd (`/proc/self/fd/N`) shows as "(unreachable)" (CVE-2024-21626).
pub fn enter_cwd(cwd: &Path) -> Result<(), ProcessError> {
    rustix::process::chdir(cwd).map_err(|e| ProcessError::Chdir(cwd.into(), e))?;
    match rustix::process::getcwd(Vec::new()) {
        Ok(path) if path.as_bytes().starts_with(b"/") => Ok(()),
        _ => Err(ProcessError::CwdOutsideRoot),
    }
}

/// Resolves args[0] the way Go's exec.LookPath does (runc uses it), with the same messages.
pub fn lookup(program: &str, env: &[String]) -> Result<PathBuf, ProcessError> {
    let check = |p: &Path| -> Result<(), Errno> {
        let st = rustix::fs::stat(p)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            || st.st_mode & 0o111 == 0
        {
            return Err(Errno::ACCESS);
        }
        Ok(())
    };
    if program.contains('/') {
        return match check(Path::new(program)) {
            Ok(()) => Ok(program.into()),
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => Err(ProcessError::NoSuchFile(program.into())),
            Err(_) => Err(ProcessError::NotExecutable(program.into())),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        if check(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(ProcessError::NotInPath(program.into()))
}

/// HOME from the container's /etc/passwd for `uid`, "/" when absent (runc's rule), added
/// only when the environment has none.
pub fn with_home(env: &[String], uid: u32) -> Vec<String> {
    let mut env = env.to_vec();
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let home = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    env.push(format!("HOME={home}"));
    env
}

/// Everything that must happen before the last step, in runc's order. Seccomp goes in here
/// when no_new_privileges is off (it then needs CAP_SYS_ADMIN, which we still hold).
pub fn finalize(process: &Process, seccomp: Option<&Program>) -> Result<PathBuf, ProcessError> {
    apply_rlimits(process)?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    if nnp {
        rustix::thread::set_no_new_privs(true).map_err(ProcessError::NoNewPrivs)?;
    }
    if let (Some(program), false) = (seccomp, nnp) {
        program.load()?;
    }
    let plan = match process.capabilities() {
        Some(c) => CapPlan::from_spec(c)?,
        None => CapPlan::default(),
    };
    capabilities::apply_bounding(&plan)?;
    apply_user(process)?;
    capabilities::apply_sets(&plan)?;
    if let Some(mask) = process.user().umask() {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    } else {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    }
    enter_cwd(process.cwd())?;
    let args = process.args().clone().unwrap_or_default();
    let program = args.first().ok_or(ProcessError::NoArgs)?;
    lookup(program, process.env().as_deref().unwrap_or(&[]))
}

/// The last step: seccomp when no_new_privileges is on (as late as possible), every fd but
/// stdio (and `preserve_fds` more) close-on-exec, then execve.
pub fn exec(
    process: &Process,
    path: &Path,
    seccomp: Option<&Program>,
    preserve_fds: u32,
) -> ProcessError {
    let run = || -> Result<std::convert::Infallible, ProcessError> {
        let to_c = |s: &str| CString::new(s).map_err(|_| ProcessError::Nul);
        let args: Vec<CString> = process
            .args()
            .iter()
            .flatten()
            .map(|a| to_c(a))
            .collect::<Result<_, _>>()?;
        let env = with_home(
            process.env().as_deref().unwrap_or(&[]),
            process.user().uid(),
        );
        let env: Vec<CString> = env.iter().map(|e| to_c(e)).collect::<Result<_, _>>()?;
        let cpath = to_c(&path.to_string_lossy())?;
        berth_sys::process::cloexec_from(3 + preserve_fds).map_err(ProcessError::CloseFds)?;
        // The runtime may block signals it forwards; the container starts with none blocked.
        berth_sys::process::reset_signal_to_default(libc_sigpipe())
            .map_err(ProcessError::SignalDisposition)?;
        nix::sys::signal::SigSet::empty()
            .thread_set_mask()
            .map_err(ProcessError::SignalMask)?;
        if let (Some(program), true) = (seccomp, process.no_new_privileges().unwrap_or(false)) {
            program.load()?;
        }
        nix::unistd::execve(&cpath, &args, &env)
            .map_err(|e| ProcessError::Exec(path.display().to_string(), e))
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn libc_sigpipe() -> i32 {
    nix::sys::signal::Signal::SIGPIPE as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_sh_and_reports_dockers_messages() {
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert!(lookup("sh", &env).unwrap().ends_with("sh"));
        let e = lookup("no-such-prog-xyz", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"exec: "no-such-prog-xyz": executable file not found in $PATH"#
        );
        assert_eq!(e.kind(), FailureKind::NotFound);
        let e = lookup("/etc/passwd", &env).unwrap_err();
        assert_eq!(e.to_string(), r#"exec: "/etc/passwd": permission denied"#);
        assert_eq!(e.kind(), FailureKind::NotExecutable);
        assert_eq!(
            lookup("/nonexistent/x", &env).unwrap_err().kind(),
            FailureKind::NotFound
        );
    }
}
