//! The snapshotter: layer and container snapshots under one root the caller chooses.
//!
//! ```text
//! <root>/snapshots/<id>/fs          layer content, or a container's upper dir
//! <root>/snapshots/<id>/work        overlay work dir (containers, overlay driver)
//! <root>/snapshots/<id>/meta.json   Info, written atomically
//! <root>/snapshots/tmp-<random>     being prepared; renamed to <id> when complete
//! <root>/snapshots/<id>-removing    being removed
//! <root>/l/<short>                  -> ../snapshots/<id>/fs (short overlay lowerdir names)
//! ```
//!
//! `<id>` is the chain ID's hex for layers and the container ID for containers. A snapshot
//! exists only once its directory has its final name, which happens after its content and
//! metadata are on disk; [`Snapshotter::cleanup_orphans`] removes the rest after a crash.

use crate::apply::ApplyError;
use crate::chain::{self, ChainError};
use crate::extracting::{copy_tree, Extracting};
use crate::init::MountPoints;
use crate::meta::{self, Info, Kind, MetaError};
use crate::mount::{self, Mount, MountError};
use berth_sys::safe_path::{Root, SafePathError};
use rustix::fs::RenameFlags;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};

const TMP_PREFIX: &str = "tmp-";
const REMOVING_SUFFIX: &str = "-removing";
/// Deeper parent chains than this mean corrupt metadata (images are capped near 128 layers).
const MAX_CHAIN_DEPTH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("creating {path}")]
    Create { path: PathBuf, source: io::Error },
    #[error("snapshot root {0} contains a character overlay options cannot carry (: , \\)")]
    UnsafeRoot(PathBuf),
    #[error("invalid snapshot key")]
    InvalidChain(#[from] ChainError),
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error("snapshot {0} already exists")]
    AlreadyExists(String),
    #[error("snapshot {0} not found")]
    NotFound(String),
    #[error("snapshot {0} is a {1:?}, not a {2:?}")]
    WrongKind(String, Kind, Kind),
    #[error("snapshot {0} still has children")]
    HasChildren(String),
    #[error("parent chain of {0} is too deep or cyclic")]
    ChainTooDeep(String),
    #[error("snapshot metadata")]
    Meta(#[from] MetaError),
    #[error("applying layer {chain_id}")]
    Apply {
        chain_id: String,
        source: Box<ApplyError>,
    },
    #[error("copying the parent layer into {chain_id}")]
    Copy { chain_id: String, source: io::Error },
    #[error("committing {path}")]
    Commit { path: PathBuf, source: io::Error },
    #[error("removing {path}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("walking {path}")]
    Walk {
        path: PathBuf,
        source: SafePathError,
    },
    #[error("listing {path}")]
    List { path: PathBuf, source: io::Error },
    #[error("mount")]
    Mount(#[from] MountError),
}

type Result<T> = std::result::Result<T, SnapshotError>;

/// How snapshots are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// One directory per layer, stacked with overlayfs. Reported as "overlay2", like Docker.
    Overlay,
    /// Every snapshot a full copy; the fallback where overlay cannot mount. Reported as "vfs".
    Copy,
}

impl Driver {
    /// The storage driver name for `/info`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay2",
            Driver::Copy => "vfs",
        }
    }
}

/// Disk usage of one snapshot's own directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Apparent bytes of regular files and symlinks, hardlinked inodes counted once.
    pub size: u64,
    pub inodes: u64,
}

#[derive(Debug, Clone)]
pub struct Snapshotter {
    pub(crate) root: PathBuf,
    pub(crate) driver: Driver,
}

impl Snapshotter {
    /// Opens (creating) a snapshotter at `root`, using overlay when a probe mount succeeds there.
    pub fn open(root: impl Into<PathBuf>) -> Result<Snapshotter> {
        let mut snapshotter = Snapshotter::open_with(root, Driver::Copy)?;
        if mount::overlay_safe(&snapshotter.root) && snapshotter.probe_overlay() {
            snapshotter.driver = Driver::Overlay;
        }
        Ok(snapshotter)
    }

