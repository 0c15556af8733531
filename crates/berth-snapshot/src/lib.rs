//! Berth's snapshots: image layers and container read-write layers on overlayfs (or plain
//! copies where overlay is unavailable), and the code that moves layers in and out of them.
//!
//! - [`Snapshotter`]: layers keyed by chain ID ([`chain`]), container layers keyed by container
//!   ID; returns [`Mount`] descriptions (and can perform them); crash-safe layout, see its module.
//! - [`apply`]: OCI layer tar (plain, gzip, zstd) -> layer directory, through the safe-path
//!   primitive, with whiteouts, limits and the diffID.
//! - [`diff`]: a container's upper directory -> OCI layer tar, with its diffID.
//! - [`init`]: the shared init layers that give containers the mount points their image lacks.

pub mod apply;
pub mod chain;
pub mod changes;
pub mod diff;
mod extracting;
pub mod init;
mod layered;
mod meta;
mod mount;
mod snapshotter;
mod stream;

pub use extracting::Extracting;
pub use layered::LayeredError;
pub use meta::{Info, Kind, MetaError};
pub use mount::{backing_filesystem, unmount, Mount, MountError, PAGE_LIMIT};
pub use snapshotter::{Driver, SnapshotError, Snapshotter, Usage, Writeback};
