//! Snapshotter behaviour: layer lifecycle, crash recovery, overlay mounts (120 layers), the
//! copy driver, and diff round trips through a real overlay mount.

mod common;

use berth_snapshot::apply::{apply_to_dir, Limits};
use berth_snapshot::diff::{write_layer, write_tree};
use berth_snapshot::init::MountPoints;
use berth_snapshot::{chain, unmount, Driver, Kind, Mount, SnapshotError, Snapshotter, PAGE_LIMIT};
use berth_testutil::require_root;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Unmounts on drop, so a failing assertion cannot leave a mount behind.
struct Mounted(PathBuf);

impl Mounted {
    fn new(mounts: &[Mount], target: &Path) -> Mounted {
        assert_eq!(mounts.len(), 1);
        mounts[0].mount(target).unwrap();
        Mounted(target.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

fn digest(n: usize) -> String {
    format!("sha256:{n:064x}")
}

/// Commits a layer from `tar` on top of `parent`; returns its chain ID.
fn add_layer(s: &Snapshotter, parent: Option<&str>, tar: &[u8]) -> String {
    let diff_id = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tar))
    );
    let chain_id = chain::chain_id(parent, &diff_id).unwrap();
    let mut extracting = s.prepare_layer(parent, &chain_id).unwrap();
    let applied = extracting.apply(tar, Limits::default()).unwrap();
    assert_eq!(applied.diff_id, diff_id);
    let info = extracting.commit().unwrap();
    assert_eq!(info.diff_id.as_deref(), Some(diff_id.as_str()));
    chain_id
}

fn snapshot_dirs(s: &Snapshotter) -> Vec<String> {
    tree(&s.root().join("snapshots"))
        .into_iter()
        .filter(|p| !p.contains('/'))
        .collect()
}

