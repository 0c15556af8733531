//! From verified blobs to a registered image: read and check the config, unpack each layer
//! into its snapshot (verifying the diffID), then commit the metadata in one transaction.
//! Metadata goes last, so a tag only ever points at an image whose blobs and layers exist.

use crate::error::ImageError;
use crate::prefetch::{with_prefetch, Streamed};
use crate::records::{StoredImage, StoredLayer};
use crate::store::{now_rfc3339, unix_seconds, ImageStore, Lease, Result};
use berth_snapshot::{chain, Extracting, Writeback};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io::{self, Read};

/// An image found in an archive (or built by import), its blobs already in the content store.
#[derive(Debug, Clone)]
pub(crate) struct ImagePlan {
    pub config: String,
    pub manifest: Option<String>,
    /// (blob digest, media type, blob size), bottom first.
    pub layers: Vec<(String, String, u64)>,
    /// Full normalised references.
    pub tags: Vec<String>,
    /// The parent image (a commit's), empty otherwise.
    pub parent: String,
    /// How many bottom layers are a stored image's, already verified (a commit's parent).
    pub verified_layers: usize,
}

/// What registering did, for progress and the caller's answer.
pub(crate) struct Registered {
    pub image: StoredImage,
    /// Images a tag was moved away from, with that tag.
    pub moved: Vec<(String, String)>,
}

impl ImageStore {
    /// Registers `plan`: every layer unpacked and verified, then one metadata commit.
    pub(crate) fn register(
        &self,
        plan: &ImagePlan,
        lease: &mut Lease<'_>,
        progress: &mut dyn FnMut(crate::LoadEvent),
    ) -> Result<Registered> {
        let config = self.read_config(&plan.config)?;
        let diff_ids = config_diff_ids(&config, plan.layers.len(), self.limits.max_layers)?;
        let chains = chain::chain_ids(&diff_ids)
            .map_err(|e| ImageError::InvalidConfig(format!("rootfs.diff_ids: {e}")))?;
        let mut layers = Vec::with_capacity(plan.layers.len());
        let total = plan.layers.len();
        // Layers unpacked but not yet committed, bottom first: they are made durable with one
        // sync of the filesystem, not one per layer. Dropping them (on an error) deletes them.
        let mut pending: Vec<Extracting> = Vec::new();
        let mut previous_pending = false;
        let mut writeback: Option<Writeback> = None;
        for (i, ((blob, media_type, blob_size), diff_id)) in
            plan.layers.iter().zip(&diff_ids).enumerate()
        {
            lease.add(&chains[i]);
            let short = short_id(diff_id);
            let verified = i < plan.verified_layers;
            let size =
                if let Some(size) = self.existing_layer(&chains[i], blob, diff_id, verified)? {
                    progress(crate::LoadEvent::Exists { id: short });
                    previous_pending = false;
                    size
                } else {
                    progress(crate::LoadEvent::Unpacking {
                        id: short,
                        index: i + 1,
                        total,
                    });
                    let below = match pending.last() {
                        Some(parent) if previous_pending => Below::Pending(parent),
                        _ => Below::Committed(i.checked_sub(1).map(|p| chains[p].as_str())),
                    };
                    match self.unpack(below, &chains[i], blob, diff_id)? {
                        Unpacked::Pending(extracting, size) => {
                            pending.push(extracting);
                            previous_pending = true;
                            // One writeback at a time: the previous one is waited for first.
                            drop(writeback.take());
                            writeback = Some(self.snapshots.start_writeback());
                            size
                        }
                        Unpacked::Exists(size) => {
                            previous_pending = false;
                            size
                        }
                    }
                };
            layers.push(StoredLayer {
                blob: blob.clone(),
                media_type: media_type.clone(),
                blob_size: *blob_size,
                diff_id: diff_id.clone(),
                size,
            });
        }
        // Every layer is on disk before the metadata that references it is committed.
        drop(writeback);
        self.snapshots.commit_layers(pending)?;
        let created = config["created"].as_str().unwrap_or_default().to_owned();
        let image = StoredImage {
            id: plan.config.clone(),
            manifest: plan.manifest.clone(),
            size: layers.iter().map(|l| l.size).sum(),
            layers,
            created_unix: unix_seconds(&created),
            created,
            labels: labels(&config),
            parent: plan.parent.clone(),
            last_tag_time: None,
        };
        let moved = self
            .meta
            .commit_image(&image, &plan.tags, &now_rfc3339())?
            .into_iter()
            .zip(plan.tags.iter().cloned())
            .collect();
        Ok(Registered { image, moved })
    }

    /// The size of an already committed layer, after checking that `blob` really is that
    /// layer; None when the layer has to be unpacked.
    fn existing_layer(
        &self,
        chain: &str,
        blob: &str,
        diff_id: &str,
        verified: bool,
    ) -> Result<Option<u64>> {
        if !self.snapshots.exists(chain) {
            return Ok(None);
        }
        let info = self.snapshots.info(chain)?;
        let (Some(size), Some(known)) = (info.size, info.diff_id) else {
            return Ok(None);
        };
        if known != diff_id {
            return Ok(None);
        }
        // An uncompressed blob was verified against its own name on ingest; a compressed one
        // must still be shown to decompress to this diffID.
        if blob != diff_id && !verified {
            let actual = self.hash_uncompressed(blob)?;
            if actual != diff_id {
                return Err(ImageError::DiffIdMismatch {
                    layer: blob.to_owned(),
                    expected: diff_id.to_owned(),
                    actual,
                });
            }
        }
        Ok(Some(size))
    }

