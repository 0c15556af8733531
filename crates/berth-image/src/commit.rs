//! `docker commit`: a container's upper directory becomes a new layer (an uncompressed OCI
//! layer tar, stored and unpacked like any loaded layer) on top of its image, described by
//! a child config as moby's `image.NewChildImage` makes it.

use crate::error::ImageError;
use crate::records::ImageId;
use crate::register::ImagePlan;
use crate::store::{now_rfc3339, parse_id, ImageStore, Result};
use berth_sys::safe_path::Root;
use berth_types::reference::Reference;
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;

/// The diffID of an empty tar (two zero blocks): moby's `DigestSHA256EmptyTar`.
const EMPTY_TAR: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What a commit records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Tag for the new image (tag defaults to `latest`).
    pub reference: Option<Reference>,
    /// The container's image (`sha256:...`); empty for none.
    pub parent: String,
    pub container_id: String,
    /// The new image's `config` (the container's, merged with the changes).
    pub config: Value,
    /// The container's own config (`container_config`).
    pub container_config: Value,
    pub author: String,
    pub comment: String,
    /// The history entry's `created_by` (the container's command).
    pub created_by: String,
}

impl ImageStore {
    /// Commits the overlay upper directory `upper` as a new image; returns its ID.
    pub fn commit_container(&self, upper: &Path, opts: CommitOptions) -> Result<ImageId> {
        let tag = opts.reference.clone().map(|r| r.with_default_tag());
        let (base_config, base_layers) = if opts.parent.is_empty() {
            (
                json!({"os": "linux", "architecture": crate::platform::host().architecture}),
                Vec::new(),
            )
        } else {
            let view = self.meta.view()?;
            let image = self.stored(&view, &opts.parent)?;
            (self.read_config(&image.id)?, image.layers)
        };
        let root = Root::open(upper)
            .map_err(|e| ImageError::InvalidConfig(format!("opening the container layer: {e}")))?;
        let parent_chain = base_layers.last().and(
            berth_snapshot::chain::chain_ids(
                &base_layers
                    .iter()
                    .map(|l| l.diff_id.clone())
                    .collect::<Vec<_>>(),
            )
            .ok()
            .and_then(|c| c.last().cloned()),
        );
        let mut lease = self.lease();
        let result = (|| {
            let guard = self.ingest_guard();
            let layer =
                self.commit_layer(&root, parent_chain.as_deref(), &base_layers, &mut lease)?;
            drop(guard);
            let empty = layer.is_none();
            let created = now_rfc3339();
            let mut config = base_config;
            let mut history = config["history"].as_array().cloned().unwrap_or_default();
            let mut entry = json!({"created": created, "created_by": opts.created_by});
            if !opts.author.is_empty() {
                entry["author"] = json!(opts.author);
            }
            if !opts.comment.is_empty() {
                entry["comment"] = json!(opts.comment);
            }
            if empty {
                entry["empty_layer"] = json!(true);
            }
            history.push(entry);
            let mut diff_ids: Vec<Value> = base_layers.iter().map(|l| json!(l.diff_id)).collect();
            if let Some((digest, _)) = &layer {
                diff_ids.push(json!(digest));
            }
            let object = config
                .as_object_mut()
                .ok_or_else(|| ImageError::InvalidConfig("the parent's config".into()))?;
            object.insert("config".into(), opts.config.clone());
            object.insert("container".into(), json!(opts.container_id));
            object.insert("container_config".into(), opts.container_config.clone());
            object.insert("created".into(), json!(created));
            object.insert("docker_version".into(), json!(env!("CARGO_PKG_VERSION")));
            object.insert("history".into(), Value::Array(history));
            object.insert(
                "rootfs".into(),
                json!({"type": "layers", "diff_ids": diff_ids}),
            );
            object.remove("comment");
            object.remove("author");
            if !opts.author.is_empty() {
                object.insert("author".into(), json!(opts.author));
            }
            if !opts.comment.is_empty() {
                object.insert("comment".into(), json!(opts.comment));
            }
            let bytes = serde_json::to_vec(&config).expect("json");
            let mut writer = self.content.writer(None)?;
            std::io::Write::write_all(&mut writer, &bytes)
                .map_err(|e| ImageError::InvalidConfig(e.to_string()))?;
            let guard = self.ingest_guard();
            let config_digest = writer.commit()?;
            lease.add(&config_digest);
            drop(guard);
            let mut layers: Vec<(String, String, u64)> = base_layers
                .iter()
                .map(|l| (l.blob.clone(), l.media_type.clone(), l.blob_size))
                .collect();
            if let Some((digest, size)) = layer {
                layers.push((digest, crate::load::MEDIA_LAYER_TAR.to_owned(), size));
            }
            let plan = ImagePlan {
                config: config_digest.clone(),
                manifest: None,
                // The parent's layers are a stored image's; the new one was just made.
                verified_layers: layers.len(),
                layers,
                tags: tag.iter().map(|t| t.to_string()).collect(),
                parent: opts.parent.clone(),
            };
            self.register(&plan, &mut lease, &mut |_| {})?;
            parse_id(&config_digest)
        })();
        if result.is_err() {
            let staged = lease.keys();
            drop(lease);
            self.sweep_after_failure(&staged);
        }
        result
    }
}