fn layer_lifecycle(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path().join("root"), driver).unwrap();
    let base = add_layer(
        &s,
        None,
        &Tar::new()
            .file("etc/os-release", b"base")
            .file("bin/sh", b"sh")
            .finish(),
    );
    let top = add_layer(
        &s,
        Some(&base),
        &Tar::new().file(".wh.bin", b"").file("app", b"app").finish(),
    );
    assert!(s.exists(&base) && s.exists(&top));
    assert!(!s.exists(&digest(7)));
    assert!(!s.exists("sha256:../../etc"));
    let keys: Vec<String> = s.list().unwrap().into_iter().map(|i| i.key).collect();
    let mut expected = vec![base.clone(), top.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(s.info(&top).unwrap().parent.as_deref(), Some(base.as_str()));
    let usage = s.usage(&base).unwrap();
    assert_eq!((usage.size, usage.inodes), (6, 4));
    assert!(matches!(
        s.prepare_layer(None, &base),
        Err(SnapshotError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.remove(&base),
        Err(SnapshotError::HasChildren(_))
    ));

    let mounts = s
        .prepare_container("c1", Some(&top), MountPoints::default())
        .unwrap();
    assert_eq!(s.info("c1").unwrap().kind, Kind::Container);
    match driver {
        Driver::Overlay => {
            assert_eq!(mounts[0].fs_type, "overlay");
            assert_eq!(mounts[0].lowerdirs().len(), 2);
            assert_eq!(
                mounts[0].option("upperdir"),
                Some(s.fs_dir("c1").to_str().unwrap())
            );
        }
        Driver::Copy => {
            assert_eq!(mounts[0].fs_type, "bind");
            let fs = s.fs_dir("c1");
            assert_eq!(read(fs.join("etc/os-release")), "base");
            assert!(!fs.join("bin").exists());
            assert_eq!(read(fs.join("app")), "app");
        }
    }
    assert!(matches!(
        s.prepare_container("c1", Some(&top), MountPoints::default()),
        Err(SnapshotError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.prepare_container("../x", None, MountPoints::default()),
        Err(SnapshotError::InvalidId(_))
    ));
    assert!(matches!(
        s.prepare_container("c2", Some(&digest(9)), MountPoints::default()),
        Err(SnapshotError::NotFound(_))
    ));
    s.remove("c1").unwrap();
    s.remove(&top).unwrap();
    s.remove(&base).unwrap();
    assert!(s.list().unwrap().is_empty());
    assert!(snapshot_dirs(&s).is_empty());
    assert!(tree(&s.root().join("l")).is_empty());
}

#[test]
fn copy_driver_layer_lifecycle() {
    layer_lifecycle(Driver::Copy);
}

#[test]
fn overlay_driver_layer_lifecycle() {
    require_root!();
    layer_lifecycle(Driver::Overlay);
}

#[test]
fn the_driver_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(dir.path()).unwrap();
    let expected = if berth_testutil::is_root() {
        Driver::Overlay
    } else {
        Driver::Copy
    };
    assert_eq!(s.driver(), expected);
    assert_eq!(Driver::Overlay.name(), "overlay2");
    assert_eq!(Driver::Copy.name(), "vfs");
    assert!(!s.backing_filesystem().unwrap().is_empty());
    // The probe leaves nothing behind.
    assert!(snapshot_dirs(&s).is_empty());
}

#[test]
fn a_crash_mid_extract_is_cleaned_up_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Copy).unwrap();
    let base = add_layer(&s, None, &Tar::new().file("keep", b"k").finish());
    let mut extracting = s.prepare_layer(Some(&base), &digest(1)).unwrap();
    extracting
        .apply(
            &Tar::new().file("half", b"written").finish()[..],
            Limits::default(),
        )
        .unwrap();
    // A crash runs no destructor.
    std::mem::forget(extracting);
    // An interrupted removal, a directory without metadata, and a short link to nothing.
    std::fs::create_dir_all(dir.path().join("snapshots/abc-removing/fs/x")).unwrap();
    std::fs::create_dir_all(dir.path().join("snapshots/nometa/fs")).unwrap();
    std::os::unix::fs::symlink("../snapshots/gone/fs", dir.path().join("l/DANGLING")).unwrap();
    assert!(!s.exists(&digest(1)));
    let reopened = Snapshotter::open_with(dir.path(), Driver::Copy).unwrap();
    assert_eq!(reopened.cleanup_orphans().unwrap(), 4);
    let base_dir = chain::sha256_hex(&base).unwrap().to_owned();
    assert_eq!(snapshot_dirs(&reopened), [base_dir]);
    assert!(tree(&dir.path().join("l")).is_empty());
    assert_eq!(reopened.cleanup_orphans().unwrap(), 0);
    assert!(reopened.exists(&base));
}

#[test]
fn a_failed_apply_registers_nothing_and_reclaims_the_space() {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Copy).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut big = Tar::new();
    big.file("zeros", &vec![0u8; 8 << 20]);
    std::io::Write::write_all(&mut gz, &big.finish()).unwrap();
    let bomb = gz.finish().unwrap();
    let mut extracting = s.prepare_layer(None, &digest(2)).unwrap();
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        extracting.apply(&bomb[..], limits),
        Err(SnapshotError::Apply { .. })
    ));
    drop(extracting);
    assert!(!s.exists(&digest(2)));
    assert!(snapshot_dirs(&s).is_empty());
}

