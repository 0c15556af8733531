//! Load, inspect, list, history, save round trip, tag and delete semantics, prune.

mod common;

use berth_image::{
    DeleteItem, ImageUser, ImportOptions, ListFilters, ListOptions, LoadEvent, PruneFilters,
};
use berth_types::reference::Reference;
use berth_types::ErrorKind;
use common::*;

fn load(store: &berth_image::ImageStore, bytes: &[u8]) -> Vec<berth_image::LoadedImage> {
    store.load(bytes, &mut |_| {}).unwrap()
}

#[test]
fn loads_the_busybox_archive_and_inspects_it() {
    let (_dir, store) = store();
    let path = berth_testutil::image::busybox_image_archive("busybox:latest");
    let mut messages = Vec::new();
    let loaded = store
        .load(std::fs::File::open(path).unwrap(), &mut |e| {
            if let LoadEvent::Loaded { message } = e {
                messages.push(message)
            }
        })
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tags, vec!["busybox:latest"]);
    assert_eq!(messages, vec!["Loaded image: busybox:latest"]);
    let record = store.inspect("busybox").unwrap();
    assert_eq!(record.id, loaded[0].id);
    assert_eq!(record.repo_tags, vec!["busybox:latest"]);
    assert_eq!(record.config["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(record.os, "linux");
    assert!(record.size > 100_000, "busybox layer size {}", record.size);
    assert_eq!(record.diff_ids.len(), 1);
    assert_eq!(
        record.chain_id.as_deref(),
        Some(record.diff_ids[0].as_str())
    );
    assert!(record.last_tag_time.is_some());
    if store.driver_name() == "overlay2" {
        let upper = &record.graph_driver.data["UpperDir"];
        assert!(std::path::Path::new(upper).join("bin/busybox").exists());
    }
    // Full ID, short prefix and sha256: prefix all resolve.
    let hex = record.id.hex().to_owned();
    assert_eq!(store.inspect(&hex).unwrap().id, record.id);
    assert_eq!(store.inspect(&hex[..12]).unwrap().id, record.id);
    assert_eq!(
        store.inspect(&format!("sha256:{}", &hex[..8])).unwrap().id,
        record.id
    );
    let history = store.history("busybox:latest").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, record.id.to_string());
    assert_eq!(history[0].tags, vec!["busybox:latest"]);
    assert_eq!(history[0].size, record.size);
    assert_eq!(store.count(), 1);
}

#[test]
fn the_store_is_send_and_sync() {
    fn shared<T: Send + Sync>(_: &T) {}
    let (_dir, store) = store();
    shared(&store);
    // Loads from several threads at once share layers without conflict.
    let (a, _) = simple_archive(3, "t:1", "threads");
    let (b, _) = simple_archive(3, "t:2", "threads");
    std::thread::scope(|s| {
        s.spawn(|| store.load(&a[..], &mut |_| {}).unwrap());
        s.spawn(|| store.load(&b[..], &mut |_| {}).unwrap());
    });
    assert_eq!(
        store.inspect("t:1").unwrap().id,
        store.inspect("t:2").unwrap().id
    );
    assert_eq!(store.disk_usage().unwrap().images.len(), 1);
}

#[test]
fn legacy_layout_and_leftover_files() {
    let (dir, store) = store();
    let l = layer(&[("f", b"legacy")]);
    let cfg = config(
        std::slice::from_ref(&l),
        "2024-01-01T00:00:00Z",
        serde_json::json!({}),
    );
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "abc/VERSION", b"1.0");
    append(&mut b, "abc/json", b"{}");
    append(&mut b, "abc/layer.tar", &l);
    append(&mut b, "cfg.json", &cfg);
    let manifest = serde_json::json!([{"Config": "cfg.json", "RepoTags": ["legacy:1"], "Layers": ["dup/layer.tar"]}]);
    append(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    // A symlinked duplicate layer, as older docker save wrote them.
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "dup/layer.tar", "../abc/layer.tar")
        .unwrap();
    store
        .load(&b.into_inner().unwrap()[..], &mut |_| {})
        .unwrap();
    assert_eq!(
        store.inspect("legacy:1").unwrap().diff_ids,
        vec![sha256(&l)]
    );
    // Only the config and the layer stay in the content store.
    let blobs = std::fs::read_dir(dir.path().join("content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 2);
}

#[test]
fn missing_and_invalid_names_use_dockers_messages() {
    let (_dir, store) = store();
    let err = store.inspect("nosuch").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "No such image: nosuch:latest");
    let err = store.inspect("UPPER").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    let full = "a".repeat(64);
    assert_eq!(
        store.inspect(&full).unwrap_err().to_string(),
        format!("No such image: sha256:{full}")
    );
}

