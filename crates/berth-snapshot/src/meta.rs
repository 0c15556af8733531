//! Per-snapshot metadata: a small JSON file, written only into a snapshot's private `tmp-*`
//! directory and made durable (file and directory synced) before that directory is renamed
//! into place, so a published snapshot's metadata is complete after a crash (and an
//! interrupted `tmp-*` is removed by `cleanup_orphans`).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub(crate) const META_FILE: &str = "meta.json";
/// Metadata is tiny; anything bigger is corruption, not something to read into memory.
const META_LIMIT: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("writing snapshot metadata {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("reading snapshot metadata {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("parsing snapshot metadata {path}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid snapshot metadata: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An image layer, keyed by chain ID; immutable once committed.
    Layer,
    /// A container's read-write layer.
    Container,
}

/// What the snapshotter knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Chain ID (`sha256:...`) for layers, the container ID for containers.
    pub key: String,
    pub kind: Kind,
    /// The chain ID below this snapshot, if any.
    pub parent: Option<String>,
    /// Short link name under `<root>/l/` (layers on the overlay driver).
    pub link: Option<String>,
    /// `sha256:` of the uncompressed layer tar, when the layer was applied from one.
    pub diff_id: Option<String>,
    /// Bytes of that uncompressed tar.
    pub size: Option<u64>,
    /// Seconds since the epoch.
    pub created: u64,
    /// A container's init layer (`init::MountPoints::name`), the lower directory right
    /// under its own layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
}

impl Info {
    /// A container's read-write layer over `parent`, with its init layer.
    pub(crate) fn container(id: &str, parent: Option<&str>, init: Option<String>) -> Info {
        Info {
            key: id.to_owned(),
            kind: Kind::Container,
            parent: parent.map(str::to_owned),
            link: None,
            diff_id: None,
            size: None,
            created: crate::snapshotter::now(),
            init,
        }
    }
}

/// Writes `info` into `dir`, a snapshot's unpublished `tmp-*` directory (no temp name: nothing
/// reads it before publication). The file and the directory are synced in parallel, so both
/// ride one journal commit.
pub(crate) fn write(dir: &Path, info: &Info) -> Result<(), MetaError> {
    let path = dir.join(META_FILE);
    let err = |source| MetaError::Write {
        path: path.clone(),
        source,
    };
    let file = write_unsynced(dir, info)?;
    let (file_synced, dir_synced) = std::thread::scope(|scope| {
        let file_sync = scope.spawn(|| file.sync_all());
        let dir_synced = sync_dir(dir);
        let file_synced = file_sync
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (file_synced, dir_synced)
    });
    file_synced.and(dir_synced).map_err(err)
}

/// Writes `info` into `dir` without syncing (a container's layer: see
/// `Snapshotter::prepare_container`).
pub(crate) fn write_unsynced(dir: &Path, info: &Info) -> Result<File, MetaError> {
    let path = dir.join(META_FILE);
    let err = |source| MetaError::Write {
        path: path.clone(),
        source,
    };
    let json = serde_json::to_vec_pretty(info).map_err(|e| err(io::Error::other(e)))?;
    let mut file = File::create_new(&path).map_err(err)?;
    file.write_all(&json).map_err(err)?;
    Ok(file)
}

pub(crate) fn read(dir: &Path) -> Result<Info, MetaError> {
    let path = dir.join(META_FILE);
    let mut json = Vec::new();
    File::open(&path)
        .and_then(|f| f.take(META_LIMIT).read_to_end(&mut json))
        .map_err(|source| MetaError::Read {
            path: path.clone(),
            source,
        })?;
    serde_json::from_slice(&json).map_err(|source| MetaError::Parse { path, source })
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
