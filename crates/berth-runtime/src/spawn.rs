//! The parent side of container creation: fork stage-1, answer its requests (id maps, the
//! init's pid, hooks) and wait until the init reports ready or failed.

use crate::init::{self, InitConfig};
use crate::message::{self, ChannelError, FailureKind, Message};
use crate::namespaces::{self, NamespaceError};
use berth_sys::process::{fork, Forked};
use oci_spec::runtime::LinuxIdMapping;
use rustix::process::{Pid, Signal, WaitOptions};
use std::os::fd::OwnedFd;

/// Errors of spawning an init or exec process.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("setup channel")]
    Channel(#[from] ChannelError),
    #[error("forking stage-1")]
    Fork(#[source] std::io::Error),
    #[error("writing id maps")]
    IdMaps(#[source] NamespaceError),
    #[error("writing oom_score_adj")]
    OomScoreAdj(#[source] std::io::Error),
    #[error("running create hooks: {0}")]
    Hooks(String),
    #[error("unable to start container process: {message}")]
    Failed {
        step: String,
        message: String,
        kind: FailureKind,
    },
    #[error("unable to start container process: the init exited during setup")]
    Exited,
    #[error("unexpected message from the init: {0}")]
    Unexpected(String),
}

impl SpawnError {
    /// The exit code Docker uses for this failure (127, 126, or 1).
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::Failed {
                kind: FailureKind::NotFound,
                ..
            } => 127,
            SpawnError::Failed {
                kind: FailureKind::NotExecutable,
                ..
            } => 126,
            _ => 1,
        }
    }
}

/// What the parent does at each step of the handshake.
pub struct Callbacks<'a> {
    pub id_maps: Option<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>)>,
    pub oom_score_adj: Option<i32>,
    /// Runs createRuntime/createContainer hooks for the init pid.
    pub hooks: &'a mut dyn FnMut(i32) -> Result<(), String>,
    /// The state JSON for the init's startContainer hooks, given the init's pid.
    pub start_state: &'a dyn Fn(i32) -> String,
    /// For `exec` (the init was told [`InitConfig::exec`]): once the init's pid is known,
    /// wait until execve succeeded or failed; no `Continue`, no `Ready`.
    pub wait_exec: bool,
}

/// Forks stage-1 with `cfg` and drives the handshake until the init is ready. Returns the
/// init's pid. On failure the init is killed and stage-1 reaped.
pub fn spawn(cfg: InitConfig, cb: Callbacks<'_>) -> Result<i32, SpawnError> {
    let (parent_end, child_end) = message::channel()?;
    match fork().map_err(SpawnError::Fork)? {
        Forked::Child => {
            drop(parent_end);
            init::stage1(child_end, cfg)
        }
        Forked::Parent(stage1) => {
            drop(child_end);
            drop(cfg);
            let mut init_pid = None;
            let result = handshake(&parent_end, cb, &mut init_pid);
            let _ = rustix::process::waitpid(Pid::from_raw(stage1), WaitOptions::empty());
            if result.is_err() {
                if let Some(pid) = init_pid.and_then(Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                    let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
                }
            }
            result.and_then(|()| init_pid.ok_or(SpawnError::Exited))
        }
    }
}

fn handshake(
    sock: &OwnedFd,
    cb: Callbacks<'_>,
    init_pid: &mut Option<i32>,
) -> Result<(), SpawnError> {
    loop {
        let msg = match message::receive(sock) {
            Err(ChannelError::Closed) => return Err(SpawnError::Exited),
            other => other?,
        };
        match msg {
            Message::UserNsCreated { pid } => {
                let (uids, gids) = cb.id_maps.clone().unwrap_or_default();
                namespaces::write_id_maps(pid, &uids, &gids).map_err(SpawnError::IdMaps)?;
                message::send(sock, &Message::MapsWritten)?;
            }
            Message::InitPid { pid } => {
                *init_pid = Some(pid);
                if cb.wait_exec {
                    return await_exec(sock);
                }
                if let Some(score) = cb.oom_score_adj {
                    std::fs::write(format!("/proc/{pid}/oom_score_adj"), score.to_string())
                        .map_err(SpawnError::OomScoreAdj)?;
                }
                let state = (cb.start_state)(pid);
                message::send(sock, &Message::Continue { state })?;
            }
            Message::RunCreateHooks => {
                let pid = init_pid.unwrap_or(0);
                (cb.hooks)(pid).map_err(SpawnError::Hooks)?;
                message::send(sock, &Message::HooksDone)?;
            }
            Message::Ready => return Ok(()),
            Message::Failed {
                step,
                message,
                kind,
            } => {
                return Err(SpawnError::Failed {
                    step,
                    message,
                    kind,
                })
            }
            other => return Err(SpawnError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// For an `exec` process whose pid is known: waits until its setup socket closes (execve
/// succeeded; stage-1 has exited and the init's end is close-on-exec) or it reports a
/// failure.
pub fn await_exec(sock: &OwnedFd) -> Result<(), SpawnError> {
    match message::receive(sock) {
        Err(ChannelError::Closed) => Ok(()),
        Ok(Message::Failed {
            step,
            message,
            kind,
        }) => Err(SpawnError::Failed {
            step,
            message,
            kind,
        }),
        Ok(other) => Err(SpawnError::Unexpected(format!("{other:?}"))),
        Err(e) => Err(e.into()),
    }
}
