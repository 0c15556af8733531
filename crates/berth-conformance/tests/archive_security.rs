//! SECURITY.md section 5, group F: `docker cp` and the archive API against hostile
//! containers. Oracle S (the host sentinel) is checked after every attack. Needs root.
//!
//! - F42 symlink-exchange race (CVE-2018-15664)
//! - F43 absolute in-container symlinks are followed inside the container (moby#52653)
//! - F44 nothing is loaded or run from the container (CVE-2019-14271, CVE-2026-41567)
//! - F45 cp does not change the container's mount table; no host chmod (CVE-2021-41089)
//! - F46 layer-style payloads through PUT, and HEAD of `../../../../etc/passwd`

use berth_conformance::daemon::describe;
use berth_conformance::fixture::ok;
use berth_conformance::Daemon;
use berth_testutil::{unique_name, Sentinel};
use std::io::Write;
use std::path::Path;
use std::process::Output;

struct Fixture {
    daemon: Daemon,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let daemon = berth_conformance::fixture::daemon_with_busybox()?;
        Some(Fixture { daemon })
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    fn put(&self, container: &str, path: &str, body: &[u8]) -> berth_conformance::RawResponse {
        self.daemon.raw_body(
            "PUT",
            &format!("/containers/{container}/archive?path={path}"),
            body,
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(out) = std::str::from_utf8(&self.daemon.docker(&["ps", "-aq"]).stdout) {
            for id in out.split_whitespace() {
                let _ = self.daemon.docker(&["rm", "-f", id]);
            }
        }
    }
}

/// Tar entries for payloads: (name, kind, data or link target).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        let (name, data, link): (&str, &[u8], Option<&str>) = match entry {
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                (n, d, None)
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, &[], None)
            }
            Entry::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, &[], Some(t))
            }
            Entry::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                (n, &[], Some(t))
            }
        };
        // Raw names: the tar crate refuses `..` in paths it sets, and the payloads need them.
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 1).unwrap(),
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => data.to_vec(),
    }
}

/// `/tmp/sentinel-x` as a path relative to `/`.
fn rel(path: &Path) -> String {
    path.to_str().unwrap().trim_start_matches('/').to_string()
}

#[test]
fn f42_symlink_exchange_race_never_leaves_the_root() {
    let Some(f) = Fixture::new() else { return };
    let sentinel = Sentinel::new();
    let escape = unique_name("escape-");
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "race",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /w; while true; do rm -rf /w/t; mkdir /w/t; echo inside > /w/t/f; \
         rm -rf /w/t; ln -s / /w/t; done",
    ]));
    let upload = tar_of(&[
        Entry::File(&escape, b"escaped"),
        Entry::File(
            &format!("{}/victim/hello", rel(&sentinel.dir)),
            b"overwritten",
        ),
    ]);
    let sentinel_file = rel(&sentinel.file);
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let r = f.put("race", "/w/t/", &upload);
        *statuses.entry(r.status).or_insert(0) += 1;
        for path in [format!("/w/t/{sentinel_file}"), "/w/t/f".to_string()] {
            let r = f
                .daemon
                .raw("GET", &format!("/containers/race/archive?path={path}"));
            let body = r.body;
            assert!(
                !body
                    .windows(13)
                    .any(|w| w == b"sentinel file" || w == b"sentinel cont"),
                "a copied-out archive holds host sentinel bytes"
            );
        }
    }
    eprintln!("PUT statuses during the race: {statuses:?}");
    sentinel.assert_unchanged();
    assert!(
        !Path::new("/").join(&escape).exists(),
        "wrote into the host's /"
    );
}

#[test]
fn f43_absolute_symlinks_resolve_inside_the_container() {
    let Some(f) = Fixture::new() else { return };
    let sentinel = Sentinel::new();
    let name = unique_name("f43-");
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "abs",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /run2 /root; ln -s /run2 /vr; ln -s /../../../etc /a; sleep 300",
    ]));
    // Wait for the symlinks.
    for _ in 0..100 {
        if f.docker(&["exec", "abs", "test", "-L", "/a"])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let body = tar_of(&[Entry::File(&name, b"x")]);
    assert_eq!(f.put("abs", "/vr", &body).status, 200);
    assert_eq!(f.put("abs", "/a", &body).status, 200);
    let found = ok(f.docker(&[
        "exec",
        "abs",
        "sh",
        "-c",
        &format!("cat /run2/{name} /etc/{name}"),
    ]));
    assert_eq!(found, "xx");
    assert!(!Path::new("/etc").join(&name).exists());

    // A bind mount below a symlinked directory (`/sockets -> /root`, bind at
    // /sockets/sock): cp into /sockets/ works and lands in the container's /root.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("sock"), b"bound").unwrap();
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "bind",
        "-v",
        &format!("{}:/data", host.path().display()),
        "busybox",
        "sh",
        "-c",
        "ln -s /root /sockets; sleep 300",
    ]));
    for _ in 0..100 {
        if f.docker(&["exec", "bind", "test", "-L", "/sockets"])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(f.put("bind", "/sockets/", &body).status, 200);
    assert_eq!(
        ok(f.docker(&["exec", "bind", "cat", &format!("/root/{name}")])),
        "x"
    );
    // Paths on a bind go to its host source, still confined to it.
    let escape = tar_of(&[
        Entry::Symlink("up", "../../../../../../.."),
        Entry::File(
            &format!("up/{}/victim/hello", rel(&sentinel.dir)),
            b"overwritten",
        ),
    ]);
    let _ = f.put("bind", "/data", &escape);
    assert_eq!(f.put("bind", "/data", &body).status, 200);
    assert_eq!(std::fs::read(host.path().join(&name)).unwrap(), b"x");
    sentinel.assert_unchanged();
}

