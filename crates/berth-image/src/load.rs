//! `docker load`: a docker-archive (manifest.json, in the Docker 25+ `blobs/` layout or the
//! legacy `<id>/layer.tar` one) or an OCI image layout (index.json, nested indexes), plain
//! or gzip. The archive is streamed: every file goes into the content store as it is read
//! (hashed while written; a `blobs/<alg>/<hex>` file must hash to its name), and only the
//! small metadata documents are kept in memory, each bounded. Paths named by manifest.json
//! are only ever looked up in the table of what was read, never opened.

use crate::error::ImageError;
use crate::records::{LoadEvent, LoadedImage};
use crate::register::ImagePlan;
use crate::store::{familiar_refs, parse_id, read_bounded, ImageStore, Lease, Result};
use crate::tar_guard::TarGuard;
use berth_types::reference::Reference;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};

const METADATA_FILES: [&str; 4] = ["manifest.json", "index.json", "repositories", "oci-layout"];
const MAX_INDEX_DEPTH: usize = 8;
/// GNU long names and PAX headers of the archive itself.
const MAX_TAR_EXTENSION: u64 = 1 << 20;
/// Files in one archive: each becomes a blob (and an fsync), so this bounds the work too.
const MAX_ARCHIVE_FILES: usize = 100_000;
const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// What the archive held: metadata documents, and every other file as a blob.
#[derive(Default)]
struct Staged {
    documents: HashMap<String, Vec<u8>>,
    /// Archive path -> (digest, size).
    files: HashMap<String, (String, u64)>,
    /// Archive path -> the path a symlink entry points at (legacy layouts link duplicates).
    links: HashMap<String, String>,
}

