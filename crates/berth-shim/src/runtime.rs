//! How the shim asks an OCI runtime to create, start, exec into, signal and delete the
//! container: [`BuiltinRuntime`] (berth-runtime in-process, the default) or
//! [`ExternalRuntime`] (runc or crun, run as a command).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The child's ends of the stdio the runtime hands to the process (pipes, or /dev/null).
pub struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Where the runtime should write the pid and, for a TTY, send the pty master.
pub struct Launch<'a> {
    pub pid_file: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub stdio: ChildStdio,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("running {0}")]
    Spawn(PathBuf, #[source] std::io::Error),
    #[error("{command} failed: {message}")]
    Failed {
        command: &'static str,
        message: String,
    },
    #[error("reading pid file {0}")]
    PidFile(PathBuf, #[source] std::io::Error),
    #[error("pid file {0} does not hold a pid")]
    BadPid(PathBuf),
}

/// An OCI runtime as the shim uses it. Calls block until the runtime is done.
pub trait Runtime {
    /// Creates the container (its init waits for `start`) and returns the init's pid.
    fn create(&self, id: &str, bundle: &Path, launch: Launch<'_>) -> Result<u32, RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// Starts an extra process described by the OCI `process` JSON; returns its pid. A
    /// runtime binary reads it from `process_file`, which it writes first and removes after.
    fn exec(
        &self,
        id: &str,
        process: &serde_json::Value,
        process_file: &Path,
        launch: Launch<'_>,
    ) -> Result<u32, RuntimeError>;
    /// Signals the init, or with `all` every process of the container.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Removes the runtime's state of the container (forcibly: it may still run).
    fn delete(&self, id: &str) -> Result<(), RuntimeError>;
}

/// A runc-compatible runtime binary (runc, crun, berth-runc).
pub struct ExternalRuntime {
    pub binary: PathBuf,
    /// The runtime's state root (`--root`); `None` uses the runtime's default.
    pub root: Option<PathBuf>,
    /// The runtime's own log (`--log`), where its error messages are read from.
    pub log: PathBuf,
}

impl ExternalRuntime {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        if let Some(root) = &self.root {
            cmd.arg("--root").arg(root);
        }
        cmd.arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"]);
        cmd
    }

    /// Runs `cmd`, whose stdio is already set, and turns failure into the runtime's message.
    fn run(&self, command: &'static str, mut cmd: Command) -> Result<(), RuntimeError> {
        let out = cmd
            .output()
            .map_err(|e| RuntimeError::Spawn(self.binary.clone(), e))?;
        if out.status.success() {
            return Ok(());
        }
        let mut message = self.last_error().unwrap_or_default();
        if message.is_empty() {
            message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        if message.is_empty() {
            message = out.status.to_string();
        }
        Err(RuntimeError::Failed { command, message })
    }

    /// The last error-level message in the runtime's JSON log.
    fn last_error(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines().rev().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["level"] == "error" || v["level"] == "fatal")
                .then(|| v["msg"].as_str().unwrap_or_default().to_string())
        })
    }

    /// Runs `create` or `exec` with the process's stdio; the id goes after the options.
    fn launch(
        &self,
        command: &'static str,
        mut cmd: Command,
        id: &str,
        launch: Launch<'_>,
    ) -> Result<u32, RuntimeError> {
        cmd.arg("--pid-file").arg(launch.pid_file);
        if let Some(socket) = launch.console_socket {
            cmd.arg("--console-socket").arg(socket);
        }
        cmd.arg(id);
        cmd.stdin(Stdio::from(launch.stdio.stdin))
            .stdout(Stdio::from(launch.stdio.stdout))
            .stderr(Stdio::from(launch.stdio.stderr));
        let status = cmd
            .status()
            .map_err(|e| RuntimeError::Spawn(self.binary.clone(), e))?;
        // `cmd` (and with it our copies of the child's stdio ends) is dropped here, so the
        // pipes reach EOF when the container's processes close them.
        drop(cmd);
        if !status.success() {
            let message = self.last_error().unwrap_or_else(|| status.to_string());
            return Err(RuntimeError::Failed { command, message });
        }
        read_pid_file(launch.pid_file)
    }
}

