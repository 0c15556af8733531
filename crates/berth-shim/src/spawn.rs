//! Starting a shim so that it outlives its starter. berthd calls [`spawn`], which runs
//! `berth-shim start <args>`; that launcher forks the serving shim and exits, and the
//! serving shim reports readiness in one line on the inherited stdout. The serving shim is
//! thus nobody's child but init's (or a subreaper's), in a session of its own, and berthd
//! never has to reap it (containerd's `shim start` does the same, with an exec more).

use crate::config::{RuntimeChoice, ShimConfig};
use berth_sys::process::Forked;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The one line a serving shim prints on stdout once the container is created (or it gave
/// up), and the launcher relays.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready { shim_pid: u32, pid: u32 },
    Failed { message: String },
}

/// A shim that is serving: its pid and the container init's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub shim_pid: u32,
    pub pid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("preparing state directory {0}")]
    StateDir(std::path::PathBuf, #[source] std::io::Error),
    #[error("running {0}")]
    Exec(std::path::PathBuf, #[source] std::io::Error),
    #[error("the shim exited without reporting readiness")]
    NoReport,
    #[error("the shim's readiness report is malformed: {0:?}")]
    BadReport(String),
    #[error("the shim failed: {0}")]
    Failed(String),
}

/// Starts a shim for `config` with the binary at `shim_binary` and waits until it has
/// created the container (not started it) and listens on `config.socket`. The shim's own
/// diagnostics go to `<state_dir>/shim.log`. Blocking: call it from `spawn_blocking`.
pub fn spawn(shim_binary: &Path, config: &ShimConfig) -> Result<Spawned, SpawnError> {
    let dir = &config.state_dir;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| SpawnError::StateDir(dir.clone(), e))?;
    }
    let diag = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join("shim.log"))
        .map_err(|e| SpawnError::StateDir(dir.clone(), e))?;
    let mut child = Command::new(shim_binary)
        // berthd may run us as /proc/self/fd/N: keep `ps` readable.
        .arg0("berth-shim")
        .arg("start")
        .args(config.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(diag)
        .spawn()
        .map_err(|e| SpawnError::Exec(shim_binary.to_path_buf(), e))?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    let read = BufReader::new(stdout).read_line(&mut line);
    let _ = child.wait();
    read.map_err(|e| SpawnError::Exec(shim_binary.to_path_buf(), e))?;
    parse_report(&line)
}

/// Decodes a readiness line.
pub fn parse_report(line: &str) -> Result<Spawned, SpawnError> {
    if line.trim().is_empty() {
        return Err(SpawnError::NoReport);
    }
    match serde_json::from_str(line.trim()) {
        Ok(Readiness::Ready { shim_pid, pid }) => Ok(Spawned { shim_pid, pid }),
        Ok(Readiness::Failed { message }) => Err(SpawnError::Failed(message)),
        Err(_) => Err(SpawnError::BadReport(line.to_string())),
    }
}

fn report(r: &Readiness) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(r).expect("serialisable"));
    let _ = out.flush();
}

/// `berth-shim start`: forks the serving shim and returns at once (exit code 0), so the
/// shim is re-parented to init (or the nearest subreaper) and nobody has to reap it. The
/// serving shim writes the readiness line to the stdout it inherited (berthd's pipe) and
/// then lets go of it. With the built-in runtime the shim first makes sure it runs from a
/// read-only (or sealed) image of its binary: the processes it forks enter the container
/// before they exec, and must not be able to reach our binary (CVE-2019-5736). berthd runs
/// the shim from such an image already, so this re-executes only for other callers.
pub fn launch(args: Vec<std::ffi::OsString>) -> i32 {
    let config = match ShimConfig::parse(args) {
        Ok(config) => config,
        Err(e) => {
            report(&Readiness::Failed {
                message: crate::server::chain(&e),
            });
            return 2;
        }
    };
    if config.runtime == RuntimeChoice::Builtin {
        if let Err(e) = berth_runtime::exeseal::ensure_sealed() {
            report(&Readiness::Failed {
                message: format!("sealing the shim's binary: {}", crate::server::chain(&e)),
            });
            return 1;
        }
    }
    // The launcher is single-threaded (a fresh exec that starts no threads), as fork needs.
    match berth_sys::process::fork() {
        Ok(Forked::Parent(_)) => 0,
        Ok(Forked::Child) => {
            let code = serve_config(config, true);
            berth_sys::process::exit_now(code)
        }
        Err(e) => {
            report(&Readiness::Failed {
                message: format!("forking the shim: {e}"),
            });
            1
        }
    }
}

/// `berth-shim serve`: the shim in the foreground (for debugging): creates the container,
/// prints the readiness line, serves until the shim may exit, and returns the exit code.
pub fn serve(args: Vec<std::ffi::OsString>) -> i32 {
    match ShimConfig::parse(args) {
        Ok(config) => serve_config(config, false),
        Err(e) => {
            report(&Readiness::Failed {
                message: crate::server::chain(&e),
            });
            2
        }
    }
}

/// Creates the container, reports readiness, and serves. With `release_stdout` the
/// reporting pipe is replaced by /dev/null once the line is written, so the reader sees EOF
/// when the launcher has gone and never waits on the shim.
fn serve_config(config: ShimConfig, release_stdout: bool) -> i32 {
    let release = || {
        if release_stdout {
            if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                let _ = rustix::stdio::dup2_stdout(&null);
            }
        }
    };
    let server = match crate::server::Server::start(config) {
        Ok(server) => server,
        Err(e) => {
            report(&Readiness::Failed {
                message: crate::server::chain(&e),
            });
            return 1;
        }
    };
    report(&Readiness::Ready {
        shim_pid: std::process::id(),
        pid: server.pid(),
    });
    release();
    match server.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth-shim: {}", crate::server::chain(&e));
            1
        }
    }
}
