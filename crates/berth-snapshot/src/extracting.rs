//! A layer being prepared: its content is applied into `snapshots/tmp-<random>/fs`, and
//! [`Extracting::commit`] makes it durable and gives it its final name.

use crate::apply::{self, Applied, ApplyError, ApplyOptions, Limits, Whiteouts};
use crate::chain;
use crate::meta::{self, Info, Kind};
use crate::snapshotter::{now, random_token, remove_dir, Driver, SnapshotError, Snapshotter};
use berth_sys::safe_path::Root;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, SnapshotError>;

/// A layer being written into `snapshots/tmp-<random>`. Dropping it without
/// [`Extracting::commit`] deletes it; a crash leaves it for `cleanup_orphans`.
pub struct Extracting {
    pub(crate) snapshotter: Snapshotter,
    pub(crate) tmp: PathBuf,
    pub(crate) chain_id: String,
    pub(crate) parent: Option<String>,
    /// The parent chain's layer directories, top first (empty for the copy driver).
    pub(crate) lower_dirs: Vec<PathBuf>,
    pub(crate) applied: Option<Applied>,
    pub(crate) done: bool,
}

impl Extracting {
    /// The directory the layer's content goes into.
    pub fn fs(&self) -> PathBuf {
        self.tmp.join("fs")
    }

    /// Applies a layer stream (plain, gzip or zstd tar) to this snapshot and records its
    /// diffID and size. Overlay layers get overlay whiteouts; copy layers apply in place.
    pub fn apply(&mut self, reader: impl Read, limits: Limits) -> Result<Applied> {
        self.apply_with(reader, limits, true)
    }

    /// [`Extracting::apply`] for a caller that hashes the stream itself, so the hashing can
    /// run on another core than the file writes: the result's diffID is empty until the
    /// caller supplies it with [`Extracting::set_diff_id`], which it must do before commit.
    pub fn apply_unhashed(&mut self, reader: impl Read, limits: Limits) -> Result<Applied> {
        self.apply_with(reader, limits, false)
    }

    /// Names a layer made by [`Snapshotter::prepare_layer_unnamed`].
    pub fn set_chain_id(&mut self, chain_id: &str) -> Result<()> {
        chain::sha256_hex(chain_id)?;
        chain_id.clone_into(&mut self.chain_id);
        Ok(())
    }

    /// Records the diffID the caller computed over exactly the stream it applied.
    pub fn set_diff_id(&mut self, diff_id: String) {
        if let Some(applied) = &mut self.applied {
            applied.diff_id = diff_id;
        }
    }

    fn apply_with(&mut self, reader: impl Read, limits: Limits, hash: bool) -> Result<Applied> {
        let err = |source| SnapshotError::Apply {
            chain_id: self.chain_id.clone(),
            source: Box::new(source),
        };
        let top = Root::open(&self.fs()).map_err(|e| {
            err(ApplyError::Entry {
                path: self.fs(),
                source: e,
            })
        })?;
        let applied = match self.snapshotter.driver {
            Driver::Overlay => {
                let mut lowers = Vec::with_capacity(self.lower_dirs.len());
                for dir in &self.lower_dirs {
                    lowers.push(Root::open(dir).map_err(|e| {
                        err(ApplyError::Entry {
                            path: dir.clone(),
                            source: e,
                        })
                    })?);
                }
                let options = ApplyOptions {
                    hash,
                    ..ApplyOptions::new(Whiteouts::Overlay, limits)
                };
                apply::apply_layer(&top, &lowers, reader, &options)
            }
            Driver::Copy => {
                let options = ApplyOptions {
                    hash,
                    ..ApplyOptions::new(Whiteouts::Delete, limits)
                };
                apply::apply_layer(&top, &[], reader, &options)
            }
        }
        .map_err(err)?;
        self.applied = Some(applied.clone());
        Ok(applied)
    }

    /// Makes the layer durable and visible: syncs its filesystem, creates its short link,
    /// writes its metadata, and renames it into place. If another writer committed the same
    /// chain ID meanwhile, this copy is discarded and the existing layer's info returned.
    pub fn commit(self) -> Result<Info> {
        self.sync()?;
        self.publish_synced()
    }

    /// Syncs the filesystem holding the layer (and so every layer being prepared beside it).
    pub(crate) fn sync(&self) -> Result<()> {
        let err = |source: io::Error| SnapshotError::Commit {
            path: self.tmp.clone(),
            source,
        };
        let fs_fd = fs::File::open(self.fs()).map_err(err)?;
        rustix::fs::syncfs(&fs_fd).map_err(|e| err(e.into()))
    }

    /// The rest of [`Extracting::commit`], once the content is on disk.
    pub(crate) fn publish_synced(mut self) -> Result<Info> {
        let s = self.snapshotter.clone();
        let err = |source: io::Error| SnapshotError::Commit {
            path: self.tmp.clone(),
            source,
        };
        let hex = chain::sha256_hex(&self.chain_id)?.to_owned();
        let link = match s.driver {
            Driver::Overlay => Some(create_link(&s.root.join("l"), &hex).map_err(err)?),
            Driver::Copy => None,
        };
        let info = Info {
            key: self.chain_id.clone(),
            kind: Kind::Layer,
            parent: self.parent.clone(),
            link: link.clone(),
            // None (never an empty string) if a caller of `apply_unhashed` gave no diffID:
            // such a layer is then unpacked again rather than trusted.
            diff_id: self
                .applied
                .as_ref()
                .map(|a| a.diff_id.clone())
                .filter(|d| !d.is_empty()),
            size: self.applied.as_ref().map(|a| a.size),
            created: now(),
            init: None,
        };
        meta::write(&self.tmp, &info)?;
        match s.publish(&self.tmp, &self.chain_id) {
            Ok(()) => {
                self.done = true;
                Ok(info)
            }
            Err(SnapshotError::AlreadyExists(_)) => {
                if let Some(link) = link {
                    let _ = fs::remove_file(s.root.join("l").join(link));
                }
                s.info(&self.chain_id)
            }
            Err(e) => Err(e),
        }
    }

    /// Discards the layer.
    pub fn abort(self) {}
}

impl Drop for Extracting {
    fn drop(&mut self) {
        if !self.done {
            let _ = remove_dir(&self.tmp);
        }
    }
}

/// Creates `<links>/<short> -> ../snapshots/<hex>/fs` under a fresh random short name.
fn create_link(links: &Path, hex: &str) -> io::Result<String> {
    loop {
        let short = random_token(26);
        match std::os::unix::fs::symlink(format!("../snapshots/{hex}/fs"), links.join(&short)) {
            Ok(()) => return Ok(short),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Copies a whole tree (our own layer directory) into `dest`, by streaming it as a tar into the
/// same applier that imports layers: one code path for every write into a snapshot.
pub(crate) fn copy_tree(source: &Path, dest: &Path) -> io::Result<()> {
    let source_root = Root::open(source).map_err(io::Error::other)?;
    let dest_root = Root::open(dest).map_err(io::Error::other)?;
    let (reader, writer) = io::pipe()?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || crate::diff::write_tree(&source_root, writer));
        let applied = apply::apply_to_dir(
            &dest_root,
            reader,
            Limits {
                max_bytes: u64::MAX,
                max_entries: u64::MAX,
                ..Limits::default()
            },
        );
        let produced = producer
            .join()
            .map_err(|_| io::Error::other("tar producer panicked"))?;
        produced.map_err(io::Error::other)?;
        applied.map(drop).map_err(io::Error::other)
    })
}
