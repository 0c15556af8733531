//! `docker import` (`POST /images/create?fromSrc=-`): a rootfs tar (plain, gzip or zstd)
//! becomes a one-layer image. The uncompressed stream is stored as the layer blob (its digest
//! is the diffID), unpacked from there, and described by a config built from the changes.

use crate::changes::apply_changes;
use crate::error::ImageError;
use crate::platform::{host, Platform};
use crate::records::ImageId;
use crate::register::ImagePlan;
use crate::store::{now_rfc3339, parse_id, ImageStore, Result};
use berth_types::reference::Reference;
use serde_json::{json, Map};
use std::io::{self, Read, Write};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag for the new image (tag defaults to `latest`).
    pub reference: Option<Reference>,
    /// The commit message; recorded as the comment ("Imported from -" when empty).
    pub message: String,
    /// Dockerfile-style lines (CMD, ENV, ...).
    pub changes: Vec<String>,
    /// `os/arch[/variant]`; the host's when absent.
    pub platform: Option<String>,
}

impl ImageStore {
    /// Imports a rootfs tar as a new image and returns its ID.
    pub fn import(&self, rootfs_tar: impl Read, opts: ImportOptions) -> Result<ImageId> {
        let mut section = Map::new();
        apply_changes(&mut section, &opts.changes)
            .map_err(|e| ImageError::InvalidChange(e.to_string()))?;
        let platform = match &opts.platform {
            Some(p) if !p.is_empty() => Platform::parse(p)?,
            _ => host(),
        };
        let tag = opts.reference.clone().map(|r| r.with_default_tag());
        if tag.as_ref().is_some_and(|t| t.digest().is_some()) {
            return Err(ImageError::InvalidReference(
                "cannot import digest reference".to_owned(),
            ));
        }
        let mut lease = self.lease();
        let result = (|| {
            let guard = self.ingest_guard();
            let (layer, size) = self.ingest_rootfs(rootfs_tar)?;
            lease.add(&layer);
            drop(guard);
            let comment = match opts.message.as_str() {
                "" => "Imported from -".to_owned(),
                m => m.to_owned(),
            };
            let created = now_rfc3339();
            let mut config = json!({
                "architecture": platform.architecture,
                "os": platform.os,
                "config": section,
                "created": created,
                "comment": comment,
                "history": [{"created": created, "comment": comment}],
                "rootfs": {"type": "layers", "diff_ids": [layer]},
            });
            if let Some(variant) = &platform.variant {
                config["variant"] = json!(variant);
            }
            let bytes = serde_json::to_vec(&config).expect("json");
            let mut writer = self.content.writer(None)?;
            writer
                .write_all(&bytes)
                .map_err(|e| ImageError::InvalidConfig(e.to_string()))?;
            let guard = self.ingest_guard();
            let config_digest = writer.commit()?;
            lease.add(&config_digest);
            drop(guard);
            let plan = ImagePlan {
                config: config_digest.clone(),
                manifest: None,
                layers: vec![(layer, crate::load::MEDIA_LAYER_TAR.to_owned(), size)],
                tags: tag.iter().map(|t| t.to_string()).collect(),
                parent: String::new(),
                verified_layers: 0,
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

    /// Stores the decompressed stream as a blob; returns its digest (the diffID) and size.
    fn ingest_rootfs(&self, input: impl Read) -> Result<(String, u64)> {
        let mut reader = berth_snapshot::apply::decompress(io::BufReader::new(input))
            .map_err(|e| ImageError::ReadImport(io::Error::other(e)))?;
        let mut writer = self.content.writer(None)?;
        let mut buf = vec![0u8; 1 << 20];
        let limit = self.limits.layer.max_bytes;
        loop {
            let n = reader.read(&mut buf).map_err(ImageError::ReadImport)?;
            if n == 0 {
                break;
            }
            if writer.written() + n as u64 > limit {
                return Err(ImageError::TooLarge {
                    what: "the imported layer".to_owned(),
                    limit,
                });
            }
            writer
                .write_all(&buf[..n])
                .map_err(ImageError::ReadImport)?;
        }
        let size = writer.written();
        Ok((writer.commit()?, size))
    }
}