impl Staged {
    fn blob(&self, path: &str) -> Result<(String, u64)> {
        let mut path = clean_path(path)?;
        for _ in 0..8 {
            if let Some(found) = self.files.get(&path) {
                return Ok(found.clone());
            }
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        Err(ImageError::InvalidArchive(format!(
            "{path} is not in the archive"
        )))
    }
}

impl ImageStore {
    /// `POST /images/load`. Returns the loaded images with their tags (familiar form).
    pub fn load(
        &self,
        archive: impl Read,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<Vec<LoadedImage>> {
        let mut lease = self.lease();
        let result = self.load_leased(archive, &mut lease, progress);
        let staged = lease.keys();
        drop(lease);
        // What this load brought in that no image references (other files of the archive;
        // everything, on failure) goes now, not at the next start.
        match &result {
            Ok(_) => {
                let _ = self.drop_blobs(&staged);
            }
            Err(_) => self.sweep_after_failure(&staged),
        }
        result
    }

    fn load_leased(
        &self,
        archive: impl Read,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<Vec<LoadedImage>> {
        let staged = self.stage(archive, lease, progress)?;
        let plans = if staged.documents.contains_key("manifest.json") {
            self.docker_plans(&staged)?
        } else if staged.documents.contains_key("index.json") {
            self.oci_plans(&staged)?
        } else {
            return Err(ImageError::InvalidArchive(
                "neither manifest.json nor index.json found".to_owned(),
            ));
        };
        let mut loaded = Vec::new();
        for plan in &plans {
            let registered = self.register(plan, lease, progress)?;
            for (old, tag) in &registered.moved {
                let name = familiar_refs(std::slice::from_ref(tag)).0.join("");
                progress(LoadEvent::Loaded {
                    message: format!(
                        "The image {name} already exists, renaming the old one with ID {old} to empty string"
                    ),
                });
            }
            let tags = familiar_refs(&plan.tags).0;
            let id = parse_id(&registered.image.id)?;
            if tags.is_empty() {
                progress(LoadEvent::Loaded {
                    message: format!("Loaded image ID: {id}"),
                });
            }
            for tag in &tags {
                progress(LoadEvent::Loaded {
                    message: format!("Loaded image: {tag}"),
                });
            }
            loaded.push(LoadedImage { id, tags });
        }
        Ok(loaded)
    }

    /// Reads the whole archive stream: documents into memory (bounded), files into the store.
    fn stage(
        &self,
        archive: impl Read,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<Staged> {
        let mut input = BufReader::with_capacity(1 << 20, archive);
        let head = input.fill_buf().map_err(ImageError::ReadArchive)?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> = match gzip {
            true => Box::new(flate2::read::GzDecoder::new(input)),
            false => Box::new(input),
        };
        let mut tar = tar::Archive::new(TarGuard::new(reader, MAX_TAR_EXTENSION));
        let mut staged = Staged::default();
        let mut read = 0u64;
        for entry in tar.entries().map_err(ImageError::ReadArchive)? {
            let mut entry = entry.map_err(ImageError::ReadArchive)?;
            let kind = entry.header().entry_type();
            // Directories create nothing here, so their names (such as "./") do not matter.
            if !kind.is_file() && !kind.is_symlink() {
                continue;
            }
            let raw = entry.path().map_err(ImageError::ReadArchive)?;
            let path = clean_path(&raw.to_string_lossy())?;
            if kind.is_symlink() {
                if let Some(target) = entry.link_name().map_err(ImageError::ReadArchive)? {
                    let target = link_target(&path, &target.to_string_lossy())?;
                    staged.links.insert(path, target);
                }
                continue;
            }
            if staged.files.len() + staged.links.len() >= MAX_ARCHIVE_FILES {
                return Err(ImageError::InvalidArchive(format!(
                    "more than {MAX_ARCHIVE_FILES} files"
                )));
            }
            let size = entry.size();
            if METADATA_FILES.contains(&path.as_str()) {
                if size > self.limits.max_json_bytes {
                    return Err(ImageError::TooLarge {
                        what: path,
                        limit: self.limits.max_json_bytes,
                    });
                }
                let bytes = read_bounded(&mut entry, self.limits.max_json_bytes, &path)?;
                staged.documents.insert(path, bytes);
                continue;
            }
            let guard = self.ingest_guard();
            let digest = self.ingest(&path, &mut entry, size)?;
            lease.add(&digest);
            drop(guard);
            staged.files.insert(path, (digest, size));
            read += size;
            progress(LoadEvent::Read { bytes: read });
        }
        Ok(staged)
    }

    /// Copies one archive file into the content store; `blobs/<alg>/<hex>` must match.
    fn ingest(&self, path: &str, entry: &mut impl Read, size: u64) -> Result<String> {
        let expected = match path.strip_prefix("blobs/") {
            Some(rest) => {
                let digest = rest.replacen('/', ":", 1);
                digest.parse::<berth_types::digest::Digest>().map_err(|_| {
                    ImageError::InvalidArchive(format!("{path} does not name a valid digest"))
                })?;
                Some(digest)
            }
            None => None,
        };
        let mut writer = self
            .content
            .writer(expected.as_deref().map(|d| (d, size)))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(ImageError::ReadArchive)?;
            if n == 0 {
                break;
            }
            writer
                .write_all(&buf[..n])
                .map_err(|e| ImageError::InvalidArchive(format!("{path}: {e}")))?;
        }
        writer.commit().map_err(|e| match expected {
            Some(_) => ImageError::InvalidArchive(format!("{path}: {e}")),
            None => e.into(),
        })
    }

    /// Images listed by a docker-archive's manifest.json.
    fn docker_plans(&self, staged: &Staged) -> Result<Vec<ImagePlan>> {
        let entries: Vec<ManifestEntry> =
            serde_json::from_slice(&staged.documents["manifest.json"])
                .map_err(|e| ImageError::InvalidArchive(format!("manifest.json: {e}")))?;
        let mut plans = Vec::new();
        for entry in entries {
            // Every tag is checked before anything is registered.
            let tags = entry
                .repo_tags
                .iter()
                .map(|t| parse_repo_tag(t))
                .collect::<Result<Vec<_>>>()?;
            let (config, _) = staged.blob(&entry.config)?;
            let mut layers = Vec::new();
            for path in &entry.layers {
                let (digest, size) = staged.blob(path)?;
                layers.push((digest, MEDIA_LAYER_TAR.to_owned(), size));
            }
            plans.push(ImagePlan {
                config,
                manifest: None,
                layers,
                tags,
                parent: String::new(),
                verified_layers: 0,
            });
        }
        Ok(plans)
    }

    /// Images listed by an OCI layout's index.json, nested indexes resolved for the platform.
    fn oci_plans(&self, staged: &Staged) -> Result<Vec<ImagePlan>> {
        let index: Index = serde_json::from_slice(&staged.documents["index.json"])
            .map_err(|e| ImageError::InvalidArchive(format!("index.json: {e}")))?;
        let mut plans = Vec::new();
        for descriptor in &index.manifests {
            let tags = descriptor_name(descriptor)?.into_iter().collect();
            self.walk_descriptor(descriptor, tags, 0, &mut plans)?;
        }
        Ok(plans)
    }

    fn walk_descriptor(
        &self,
        descriptor: &Descriptor,
        tags: Vec<String>,
        depth: usize,
        plans: &mut Vec<ImagePlan>,
    ) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(ImageError::InvalidArchive(
                "indexes nest too deeply".to_owned(),
            ));
        }
        match descriptor.media_type.as_str() {
            MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => {
                let index: Index = self.read_document(descriptor)?;
                let platform = crate::platform::host();
                let children: Vec<&Descriptor> = index
                    .manifests
                    .iter()
                    .filter(|d| d.platform.as_ref().is_none_or(|p| platform.matches(p)))
                    .collect();
                let Some(first) = children.iter().find(|d| d.platform.is_some()) else {
                    for child in children {
                        self.walk_descriptor(child, tags.clone(), depth + 1, plans)?;
                    }
                    return Ok(());
                };
                self.walk_descriptor(first, tags, depth + 1, plans)
            }
            MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => {
                let manifest: Manifest = self.read_document(descriptor)?;
                let config = self.checked_blob(&manifest.config)?;
                let layers = manifest
                    .layers
                    .iter()
                    .map(|l| Ok((self.checked_blob(l)?, l.media_type.clone(), l.size)))
                    .collect::<Result<Vec<_>>>()?;
                plans.push(ImagePlan {
                    config,
                    manifest: Some(descriptor.digest.clone()),
                    layers,
                    tags,
                    parent: String::new(),
                    verified_layers: 0,
                });
                Ok(())
            }
            // Attestations and other artifacts are not images.
            _ => Ok(()),
        }
    }

