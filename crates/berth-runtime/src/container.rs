//! The runtime's public API, what `berth-runc` and the shim call: create, start, state, kill,
//! delete, exec, run-style waiting, and the list of a container's processes.
//!
//! stdio: the container process gets the caller's fds 0-2 unless [`CreateOptions::stdio`]
//! gives three fds; with `process.terminal` the pty master is sent over the
//! `console_socket` (SCM_RIGHTS, like runc) instead.

use crate::bundle::{device_numbers, make_fifo, rootfs_plan};
use crate::cgroups;
use crate::hooks::{self, HookError};
use crate::init::InitConfig;
use crate::namespaces::{NamespacePlan, JOIN_ORDER};
use crate::spawn::{self, Callbacks, SpawnError};
use crate::state::{self, State, StateDir, StateError, Status};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Errors of the container operations.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("loading {0}")]
    LoadSpec(PathBuf, #[source] oci_spec::OciSpecError),
    #[error("invalid config: {0}")]
    InvalidSpec(String),
    #[error("creating the exec fifo")]
    Fifo(#[source] Errno),
    #[error("connecting to the console socket {0:?}")]
    ConsoleSocket(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("hook: {0}")]
    Hook(#[from] HookError),
    #[error("container {0} is not {1} (status {2})")]
    WrongStatus(String, &'static str, Status),
    #[error("cannot delete container {0} that is not stopped: {1}")]
    NotStopped(String, Status),
    #[error("waiting for start on the exec fifo")]
    Start(#[source] Errno),
    #[error("the container init exited before start")]
    InitGone,
    #[error("sending signal {0}")]
    Kill(i32, #[source] Errno),
    #[error("writing pid file {0:?}")]
    PidFile(PathBuf, #[source] StateError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupsError),
    #[error("seccomp")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("waiting for pid {0}")]
    Wait(i32, #[source] Errno),
}

impl ContainerError {
    /// Docker's exit code for a failure to start (127 not found, 126 not executable, else 1).
    pub fn exit_code(&self) -> i32 {
        match self {
            ContainerError::Spawn(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// Options of [`Runtime::create`].
#[derive(Debug, Default)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// stdin, stdout, stderr for the container; None inherits ours.
    pub stdio: Option<[OwnedFd; 3]>,
}

/// Options of [`Runtime::exec`].
#[derive(Debug, Default)]
pub struct ExecOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub stdio: Option<[OwnedFd; 3]>,
}

/// A runtime rooted at a state directory (runc's `--root`).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
}

fn bad(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidSpec(msg.into())
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    fn dir(&self, id: &str) -> Result<StateDir, ContainerError> {
        Ok(StateDir::new(&self.root, id)?)
    }

    /// Creates container `id` from the bundle: the init is set up and waits for [`Self::start`].
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        opts: CreateOptions,
    ) -> Result<State, ContainerError> {
        let bundle = std::fs::canonicalize(bundle)
            .map_err(|e| bad(format!("bundle {}: {e}", bundle.display())))?;
        let config = bundle.join("config.json");
        let spec = Spec::load(&config).map_err(|e| ContainerError::LoadSpec(config.clone(), e))?;
        let dir = self.dir(id)?;
        dir.create()?;
        let result = self.create_in(&dir, &bundle, spec, opts);
        if result.is_err() {
            let _ = dir.remove();
        }
        result
    }

    fn create_in(
        &self,
        dir: &StateDir,
        bundle: &Path,
        spec: Spec,
        opts: CreateOptions,
    ) -> Result<State, ContainerError> {
        let bytes = serde_json::to_vec(&spec).map_err(|e| bad(e.to_string()))?;
        state::write_atomic(&dir.config_file(), &bytes)?;
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| bad("process is required"))?;
        let linux = spec.linux().clone().unwrap_or_default();
        let namespaces = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]));
        if !namespaces.creates(LinuxNamespaceType::Mount) {
            return Err(bad("a new mount namespace is required"));
        }
        let rootfs = rootfs_plan(&spec, bundle, &namespaces)?;
        let fifo = make_fifo(dir)?;
        let (cgroup, limits) = cgroup_plan(&linux, &dir.id, &rootfs.devices)?;
        let console_socket = connect_console(opts.console_socket.as_deref(), process.terminal())?;
        let seccomp = seccomp_program(&spec, Some(bundle))?;
        let mut state = initial_state(dir, bundle, &spec, &cgroup);
        let hooks = spec.hooks().clone().unwrap_or_default();
        let run_create_hooks =
            hooks.create_runtime().is_some() || hooks.create_container().is_some();
        let created = cgroups::create(&cgroup, &limits)?;
        let cfg = InitConfig {
            spec: spec.clone(),
            process: process.clone(),
            namespaces,
            rootfs: Some(rootfs),
            fifo: Some(fifo),
            console_socket,
            stdio: opts.stdio,
            preserve_fds: opts.preserve_fds,
            run_create_hooks,
            cgroup: Some(created),
            seccomp,
            exec: false,
        };
        let hook_state = state.clone();
        let mut run_hooks = create_hooks(&hooks, &hook_state);
        let pid = spawn::spawn(
            cfg,
            Callbacks {
                id_maps: Some((
                    linux.uid_mappings().clone().unwrap_or_default(),
                    linux.gid_mappings().clone().unwrap_or_default(),
                )),
                oom_score_adj: process.oom_score_adj(),
                hooks: &mut run_hooks,
                start_state: &|pid| {
                    let mut s = hook_state.clone();
                    s.pid = Some(pid);
                    s.oci_json().to_string()
                },
                wait_exec: false,
            },
        )
        .inspect_err(|_| {
            let _ = cgroups::destroy(&cgroup);
        })?;
        state.pid = Some(pid);
        state.init_start_time = state::process_start_time(pid).unwrap_or(0);
        state.status = Status::Created;
        dir.save(&state)?;
        if let Some(path) = &opts.pid_file {
            state::write_atomic(path, pid.to_string().as_bytes())
                .map_err(|e| ContainerError::PidFile(path.clone(), e))?;
        }
        Ok(state)
    }

    /// The container's state with its live status (created, running or stopped).
    pub fn state(&self, id: &str) -> Result<State, ContainerError> {
        let dir = self.dir(id)?;
        let mut state = dir.load()?;
        let alive = state
            .pid
            .is_some_and(|p| state::is_alive(p, state.init_start_time));
        state.status = if !alive {
            Status::Stopped
        } else if dir.fifo().exists() {
            Status::Created
        } else {
            Status::Running
        };
        Ok(state)
    }

    /// Every container under the root.
    pub fn list(&self) -> Vec<State> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(state) = self.state(&entry.file_name().to_string_lossy()) {
                out.push(state);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Lets a created container run its process: reads the init's byte from the exec fifo.
    pub fn start(&self, id: &str) -> Result<(), ContainerError> {
        let state = self.state(id)?;
        if state.status != Status::Created {
            return Err(ContainerError::WrongStatus(
                id.into(),
                "created",
                state.status,
            ));
        }
        let dir = self.dir(id)?;
        let fifo = rustix::fs::open(
            dir.fifo(),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(ContainerError::Start)?;
        let pid = rustix::process::Pid::from_raw(state.pid.unwrap_or(0))
            .ok_or(ContainerError::InitGone)?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .map_err(|_| ContainerError::InitGone)?;
        loop {
            use rustix::event::{poll, PollFd, PollFlags};
            let mut fds = [
                PollFd::new(&fifo, PollFlags::IN),
                PollFd::new(&pidfd, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Err(Errno::INTR) => continue,
                Err(e) => return Err(ContainerError::Start(e)),
                Ok(_) => {}
            }
            let mut buf = [0u8; 1];
            if fds[0].revents().contains(PollFlags::IN) {
                if let Ok(1) = rustix::io::read(&fifo, &mut buf) {
                    break;
                }
            }
            if fds[1].revents().contains(PollFlags::IN) {
                return Err(ContainerError::InitGone);
            }
        }
        let _ = std::fs::remove_file(dir.fifo());
        let spec = self.spec(id)?;
        if let Some(poststart) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) {
            let mut s = state.clone();
            s.status = Status::Running;
            if let Err(e) = hooks::run(&poststart, &s.oci_json()) {
                // A failing poststart hook is logged, the container keeps running (spec).
                tracing::warn!(error = %crate::init::chain(&e), "poststart hook failed");
            }
        }
        Ok(())
    }

    /// The config the container was created with.
    pub fn spec(&self, id: &str) -> Result<Spec, ContainerError> {
        let path = self.dir(id)?.config_file();
        Spec::load(&path).map_err(|e| ContainerError::LoadSpec(path, e))
    }

    /// Sends `signal` to the init, or with `all` to every process of the container.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
        let state = self.state(id)?;
        if state.status == Status::Stopped {
            return Err(ContainerError::WrongStatus(
                id.into(),
                "running",
                state.status,
            ));
        }
        let pids = if all {
            self.all_pids(&state, id)?
        } else {
            state.pid.into_iter().collect()
        };
        for pid in pids {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(signal).ok(),
            )
            .map_err(|e| ContainerError::Kill(signal, Errno::from_raw_os_error(e as i32)))?;
        }
        Ok(())
    }

    fn all_pids(&self, state: &State, id: &str) -> Result<Vec<i32>, ContainerError> {
        match cgroup_of(state) {
            Some(path) => Ok(cgroups::processes(&path)?),
            None => self.pids(id),
        }
    }

    /// Pids (in our pid namespace) of the container's processes: those of its cgroup, else
    /// those in the init's pid namespace, or only the init when it shares ours.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, ContainerError> {
        let state = self.state(id)?;
        if let (Some(path), false) = (cgroup_of(&state), state.status == Status::Stopped) {
            let mut pids = cgroups::processes(&path)?;
            pids.sort_unstable();
            return Ok(pids);
        }
        let Some(init) = state.pid.filter(|_| state.status != Status::Stopped) else {
            return Ok(Vec::new());
        };
        let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let init_ns = ns(init);
        if init_ns.is_none() || init_ns == ns(std::process::id() as i32) {
            return Ok(vec![init]);
        }
        let mut pids: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|p| ns(*p) == init_ns)
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Deletes a stopped container (or, with `force` or when only created, kills it first),
    /// runs poststop hooks and removes its state.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        let state = self.state(id)?;
        match state.status {
            Status::Stopped => {}
            Status::Created | Status::Creating => self.kill_and_wait(&state)?,
            Status::Running if force => self.kill_and_wait(&state)?,
            Status::Running => return Err(ContainerError::NotStopped(id.into(), state.status)),
        }
        let spec = self.spec(id).ok();
        if let Some(path) = cgroup_of(&state) {
            cgroups::destroy(&path)?;
        }
        let dir = self.dir(id)?;
        dir.remove()?;
        if let Some(poststop) = spec
            .as_ref()
            .and_then(|s| s.hooks().as_ref())
            .and_then(|h| h.poststop().clone())
        {
            let mut s = state.clone();
            s.status = Status::Stopped;
            if let Err(e) = hooks::run(&poststop, &s.oci_json()) {
                tracing::warn!(error = %crate::init::chain(&e), "poststop hook failed");
            }
        }
        Ok(())
    }

    fn kill_and_wait(&self, state: &State) -> Result<(), ContainerError> {
        let Some(pid) = state.pid.and_then(rustix::process::Pid::from_raw) else {
            return Ok(());
        };
        let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        else {
            return Ok(());
        };
        if !state::is_alive(pid.as_raw_nonzero().get(), state.init_start_time) {
            return Ok(());
        }
        // Killing pid 1 of a pid namespace kills every process in it.
        match rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL) {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(e) => return Err(ContainerError::Kill(9, e)),
        }
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        while let Err(Errno::INTR) = rustix::event::poll(&mut fds, None) {}
        // Reap it if it is our child (run, or a shim); not our child is fine too.
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        Ok(())
    }

    /// Runs `process` inside running container `id`; returns its pid (a child of ours when
    /// the caller is a subreaper, as `berth-runc exec` and `run` make themselves).
    pub fn exec(
        &self,
        id: &str,
        process: Process,
        opts: ExecOptions,
    ) -> Result<i32, ContainerError> {
        let state = self.state(id)?;
        if state.status == Status::Stopped {
            return Err(ContainerError::WrongStatus(
                id.into(),
                "running",
                state.status,
            ));
        }
        let spec = self.spec(id)?;
        let init = state.pid.unwrap_or(0);
        let kinds: Vec<LinuxNamespaceType> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
            .iter()
            .map(|n| n.typ())
            .filter(|k| JOIN_ORDER.contains(k))
            .collect();
        let console_socket = connect_console(opts.console_socket.as_deref(), process.terminal())?;
        let cgroup = cgroup_of(&state).map(|p| cgroups::open(&p)).transpose()?;
        let seccomp = seccomp_program(&spec, Some(&state.bundle))?;
        let cfg = InitConfig {
            spec,
            process,
            namespaces: NamespacePlan::join_process(init, &kinds),
            rootfs: None,
            fifo: None,
            console_socket,
            stdio: opts.stdio,
            preserve_fds: opts.preserve_fds,
            run_create_hooks: false,
            cgroup,
            seccomp,
            exec: true,
        };
        let pid = spawn::spawn(
            cfg,
            Callbacks {
                id_maps: None,
                oom_score_adj: None,
                hooks: &mut |_| Ok(()),
                start_state: &|_| String::new(),
                wait_exec: true,
            },
        )?;
        if let Some(path) = &opts.pid_file {
            state::write_atomic(path, pid.to_string().as_bytes())
                .map_err(|e| ContainerError::PidFile(path.clone(), e))?;
        }
        Ok(pid)
    }
}

