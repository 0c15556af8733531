//! berth-shim owns one container on behalf of berthd and outlives it: the container's
//! stdio (pipes or pty), its json-file log with rotation, and its exit status (an exit file
//! written atomically). berthd talks to it over a UNIX socket with typed, versioned,
//! length-prefixed messages ([`protocol`], docs/design/shim-protocol.md).
//!
//! - [`spawn`]: how berthd starts a shim and learns it is ready;
//! - [`client`]: the blocking client berthd uses;
//! - [`server`]: the single-threaded poll loop of the shim process;
//! - [`runtime`]: the OCI runtime behind it (berth-runtime in-process, or an external
//!   runc-compatible binary).
//!
//! Not here: `--init` (a tiny init as pid 1). Our own binary must never be reachable from
//! inside a container (CVE-2019-5736), so the init is left to the runtime library, which
//! can run it from a sealed copy.

pub mod client;
pub mod config;
pub mod console;
pub mod exitfile;
pub mod logfile;
pub mod process;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod spawn;
pub mod timestamp;

pub use client::{AttachStream, ClientError, ShimClient};
pub use config::ShimConfig;
pub use protocol::{ExitStatus, ProcessState, Status, Streams};
pub use spawn::{spawn, Spawned};