    /// Opens (creating) a snapshotter at `root` with a given driver.
    pub fn open_with(root: impl Into<PathBuf>, driver: Driver) -> Result<Snapshotter> {
        let root = root.into();
        if driver == Driver::Overlay && !mount::overlay_safe(&root) {
            return Err(SnapshotError::UnsafeRoot(root));
        }
        for dir in [root.join("snapshots"), root.join("l"), root.join("init")] {
            fs::create_dir_all(&dir)
                .map_err(|source| SnapshotError::Create { path: dir, source })?;
        }
        Ok(Snapshotter { root, driver })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The filesystem under the root, named as Docker's `/info` "Backing Filesystem".
    pub fn backing_filesystem(&self) -> io::Result<String> {
        mount::backing_filesystem(&self.root)
    }

    /// Starts a new layer `chain_id` on top of `parent` (which must be committed). Apply its
    /// content through the returned [`Extracting`], then commit it.
    pub fn prepare_layer(&self, parent: Option<&str>, chain_id: &str) -> Result<Extracting> {
        chain::sha256_hex(chain_id)?;
        if self.exists(chain_id) {
            return Err(SnapshotError::AlreadyExists(chain_id.to_owned()));
        }
        let lowers = match parent {
            Some(parent) => self.chain(parent)?,
            None => Vec::new(),
        };
        let lower_dirs = lowers.iter().map(|info| self.fs_dir(&info.key)).collect();
        self.prepare(parent, lower_dirs, chain_id)
    }

    /// Starts a layer on top of `parent` whose chain ID is known only once it is applied (a
    /// commit's layer: its diffID comes out of the same stream); name it with
    /// [`Extracting::set_chain_id`] before committing it.
    pub fn prepare_layer_unnamed(&self, parent: Option<&str>) -> Result<Extracting> {
        let lowers = match parent {
            Some(parent) => self.chain(parent)?,
            None => Vec::new(),
        };
        let lower_dirs = lowers.iter().map(|info| self.fs_dir(&info.key)).collect();
        self.prepare(parent, lower_dirs, "")
    }

    /// Starts a new layer `chain_id` on top of `parent`, a layer that has been applied but not
    /// committed yet, so that a whole image can be unpacked before one sync (see
    /// [`Snapshotter::commit_layers`]). Commit the parent first, or with this one.
    pub fn prepare_layer_over(&self, parent: &Extracting, chain_id: &str) -> Result<Extracting> {
        chain::sha256_hex(chain_id)?;
        if self.exists(chain_id) {
            return Err(SnapshotError::AlreadyExists(chain_id.to_owned()));
        }
        let mut lower_dirs = vec![parent.fs()];
        lower_dirs.extend(parent.lower_dirs.iter().cloned());
        self.prepare(Some(&parent.chain_id), lower_dirs, chain_id)
    }

    /// A tmp dir for layer `chain_id` over `parent`, whose layer directories (top first) are
    /// `lower_dirs`; the copy driver copies the top one in instead.
    fn prepare(
        &self,
        parent: Option<&str>,
        lower_dirs: Vec<PathBuf>,
        chain_id: &str,
    ) -> Result<Extracting> {
        let tmp = self.make_tmp(false)?;
        let mut extracting = Extracting {
            snapshotter: self.clone(),
            tmp,
            chain_id: chain_id.to_owned(),
            parent: parent.map(str::to_owned),
            lower_dirs,
            applied: None,
            done: false,
        };
        if self.driver == Driver::Copy {
            if let Some(source) = extracting.lower_dirs.first() {
                copy_tree(source, &extracting.fs()).map_err(|source| SnapshotError::Copy {
                    chain_id: chain_id.to_owned(),
                    source,
                })?;
            }
            extracting.lower_dirs.clear();
        }
        Ok(extracting)
    }

    /// Commits a prepared layer (the same as [`Extracting::commit`]).
    pub fn commit(&self, extracting: Extracting) -> Result<Info> {
        extracting.commit()
    }

    /// Starts a sync of the snapshots' filesystem in a helper thread and returns at once: run
    /// while the next layer is applied, it writes back the previous ones in parallel, so the
    /// sync of [`Snapshotter::commit_layers`] has less left to do. It makes nothing durable
    /// that the caller relies on (errors are for the final sync to report); dropping the
    /// handle waits for it.
    pub fn start_writeback(&self) -> Writeback {
        let root = self.root.clone();
        Writeback(Some(std::thread::spawn(move || {
            if let Ok(dir) = fs::File::open(&root) {
                let _ = rustix::fs::syncfs(&dir);
            }
        })))
    }

    /// Commits layers prepared one over the other (bottom first) with a single sync of the
    /// filesystem for all of them, then names each in order. Each layer's content is on disk
    /// before any of them gets its final name, as with [`Extracting::commit`]. Returns the
    /// committed infos (another writer's, where it committed the same chain ID first).
    pub fn commit_layers(&self, layers: Vec<Extracting>) -> Result<Vec<Info>> {
        let Some(first) = layers.first() else {
            return Ok(Vec::new());
        };
        first.sync()?;
        layers.into_iter().map(Extracting::publish_synced).collect()
    }

    /// Creates container `id`'s read-write snapshot over the image whose top layer is
    /// `image_chain_id` (None for an empty image), with the init layer of the mount points
    /// the image lacks (overlay only), and returns the mounts for its rootfs.
    ///
    /// Nothing is synced: the layer starts empty, so a crash can take nothing from it that
    /// [`Snapshotter::repair_container`] cannot make again (the container's own writes are
    /// never synced either, as with Docker). On a data root where every fsync is a device
    /// flush, the three a synced layer needs cost a short-lived container a tenth of its CPU.
    pub fn prepare_container(
        &self,
        id: &str,
        image_chain_id: Option<&str>,
        missing: MountPoints,
    ) -> Result<Vec<Mount>> {
        validate_container_id(id)?;
        if self.dir(id).exists() {
            return Err(SnapshotError::AlreadyExists(id.to_owned()));
        }
        if let Some(parent) = image_chain_id {
            self.chain(parent)?;
        }
        let init = self.init_for(missing)?;
        let tmp = self.make_tmp(self.driver == Driver::Overlay)?;
        let result = (|| {
            if let (Driver::Copy, Some(parent)) = (self.driver, image_chain_id) {
                copy_tree(&self.fs_dir(parent), &tmp.join("fs")).map_err(|source| {
                    SnapshotError::Copy {
                        chain_id: parent.to_owned(),
                        source,
                    }
                })?;
            }
            let info = Info::container(id, image_chain_id, init);
            meta::write_unsynced(&tmp, &info)?;
            self.rename_into_place(&tmp, id)
        })();
        if let Err(e) = result {
            let _ = remove_dir(&tmp);
            return Err(e);
        }
        self.mounts(id)
    }

    /// Makes container `id`'s layer usable again after a crash took its unsynced parts: a
    /// missing layer is prepared anew (it was empty), a missing or unreadable metadata file
    /// is written again (synced), keeping whatever the layer holds.
    pub fn repair_container(
        &self,
        id: &str,
        image_chain_id: Option<&str>,
        missing: MountPoints,
    ) -> Result<()> {
        validate_container_id(id)?;
        let dir = self.dir(id);
        if !dir.exists() {
            return self
                .prepare_container(id, image_chain_id, missing)
                .map(drop);
        }
        if matches!(self.info(id), Ok(info) if info.kind == Kind::Container) {
            return Ok(());
        }
        tracing::warn!(container = %id, "rewriting a container layer's metadata lost in a crash");
        let init = self.init_for(missing)?;
        let subdirs: &[&str] = match self.driver {
            Driver::Overlay => &["fs", "work"],
            Driver::Copy => &["fs"],
        };
        for sub in subdirs {
            let path = dir.join(sub);
            match fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(SnapshotError::Create { path, source }),
            }
        }
        let meta_path = dir.join(meta::META_FILE);
        match fs::remove_file(&meta_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(SnapshotError::Create {
                    path: meta_path,
                    source: e,
                })
            }
            _ => {}
        }
        meta::write(&dir, &Info::container(id, image_chain_id, init))?;
        Ok(())
    }

    /// The mounts for a snapshot: a container's read-write rootfs, or a read-only view of a
    /// layer with everything below it.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let info = self.info(key)?;
        let fs_dir = self.fs_dir(key);
        if self.driver == Driver::Copy {
            return Ok(vec![Mount::bind(&fs_dir, info.kind == Kind::Layer)]);
        }
        let (lowers, upper) = match info.kind {
            Kind::Layer => (self.chain(key)?, None),
            Kind::Container => {
                let lowers = match &info.parent {
                    Some(parent) => self.chain(parent)?,
                    None => Vec::new(),
                };
                (lowers, Some((fs_dir.clone(), self.dir(key).join("work"))))
            }
        };
        let init = match (&info.kind, &info.init) {
            (Kind::Container, Some(name)) => {
                let missing = MountPoints::from_name(name)
                    .ok_or_else(|| MetaError::Invalid(format!("init layer {name:?}")))?;
                Some(self.init_layer(missing)?)
            }
            _ => None,
        };
        let lowerdirs: Vec<PathBuf> = init
            .map(|name| self.root.join("init").join(name))
            .into_iter()
            .chain(lowers.iter().map(|l| self.link_path(l)))
            .collect();
        Ok(vec![match (upper, lowerdirs.len()) {
            (None, 1) => Mount::bind(&self.fs_dir(key), true),
            (Some((upper, _)), 0) => Mount::bind(&upper, false),
            (Some((upper, work)), _) => Mount::overlay(&lowerdirs, Some((&upper, &work))),
            (None, _) => Mount::overlay(&lowerdirs, None),
        }])
    }

    /// A container's upper directory (its changes, for `diff`) or a layer's own directory.
    pub fn fs_dir(&self, key: &str) -> PathBuf {
        self.dir(key).join("fs")
    }

    /// Removes a snapshot: renamed to `<id>-removing` first (so a crash leaves a name
    /// `cleanup_orphans` recognises), then deleted without following any symlink in it.
    /// Layers that other snapshots stand on are refused.
    pub fn remove(&self, key: &str) -> Result<()> {
        let info = self.info(key)?;
        if info.kind == Kind::Layer
            && self
                .list()?
                .iter()
                .any(|s| s.parent.as_deref() == Some(key))
        {
            return Err(SnapshotError::HasChildren(key.to_owned()));
        }
        let dir = self.dir(key);
        let removing = PathBuf::from(format!("{}{REMOVING_SUFFIX}", dir.display()));
        remove_dir(&removing)?;
        fs::rename(&dir, &removing).map_err(|source| SnapshotError::Remove {
            path: dir.clone(),
            source,
        })?;
        // A layer's removal is made durable before its files go. A container's need not be:
        // one a crash brings back has no record, and the engine removes it at start-up.
        if info.kind == Kind::Layer {
            let snapshots = self.root.join("snapshots");
            meta::sync_dir(&snapshots).map_err(|source| SnapshotError::Remove {
                path: snapshots,
                source,
            })?;
        }
        if let Some(link) = &info.link {
            let path = self.root.join("l").join(link);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(SnapshotError::Remove { path, source: e })
                }
                _ => {}
            }
        }
        remove_dir(&removing)
    }

    /// Disk usage of the snapshot's own directory (not its parents).
    pub fn usage(&self, key: &str) -> Result<Usage> {
        self.info(key)?;
        let fs_dir = self.fs_dir(key);
        let walk_err = |source| SnapshotError::Walk {
            path: fs_dir.clone(),
            source,
        };
        let root = Root::open(&fs_dir).map_err(walk_err)?;
        let mut usage = Usage::default();
        let mut seen = HashSet::new();
        let mut pending = vec![PathBuf::new()];
        while let Some(dir) = pending.pop() {
            for entry in root.read_dir(&dir).map_err(walk_err)? {
                let path = dir.join(&entry.name);
                let stat = root.stat(&path, false).map_err(walk_err)?;
                usage.inodes += 1;
                if entry.file_type.is_dir() {
                    pending.push(path);
                } else if stat.st_nlink <= 1 || seen.insert((stat.st_dev, stat.st_ino)) {
                    usage.size += stat.st_size as u64;
                }
            }
        }
        Ok(usage)
    }

    /// Whether a committed layer with this chain ID exists.
    pub fn exists(&self, chain_id: &str) -> bool {
        chain::sha256_hex(chain_id).is_ok()
            && matches!(self.info(chain_id), Ok(info) if info.kind == Kind::Layer)
    }

    pub fn info(&self, key: &str) -> Result<Info> {
        let dir = self.dir(key);
        if !dir.join(meta::META_FILE).exists() {
            return Err(SnapshotError::NotFound(key.to_owned()));
        }
        let info = meta::read(&dir)?;
        // A container ID spelled like a chain ID's hex must not reach a layer, or vice versa.
        if info.key != key {
            return Err(SnapshotError::NotFound(key.to_owned()));
        }
        Ok(info)
    }

    /// Every committed snapshot. Entries with unreadable metadata are skipped (and logged): one
    /// broken snapshot must not hide the others.
    pub fn list(&self) -> Result<Vec<Info>> {
        let mut out = Vec::new();
        for name in self.snapshot_dir_names()? {
            if name.starts_with(TMP_PREFIX) || name.ends_with(REMOVING_SUFFIX) {
                continue;
            }
            match meta::read(&self.root.join("snapshots").join(&name)) {
                Ok(info) => out.push(info),
                Err(e) => {
                    tracing::warn!(snapshot = %name, error = %e, "skipping unreadable snapshot")
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Start-up cleanup: removes interrupted preparations (`tmp-*`), interrupted removals
    /// (`*-removing`), directories without metadata, and short links to nothing. Run it
    /// before any other use of the snapshotter. Returns how many entries were removed.
    pub fn cleanup_orphans(&self) -> Result<usize> {
        let mut removed = 0;
        let snapshots = self.root.join("snapshots");
        for name in self.snapshot_dir_names()? {
            let dir = snapshots.join(&name);
            let orphan = name.starts_with(TMP_PREFIX)
                || name.ends_with(REMOVING_SUFFIX)
                || !dir.join(meta::META_FILE).exists();
            if orphan {
                if name.starts_with(TMP_PREFIX) {
                    // An overlay probe interrupted while mounted: detach it first.
                    let _ = mount::unmount(&dir.join("merged"));
                }
                remove_dir(&dir)?;
                removed += 1;
            }
        }
        // Init layers interrupted while being built.
        let init = self.root.join("init");
        if let Ok(entries) = fs::read_dir(&init) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    remove_dir(&entry.path())?;
                    removed += 1;
                }
            }
        }
        let links = self.root.join("l");
        let entries = fs::read_dir(&links).map_err(|source| SnapshotError::List {
            path: links.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| SnapshotError::List {
                    path: links.clone(),
                    source,
                })?
                .path();
            // metadata() follows the link: a dangling one points at no committed layer.
            if fs::metadata(&path).is_err() {
                fs::remove_file(&path).map_err(|source| SnapshotError::Remove { path, source })?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The init layer a new container layer stands on (overlay only; none when the image
    /// lacks nothing).
    fn init_for(&self, missing: MountPoints) -> Result<Option<String>> {
        match self.driver == Driver::Overlay && !missing.is_empty() {
            true => Ok(Some(self.init_layer(missing)?)),
            false => Ok(None),
        }
    }

    /// The init layer holding `missing`, made once per data root (and again if gone):
    /// built in a `tmp-*` directory, synced, then renamed into place. Returns its name.
    fn init_layer(&self, missing: MountPoints) -> Result<String> {
        let name = missing.name();
        let init = self.root.join("init");
        if init.join(&name).is_dir() {
            return Ok(name);
        }
        let tmp = init.join(format!("{TMP_PREFIX}{}", random_token(16)));
        let built = (|| {
            fs::create_dir(&tmp)?;
            missing.populate(&tmp)?;
            rustix::fs::syncfs(fs::File::open(&tmp)?)?;
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                init.join(&name),
                RenameFlags::NOREPLACE,
            ) {
                // Another container made it meanwhile.
                Ok(()) | Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
            meta::sync_dir(&init)
        })();
        let _ = remove_dir(&tmp);
        built.map_err(|source| SnapshotError::Create {
            path: init.join(&name),
            source,
        })?;
        Ok(name)
    }

    fn dir(&self, key: &str) -> PathBuf {
        let name = chain::sha256_hex(key).unwrap_or(key);
        self.root.join("snapshots").join(name)
    }

    fn link_path(&self, info: &Info) -> PathBuf {
        match &info.link {
            Some(link) => self.root.join("l").join(link),
            None => self.fs_dir(&info.key),
        }
    }

    /// `chain_id` and its ancestors, top first; every one must be a committed layer.
    fn chain(&self, chain_id: &str) -> Result<Vec<Info>> {
        let mut out: Vec<Info> = Vec::new();
        let mut next = Some(chain_id.to_owned());
        while let Some(key) = next {
            if out.len() >= MAX_CHAIN_DEPTH {
                return Err(SnapshotError::ChainTooDeep(chain_id.to_owned()));
            }
            chain::sha256_hex(&key)?;
            let info = self.info(&key)?;
            if info.kind != Kind::Layer {
                return Err(SnapshotError::WrongKind(key, info.kind, Kind::Layer));
            }
            next = info.parent.clone();
            out.push(info);
        }
        Ok(out)
    }

    fn snapshot_dir_names(&self) -> Result<Vec<String>> {
        let snapshots = self.root.join("snapshots");
        let err = |source| SnapshotError::List {
            path: snapshots.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&snapshots).map_err(err)? {
            names.push(
                entry
                    .map_err(err)?
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Ok(names)
    }

    /// Creates `snapshots/tmp-<random>/fs` (and `work` when asked).
    fn make_tmp(&self, with_work: bool) -> Result<PathBuf> {
        loop {
            let tmp = self
                .root
                .join("snapshots")
                .join(format!("{TMP_PREFIX}{}", random_token(16)));
            match fs::create_dir(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(SnapshotError::Create { path: tmp, source }),
            }
            let mut subdirs = vec!["fs"];
            if with_work {
                subdirs.push("work");
            }
            for sub in subdirs {
                let path = tmp.join(sub);
                if let Err(source) = fs::create_dir(&path) {
                    let _ = remove_dir(&tmp);
                    return Err(SnapshotError::Create { path, source });
                }
            }
            return Ok(tmp);
        }
    }

    /// Renames a complete tmp dir to its final name (never replacing one) and syncs.
    pub(crate) fn publish(&self, tmp: &Path, key: &str) -> Result<()> {
        self.rename_into_place(tmp, key)?;
        meta::sync_dir(&self.root.join("snapshots")).map_err(|source| SnapshotError::Commit {
            path: self.dir(key),
            source,
        })
    }

    /// Renames a complete tmp dir to its final name, never replacing one.
    fn rename_into_place(&self, tmp: &Path, key: &str) -> Result<()> {
        let target = self.dir(key);
        let err = |source: io::Error| SnapshotError::Commit {
            path: target.clone(),
            source,
        };
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            tmp,
            rustix::fs::CWD,
            &target,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                Err(SnapshotError::AlreadyExists(key.to_owned()))
            }
            Err(e) => Err(err(e.into())),
        }
    }

    /// Mounts a tiny overlay in a tmp dir under the root to learn whether overlay works here.
    fn probe_overlay(&self) -> bool {
        let Ok(tmp) = self.make_tmp(true) else {
            return false;
        };
        let lower = tmp.join("fs");
        let (upper, work, merged) = (tmp.join("upper"), tmp.join("work"), tmp.join("merged"));
        let works = [&upper, &merged].iter().all(|d| fs::create_dir(d).is_ok())
            && Mount::overlay(&[lower], Some((&upper, &work)))
                .mount(&merged)
                .is_ok();
        if works {
            let _ = mount::unmount(&merged);
        }
        let _ = remove_dir(&tmp);
        works
    }
}

/// A background sync started by [`Snapshotter::start_writeback`]; dropping it waits for it.
pub struct Writeback(Option<std::thread::JoinHandle<()>>);

impl Drop for Writeback {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

fn validate_container_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && !id.starts_with(TMP_PREFIX)
        && !id.ends_with(REMOVING_SUFFIX)
        && chain::sha256_hex(id).is_err();
    if ok {
        Ok(())
    } else {
        Err(SnapshotError::InvalidId(id.to_owned()))
    }
}

pub(crate) fn remove_dir(path: &Path) -> Result<()> {
    let err = |source| SnapshotError::Remove {
        path: path.to_owned(),
        source,
    };
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let root = Root::open(parent).map_err(|e| err(io::Error::other(e)))?;
    root.remove_all(Path::new(path.file_name().unwrap_or_default()))
        .map_err(|e| err(io::Error::other(e)))
}

/// Random uppercase base32 (Docker's short link alphabet), from the std hasher's random keys.
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut bits = h.finish();
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits & 31) as usize] as char);
            bits >>= 5;
        }
    }
    out
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