    /// A descriptor's digest, validated and present in the store with the stated size.
    fn checked_blob(&self, descriptor: &Descriptor) -> Result<String> {
        let digest = &descriptor.digest;
        digest
            .parse::<berth_types::digest::Digest>()
            .map_err(|_| ImageError::InvalidArchive(format!("invalid digest {digest:?}")))?;
        if !self.content.exists(digest)? {
            return Err(ImageError::InvalidArchive(format!(
                "blob {digest} is missing"
            )));
        }
        if self.content.info(digest)? != descriptor.size {
            return Err(ImageError::InvalidArchive(format!(
                "blob {digest} is not {} bytes",
                descriptor.size
            )));
        }
        Ok(digest.clone())
    }

    fn read_document<T: serde::de::DeserializeOwned>(&self, descriptor: &Descriptor) -> Result<T> {
        let digest = self.checked_blob(descriptor)?;
        let bytes = self.read_blob_bounded(&digest)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::InvalidArchive(format!("{digest}: {e}")))
    }
}

/// A relative path without `.` components; `..`, absolute and empty paths are hostile.
fn clean_path(path: &str) -> Result<String> {
    if path.starts_with('/') {
        return Err(ImageError::InvalidArchive(format!(
            "absolute path {path:?}"
        )));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ImageError::InvalidArchive(format!(
                    "path {path:?} leaves the archive"
                )))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(ImageError::InvalidArchive("empty path".to_owned()));
    }
    Ok(parts.join("/"))
}

/// Where a symlink entry at `path` points, resolved lexically inside the archive (older
/// `docker save` links duplicate layers as `../<id>/layer.tar`).
fn link_target(path: &str, target: &str) -> Result<String> {
    let outside =
        || ImageError::InvalidArchive(format!("link {path:?} points outside the archive"));
    if target.starts_with('/') {
        return Err(outside());
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(outside)?;
            }
            p => parts.push(p),
        }
    }
    clean_path(&parts.join("/"))
}

/// A RepoTags entry: a valid name with a tag (moby refuses anything else).
fn parse_repo_tag(tag: &str) -> Result<String> {
    let reference = Reference::parse_normalized(tag)
        .map_err(|e| ImageError::InvalidArchive(format!("invalid tag {tag:?}: {e}")))?;
    if reference.tag().is_none() || reference.digest().is_some() {
        return Err(ImageError::InvalidArchive(format!("invalid tag {tag:?}")));
    }
    Ok(reference.to_string())
}

/// The image name an OCI index entry carries, as containerd's importer reads it.
fn descriptor_name(descriptor: &Descriptor) -> Result<Option<String>> {
    let annotations = &descriptor.annotations;
    if let Some(name) = annotations.get("io.containerd.image.name") {
        return parse_repo_tag(name).map(Some);
    }
    // A bare tag ("latest") names no repository; "busybox:latest" does.
    match annotations.get("org.opencontainers.image.ref.name") {
        Some(name) if name.contains([':', '/']) => parse_repo_tag(name).map(Some),
        _ => Ok(None),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    /// Docker writes `null` when an image is saved by ID.
    #[serde(default, deserialize_with = "null_as_empty")]
    repo_tags: Vec<String>,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(serde::Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub platform: Option<crate::platform::Platform>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}