/// Hands the tar stream to the thread that applies it, in the chunks it was written in.
struct Tee<'a> {
    blob: &'a mut berth_content::Writer,
    sender: mpsc::SyncSender<Vec<u8>>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.blob.write_all(buf)?;
        self.sender
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the layer apply stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The receiving end: a reader over the chunks; the sender's drop is the end of the stream.
struct ChunkReader {
    receiver: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    offset: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.offset = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.offset);
        buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

impl ImageStore {
    /// Makes the commit's layer in one pass over the upper directory: the tar stream goes
    /// to the content store (which hashes it: the diffID) and, on a second core, straight
    /// into a new snapshot, named once the diffID is known. None for an empty layer.
    fn commit_layer(
        &self,
        upper: &Root,
        parent_chain: Option<&str>,
        base_layers: &[crate::records::StoredLayer],
        lease: &mut crate::store::Lease<'_>,
    ) -> Result<Option<(String, u64)>> {
        let mut blob = self.content.writer(None)?;
        let mut extracting = self.snapshots.prepare_layer_unnamed(parent_chain)?;
        let limits = self.limits.layer;
        let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(16);
        let (written, applied) = std::thread::scope(|scope| {
            let applier = scope.spawn(move || {
                let reader = ChunkReader {
                    receiver,
                    chunk: Vec::new(),
                    offset: 0,
                };
                extracting
                    .apply_unhashed(reader, limits)
                    .map(|_| extracting)
            });
            let mut tee = io::BufWriter::with_capacity(
                1 << 20,
                Tee {
                    blob: &mut blob,
                    sender,
                },
            );
            let written = berth_snapshot::diff::write_layer_unhashed(upper, &mut tee)
                .map_err(|e| ImageError::InvalidConfig(format!("writing the layer: {e}")))
                .and_then(|d| {
                    tee.flush()
                        .map(|()| d)
                        .map_err(|e| ImageError::InvalidConfig(format!("writing the layer: {e}")))
                });
            // The end of the stream for the applier (also after a failure).
            drop(tee);
            (written, applier.join())
        });
        let diffed = written?;
        let mut extracting =
            applied.map_err(|_| ImageError::InvalidConfig("the layer apply panicked".into()))??;
        // The layer's files are written back while the blob is synced; the layer commit's
        // own sync then has little left to do.
        let writeback = self.snapshots.start_writeback();
        let digest = blob.commit()?;
        drop(writeback);
        if digest == EMPTY_TAR {
            return Ok(None);
        }
        lease.add(&digest);
        let mut diff_ids: Vec<String> = base_layers.iter().map(|l| l.diff_id.clone()).collect();
        diff_ids.push(digest.clone());
        let chain = berth_snapshot::chain::chain_ids(&diff_ids)
            .map_err(|e| ImageError::InvalidConfig(format!("rootfs.diff_ids: {e}")))?
            .pop()
            .unwrap_or_default();
        lease.add(&chain);
        extracting.set_diff_id(digest.clone());
        extracting.set_chain_id(&chain)?;
        if !self.snapshots.exists(&chain) {
            self.snapshots.commit_layers(vec![extracting])?;
        }
        Ok(Some((digest, diffed.size)))
    }
}
