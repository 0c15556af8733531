//! The code that runs in the processes we fork: stage-1 (joins and creates namespaces, then
//! forks the init so it lands in the new pid namespace) and the init itself (rootfs, console,
//! hardening, process finalisation, wait for `start`, execve). Errors go to the parent as a
//! structured [`Message::Failed`] before the process exits.

use crate::console::{self, ConsoleError};
use crate::message::{self, ChannelError, FailureKind, Message};
use crate::namespaces::{NamespaceError, NamespacePlan};
use crate::paths::{self, PathsError};
use crate::process::{self, ProcessError};
use crate::rootfs::{self, RootfsError, RootfsPlan};
use crate::seccomp::Program;
use berth_sys::process::{exit_now, fork, Forked};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Errors inside stage-1 and the init; the variant names the step for the parent's report.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("setup channel")]
    Channel(#[from] ChannelError),
    #[error("unexpected message {0}")]
    Unexpected(String),
    #[error("making the process non-dumpable")]
    Dumpable(#[source] Errno),
    #[error("joining the container's cgroup")]
    Cgroup(#[source] berth_cgroups::CgroupError),
    #[error("namespaces")]
    Namespace(#[from] NamespaceError),
    #[error("becoming root in the new user namespace")]
    UserNsRoot(#[source] nix::Error),
    #[error("forking the container init")]
    Fork(#[source] std::io::Error),
    #[error("setting up stdio")]
    Stdio(#[source] Errno),
    #[error("rootfs")]
    Rootfs(#[from] RootfsError),
    #[error("console")]
    Console(#[from] ConsoleError),
    #[error("terminal requested but no console socket given")]
    NoConsoleSocket,
    #[error("hardening paths")]
    Paths(#[from] PathsError),
    #[error("{0}")]
    Process(#[from] ProcessError),
    #[error("startContainer hook")]
    StartHook(#[source] crate::hooks::HookError),
    #[error("opening the exec fifo")]
    Fifo(#[source] Errno),
}

impl InitError {
    fn kind(&self) -> FailureKind {
        match self {
            InitError::Process(e) => e.kind(),
            _ => FailureKind::Other,
        }
    }
}

/// Renders an error with its chain of sources, the way runc prints its errors.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Everything the forked side needs; built by the parent before fork.
pub struct InitConfig {
    pub spec: Spec,
    pub process: Process,
    pub namespaces: NamespacePlan,
    /// None for `exec` (no rootfs setup, no hardening: they exist already).
    pub rootfs: Option<RootfsPlan>,
    /// O_PATH fd of exec.fifo: the init blocks opening it for writing until `start`.
    pub fifo: Option<OwnedFd>,
    pub console_socket: Option<OwnedFd>,
    pub stdio: Option<[OwnedFd; 3]>,
    pub preserve_fds: u32,
    pub run_create_hooks: bool,
    /// The cgroup stage-1 moves itself into first thing (it exists by then).
    pub cgroup: Option<berth_cgroups::Cgroup>,
    /// The compiled linux.seccomp filter, loaded just before execve.
    pub seccomp: Option<std::sync::Arc<Program>>,
    /// An exec into a running container: the init neither waits for `Continue` nor reports
    /// `Ready` (the parent has nothing to do in between); the parent learns that execve
    /// succeeded from the setup socket closing, or reads `Failed`.
    pub exec: bool,
}

fn expect(sock: &OwnedFd, wanted: Message) -> Result<(), InitError> {
    let got = message::receive(sock)?;
    if got == wanted {
        Ok(())
    } else {
        Err(InitError::Unexpected(format!("{got:?}")))
    }
}

fn report(sock: &OwnedFd, err: &InitError) {
    let step = match err {
        InitError::Process(_) => "process".to_string(),
        other => other.to_string(),
    };
    let _ = message::send(
        sock,
        &Message::Failed {
            step,
            message: chain(err),
            kind: err.kind(),
        },
    );
}

/// Entry point of the forked child. Never returns.
pub fn stage1(sock: OwnedFd, mut cfg: InitConfig) -> ! {
    match stage1_steps(&sock, &mut cfg) {
        Ok(Forked::Child) => init(sock, cfg),
        Ok(Forked::Parent(_)) => exit_now(0),
        Err(e) => {
            report(&sock, &e);
            exit_now(1)
        }
    }
}

fn stage1_steps(sock: &OwnedFd, cfg: &mut InitConfig) -> Result<Forked, InitError> {
    // Non-dumpable until execve: nothing in the container may ptrace us or open our
    // /proc/<pid>/exe or fds (CVE-2016-9962). The flag is inherited by the init.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(InitError::Dumpable)?;
    // Into the cgroup before anything else (and before a new user namespace takes the
    // privilege to): the init and everything it forks inherit it, and a cgroup namespace
    // unshared below is rooted there. We are single-threaded, so moving this thread moves
    // the process, and the kernel does that without the global lock that moving a process
    // from the parent takes (an RCU grace period, milliseconds, per create and exec).
    if let Some(cgroup) = &cfg.cgroup {
        cgroup.add_current_thread().map_err(InitError::Cgroup)?;
    }
    if let Some([i, o, e]) = cfg.stdio.take() {
        rustix::stdio::dup2_stdin(&i).map_err(InitError::Stdio)?;
        rustix::stdio::dup2_stdout(&o).map_err(InitError::Stdio)?;
        rustix::stdio::dup2_stderr(&e).map_err(InitError::Stdio)?;
    }
    let plan = &cfg.namespaces;
    if !plan.join_user()? && plan.creates(LinuxNamespaceType::User) {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| NamespaceError::Unshare(nix::sched::CloneFlags::CLONE_NEWUSER, e))?;
        message::send(
            sock,
            &Message::UserNsCreated {
                pid: rustix::process::getpid().as_raw_nonzero().get(),
            },
        )?;
        expect(sock, Message::MapsWritten)?;
        let root_u = nix::unistd::Uid::from_raw(0);
        let root_g = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root_g, root_g, root_g).map_err(InitError::UserNsRoot)?;
        nix::unistd::setresuid(root_u, root_u, root_u).map_err(InitError::UserNsRoot)?;
    }
    plan.join_others()?;
    plan.unshare_others()?;
    let forked = fork().map_err(InitError::Fork)?;
    if let Forked::Parent(pid) = forked {
        message::send(sock, &Message::InitPid { pid })?;
    }
    Ok(forked)
}

fn init(sock: OwnedFd, cfg: InitConfig) -> ! {
    let (exe, state) = match init_steps(&sock, &cfg) {
        Ok(done) => done,
        Err(e) => {
            report(&sock, &e);
            exit_now(1)
        }
    };
    let seccomp = cfg.seccomp.as_deref();
    let ready = if cfg.exec {
        Ok(())
    } else {
        message::send(&sock, &Message::Ready).map_err(InitError::from)
    };
    let err = match ready
        .and_then(|()| wait_for_start(&cfg))
        .and_then(|()| start_container_hooks(&cfg, &state))
    {
        Ok(()) => InitError::Process(process::exec(&cfg.process, &exe, seccomp, cfg.preserve_fds)),
        Err(e) => e,
    };
    report(&sock, &err);
    exit_now(match err.kind() {
        FailureKind::NotFound => 127,
        FailureKind::NotExecutable => 126,
        FailureKind::Other => 1,
    })
}

fn init_steps(sock: &OwnedFd, cfg: &InitConfig) -> Result<(PathBuf, String), InitError> {
    let state = if cfg.exec {
        String::new()
    } else {
        match message::receive(sock)? {
            Message::Continue { state } => state,
            other => return Err(InitError::Unexpected(format!("{other:?}"))),
        }
    };
    // A new session: the container must not share our terminal's job control.
    let _ = rustix::process::setsid();
    if let Some(plan) = &cfg.rootfs {
        rootfs::setup(plan, || {
            if !cfg.run_create_hooks {
                return Ok(());
            }
            message::send(sock, &Message::RunCreateHooks).map_err(|e| chain(&e))?;
            expect(sock, Message::HooksDone).map_err(|e| chain(&e))
        })?;
    }
    if cfg.process.terminal().unwrap_or(false) {
        let socket = cfg
            .console_socket
            .as_ref()
            .ok_or(InitError::NoConsoleSocket)?;
        // runc sizes the pty from process.consoleSize before the process runs, so a
        // `docker run -it` sees its window size from the first instruction.
        let size = cfg
            .process
            .console_size()
            .as_ref()
            .map(|b| (b.height(), b.width()));
        console::setup(socket.as_fd(), cfg.rootfs.is_some(), size)?;
    }
    if cfg.rootfs.is_some() {
        harden(cfg)?;
    }
    Ok((
        process::finalize(&cfg.process, cfg.seccomp.as_deref())?,
        state,
    ))
}

/// Hostname, sysctls, read-only and masked paths, read-only root: runc's order.
fn harden(cfg: &InitConfig) -> Result<(), InitError> {
    let linux = cfg.spec.linux().clone().unwrap_or_default();
    if cfg.namespaces.creates(LinuxNamespaceType::Uts) {
        paths::set_names(
            cfg.spec.hostname().as_deref(),
            cfg.spec.domainname().as_deref(),
        )?;
    }
    if let Some(sysctl) = linux.sysctl() {
        paths::write_sysctls(sysctl.iter())?;
    }
    paths::readonly_paths(linux.readonly_paths().as_deref().unwrap_or(&[]))?;
    paths::mask_paths(linux.masked_paths().as_deref().unwrap_or(&[]))?;
    if cfg
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        paths::readonly_root()?;
    }
    Ok(())
}

/// startContainer hooks: run by the init after `start`, inside the container, before execve.
fn start_container_hooks(cfg: &InitConfig, state: &str) -> Result<(), InitError> {
    let Some(hooks) = cfg
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
    else {
        return Ok(());
    };
    if cfg.fifo.is_none() {
        return Ok(());
    }
    let mut state: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
    state["status"] = "running".into();
    crate::hooks::run(&hooks, &state).map_err(InitError::StartHook)
}

/// Blocks until `start` opens the exec fifo for reading, then tells it we are going.
fn wait_for_start(cfg: &InitConfig) -> Result<(), InitError> {
    let Some(fifo) = &cfg.fifo else { return Ok(()) };
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(InitError::Fifo)?;
    rustix::io::write(&fd, b"0").map_err(InitError::Fifo)?;
    Ok(())
}