/// A shared object whose constructor writes `marker` (on the host, or inside whatever root
/// the loading process has).
fn trojan_library(dir: &Path, marker: &str) -> Option<Vec<u8>> {
    let source = dir.join("trojan.c");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) {{\n\
             FILE *f = fopen(\"{marker}\", \"w\"); if (f) {{ fputs(\"pwned\", f); fclose(f); }} }}\n"
        ),
    )
    .unwrap();
    let out = dir.join("libnss_files.so.2");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(&out).unwrap())
}

#[test]
fn f44_nothing_from_the_container_is_loaded_or_run() {
    let Some(f) = Fixture::new() else { return };
    let sentinel = Sentinel::new();
    let marker = std::env::temp_dir().join(unique_name("nss-marker-"));
    let marker = marker.to_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let script = format!("#!/bin/sh\necho pwned > {marker}\necho pwned > /pwned\ncat\n");
    let mut entries = vec![
        Entry::Dir("usr/"),
        Entry::Dir("usr/bin/"),
        Entry::File("usr/bin/xz", script.as_bytes()),
        Entry::File("usr/bin/unpigz", script.as_bytes()),
        Entry::File("usr/bin/gzip", script.as_bytes()),
        Entry::File("usr/bin/zstd", script.as_bytes()),
        Entry::File("usr/bin/bzip2", script.as_bytes()),
        Entry::File("usr/bin/tar", script.as_bytes()),
        Entry::File("etc/nsswitch.conf", b"passwd: files\ngroup: files\n"),
        Entry::Dir("lib/"),
        Entry::Dir("lib/x86_64-linux-gnu/"),
    ];
    let library = trojan_library(work.path(), &marker);
    if let Some(lib) = &library {
        entries.push(Entry::File("lib/libnss_files.so.2", lib));
        entries.push(Entry::File("lib/x86_64-linux-gnu/libnss_files.so.2", lib));
    } else {
        eprintln!("note: no C compiler; the trojan library is a placeholder");
        entries.push(Entry::File("lib/libnss_files.so.2", b"not a library"));
    }
    ok(f.docker(&[
        "create", "--name", "trojan", "--user", "0:0", "busybox", "sleep", "300",
    ]));
    let r = f.put("trojan", "/", &tar_of(&entries));
    assert_eq!(r.status, 200, "{}", r.text());
    ok(f.docker(&["start", "trojan"]));
    ok(f.docker(&[
        "exec",
        "trojan",
        "chmod",
        "755",
        "/usr/bin/xz",
        "/usr/bin/unpigz",
        "/usr/bin/gzip",
        "/usr/bin/zstd",
        "/usr/bin/bzip2",
        "/usr/bin/tar",
    ]));
    let payload = tar_of(&[Entry::File("payload.txt", b"payload")]);
    for kind in ["plain", "gzip", "zstd", "xz", "bzip2"] {
        for query in ["", "&copyUIDGID=true"] {
            let r = f.put("trojan", &format!("/tmp{query}"), &compress(kind, &payload));
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
        }
    }
    let out = f
        .daemon
        .raw("GET", "/containers/trojan/archive?path=/tmp/payload.txt");
    assert_eq!(out.status, 200);
    ok(f.docker(&[
        "cp",
        "trojan:/etc",
        work.path().join("etc-out").to_str().unwrap(),
    ]));
    ok(f.docker(&["stop", "-t", "0", "trojan"]));
    for kind in ["gzip", "xz"] {
        let r = f.put("trojan", "/tmp&copyUIDGID=true", &compress(kind, &payload));
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
    }
    assert!(
        !Path::new(&marker).exists(),
        "a container program or library ran on the host"
    );
    ok(f.docker(&["start", "trojan"]));
    let inside = f.docker(&["exec", "trojan", "sh", "-c", &format!("ls /pwned {marker}")]);
    assert!(
        !inside.status.success(),
        "a marker appeared inside: {}",
        describe(&inside)
    );
    sentinel.assert_unchanged();
}