#[test]
fn overlay_mounts_a_120_layer_image() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Overlay).unwrap();
    let mut parent: Option<String> = None;
    for i in 0..120 {
        let tar = Tar::new()
            .file(&format!("layer-{i}"), format!("{i}").as_bytes())
            .file("shared", format!("from {i}").as_bytes())
            .finish();
        parent = Some(add_layer(&s, parent.as_deref(), &tar));
    }
    let mounts = s
        .prepare_container("big", parent.as_deref(), MountPoints::default())
        .unwrap();
    assert_eq!(mounts[0].lowerdirs().len(), 120);
    // Docker's arithmetic: relative short links keep the data within one page.
    let relative = mounts[0].data_relative_to(s.root());
    assert!(relative.len() <= PAGE_LIMIT, "{} bytes", relative.len());
    let target = dir.path().join("merged");
    std::fs::create_dir(&target).unwrap();
    {
        let _mounted = Mounted::new(&mounts, &target);
        assert_eq!(read(target.join("layer-0")), "0");
        assert_eq!(read(target.join("layer-119")), "119");
        assert_eq!(read(target.join("shared")), "from 119");
        std::fs::write(target.join("written"), b"rw").unwrap();
    }
    assert!(!target.join("layer-0").exists(), "still mounted");
    assert_eq!(read(s.fs_dir("big").join("written")), "rw");
    s.remove("big").unwrap();
}

#[test]
fn container_changes_round_trip_through_diff_and_apply() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Overlay).unwrap();
    let base_tar = Tar::new()
        .file("etc/passwd", b"root")
        .file("etc/group", b"root")
        .dir("opt")
        .file("opt/old1", b"")
        .file("opt/old2", b"")
        .symlink("lib", "usr/lib")
        .file("usr/lib/libc", b"c")
        .finish();
    let base = add_layer(&s, None, &base_tar);
    let mounts = s
        .prepare_container("work", Some(&base), MountPoints::default())
        .unwrap();
    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let before = {
        let _m = Mounted::new(&mounts, &merged);
        std::fs::remove_file(merged.join("etc/group")).unwrap();
        std::fs::write(merged.join("etc/passwd"), b"root\nuser").unwrap();
        std::fs::remove_dir_all(merged.join("opt")).unwrap();
        std::fs::create_dir(merged.join("opt")).unwrap();
        std::fs::write(merged.join("opt/new"), b"n").unwrap();
        std::fs::hard_link(merged.join("opt/new"), merged.join("opt/new-link")).unwrap();
        std::fs::write(merged.join("lib/libm"), b"m").unwrap();
        snapshot_view(&merged)
    };
    let upper = open_root(&s.fs_dir("work"));
    let mut tar = Vec::new();
    let diffed = write_layer(&upper, &mut tar).unwrap();
    assert_eq!(diffed.size, tar.len() as u64);
    let names = tar_names(&tar);
    assert!(names.contains(&"etc/.wh.group".to_owned()), "{names:?}");
    assert!(names.contains(&"opt/.wh..wh..opq".to_owned()), "{names:?}");
    assert!(names.contains(&"usr/lib/libm".to_owned()), "{names:?}");
    // Deterministic: a second diff is byte-identical.
    let mut again = Vec::new();
    assert_eq!(write_layer(&upper, &mut again).unwrap(), diffed);
    assert_eq!(again, tar);

    let layer = add_layer(&s, Some(&base), &tar);
    let mounts = s
        .prepare_container("replay", Some(&layer), MountPoints::default())
        .unwrap();
    let after = {
        let _m = Mounted::new(&mounts, &merged);
        snapshot_view(&merged)
    };
    assert_eq!(after, before);
    s.remove("replay").unwrap();
    s.remove("work").unwrap();
}

/// A comparable description of a tree: path, type, mode, owner, mtime of non-dirs, content,
/// link target, and which paths share an inode.
fn snapshot_view(dir: &Path) -> Vec<String> {
    let mut first_path_of_inode = std::collections::HashMap::new();
    tree(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(dir.join(&p)).unwrap();
            let content = if m.is_file() {
                read(dir.join(&p))
            } else {
                String::new()
            };
            let link = std::fs::read_link(dir.join(&p))
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            let shared = if m.nlink() > 1 && !m.is_dir() {
                first_path_of_inode
                    .entry(m.ino())
                    .or_insert_with(|| p.clone())
                    .clone()
            } else {
                String::new()
            };
            format!(
                "{p} {:o} {}:{} {mtime} {content:?} {link} {shared}",
                m.mode(),
                m.uid(),
                m.gid()
            )
        })
        .collect()
}

fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn plain_trees_round_trip_through_write_tree() {
    let src = tempfile::tempdir().unwrap();
    let long_name = "n".repeat(150);
    let tar = Tar::new()
        .dir_mode("d", 0o750)
        .file_mode("d/f", b"content", 0o640)
        .hardlink("d/f2", "d/f")
        .symlink("d/l", "../elsewhere")
        .node(tar::EntryType::Fifo, "fifo", 0o600, 0, 0)
        .file_xattrs("x", b"", 0o644, &[("user.a", b"1"), ("user.b", b"2")])
        .pax(&[("path", format!("d/{long_name}").as_bytes())])
        .file("placeholder", b"long")
        .finish();
    apply_to_dir(&open_root(src.path()), &tar[..], Limits::default()).unwrap();
    let mut first = Vec::new();
    write_tree(&open_root(src.path()), &mut first).unwrap();
    let dest = tempfile::tempdir().unwrap();
    apply_to_dir(&open_root(dest.path()), &first[..], Limits::default()).unwrap();
    assert_eq!(snapshot_view(dest.path()), snapshot_view(src.path()));
    let mut second = Vec::new();
    write_tree(&open_root(dest.path()), &mut second).unwrap();
    assert_eq!(second, first);
    let root = open_root(dest.path());
    assert_eq!(
        root.get_xattr(Path::new("x"), "user.b".as_ref())
            .unwrap()
            .as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        std::fs::metadata(dest.path().join("d/f2")).unwrap().nlink(),
        2
    );
    assert_eq!(read(dest.path().join("d").join(&long_name)), "long");
}

#[test]
fn concurrent_commits_of_one_chain_leave_one_layer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Copy).unwrap();
    let tar = Tar::new().file("f", b"same").finish();
    let chain_id = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&tar))
    );
    let mut first = s.prepare_layer(None, &chain_id).unwrap();
    let mut second = s.prepare_layer(None, &chain_id).unwrap();
    first.apply(&tar[..], Limits::default()).unwrap();
    second.apply(&tar[..], Limits::default()).unwrap();
    let a = s.commit(first).unwrap();
    let b = s.commit(second).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        snapshot_dirs(&s),
        [chain::sha256_hex(&chain_id).unwrap().to_owned()]
    );
    assert_eq!(read(s.fs_dir(&chain_id).join("f")), "same");
}

/// A layer prepared over an applied but uncommitted parent resolves paths through it, stays
/// invisible until the joint commit, and is discarded with it when dropped.
fn layers_over_an_uncommitted_parent(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path().join("root"), driver).unwrap();
    let diff = |tar: &[u8]| {
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tar))
        )
    };
    let lower = Tar::new()
        .dir("usr")
        .dir("usr/lib")
        .symlink("lib", "usr/lib")
        .finish();
    let upper = Tar::new().file("lib/libc.so", b"libc").finish();
    let base = chain::chain_id(None, &diff(&lower)).unwrap();
    let top = chain::chain_id(Some(&base), &diff(&upper)).unwrap();

    // Dropped before the commit: nothing stays behind.
    let mut first = s.prepare_layer(None, &base).unwrap();
    first.apply(&lower[..], Limits::default()).unwrap();
    let mut second = s.prepare_layer_over(&first, &top).unwrap();
    second.apply(&upper[..], Limits::default()).unwrap();
    drop(second);
    drop(first);
    assert!(snapshot_dirs(&s).is_empty());

    let mut first = s.prepare_layer(None, &base).unwrap();
    first.apply(&lower[..], Limits::default()).unwrap();
    let mut second = s.prepare_layer_over(&first, &top).unwrap();
    second.apply(&upper[..], Limits::default()).unwrap();
    assert!(!s.exists(&base) && !s.exists(&top));
    let infos = s.commit_layers(vec![first, second]).unwrap();
    assert_eq!(infos.len(), 2);
    assert!(s.exists(&base) && s.exists(&top));
    assert_eq!(s.info(&top).unwrap().parent.as_deref(), Some(base.as_str()));
    assert_eq!(s.info(&top).unwrap().diff_id, Some(diff(&upper)));
    // The file went through the parent's symlink into usr/lib, not into a new lib dir.
    assert_eq!(read(s.fs_dir(&top).join("usr/lib/libc.so")), "libc");
    assert!(snapshot_dirs(&s).iter().all(|d| !d.starts_with("tmp-")));
}