/// Reads a pid file written by the runtime.
pub fn read_pid_file(path: &Path) -> Result<u32, RuntimeError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| RuntimeError::PidFile(path.to_path_buf(), e))?;
    text.trim()
        .parse()
        .map_err(|_| RuntimeError::BadPid(path.to_path_buf()))
}

fn quiet(mut cmd: Command) -> Command {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Runtime for ExternalRuntime {
    fn create(&self, id: &str, bundle: &Path, launch: Launch<'_>) -> Result<u32, RuntimeError> {
        let mut cmd = self.command();
        cmd.arg("create").arg("--bundle").arg(bundle);
        self.launch("create", cmd, id, launch)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let mut cmd = quiet(self.command());
        cmd.args(["start", id]);
        self.run("start", cmd)
    }

    fn exec(
        &self,
        id: &str,
        process: &serde_json::Value,
        process_file: &Path,
        launch: Launch<'_>,
    ) -> Result<u32, RuntimeError> {
        std::fs::write(process_file, process.to_string())
            .map_err(|e| RuntimeError::Spawn(process_file.to_path_buf(), e))?;
        let mut cmd = self.command();
        cmd.args(["exec", "--detach", "--process"])
            .arg(process_file);
        let result = self.launch("exec", cmd, id, launch);
        let _ = std::fs::remove_file(process_file);
        result
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let mut cmd = quiet(self.command());
        cmd.arg("kill");
        if all {
            cmd.arg("--all");
        }
        cmd.arg(id).arg(signal.to_string());
        self.run("kill", cmd)
    }

    fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        let mut cmd = quiet(self.command());
        cmd.args(["delete", "--force", id]);
        self.run("delete", cmd)
    }
}

/// berth-runtime linked into the shim: the container init is forked from the shim itself,
/// so no runtime binary is executed between berthd and the container (one exec hop: the
/// shim). The shim must run from a sealed image of its binary (see `spawn::launch`), since
/// processes it forks enter the container before they exec.
pub struct BuiltinRuntime {
    runtime: berth_runtime::Runtime,
}

impl BuiltinRuntime {
    pub fn new(root: PathBuf) -> BuiltinRuntime {
        BuiltinRuntime {
            runtime: berth_runtime::Runtime::new(root),
        }
    }
}

fn failed(command: &'static str, err: &dyn std::error::Error) -> RuntimeError {
    RuntimeError::Failed {
        command,
        message: berth_runtime::init::chain(err),
    }
}

impl Runtime for BuiltinRuntime {
    fn create(&self, id: &str, bundle: &Path, launch: Launch<'_>) -> Result<u32, RuntimeError> {
        let stdio = launch.stdio;
        let options = berth_runtime::CreateOptions {
            // The pid comes back in the state: no pid file to write.
            pid_file: None,
            console_socket: launch.console_socket.map(Path::to_path_buf),
            preserve_fds: 0,
            stdio: Some([stdio.stdin, stdio.stdout, stdio.stderr]),
        };
        let state = self
            .runtime
            .create(id, bundle, options)
            .map_err(|e| failed("create", &e))?;
        state
            .pid
            .and_then(|pid| u32::try_from(pid).ok())
            .ok_or_else(|| RuntimeError::BadPid(launch.pid_file.to_path_buf()))
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.runtime.start(id).map_err(|e| failed("start", &e))
    }

    fn exec(
        &self,
        id: &str,
        process: &serde_json::Value,
        _process_file: &Path,
        launch: Launch<'_>,
    ) -> Result<u32, RuntimeError> {
        let process: oci_spec::runtime::Process =
            serde_json::from_value(process.clone()).map_err(|e| failed("exec", &e))?;
        let stdio = launch.stdio;
        let options = berth_runtime::ExecOptions {
            // The pid comes back from the call: no pid file to write.
            pid_file: None,
            console_socket: launch.console_socket.map(Path::to_path_buf),
            preserve_fds: 0,
            stdio: Some([stdio.stdin, stdio.stdout, stdio.stderr]),
        };
        let pid = self
            .runtime
            .exec(id, process, options)
            .map_err(|e| failed("exec", &e))?;
        u32::try_from(pid).map_err(|_| RuntimeError::BadPid(launch.pid_file.to_path_buf()))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        self.runtime
            .kill(id, signal, all)
            .map_err(|e| failed("kill", &e))
    }

    fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        self.runtime
            .delete(id, true)
            .map_err(|e| failed("delete", &e))
    }
}