#[test]
fn f45_cp_leaves_the_mount_table_and_host_modes_alone() {
    let Some(f) = Fixture::new() else { return };
    let sentinel = Sentinel::new();
    let host = tempfile::tempdir().unwrap();
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "mnt",
        "-v",
        &format!("{}:/vol", host.path().display()),
        "busybox",
        "sleep",
        "300",
    ]));
    let before = ok(f.docker(&["exec", "mnt", "cat", "/proc/1/mountinfo"]));
    let file = tar_of(&[Entry::File("f.txt", b"f")]);
    for path in ["/", "/vol", "/tmp"] {
        assert_eq!(f.put("mnt", path, &file).status, 200);
        assert_eq!(
            f.daemon
                .raw("GET", &format!("/containers/mnt/archive?path={path}"))
                .status,
            200
        );
    }
    // A symlink to a host file, then entries that would chmod/chown "it".
    let target = sentinel.file.to_str().unwrap().to_string();
    let chmod = tar_of(&[
        Entry::Symlink("hostlink", &target),
        Entry::Hardlink("hardlink", "hostlink"),
        Entry::File("hostlink", b"replaced"),
    ]);
    let _ = f.put("mnt", "/vol", &chmod);
    let _ = f.put("mnt", "/tmp", &chmod);
    let after = ok(f.docker(&["exec", "mnt", "cat", "/proc/1/mountinfo"]));
    assert_eq!(before, after, "cp changed the container's mount table");
    assert_eq!(std::fs::read(host.path().join("f.txt")).unwrap(), b"f");
    sentinel.assert_unchanged();
}

#[test]
fn f46_layer_payloads_through_put_are_contained() {
    let Some(f) = Fixture::new() else { return };
    let sentinel = Sentinel::new();
    let etc_name = unique_name("f46-");
    ok(f.docker(&["run", "-d", "--name", "pay", "busybox", "sleep", "300"]));
    let victim = format!("{}/victim", rel(&sentinel.dir));
    let file_rel = rel(&sentinel.file);
    let payloads: Vec<Vec<u8>> = vec![
        tar_of(&[Entry::File("../victim/x", b"1")]),
        tar_of(&[Entry::File("/../victim/x", b"1")]),
        tar_of(&[Entry::File("../../pwned", b"1")]),
        tar_of(&[Entry::File(
            &format!("../../../../../../{victim}/hello"),
            b"1",
        )]),
        tar_of(&[
            Entry::Symlink("localetc", "/etc"),
            Entry::File(&format!("localetc/{etc_name}"), b"1"),
        ]),
        tar_of(&[
            Entry::Symlink("up", "../../../../../../.."),
            Entry::File(&format!("up/{victim}/hello"), b"1"),
        ]),
        tar_of(&[
            Entry::Dir("inner/"),
            Entry::Symlink("inner/go_up", ".."),
            Entry::Symlink("inner/go_up/escape", "../../../../../../.."),
            Entry::File(&format!("inner/go_up/escape/{victim}/hello"), b"1"),
        ]),
        tar_of(&[Entry::Hardlink(
            "hl",
            &format!("../../../../../../{file_rel}"),
        )]),
        tar_of(&[Entry::Hardlink("hl2", "/etc/passwd")]),
        tar_of(&[
            Entry::Symlink("d1", "../../../../../../tmp"),
            Entry::Hardlink(
                "hl3",
                &format!(
                    "d1/{}",
                    sentinel.file.file_name().unwrap().to_str().unwrap()
                ),
            ),
        ]),
        tar_of(&[
            Entry::File("foo/tmp/x", b"1"),
            Entry::Symlink("foo", "/"),
            Entry::File(&format!("foo/tmp/{etc_name}"), b"1"),
        ]),
    ];
    for (i, payload) in payloads.iter().enumerate() {
        for dest in ["/tmp", "/"] {
            let r = f.put("pay", dest, payload);
            assert!(
                matches!(r.status, 200 | 400 | 500),
                "payload {i}: {}",
                r.status
            );
        }
        sentinel.assert_unchanged();
    }
    assert!(!Path::new("/etc").join(&etc_name).exists());
    assert!(!Path::new("/tmp").join(&etc_name).exists());
    assert!(!Path::new("/pwned").exists());
    // The symlink-then-write case lands inside the container's /etc.
    ok(f.docker(&["exec", "pay", "test", "-f", &format!("/etc/{etc_name}")]));
    // Hardlinks never share an inode with a host file.
    let nlink = std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&sentinel.file).unwrap());
    assert_eq!(nlink, 1);

    // HEAD of a climbing path stats the container's file, never the host's.
    let head = f.daemon.raw(
        "HEAD",
        "/containers/pay/archive?path=../../../../etc/passwd",
    );
    assert_eq!(head.status, 200);
    let inside = ok(f.docker(&["exec", "pay", "stat", "-c", "%s", "/etc/passwd"]));
    let header = head
        .header("X-Docker-Container-Path-Stat")
        .unwrap()
        .to_string();
    let out = f.daemon.python(&format!(
        "import base64, json; print(json.loads(base64.b64decode('{header}'))['size'])"
    ));
    assert_eq!(ok(out).trim(), inside.trim());
}