#[test]
fn save_then_load_gives_the_same_ids() {
    let (_dir, store) = store();
    let (bytes, id) = simple_archive(3, "app:v1", "rt");
    load(&store, &bytes);
    load(&store, &berth_testutil_bytes());
    let mut out = Vec::new();
    store
        .save(&["app:v1".to_owned(), "busybox".to_owned()], &mut out)
        .unwrap();
    let names = entry_names(&out);
    for wanted in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.contains(&wanted.to_owned()), "{wanted} in {names:?}");
    }
    let (_dir2, other) = common::store();
    let loaded = other.load(&out[..], &mut |_| {}).unwrap();
    let mut got: Vec<(String, Vec<String>)> = loaded
        .iter()
        .map(|l| (l.id.to_string(), l.tags.clone()))
        .collect();
    got.sort();
    let busybox = store.inspect("busybox").unwrap().id.to_string();
    let mut want = vec![
        (id, vec!["app:v1".to_owned()]),
        (busybox, vec!["busybox:latest".to_owned()]),
    ];
    want.sort();
    assert_eq!(got, want);
    // The saved OCI index alone (without manifest.json) loads too.
    let (_dir3, third) = common::store();
    let oci_only = strip_entry(&out, "manifest.json");
    let loaded = third.load(&oci_only[..], &mut |_| {}).unwrap();
    assert_eq!(loaded.len(), 2);
    assert!(third.inspect("app:v1").unwrap().manifest_digest.is_some());
}

fn berth_testutil_bytes() -> Vec<u8> {
    std::fs::read(berth_testutil::image::busybox_image_archive(
        "busybox:latest",
    ))
    .unwrap()
}

fn entry_names(archive: &[u8]) -> Vec<String> {
    tar::Archive::new(archive)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn strip_entry(archive: &[u8], name: &str) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            continue;
        }
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        out.append_data(&mut header, path, &mut entry).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn loading_gzip_archives_and_moving_tags() {
    let (_dir, store) = store();
    let (first, first_id) = simple_archive(1, "app:latest", "one");
    let (second, second_id) = simple_archive(1, "app:latest", "two");
    let mut gz = flate_gzip(&first);
    load(&store, &std::mem::take(&mut gz));
    let mut messages = Vec::new();
    store
        .load(&second[..], &mut |e| {
            if let LoadEvent::Loaded { message } = e {
                messages.push(message)
            }
        })
        .unwrap();
    assert_eq!(
        messages[0],
        format!("The image app:latest already exists, renaming the old one with ID {first_id} to empty string")
    );
    assert_eq!(store.inspect("app").unwrap().id.to_string(), second_id);
    let old = store.inspect(&first_id).unwrap();
    assert!(old.repo_tags.is_empty(), "the old image is dangling");
    let dangling = store
        .list(ListOptions {
            all: false,
            filters: ListFilters {
                dangling: Some(true),
                ..Default::default()
            },
        })
        .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].id.to_string(), first_id);
}

fn flate_gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
}

