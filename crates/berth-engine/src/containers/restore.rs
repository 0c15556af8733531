//! Live restore: what berthd does at start-up for a container recorded as running whose
//! task may have been lost while the daemon was down. A shim that still answers keeps the
//! container (the exit monitor reattaches to it); a shim that is gone leaves the runtime's
//! state and cgroup behind, and possibly a process outside any shim, which are released
//! here before the monitor records the exit (255 when the shim left no exit file, as Docker
//! does for a lost task) and unmounts the rootfs.

use super::store::ContainerRecord;
use berth_shim::config::RuntimeChoice;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

/// Whether the container's shim still listens on its socket. A plain connect, not the
/// protocol's handshake: a live shim's socket accepts at once (the backlog), a dead
/// shim's refuses, and a shim too busy to answer must not stall berthd's start-up.
pub(super) fn shim_answers(record: &ContainerRecord) -> bool {
    UnixStream::connect(record.paths.shim_state.join("shim.sock")).is_ok()
}

/// Deletes what the OCI runtime still holds for a container whose shim is gone: a forced
/// delete kills any process left in the container and removes its cgroup and state.
/// Harmless when the runtime has nothing (the shim had already deleted it). The built-in
/// runtime kept its state under the shim's state directory (see `berth_shim::ShimConfig`).
pub(super) fn release_lost_task(record: &ContainerRecord, runtime: &RuntimeChoice) {
    let outcome = match runtime {
        RuntimeChoice::Builtin => {
            let root = record.paths.shim_state.join("runtime");
            match berth_runtime::Runtime::new(root).delete(&record.id, true) {
                Ok(()) => Ok(()),
                // Nothing recorded: the shim had deleted it already.
                Err(berth_runtime::ContainerError::State(_)) => Ok(()),
                Err(err) => Err(err.to_string()),
            }
        }
        RuntimeChoice::External(binary) => Command::new(binary)
            .args(["delete", "--force", &record.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(drop)
            .map_err(|err| err.to_string()),
    };
    if let Err(err) = outcome {
        tracing::warn!(container = %record.id, error = %err, "deleting a lost task");
    }
}
