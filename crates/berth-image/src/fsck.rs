//! A consistency check of the store (SECURITY.md 4.2 and 5.J case 57), for tests and an
//! `fsck` command: every reference names an image, every image's blobs exist and hash to
//! their names, and every layer is a committed snapshot with the recorded diffID.

use crate::store::{ImageStore, Result};
use sha2::Digest as _;
use std::io::Read;

impl ImageStore {
    /// Returns the problems found; empty when the store is consistent. Re-hashes every blob,
    /// so it reads the whole content store.
    pub fn fsck(&self) -> Result<Vec<String>> {
        // Deletes remove an image's record, then its layers: without their lock a delete
        // between reading the records and checking the layers looks like a missing layer.
        let _guard = self.changes();
        let view = self.meta.view()?;
        let mut problems = Vec::new();
        for (name, id) in &view.refs {
            if !view.images.contains_key(id) {
                problems.push(format!("reference {name} names missing image {id}"));
            }
        }
        for image in view.images.values() {
            for blob in image.blobs() {
                if let Some(problem) = self.check_blob(blob) {
                    problems.push(format!("image {}: {problem}", image.id));
                }
            }
            for (chain, layer) in image.chain_ids().iter().zip(&image.layers) {
                match self.snapshots.info(chain) {
                    Ok(info) if info.diff_id.as_deref() == Some(layer.diff_id.as_str()) => {}
                    Ok(info) => problems.push(format!(
                        "image {}: layer {chain} has diff ID {:?}, expected {}",
                        image.id, info.diff_id, layer.diff_id
                    )),
                    Err(e) => problems.push(format!("image {}: layer {chain}: {e}", image.id)),
                }
            }
        }
        Ok(problems)
    }

    fn check_blob(&self, digest: &str) -> Option<String> {
        let mut file = match self.content.reader(digest) {
            Ok(file) => file,
            Err(e) => return Some(format!("blob {digest}: {e}")),
        };
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) => return Some(format!("blob {digest}: {e}")),
            }
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        (actual != digest).then(|| format!("blob {digest} hashes to {actual}"))
    }
}