#[test]
fn tag_untag_and_delete_follow_docker() {
    let (_dir, store) = store();
    let (bytes, id) = simple_archive(2, "app:v1", "del");
    load(&store, &bytes);
    let short = &id[7..19];
    store
        .tag("app:v1", &Reference::parse_normalized("app:v2").unwrap())
        .unwrap();
    store
        .tag(&id, &Reference::parse_normalized("other/app").unwrap())
        .unwrap();
    assert_eq!(
        store.inspect("app:v2").unwrap().repo_tags,
        vec!["app:v1", "app:v2", "other/app:latest"]
    );
    // By ID with tags in several repositories: must be forced.
    let err = store.delete(short, false, true, &no_user).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")
    );
    // By tag while others remain: untag only.
    let items = store.delete("app:v2", false, true, &no_user).unwrap();
    assert_eq!(items, vec![DeleteItem::Untagged("app:v2".to_owned())]);
    store.delete("other/app", false, true, &no_user).unwrap();
    // The last reference, used by a stopped container: needs force.
    let stopped = |_: &berth_image::ImageId| {
        Some(ImageUser {
            container_id: "c0ffee".repeat(10),
            running: false,
        })
    };
    let err = store.delete("app:v1", false, true, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to remove repository reference \"app:v1\" (must force) - container c0ffeec0ffee is using its referenced image {short}")
    );
    let running = |_: &berth_image::ImageId| {
        Some(ImageUser {
            container_id: "beef".repeat(16),
            running: true,
        })
    };
    let err = store.delete(&id, true, true, &running).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container beefbeefbeef")
    );
    // The last tag without users: untag and delete, layers too.
    let items = store.delete("app:v1", false, true, &no_user).unwrap();
    assert_eq!(items[0], DeleteItem::Untagged("app:v1".to_owned()));
    assert_eq!(items[1], DeleteItem::Deleted(id.clone()));
    assert_eq!(items.len(), 4, "image and two layers: {items:?}");
    assert_eq!(store.count(), 0);
    assert_eq!(store.disk_usage().unwrap().layers_size, 0);
    assert_eq!(
        store
            .delete("app:v1", false, true, &no_user)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn shared_layers_survive_deleting_one_image() {
    let (_dir, store) = store();
    let base = layer(&[("base", b"shared")]);
    let top_a = layer(&[("a", b"a")]);
    let top_b = layer(&[("b", b"b")]);
    let la = vec![base.clone(), top_a];
    let lb = vec![base, top_b];
    let ca = config(&la, "2024-01-01T00:00:00Z", serde_json::json!({}));
    let cb = config(&lb, "2024-01-02T00:00:00Z", serde_json::json!({}));
    load(&store, &archive(&la, &ca, &["a:1"]));
    load(&store, &archive(&lb, &cb, &["b:1"]));
    let du = store.disk_usage().unwrap();
    assert_eq!(du.images.len(), 2);
    assert!(du
        .images
        .iter()
        .all(|i| i.shared_size > 0 && i.shared_size < i.size));
    let items = store.delete("a:1", false, true, &no_user).unwrap();
    assert_eq!(items.len(), 3, "untag, image, top layer only: {items:?}");
    let b = store.inspect("b:1").unwrap();
    let mut out = Vec::new();
    store.save(&["b:1".to_owned()], &mut out).unwrap();
    let (_d, other) = common::store();
    assert_eq!(other.load(&out[..], &mut |_| {}).unwrap()[0].id, b.id);
}

#[test]
fn list_filters() {
    let (_dir, store) = store();
    for (i, tag) in ["web:1", "web:2", "db:1"].iter().enumerate() {
        let layers = vec![layer(&[("x", tag.as_bytes())])];
        let labels = serde_json::json!({"tier": if tag.starts_with("web") {"front"} else {"back"}});
        let cfg = config(&layers, &format!("2024-01-0{}T00:00:00Z", i + 1), labels);
        load(&store, &archive(&layers, &cfg, &[tag]));
    }
    let list = |filters: ListFilters| -> Vec<Vec<String>> {
        store
            .list(ListOptions {
                all: false,
                filters,
            })
            .unwrap()
            .into_iter()
            .map(|s| s.repo_tags)
            .collect()
    };
    assert_eq!(
        list(ListFilters::default()),
        vec![vec!["db:1"], vec!["web:2"], vec!["web:1"]]
    );
    let by_ref = ListFilters {
        reference: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(list(by_ref), vec![vec!["web:2"], vec!["web:1"]]);
    let by_label = ListFilters {
        labels: vec!["tier=back".into()],
        ..Default::default()
    };
    assert_eq!(list(by_label), vec![vec!["db:1"]]);
    let since = ListFilters {
        since: Some("web:1".into()),
        ..Default::default()
    };
    assert_eq!(list(since), vec![vec!["db:1"], vec!["web:2"]]);
    let before = ListFilters {
        before: Some("web:2".into()),
        ..Default::default()
    };
    assert_eq!(list(before), vec![vec!["web:1"]]);
    let until = ListFilters {
        until: Some(1_704_153_600),
        ..Default::default()
    };
    assert_eq!(list(until), vec![vec!["web:1"]]);
    let bad = ListFilters {
        reference: vec!["[".into()],
        ..Default::default()
    };
    assert!(store
        .list(ListOptions {
            all: false,
            filters: bad
        })
        .is_err());
}

#[test]
fn prune_removes_dangling_or_unused_images() {
    let (_dir, store) = store();
    let (a, _) = simple_archive(1, "keep:1", "p1");
    let (b, b_id) = simple_archive(2, "", "p2");
    let (c, c_id) = simple_archive(1, "used:1", "p3");
    load(&store, &a);
    load(&store, &b);
    load(&store, &c);
    let report = store
        .prune(true, PruneFilters::default(), &|_| false)
        .unwrap();
    assert_eq!(report.deleted[0], DeleteItem::Deleted(b_id));
    assert_eq!(report.deleted.len(), 3);
    assert!(report.space_reclaimed > 0);
    let used = c_id.clone();
    let report = store
        .prune(false, PruneFilters::default(), &|id| id.to_string() == used)
        .unwrap();
    assert_eq!(report.deleted[0], DeleteItem::Untagged("keep:1".to_owned()));
    assert_eq!(store.count(), 1);
    assert_eq!(store.inspect("used:1").unwrap().id.to_string(), c_id);
}

#[test]
fn import_applies_changes_like_docker() {
    let (_dir, store) = store();
    let rootfs = layer(&[("etc/hostname", b"imported\n")]);
    let opts = ImportOptions {
        reference: Some(Reference::parse_normalized("imported").unwrap()),
        message: String::new(),
        changes: vec![
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#.into(),
            "ENTRYPOINT /entry".into(),
            "ENV A=1 B=2".into(),
            "EXPOSE 80 53/udp".into(),
            "LABEL a=b".into(),
            "WORKDIR /srv".into(),
            "USER nobody".into(),
            "VOLUME /data".into(),
        ],
        platform: None,
    };
    let gz = flate_gzip(&rootfs);
    let id = store.import(&gz[..], opts).unwrap();
    let record = store.inspect("imported:latest").unwrap();
    assert_eq!(record.id, id);
    let c = &record.config;
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/entry"])
    );
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=2"]));
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "53/udp": {}})
    );
    assert_eq!(c["Labels"], serde_json::json!({"a": "b"}));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(record.comment, "Imported from -");
    assert_eq!(record.diff_ids, vec![sha256(&rootfs)]);
    let history = store.history(&id.to_string()).unwrap();
    assert_eq!(history[0].comment, "Imported from -");
    assert_eq!(history[0].size, rootfs.len() as u64);
    let err = store
        .import(
            &rootfs[..],
            ImportOptions {
                changes: vec!["RUN x".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(store.count(), 1);
}

#[test]
fn list_of_a_thousand_images() {
    let (_dir, store) = store();
    let shared = layer(&[("x", b"x")]);
    let layers = vec![shared];
    for i in 0..1000 {
        let cfg = config(
            &layers,
            "2024-01-01T00:00:00Z",
            serde_json::json!({"n": i.to_string()}),
        );
        load(&store, &archive(&layers, &cfg, &[&format!("many:{i}")]));
    }
    let all = store.list(ListOptions::default()).unwrap();
    assert_eq!(all.len(), 1000);
    assert_eq!(store.count(), 1000);
}

#[test]
fn tag_refuses_digests_and_unknown_sources() {
    let (_dir, store) = store();
    let (bytes, _) = simple_archive(1, "src:1", "tagging");
    load(&store, &bytes);
    let digest_ref = Reference::parse_normalized(&format!("x@sha256:{}", "a".repeat(64))).unwrap();
    let err = store.tag("src:1", &digest_ref).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    let ambiguous = Reference::parse_normalized("sha256:v1").unwrap();
    assert_eq!(
        store.tag("src:1", &ambiguous).unwrap_err().to_string(),
        "refusing to create an ambiguous tag using digest algorithm as name"
    );
    let target = Reference::parse_normalized("dst").unwrap();
    assert_eq!(
        store.tag("nosuch:1", &target).unwrap_err().to_string(),
        "No such image: nosuch:1"
    );
    store.tag("src:1", &target).unwrap();
    assert_eq!(
        store.inspect("dst:latest").unwrap().repo_tags,
        vec!["dst:latest", "src:1"]
    );
    assert!(["overlay2", "vfs"].contains(&store.driver_name()));
    assert!(!store.backing_filesystem().is_empty());
}

#[test]
fn an_image_with_a_missing_blob_is_dropped_at_open() {
    let (dir, store) = store();
    let (a, a_id) = simple_archive(1, "broken:1", "broken");
    let (b, _) = simple_archive(1, "fine:1", "fine");
    load(&store, &a);
    load(&store, &b);
    assert!(store.fsck().unwrap().is_empty());
    let blob = dir.path().join("content/blobs/sha256").join(&a_id[7..]);
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, b"tampered").unwrap();
    let problems = store.fsck().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("hashes to"), "{problems:?}");
    drop(store);
    std::fs::remove_file(&blob).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.count(), 1);
    assert_eq!(
        store.inspect("broken:1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(store.inspect("fine:1").is_ok());
    // Loading it again repairs it.
    load(&store, &a);
    assert_eq!(store.inspect("broken:1").unwrap().id.to_string(), a_id);
}

#[test]
fn concurrent_loads_and_deletes_of_images_sharing_layers_stay_consistent() {
    let (_dir, store) = store();
    let base = layer(&[("base", b"shared base")]);
    let make = |name: &str| {
        let layers = vec![base.clone(), layer(&[("top", name.as_bytes())])];
        let cfg = config(&layers, "2024-01-01T00:00:00Z", serde_json::json!({}));
        archive(&layers, &cfg, &[name])
    };
    let (a, b) = (make("a:1"), make("b:1"));
    std::thread::scope(|s| {
        for (bytes, name) in [(&a, "a:1"), (&b, "b:1")] {
            let store = &store;
            s.spawn(move || {
                for _ in 0..15 {
                    store.load(&bytes[..], &mut |_| {}).unwrap();
                    assert_eq!(store.fsck().unwrap(), Vec::<String>::new());
                    store.delete(name, false, true, &no_user).unwrap();
                }
                store.load(&bytes[..], &mut |_| {}).unwrap();
            });
        }
    });
    assert_eq!(store.fsck().unwrap(), Vec::<String>::new());
    assert_eq!(store.count(), 2);
    assert_eq!(
        store
            .disk_usage()
            .unwrap()
            .images
            .iter()
            .filter(|i| i.shared_size > 0)
            .count(),
        2
    );
}

#[test]
fn commit_adds_the_upper_directory_as_a_layer_over_the_parent() {
    let (_dir, store) = store();
    let rootfs = layer(&[("etc/hostname", b"base\n"), ("etc/motd", b"hello\n")]);
    let parent = store
        .import(
            &rootfs[..],
            ImportOptions {
                reference: Some(Reference::parse_normalized("base").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let upper = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(upper.path().join("tmp")).unwrap();
    std::fs::write(upper.path().join("tmp/x"), b"new file\n").unwrap();
    let options = berth_image::CommitOptions {
        reference: Some(Reference::parse_normalized("committed:1").unwrap()),
        parent: parent.to_string(),
        container_id: "c0ffee".into(),
        config: serde_json::json!({"Cmd": ["cat", "/tmp/x"]}),
        container_config: serde_json::json!({"Cmd": ["sh"]}),
        author: "me".into(),
        comment: "msg".into(),
        created_by: "sh".into(),
    };
    let id = store
        .commit_container(upper.path(), options.clone())
        .unwrap();
    let record = store.inspect("committed:1").unwrap();
    assert_eq!(record.id, id);
    assert_eq!(record.parent, parent.to_string());
    assert_eq!(record.diff_ids.len(), 2);
    assert_eq!(record.author, "me");
    assert_eq!(record.config["Cmd"], serde_json::json!(["cat", "/tmp/x"]));
    let history = store.history("committed:1").unwrap();
    assert_eq!(history.len(), 2);
    assert!(store.fsck().unwrap().is_empty(), "the store is consistent");
    // The new layer is stored like a loaded one: save has it, and it holds the file.
    let snapshots = store.snapshotter();
    let chain = record.chain_id.clone().unwrap();
    assert_eq!(
        std::fs::read(snapshots.fs_dir(&chain).join("tmp/x")).unwrap(),
        b"new file\n"
    );
    // Nothing written: an empty layer, recorded in the history only.
    let empty = tempfile::tempdir().unwrap();
    let id = store
        .commit_container(
            empty.path(),
            berth_image::CommitOptions {
                reference: None,
                ..options
            },
        )
        .unwrap();
    let record = store.inspect(&id.to_string()).unwrap();
    assert_eq!(record.diff_ids.len(), 1);
}
