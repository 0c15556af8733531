//! The typed, versioned protocol between the runtime (parent) and the processes it forks
//! (stage-1 and the container init). One JSON message per SOCK_SEQPACKET datagram, so the
//! kernel keeps message boundaries and a dead peer shows up as end-of-file.

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, OwnedFd};

/// Bumped whenever [`Message`] changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 2;
const MAX_MESSAGE: usize = 64 * 1024;

/// What class of failure the init reported; the caller maps it to an exit code (127, 126).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The entrypoint does not exist (Docker: exit 127).
    NotFound,
    /// The entrypoint exists but cannot be executed (Docker: exit 126).
    NotExecutable,
    /// Anything else.
    Other,
}

/// A message on the setup socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// stage-1 -> parent: a new user namespace exists; write its id maps.
    UserNsCreated { pid: i32 },
    /// parent -> stage-1: the id maps are written.
    MapsWritten,
    /// stage-1 -> parent: the container init exists, with this pid in the parent's namespace.
    InitPid { pid: i32 },
    /// parent -> init: setup may proceed (cgroup, oom_score_adj are in place). `state` is the
    /// OCI state JSON the init gives its startContainer hooks.
    Continue { state: String },
    /// init -> parent: run the createRuntime/createContainer hooks now (before pivot_root).
    RunCreateHooks,
    /// parent -> init: the hooks succeeded.
    HooksDone,
    /// init -> parent: setup is complete; the init now waits for `start`.
    Ready,
    /// child -> parent: a step failed; the process exits after sending this.
    Failed {
        step: String,
        message: String,
        kind: FailureKind,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    message: Message,
}

/// Errors of the setup channel.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("creating the setup socket pair")]
    SocketPair(#[source] rustix::io::Errno),
    #[error("sending a setup message")]
    Send(#[source] rustix::io::Errno),
    #[error("receiving a setup message")]
    Receive(#[source] rustix::io::Errno),
    #[error("the peer closed the setup channel")]
    Closed,
    #[error("decoding a setup message")]
    Decode(#[source] serde_json::Error),
    #[error("peer speaks protocol version {0}, we speak {PROTOCOL_VERSION}")]
    Version(u32),
}

/// Creates the two ends of a setup channel (both close-on-exec).
pub fn channel() -> Result<(OwnedFd, OwnedFd), ChannelError> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(ChannelError::SocketPair)
}

/// Sends one message.
pub fn send(fd: impl AsFd, message: &Message) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        message: message.clone(),
    })
    .map_err(ChannelError::Decode)?;
    rustix::net::send(fd, &bytes, SendFlags::NOSIGNAL).map_err(ChannelError::Send)?;
    Ok(())
}

/// Receives one message; [`ChannelError::Closed`] when every peer end is gone.
pub fn receive(fd: impl AsFd) -> Result<Message, ChannelError> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let n = loop {
        match rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()) {
            Ok((n, _)) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(ChannelError::Receive(e)),
        }
    };
    if n == 0 {
        return Err(ChannelError::Closed);
    }
    let envelope: Envelope = serde_json::from_slice(&buf[..n]).map_err(ChannelError::Decode)?;
    if envelope.version != PROTOCOL_VERSION {
        return Err(ChannelError::Version(envelope.version));
    }
    Ok(envelope.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_closed() {
        let (a, b) = channel().unwrap();
        let failed = Message::Failed {
            step: "exec".into(),
            message: "boom".into(),
            kind: FailureKind::NotFound,
        };
        send(&a, &Message::InitPid { pid: 42 }).unwrap();
        send(&a, &failed).unwrap();
        assert_eq!(receive(&b).unwrap(), Message::InitPid { pid: 42 });
        assert_eq!(receive(&b).unwrap(), failed);
        drop(a);
        assert!(matches!(receive(&b), Err(ChannelError::Closed)));
    }

    #[test]
    fn a_wrong_version_is_refused() {
        let (a, b) = channel().unwrap();
        rustix::net::send(
            &a,
            br#"{"version":99,"message":{"type":"ready"}}"#,
            SendFlags::empty(),
        )
        .unwrap();
        assert!(matches!(receive(&b), Err(ChannelError::Version(99))));
    }
}
