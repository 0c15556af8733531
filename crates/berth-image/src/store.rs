//! The store itself: opening (with crash recovery), name resolution with Docker's rules,
//! inspect, history, tag, rootfs mounts and disk usage. Load, save, import, list and delete
//! live in their own modules as further `impl ImageStore` blocks.

use crate::error::ImageError;
use crate::meta::{Meta, View};
use crate::records::{
    DiskUsage, GraphDriver, HistoryRecord, ImageId, ImageRecord, ImageUsage, StoredImage,
};
use berth_snapshot::{Driver, Kind, Mount, Snapshotter};
use berth_types::digest::Digest;
use berth_types::reference::{is_image_id, parse_named_with_default_tag, Reference};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

pub(crate) type Result<T> = std::result::Result<T, ImageError>;

/// Bounds on untrusted input (SECURITY.md 4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per-layer bounds for unpacking.
    pub layer: berth_snapshot::apply::Limits,
    /// Any JSON document read from an archive or blob (containerd's jsonLimit).
    pub max_json_bytes: u64,
    /// Layers per image.
    pub max_layers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            layer: berth_snapshot::apply::Limits::default(),
            max_json_bytes: 20 << 20,
            max_layers: 128,
        }
    }
}

/// Blobs and layers an operation in progress relies on: start-up-free GC and deletes skip them,
/// so a concurrent delete cannot pull a layer from under a load.
#[derive(Default)]
pub(crate) struct Leases {
    pub held: HashMap<String, usize>,
}

/// Releases its keys on drop.
pub(crate) struct Lease<'a> {
    store: &'a ImageStore,
    keys: Vec<String>,
}

impl Lease<'_> {
    pub fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }

    pub fn add(&mut self, key: &str) {
        *self.store.leases().held.entry(key.to_owned()).or_default() += 1;
        self.keys.push(key.to_owned());
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut leases = self.store.leases();
        for key in &self.keys {
            if let Some(n) = leases.held.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    leases.held.remove(key);
                }
            }
        }
    }
}