/// The compiled filter of the config's linux.seccomp, if it has one (see
/// [`crate::seccomp::program`]: compiled once per profile, or taken from the bundle).
fn seccomp_program(
    spec: &Spec,
    bundle: Option<&Path>,
) -> Result<Option<std::sync::Arc<crate::seccomp::Program>>, ContainerError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    Ok(Some(crate::seccomp::program(profile, bundle)?))
}

/// The container's cgroup path and limits (with the runtime's own devices allowed).
fn cgroup_plan(
    linux: &oci_spec::runtime::Linux,
    id: &str,
    devices: &[crate::devices::Device],
) -> Result<(berth_cgroups::CgroupPath, berth_cgroups::Resources), ContainerError> {
    let path = cgroups::path_for(linux.cgroups_path().as_ref().and_then(|p| p.to_str()), id)?;
    let mut limits = linux
        .resources()
        .as_ref()
        .map(cgroups::resources)
        .transpose()?
        .unwrap_or_default();
    cgroups::allow_runtime_devices(&mut limits, &device_numbers(devices));
    Ok((path, limits))
}

/// The state of a container being created (no pid yet).
fn initial_state(
    dir: &StateDir,
    bundle: &Path,
    spec: &Spec,
    cgroup: &berth_cgroups::CgroupPath,
) -> State {
    State {
        oci_version: state::OCI_VERSION.into(),
        id: dir.id.clone(),
        status: Status::Creating,
        pid: None,
        bundle: bundle.to_path_buf(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        init_start_time: 0,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        owner: String::new(),
        cgroup_path: Some(cgroup.relative().display().to_string()),
    }
}

/// Runs the createRuntime and createContainer hooks with the state (and the init's pid).
fn create_hooks<'a>(
    hooks: &'a oci_spec::runtime::Hooks,
    state: &'a State,
) -> impl FnMut(i32) -> Result<(), String> + 'a {
    move |pid| {
        let mut s = state.clone();
        s.pid = Some(pid);
        let json = s.oci_json();
        hooks::run(hooks.create_runtime().as_deref().unwrap_or(&[]), &json)
            .and_then(|()| hooks::run(hooks.create_container().as_deref().unwrap_or(&[]), &json))
            .map_err(|e| crate::init::chain(&e))
    }
}

fn cgroup_of(state: &State) -> Option<berth_cgroups::CgroupPath> {
    state
        .cgroup_path
        .as_deref()
        .and_then(|p| berth_cgroups::CgroupPath::parse(p).ok())
}

/// Waits for child `pid` and returns its exit code (128+signal when killed).
pub fn wait_exit(pid: i32) -> Result<i32, ContainerError> {
    let p = rustix::process::Pid::from_raw(pid).ok_or(ContainerError::Wait(pid, Errno::SRCH))?;
    loop {
        match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ContainerError::Wait(pid, e)),
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = status.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(None) => {}
        }
    }
}

fn connect_console(
    path: Option<&Path>,
    terminal: Option<bool>,
) -> Result<Option<OwnedFd>, ContainerError> {
    match (path, terminal.unwrap_or(false)) {
        (Some(p), true) => {
            let stream = std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| ContainerError::ConsoleSocket(p.into(), e))?;
            Ok(Some(stream.into()))
        }
        (None, true) => Err(bad("process.terminal is set: --console-socket is required")),
        _ => Ok(None),
    }
}
