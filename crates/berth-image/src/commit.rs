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
use std::path::Path;

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
        let mut lease = self.lease();
        let result = (|| {
            let guard = self.ingest_guard();
            let mut writer = self.content.writer(None)?;
            let diffed = berth_snapshot::diff::write_layer(&root, &mut writer).map_err(|e| {
                ImageError::InvalidConfig(format!("{e}: {:?}", std::error::Error::source(&e)))
            })?;
            let empty = diffed.diff_id == EMPTY_TAR;
            let layer = if empty {
                drop(writer);
                None
            } else {
                let digest = writer.commit()?;
                lease.add(&digest);
                Some((digest, diffed.size))
            };
            drop(guard);
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
                verified_layers: base_layers.len(),
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