/// The image store. `Send + Sync`: the metadata database serialises writers, leases protect
/// work in progress, and `changes` serialises check-then-act sequences (delete, prune, tag).
pub struct ImageStore {
    pub(crate) meta: Meta,
    pub(crate) content: berth_content::Store,
    pub(crate) snapshots: Snapshotter,
    pub(crate) limits: Limits,
    leases: Mutex<Leases>,
    changes: Mutex<()>,
    /// Held (shared) from a blob's commit until it is leased, and (exclusive) by blob GC, so
    /// GC never sees a just-committed blob unleased.
    gc: RwLock<()>,
    driver: &'static str,
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating) the store under the data root and reconciles it after a crash:
    /// abandoned ingests, half-extracted snapshots, layers and blobs no image references,
    /// and image records whose blobs or layers are missing are removed.
    pub fn open(root: &Path, limits: Limits) -> Result<ImageStore> {
        let open_err = |source| ImageError::Open {
            path: root.display().to_string(),
            source,
        };
        std::fs::create_dir_all(root).map_err(open_err)?;
        let meta = Meta::open(&root.join("metadata.redb"))?;
        let content = berth_content::Store::open(root.join("content"))?;
        let snapshots = Snapshotter::open(root.join("snapshots"))?;
        let store = ImageStore {
            meta,
            content,
            driver: snapshots.driver().name(),
            snapshots,
            limits,
            leases: Mutex::new(Leases::default()),
            changes: Mutex::new(()),
            gc: RwLock::new(()),
            root: root.to_owned(),
        };
        store.recover()?;
        Ok(store)
    }

    fn recover(&self) -> Result<()> {
        self.content.sweep_ingest()?;
        self.snapshots.cleanup_orphans()?;
        let view = self.meta.view()?;
        let broken: Vec<String> = view
            .images
            .values()
            .filter(|image| !self.is_complete(image))
            .map(|image| image.id.clone())
            .collect();
        for id in &broken {
            tracing::warn!(%id, "dropping an image whose blobs or layers are missing");
        }
        self.meta.rebuild_layers(&broken)?;
        self.remove_unreferenced_layers();
        self.gc_blobs()?;
        Ok(())
    }

    /// Whether every blob and layer snapshot of an image is present.
    fn is_complete(&self, image: &StoredImage) -> bool {
        image
            .blobs()
            .all(|b| self.content.exists(b).unwrap_or(false))
            && image
                .chain_ids()
                .iter()
                .all(|chain| self.snapshots.exists(chain))
    }

    /// Removes every layer snapshot no image stands on (see [`Self::remove_layers_if_unused`]).
    pub(crate) fn remove_unreferenced_layers(&self) {
        let Ok(all) = self.snapshots.list() else {
            return;
        };
        let layers = all
            .into_iter()
            .filter(|info| info.kind == Kind::Layer)
            .map(|info| info.key)
            .collect();
        self.remove_layers_if_unused(layers);
    }

    /// Removes those `candidates` that no image references and no operation holds, children
    /// before parents; returns them in removal order. Layers under a container snapshot stay
    /// until the container is gone. The lease lock is held throughout and the layers table
    /// read under it: a load leases a layer before using it and releases it only after its
    /// image is committed, so every layer in use is seen as leased or as referenced.
    pub(crate) fn remove_layers_if_unused(&self, candidates: Vec<String>) -> Vec<String> {
        let leases = self.leases();
        let Ok(table) = self.meta.layers() else {
            return Vec::new();
        };
        let mut pending: Vec<String> = candidates
            .into_iter()
            .filter(|key| !table.contains_key(key) && !leases.held.contains_key(key))
            .collect();
        let mut removed = Vec::new();
        // Each pass removes the current leaves; a pass without progress ends it.
        loop {
            let before = pending.len();
            pending.retain(|key| match self.snapshots.remove(key) {
                Ok(()) => {
                    removed.push(key.clone());
                    false
                }
                Err(_) => true,
            });
            if pending.len() == before {
                break;
            }
        }
        removed
    }

    /// Deletes blobs no image references and no operation holds.
    pub(crate) fn gc_blobs(&self) -> Result<u64> {
        let _exclusive = self.gc.write().unwrap_or_else(|e| e.into_inner());
        let view = self.meta.view()?;
        let mut keep: HashSet<String> = view
            .images
            .values()
            .flat_map(|i| i.blobs().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        keep.extend(self.leases().held.keys().cloned());
        Ok(self.content.gc(&keep)?)
    }

    /// Deletes those of `candidates` that no image references and no operation holds: the
    /// targeted form of [`Self::gc_blobs`], costing nothing per blob of the whole store.
    pub(crate) fn drop_blobs(&self, candidates: &[String]) -> Result<()> {
        let _exclusive = self.gc.write().unwrap_or_else(|e| e.into_inner());
        let view = self.meta.view()?;
        let referenced: HashSet<&str> = view.images.values().flat_map(|i| i.blobs()).collect();
        let leases = self.leases();
        for digest in candidates {
            if referenced.contains(digest.as_str()) || leases.held.contains_key(digest) {
                continue;
            }
            match self.content.exists(digest) {
                Ok(true) => self.content.delete(digest)?,
                _ => continue,
            }
        }
        Ok(())
    }

    /// After a failed load or import: drops the blobs and layers it brought in that no image
    /// references (work of other operations in progress is leased and stays).
    pub(crate) fn sweep_after_failure(&self, candidates: &[String]) {
        self.remove_unreferenced_layers();
        let _ = self.drop_blobs(candidates);
    }

    /// Hold while committing a blob and leasing it.
    pub(crate) fn ingest_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.gc.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn leases(&self) -> MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lease(&self) -> Lease<'_> {
        Lease {
            store: self,
            keys: Vec::new(),
        }
    }

    pub(crate) fn changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The storage driver name for `/info` ("overlay2" or "vfs").
    pub fn driver_name(&self) -> &str {
        self.driver
    }

    /// The filesystem holding the snapshots, as `/info`'s "Backing Filesystem".
    pub fn backing_filesystem(&self) -> String {
        self.snapshots
            .backing_filesystem()
            .unwrap_or_else(|_| "unknown".to_owned())
    }

    /// The metadata database, for the engine's own tables (one transactional store per data
    /// root). This crate's tables are `image_refs`, `images` and `layers`.
    pub fn database(&self) -> &redb::Database {
        self.meta.database()
    }

    /// The snapshotter, for container-layer work beyond mounts (diff, commit, usage).
    pub fn snapshotter(&self) -> &Snapshotter {
        &self.snapshots
    }

    /// The data root this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of images.
    pub fn count(&self) -> usize {
        self.meta.view().map(|v| v.images.len()).unwrap_or(0)
    }

    /// Docker's GetImage: a full ID (with or without `sha256:`), a reference (tag defaults
    /// to `latest`), or an unambiguous ID prefix. Returns the image ID string.
    pub(crate) fn resolve(&self, view: &View, name: &str) -> Result<String> {
        if is_image_id(name) {
            let id = format!("sha256:{name}");
            return match view.images.contains_key(&id) {
                true => Ok(id),
                false => Err(ImageError::NotFound(id)),
            };
        }
        let parsed = match parse_named_with_default_tag(name) {
            Ok(reference) => Some(reference),
            // "sha256:<hex>" does not parse as a reference Docker would look up by tag.
            Err(_) if id_prefix(name).is_some() => None,
            Err(e) => return Err(ImageError::InvalidReference(e.to_string())),
        };
        if let Some(reference) = &parsed {
            if let Some(id) = view.refs.get(&reference.to_string()) {
                return Ok(id.clone());
            }
        }
        if let Some(prefix) = id_prefix(name) {
            let mut matches = view
                .images
                .keys()
                .filter(|id| id["sha256:".len()..].starts_with(prefix));
            if let (Some(id), None) = (matches.next(), matches.next()) {
                return Ok(id.clone());
            }
        }
        Err(ImageError::NotFound(match parsed {
            Some(r) => r.familiar_string(),
            None => name.to_owned(),
        }))
    }

    pub(crate) fn stored(&self, view: &View, name: &str) -> Result<StoredImage> {
        let id = self.resolve(view, name)?;
        view.images
            .get(&id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(name.to_owned()))
    }

    /// Reads and parses a config blob (bounded).
    pub(crate) fn read_config(&self, id: &str) -> Result<serde_json::Value> {
        let bytes = self.read_blob_bounded(id)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidConfig(e.to_string()))
    }

    /// A blob read into memory, refusing more than the JSON limit.
    pub(crate) fn read_blob_bounded(&self, digest: &str) -> Result<Vec<u8>> {
        let file = self.content.reader(digest)?;
        read_bounded(file, self.limits.max_json_bytes, digest)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name_or_id: &str) -> Result<ImageRecord> {
        let view = self.meta.view()?;
        let image = self.stored(&view, name_or_id)?;
        let config = self.read_config(&image.id)?;
        let text = |key: &str| config[key].as_str().unwrap_or_default().to_owned();
        let refs = view.refs_of(&image.id);
        let (repo_tags, repo_digests) = familiar_refs(&refs);
        let chain_id = image.top_chain();
        Ok(ImageRecord {
            id: parse_id(&image.id)?,
            repo_tags,
            repo_digests,
            parent: image.parent.clone(),
            comment: text("comment"),
            created: image.created.clone(),
            author: text("author"),
            docker_version: text("docker_version"),
            config: config["config"].clone(),
            architecture: text("architecture"),
            os: text("os"),
            variant: text("variant"),
            size: image.size,
            diff_ids: image.diff_ids(),
            graph_driver: self.graph_driver(&image.chain_ids()),
            chain_id,
            manifest_digest: image.manifest.clone(),
            last_tag_time: image.last_tag_time.clone(),
            image_config: config,
        })
    }

    /// GraphDriver.Data as Docker's overlay2 shows it for an image.
    fn graph_driver(&self, chains: &[String]) -> GraphDriver {
        let mut data = BTreeMap::new();
        if let (Driver::Overlay, Some(top)) = (self.snapshots.driver(), chains.last()) {
            let upper = self.snapshots.fs_dir(top);
            let dir = upper.parent().unwrap_or(&upper).to_owned();
            let lowers: Vec<String> = chains[..chains.len() - 1]
                .iter()
                .rev()
                .map(|c| self.snapshots.fs_dir(c).display().to_string())
                .collect();
            if !lowers.is_empty() {
                data.insert("LowerDir".to_owned(), lowers.join(":"));
            }
            data.insert(
                "MergedDir".to_owned(),
                dir.join("merged").display().to_string(),
            );
            data.insert("UpperDir".to_owned(), upper.display().to_string());
            data.insert("WorkDir".to_owned(), dir.join("work").display().to_string());
        }
        GraphDriver {
            name: self.driver.to_owned(),
            data,
        }
    }

    /// `GET /images/{name}/history`, newest first, as moby builds it.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryRecord>> {
        let view = self.meta.view()?;
        let image = self.stored(&view, name_or_id)?;
        let config = self.read_config(&image.id)?;
        let empty = Vec::new();
        let entries = config["history"].as_array().unwrap_or(&empty);
        let mut layer = 0;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut size = 0;
            if !entry["empty_layer"].as_bool().unwrap_or(false) {
                let Some(l) = image.layers.get(layer) else {
                    return Err(ImageError::InvalidConfig(
                        "too many non-empty layers in History section".to_owned(),
                    ));
                };
                size = l.size;
                layer += 1;
            }
            out.push(HistoryRecord {
                id: "<missing>".to_owned(),
                created: unix_seconds(entry["created"].as_str().unwrap_or_default()),
                created_by: entry["created_by"].as_str().unwrap_or_default().to_owned(),
                tags: Vec::new(),
                size,
                comment: entry["comment"].as_str().unwrap_or_default().to_owned(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = image.id.clone();
            top.tags = familiar_refs(&view.refs_of(&image.id)).0;
        }
        Ok(out)
    }

    /// `POST /images/{name}/tag`: points `target` (tag defaults to `latest`) at the image.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        if target.digest().is_some() {
            return Err(ImageError::InvalidReference(
                "refusing to create a tag with a digest reference".to_owned(),
            ));
        }
        if target.is_ambiguous_with_digest() {
            return Err(ImageError::InvalidReference(
                "refusing to create an ambiguous tag using digest algorithm as name".to_owned(),
            ));
        }
        let target = target.clone().with_default_tag();
        let _guard = self.changes();
        let view = self.meta.view()?;
        let id = self.resolve(&view, source)?;
        self.meta.set_ref(&target.to_string(), &id, &now_rfc3339())
    }

    /// Prepares container `container_id`'s read-write snapshot over the image's layers, with
    /// the init layer of the mount points the image lacks, and returns the mounts of its
    /// rootfs.
    pub fn rootfs_mounts(
        &self,
        image: &ImageId,
        container_id: &str,
        missing: berth_snapshot::init::MountPoints,
    ) -> Result<Vec<Mount>> {
        let top = self.top_chain(image)?;
        Ok(self
            .snapshots
            .prepare_container(container_id, top.as_deref(), missing)?)
    }

    /// Makes container `container_id`'s layer usable again after a crash took its unsynced
    /// parts (`Snapshotter::repair_container`).
    pub fn repair_container_layer(
        &self,
        image: &ImageId,
        container_id: &str,
        missing: berth_snapshot::init::MountPoints,
    ) -> Result<()> {
        let top = self.top_chain(image)?;
        Ok(self
            .snapshots
            .repair_container(container_id, top.as_deref(), missing)?)
    }

    /// At start-up: removes container layers that no container record names (a removal a
    /// crash undid, as those are not synced). Returns how many went.
    pub fn remove_unrecorded_container_layers(
        &self,
        recorded: &std::collections::HashSet<String>,
    ) -> Result<usize> {
        let mut removed = 0;
        for info in self.snapshots.list()? {
            if info.kind == berth_snapshot::Kind::Container && !recorded.contains(&info.key) {
                self.snapshots.remove(&info.key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A read-only view of the image's root filesystem (None for an image without layers).
    pub fn image_mounts(&self, image: &ImageId) -> Result<Option<Vec<Mount>>> {
        match self.top_chain(image)? {
            Some(top) => Ok(Some(self.snapshots.mounts(&top)?)),
            None => Ok(None),
        }
    }

    fn top_chain(&self, image: &ImageId) -> Result<Option<String>> {
        let id = image.to_string();
        let stored = self
            .meta
            .image(&id)?
            .ok_or_else(|| ImageError::NotFound(id.clone()))?;
        Ok(stored.top_chain())
    }

    /// Removes a container's read-write snapshot (absent is fine).
    pub fn remove_container_layer(&self, container_id: &str) -> Result<()> {
        match self.snapshots.remove(container_id) {
            Ok(()) | Err(berth_snapshot::SnapshotError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /system/df`: layer bytes counted once, per-image size and shared size.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let view = self.meta.view()?;
        let layers = self.meta.layers()?;
        let mut usage = DiskUsage {
            layers_size: layers.values().map(|(_, size)| size).sum(),
            images: Vec::new(),
        };
        for image in view.images.values() {
            let shared = image
                .chain_ids()
                .iter()
                .filter_map(|c| layers.get(c))
                .filter(|(count, _)| *count > 1)
                .map(|(_, size)| size)
                .sum();
            usage.images.push(ImageUsage {
                id: parse_id(&image.id)?,
                size: image.size,
                shared_size: shared,
            });
        }
        Ok(usage)
    }
}

/// The hex part of `[sha256:]<1..64 hex>`, if `name` has that shape.
fn id_prefix(name: &str) -> Option<&str> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    let ok = !hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

/// Familiar tags and digests of full references, each sorted.
pub(crate) fn familiar_refs(refs: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for r in refs {
        let Ok(reference) = Reference::parse_normalized(r) else {
            continue;
        };
        match reference.digest() {
            Some(_) => digests.push(reference.familiar_string()),
            None => tags.push(reference.familiar_string()),
        }
    }
    tags.sort();
    digests.sort();
    (tags, digests)
}

pub(crate) fn parse_id(id: &str) -> Result<ImageId> {
    id.parse::<Digest>()
        .map_err(|_| ImageError::InvalidConfig(format!("invalid image id {id:?}")))
}

pub(crate) fn read_bounded(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ImageError::ReadBlob {
            digest: what.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ImageError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Unix seconds of an RFC 3339 time; 0 when absent or malformed (as Go's zero time shows).
pub(crate) fn unix_seconds(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}
