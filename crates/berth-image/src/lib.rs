//! Berth's image store (layer 3): image references, image records, and the operations on
//! them — load and save of docker-archive and OCI layouts, import of a rootfs tar, list,
//! inspect, history, tag, delete and prune with Docker's semantics — over the content store
//! (blobs) and the snapshotter (unpacked layers), with metadata in one redb database.
//!
//! Everything here blocks; the engine calls it through `spawn_blocking`. Every archive and
//! image is hostile: JSON reads are bounded, digests are validated before use, paths from
//! archives are looked up, never opened, and layers are verified against their digests and
//! the config's diffIDs before anything points at them. Metadata is committed last, in one
//! transaction, so after a crash [`ImageStore::open`] finds every tag complete and sweeps the
//! rest.

mod changes;
mod commit;
mod delete;
mod error;
mod fsck;
mod import;
mod list;
mod load;
mod meta;
mod platform;
mod prefetch;
mod records;
mod register;
mod save;
mod store;
mod tar_guard;

pub use changes::{apply_changes, ChangeError};
pub use commit::CommitOptions;
pub use delete::PruneFilters;
pub use error::ImageError;
pub use import::ImportOptions;
pub use list::{ListFilters, ListOptions};
pub use platform::Platform;
pub use records::{
    DeleteItem, DiskUsage, GraphDriver, HistoryRecord, ImageId, ImageRecord, ImageSummaryRecord,
    ImageUsage, ImageUser, LoadEvent, LoadedImage, PruneReport,
};
pub use store::{ImageStore, Limits};
