//! Archives written by another tool (skopeo), our save read by it, and a deep image mounted
//! as a container rootfs.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn skopeo(args: &[&str]) -> bool {
    match Command::new("skopeo").args(args).status() {
        Ok(status) => {
            assert!(status.success(), "skopeo {args:?} failed");
            true
        }
        Err(_) => {
            eprintln!("skipped: skopeo is not installed (apt-get install skopeo)");
            false
        }
    }
}

/// Tars a directory (an OCI layout) into memory.
fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn loads_an_oci_layout_written_by_skopeo() {
    let (_dir, store) = store();
    let tmp = tempfile::tempdir().unwrap();
    let busybox = berth_testutil::image::busybox_image_archive("busybox:latest");
    let layout = tmp.path().join("layout");
    let src = format!("docker-archive:{}", busybox.display());
    let dst = format!("oci:{}:busybox:latest", layout.display());
    if !skopeo(&["copy", "-q", &src, &dst]) {
        return;
    }
    let loaded = store.load(&tar_dir(&layout)[..], &mut |_| {}).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tags, vec!["busybox:latest"]);
    let record = store.inspect("busybox:latest").unwrap();
    assert!(record.manifest_digest.is_some());
    assert_eq!(record.config["Cmd"], serde_json::json!(["sh"]));
    // skopeo rewrites the config for OCI (so the ID differs); the layers are the same.
    let (_d2, other) = common::store();
    other
        .load(std::fs::File::open(&busybox).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(other.inspect("busybox").unwrap().diff_ids, record.diff_ids);
}

#[test]
fn skopeo_reads_our_save() {
    let (_dir, store) = store();
    let (bytes, _) = simple_archive(3, "saved:v1", "sk");
    store.load(&bytes[..], &mut |_| {}).unwrap();
    let diff_ids = store.inspect("saved:v1").unwrap().diff_ids;
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved.tar");
    store
        .save(
            &["saved:v1".to_owned()],
            std::fs::File::create(&saved).unwrap(),
        )
        .unwrap();
    let layout = tmp.path().join("layout");
    let src = format!("docker-archive:{}:saved:v1", saved.display());
    let dst = format!("oci:{}:saved:v1", layout.display());
    if !skopeo(&["copy", "-q", &src, &dst]) {
        return;
    }
    let (_d2, other) = common::store();
    let loaded = other.load(&tar_dir(&layout)[..], &mut |_| {}).unwrap();
    assert_eq!(loaded[0].tags, vec!["saved:v1"]);
    assert_eq!(other.inspect("saved:v1").unwrap().diff_ids, diff_ids);
}

/// Unmounts on drop, so a failing assertion leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = berth_snapshot::unmount(&self.0);
    }
}

#[test]
fn a_120_layer_image_mounts_as_a_container_rootfs() {
    berth_testutil::require_root!();
    let (_dir, store) = store();
    let layers: Vec<Vec<u8>> = (0..120)
        .map(|i| {
            layer(&[
                (&format!("layer{i}"), format!("{i}").as_bytes()),
                ("top", format!("{i}").as_bytes()),
            ])
        })
        .collect();
    let cfg = config(&layers, "2024-01-01T00:00:00Z", serde_json::json!({}));
    let loaded = store
        .load(&archive(&layers, &cfg, &["deep:1"])[..], &mut |_| {})
        .unwrap();
    let container = "c".repeat(64);
    let mounts = store
        .rootfs_mounts(&loaded[0].id, &container, Default::default())
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    assert_eq!(mounts.len(), 1);
    mounts[0].mount(target.path()).unwrap();
    let guard = Mounted(target.path().to_owned());
    let read = |name: &str| std::fs::read_to_string(target.path().join(name)).unwrap();
    assert_eq!(read("layer0"), "0");
    assert_eq!(read("layer119"), "119");
    assert_eq!(read("top"), "119", "the top layer wins");
    std::fs::write(target.path().join("new"), "rw").unwrap();
    drop(guard);
    store.remove_container_layer(&container).unwrap();
    store.remove_container_layer(&container).unwrap();
    let items = store.delete("deep:1", false, true, &no_user).unwrap();
    assert_eq!(items.len(), 122, "untag, image and 120 layers");
}