    fn hash_uncompressed(&self, blob: &str) -> Result<String> {
        let read_err = |source| ImageError::ReadBlob {
            digest: blob.to_owned(),
            source,
        };
        let file = self.content.reader(blob)?;
        let mut reader = berth_snapshot::apply::decompress(io::BufReader::new(file))
            .map_err(|e| read_err(io::Error::other(e)))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let limit = self.limits.layer.max_bytes;
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(read_err)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limit {
                return Err(ImageError::TooLarge {
                    what: format!("layer {blob}"),
                    limit,
                });
            }
            hasher.update(&buf[..n]);
        }
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// Unpacks `blob` as layer `chain` over `below`, to be committed by the caller; a diffID
    /// mismatch discards it.
    fn unpack(&self, below: Below<'_>, chain: &str, blob: &str, diff_id: &str) -> Result<Unpacked> {
        let file = self.content.reader(blob)?;
        let prepared = match below {
            Below::Committed(parent) => self.snapshots.prepare_layer(parent, chain),
            Below::Pending(parent) => self.snapshots.prepare_layer_over(parent, chain),
        };
        let mut extracting = match prepared {
            Ok(e) => e,
            // Another load committed it meanwhile.
            Err(berth_snapshot::SnapshotError::AlreadyExists(_)) => {
                return match self.existing_layer(chain, blob, diff_id, false)? {
                    Some(size) => Ok(Unpacked::Exists(size)),
                    None => Err(ImageError::InvalidConfig(format!(
                        "layer {chain} is broken"
                    ))),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let limits = self.limits.layer;
        // An uncompressed blob is its own diffID, verified against its name when it was
        // ingested: only a compressed one must be hashed as it is applied. The helper thread
        // hashes what it hands over, so hashing and the file writes run on two cores; a
        // successful apply has read the stream to its end, so the digest covers exactly the
        // applied bytes.
        let verified_on_ingest = blob == diff_id;
        let (applied, streamed) = with_prefetch(file, !verified_on_ingest, |reader| {
            extracting.apply_unhashed(reader, limits)
        });
        let applied = applied.map_err(|e| ImageError::Unpack(blob.to_owned(), e))?;
        let actual = match streamed {
            Streamed::Whole(Some(digest)) => digest,
            Streamed::Whole(None) => diff_id.to_owned(),
            Streamed::Partly => {
                return Err(ImageError::ReadBlob {
                    digest: blob.to_owned(),
                    source: io::Error::other("the layer stream ended early"),
                })
            }
        };
        if actual != diff_id {
            // Dropping `extracting` deletes the half-made layer.
            return Err(ImageError::DiffIdMismatch {
                layer: blob.to_owned(),
                expected: diff_id.to_owned(),
                actual,
            });
        }
        extracting.set_diff_id(actual);
        Ok(Unpacked::Pending(extracting, applied.size))
    }
}

/// What a new layer is unpacked over.
enum Below<'a> {
    /// A committed layer (None: the layer is the bottom one).
    Committed(Option<&'a str>),
    /// A layer this registration unpacked and has not committed yet.
    Pending(&'a Extracting),
}

enum Unpacked {
    /// Applied and verified, waiting for the commit; with its size.
    Pending(Extracting, u64),
    /// Committed by someone else meanwhile; its size.
    Exists(u64),
}

/// `rootfs.diff_ids`, checked: type `layers`, valid sha256 digests, one per layer blob.
pub(crate) fn config_diff_ids(
    config: &serde_json::Value,
    layers: usize,
    max_layers: usize,
) -> Result<Vec<String>> {
    let rootfs = &config["rootfs"];
    if rootfs["type"].as_str() != Some("layers") {
        return Err(ImageError::InvalidConfig(
            "rootfs.type must be \"layers\"".to_owned(),
        ));
    }
    let ids: Vec<String> = match rootfs["diff_ids"].as_array() {
        Some(ids) => ids
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ImageError::InvalidConfig("rootfs.diff_ids".to_owned()))?,
        None if rootfs["diff_ids"].is_null() => Vec::new(),
        None => return Err(ImageError::InvalidConfig("rootfs.diff_ids".to_owned())),
    };
    for id in &ids {
        chain::sha256_hex(id)
            .map_err(|_| ImageError::InvalidConfig(format!("invalid diff_id {id:?}")))?;
    }
    if ids.len() != layers {
        return Err(ImageError::InvalidConfig(format!(
            "the config lists {} layers, the manifest {layers}",
            ids.len()
        )));
    }
    if ids.len() > max_layers {
        return Err(ImageError::InvalidConfig(format!(
            "{} layers exceed the limit of {max_layers}",
            ids.len()
        )));
    }
    Ok(ids)
}

fn labels(config: &serde_json::Value) -> BTreeMap<String, String> {
    config["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// 12 hex digits of a digest, as Docker's progress shows layers.
pub(crate) fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}