#[test]
fn copy_driver_layers_over_an_uncommitted_parent() {
    layers_over_an_uncommitted_parent(Driver::Copy);
}

#[test]
fn overlay_driver_layers_over_an_uncommitted_parent() {
    require_root!();
    layers_over_an_uncommitted_parent(Driver::Overlay);
}

#[test]
fn an_init_layer_gives_a_container_the_mount_points_its_image_lacks() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Overlay).unwrap();
    let base = add_layer(&s, None, &Tar::new().file("etc/passwd", b"root").finish());
    let image_view = dir.path().join("image");
    std::fs::create_dir(&image_view).unwrap();
    let missing = {
        let _m = Mounted::new(&s.mounts(&base).unwrap(), &image_view);
        MountPoints::missing_in(&image_view).unwrap()
    };
    assert_eq!(missing, MountPoints::ALL);
    let mounts = s.prepare_container("c", Some(&base), missing).unwrap();
    let lowers = mounts[0].lowerdirs();
    assert_eq!(lowers.len(), 2);
    assert_eq!(lowers[0], dir.path().join("init").join(missing.name()));
    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    {
        let _m = Mounted::new(&mounts, &merged);
        for d in ["proc", "sys", "dev"] {
            assert!(merged.join(d).is_dir(), "{d}");
        }
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/passwd"] {
            assert!(merged.join(f).is_file(), "{f}");
        }
    }
    // Nothing of the mount points is in the container's own layer, and a second container
    // shares the same init layer.
    assert_eq!(std::fs::read_dir(s.fs_dir("c")).unwrap().count(), 0);
    let again = s.prepare_container("d", Some(&base), missing).unwrap();
    assert_eq!(again[0].lowerdirs()[0], lowers[0]);
    assert_eq!(
        std::fs::read_dir(dir.path().join("init")).unwrap().count(),
        1
    );
    s.remove("c").unwrap();
    s.remove("d").unwrap();
}

#[test]
fn a_container_layer_a_crash_damaged_is_repaired_keeping_its_files() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open_with(dir.path(), Driver::Overlay).unwrap();
    let base = add_layer(&s, None, &Tar::new().file("etc/passwd", b"root").finish());
    s.prepare_container("c", Some(&base), MountPoints::ALL)
        .unwrap();
    std::fs::write(s.fs_dir("c").join("written"), b"kept").unwrap();
    // The metadata never reached the disk.
    let meta = s.fs_dir("c").parent().unwrap().join("meta.json");
    std::fs::write(&meta, b"").unwrap();
    assert!(s.mounts("c").is_err());
    s.repair_container("c", Some(&base), MountPoints::ALL)
        .unwrap();
    let mounts = s.mounts("c").unwrap();
    assert_eq!(
        mounts[0].lowerdirs().len(),
        2,
        "the init layer is back under it"
    );
    assert_eq!(
        std::fs::read(s.fs_dir("c").join("written")).unwrap(),
        b"kept"
    );
    // The whole layer never reached the disk: made anew, empty.
    std::fs::remove_dir_all(s.fs_dir("c").parent().unwrap()).unwrap();
    s.repair_container("c", Some(&base), MountPoints::ALL)
        .unwrap();
    assert!(s.mounts("c").is_ok());
    // An intact layer is left alone.
    std::fs::write(s.fs_dir("c").join("again"), b"x").unwrap();
    s.repair_container("c", Some(&base), MountPoints::ALL)
        .unwrap();
    assert!(s.fs_dir("c").join("again").exists());
    s.remove("c").unwrap();
}
