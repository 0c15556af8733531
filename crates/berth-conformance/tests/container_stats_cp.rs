//! `docker stats` and `docker cp` (the archive API) through the real docker CLI, docker-py
//! and raw HTTP: stats frames of running and stopped containers, streaming precpu, cp both
//! ways for running and stopped containers (files, directories, `-` tar streams, `-a`, `-L`,
//! `-q`), compressed uploads, the path-stat header and Docker's error messages. Needs root;
//! every test removes its containers before the daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::ok;
use berth_conformance::Daemon;
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

    fn python(&self, script: &str) -> String {
        ok(self.daemon.python(script))
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

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn stats_through_the_cli_docker_py_and_raw_http() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--name", "st1", "busybox", "sleep", "300"]));
    ok(f.docker(&[
        "run", "-d", "--name", "st2", "-m", "64m", "busybox", "sleep", "300",
    ]));
    ok(f.docker(&["create", "--name", "st3", "busybox", "true"]));

    let table = ok(f.docker(&["stats", "--no-stream"]));
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(table.contains("st1") && table.contains("st2"), "{table}");
    assert!(
        !table.contains("st3"),
        "stopped containers only with --all: {table}"
    );
    let formatted = ok(f.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        "st2",
    ]));
    assert!(
        formatted.starts_with("st2 ") && formatted.trim_end().ends_with("/ 64MiB"),
        "{formatted}"
    );
    let all = ok(f.docker(&["stats", "--all", "--no-stream"]));
    assert!(all.contains("st3"), "{all}");

    // Raw: stream=false has precpu filled; one-shot has it empty; a stopped container
    // answers Docker's empty frame at once.
    let limited = f
        .daemon
        .raw("GET", "/containers/st2/stats?stream=false")
        .json();
    assert_eq!(
        limited["memory_stats"]["limit"],
        serde_json::json!(64 << 20)
    );
    let two = f
        .daemon
        .raw("GET", "/containers/st1/stats?stream=false")
        .json();
    assert_eq!(two["name"], "/st1");
    assert!(
        two["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0,
        "{two}"
    );
    assert!(
        two["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(two["memory_stats"]["usage"].as_u64().unwrap() > 0, "{two}");
    assert!(two["memory_stats"]["stats"].is_object());
    assert_eq!(two["pids_stats"]["current"], 1);
    assert_eq!(two["num_procs"], 0);
    let one = f
        .daemon
        .raw("GET", "/containers/st1/stats?stream=false&one-shot=true")
        .json();
    assert!(one["precpu_stats"]["system_cpu_usage"].is_null(), "{one}");
    assert_eq!(one["preread"], "0001-01-01T00:00:00Z");
    let stopped = f
        .daemon
        .raw("GET", "/containers/st3/stats?stream=false")
        .json();
    assert_eq!(stopped["read"], "0001-01-01T00:00:00Z");
    assert_eq!(stopped["memory_stats"], serde_json::json!({}));
    assert_eq!(
        f.daemon
            .raw("GET", "/containers/st1/stats?stream=true&one-shot=true")
            .status,
        400
    );
    assert_eq!(
        f.daemon
            .raw("GET", "/containers/nope/stats?stream=false")
            .message(),
        "No such container: nope"
    );

    // docker-py: stream=False, then two streamed samples (precpu empty, then filled).
    let out = f.python(
        r#"
import docker
c = docker.from_env().containers.get("st1")
s = c.stats(stream=False)
assert s["precpu_stats"].get("system_cpu_usage", 0) > 0, s
gen = c.stats(stream=True, decode=True)
first, second = next(gen), next(gen)
assert "system_cpu_usage" not in first["precpu_stats"], first
assert second["precpu_stats"]["system_cpu_usage"] == first["cpu_stats"]["system_cpu_usage"], (first, second)
assert second["preread"] == first["read"]
print("ok")
"#,
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn cp_both_ways_through_the_cli_running_and_stopped() {
    let Some(f) = Fixture::new() else { return };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), b"beta\n").unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(f.docker(&["run", "-d", "--name", "cp1", "busybox", "sleep", "300"]));

    // Directory and file in, to a running container.
    ok(f.docker(&["cp", &s(&src), "cp1:/tmp/"]));
    ok(f.docker(&["cp", &s(&src.join("a.txt")), "cp1:/renamed.txt"]));
    let listing = ok(f.docker(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "cat /tmp/src/a.txt /tmp/src/sub/b.txt /renamed.txt; readlink /tmp/src/link",
    ]));
    assert_eq!(listing, "alpha\nbeta\nalpha\na.txt\n");

    // And out again: a directory, a file, a symlink (as itself, or followed with -L).
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    ok(f.docker(&["cp", "cp1:/tmp/src", &s(&out)]));
    assert_eq!(std::fs::read(out.join("src/sub/b.txt")).unwrap(), b"beta\n");
    assert_eq!(
        std::fs::read_link(out.join("src/link")).unwrap(),
        Path::new("a.txt")
    );
    ok(f.docker(&["cp", "cp1:/tmp/src/link", &s(&out.join("plainlink"))]));
    assert!(std::fs::symlink_metadata(out.join("plainlink"))
        .unwrap()
        .file_type()
        .is_symlink());
    ok(f.docker(&["cp", "-L", "cp1:/tmp/src/link", &s(&out.join("followed"))]));
    assert_eq!(std::fs::read(out.join("followed")).unwrap(), b"alpha\n");
    // Contents of a directory with `/.`.
    let contents = work.path().join("contents");
    std::fs::create_dir_all(&contents).unwrap();
    ok(f.docker(&["cp", "cp1:/tmp/src/.", &s(&contents)]));
    assert_eq!(std::fs::read(contents.join("a.txt")).unwrap(), b"alpha\n");

    // `-` streams: a tar out to stdout, a tar in from stdin; -q prints nothing.
    let tar_out = f.docker(&["cp", "cp1:/tmp/src/sub", "-"]);
    let tar_bytes = ok_bytes(tar_out);
    let mut names: Vec<String> = tar::Archive::new(&tar_bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["sub/", "sub/b.txt"]);
    let tar_in = work.path().join("in.tar");
    std::fs::write(&tar_in, tar_with(&[("fromstdin.txt", b"stdin\n")])).unwrap();
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("docker cp -q - cp1:/tmp < {}", tar_in.display()))
        .env("DOCKER_HOST", f.daemon.host())
        .env("DOCKER_CONFIG", work.path())
        .output()
        .unwrap();
    assert!(piped.status.success(), "{}", describe(&piped));
    assert!(
        piped.stdout.is_empty() && piped.stderr.is_empty(),
        "{}",
        describe(&piped)
    );
    assert_eq!(
        ok(f.docker(&["exec", "cp1", "cat", "/tmp/fromstdin.txt"])),
        "stdin\n"
    );

    // Stopped container: in and out through the mounted snapshot, unmounted after.
    ok(f.docker(&["stop", "-t", "0", "cp1"]));
    ok(f.docker(&["cp", &s(&src.join("a.txt")), "cp1:/stopped.txt"]));
    ok(f.docker(&["cp", "cp1:/stopped.txt", &s(&out.join("stopped.txt"))]));
    assert_eq!(std::fs::read(out.join("stopped.txt")).unwrap(), b"alpha\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(f.daemon.data_root.to_str().unwrap()),
        "a stopped container's rootfs stays mounted after cp"
    );
    ok(f.docker(&["start", "cp1"]));
    assert_eq!(
        ok(f.docker(&["exec", "cp1", "cat", "/stopped.txt"])),
        "alpha\n"
    );

    // Errors: Docker's messages.
    let missing = f.docker(&["cp", "cp1:/nope", &s(&out)]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("Could not find the file /nope in container cp1"),
        "{}",
        describe(&missing)
    );
}

/// The busybox root filesystem with `app` (4242:4343) appended to /etc/passwd.
fn image_with_app_user() -> Vec<u8> {
    let layer = berth_testutil::image::busybox_layer();
    let mut builder = tar::Builder::new(Vec::new());
    let mut passwd = Vec::new();
    for entry in tar::Archive::new(&layer[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path.trim_start_matches("./") == "etc/passwd" {
            passwd = data;
            continue;
        }
        let header = entry.header().clone();
        builder.append(&header, &data[..]).unwrap();
    }
    passwd.extend_from_slice(b"app:x:4242:4343::/home/app:/bin/sh\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(passwd.len() as u64);
    h.set_mode(0o644);
    builder
        .append_data(&mut h, "etc/passwd", &passwd[..])
        .unwrap();
    builder.into_inner().unwrap()
}

fn ok_bytes(output: Output) -> Vec<u8> {
    assert!(output.status.success(), "{}", describe(&output));
    output.stdout
}

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut h, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
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

#[test]
fn archive_api_compressed_uploads_stat_header_and_options() {
    let Some(f) = Fixture::new() else { return };
    // An image whose /etc/passwd names `app` (the host has no such user).
    let image = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(image.path(), image_with_app_user()).unwrap();
    ok(f.docker(&["import", image.path().to_str().unwrap(), "busybox:app"]));
    ok(f.docker(&[
        "create",
        "--name",
        "ar1",
        "--user",
        "app",
        "busybox:app",
        "sleep",
        "300",
    ]));

    for kind in ["plain", "gzip", "zstd", "xz", "bzip2"] {
        let name = format!("{kind}.txt");
        let body = compress(kind, &tar_with(&[(name.as_str(), kind.as_bytes())]));
        let r = f
            .daemon
            .raw_body("PUT", "/containers/ar1/archive?path=/tmp", &body);
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
    }
    // copyUIDGID: the container user's ids (from the container's passwd, no NSS); without
    // it the tar's own.
    let body = tar_with(&[("owned.txt", b"o")]);
    let r = f.daemon.raw_body(
        "PUT",
        "/containers/ar1/archive?path=/tmp&copyUIDGID=true",
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    ok(f.docker(&["start", "ar1"]));
    // The CLI's -a asks for the same, on the running container.
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("cli.txt"), b"cli").unwrap();
    ok(f.docker(&[
        "cp",
        "-a",
        local.path().join("cli.txt").to_str().unwrap(),
        "ar1:/tmp/cli-a.txt",
    ]));
    let owners = ok(f.docker(&[
        "exec", "-u", "0", "ar1", "sh", "-c",
        "cat /tmp/plain.txt /tmp/gzip.txt /tmp/zstd.txt /tmp/xz.txt /tmp/bzip2.txt; echo; stat -c '%u:%g' /tmp/owned.txt /tmp/plain.txt /tmp/cli-a.txt",
    ]));
    assert_eq!(
        owners,
        "plaingzipzstdxzbzip2\n4242:4343\n1234:5678\n4242:4343\n"
    );

    // HEAD: the stat header (moby's JSON, base64), and 404 with Docker's message.
    let head = f
        .daemon
        .raw("HEAD", "/containers/ar1/archive?path=/tmp/plain.txt");
    assert_eq!(head.status, 200);
    let stat: serde_json::Value = serde_json::from_slice(&base64_decode(
        head.header("X-Docker-Container-Path-Stat").unwrap(),
    ))
    .unwrap();
    assert_eq!(stat["name"], "plain.txt");
    assert_eq!(stat["size"], 5);
    assert_eq!(stat["mode"], 0o644);
    assert_eq!(stat["linkTarget"], "");
    let dir = f.daemon.raw("HEAD", "/containers/ar1/archive?path=/tmp");
    let stat: serde_json::Value = serde_json::from_slice(&base64_decode(
        dir.header("X-Docker-Container-Path-Stat").unwrap(),
    ))
    .unwrap();
    assert_eq!(
        stat["mode"].as_u64().unwrap() >> 31,
        1,
        "Go's ModeDir bit: {stat}"
    );
    let missing = f.daemon.raw("GET", "/containers/ar1/archive?path=/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.message(),
        "Could not find the file /nope in container ar1"
    );
    assert_eq!(
        f.daemon
            .raw("HEAD", "/containers/ar1/archive?path=/nope")
            .status,
        404
    );
    // PUT onto a file, and noOverwriteDirNonDir.
    let r = f
        .daemon
        .raw_body("PUT", "/containers/ar1/archive?path=/tmp/plain.txt", &body);
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "extraction point is not a directory");
    let dir_over_file = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        builder.append_data(&mut h, "plain.txt", &[][..]).unwrap();
        builder.into_inner().unwrap()
    };
    let r = f.daemon.raw_body(
        "PUT",
        "/containers/ar1/archive?path=/tmp&noOverwriteDirNonDir=true",
        &dir_over_file,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.message().starts_with("cannot overwrite non-directory"),
        "{}",
        r.message()
    );

    // docker-py put_archive / get_archive.
    let out = f.python(
        r#"
import docker, io, tarfile
c = docker.from_env().containers.get("ar1")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    data = b"from docker-py\n"
    info = tarfile.TarInfo("py.txt"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert c.put_archive("/tmp", buf.getvalue())
bits, stat = c.get_archive("/tmp/py.txt")
assert stat["name"] == "py.txt" and stat["size"] == 15, stat
raw = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    assert t.extractfile("py.txt").read() == b"from docker-py\n"
print("ok")
"#,
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn cp_to_a_stopped_container_goes_through_its_binds() {
    let Some(f) = Fixture::new() else { return };
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("present.txt"), b"on the host\n").unwrap();
    let bind = format!("{}:/data", host.path().display());
    ok(f.docker(&["create", "--name", "sb", "-v", &bind, "busybox", "true"]));
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("in.txt"), b"copied in\n").unwrap();
    ok(f.docker(&[
        "cp",
        local.path().join("in.txt").to_str().unwrap(),
        "sb:/data/in.txt",
    ]));
    assert_eq!(
        std::fs::read(host.path().join("in.txt")).unwrap(),
        b"copied in\n"
    );
    let out = local.path().join("out.txt");
    ok(f.docker(&["cp", "sb:/data/present.txt", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(&out).unwrap(), b"on the host\n");
    // Archiving a directory above the bind descends into it, as in the running container.
    let whole = ok_bytes(f.docker(&["cp", "sb:/", "-"]));
    let mut found = None;
    for entry in tar::Archive::new(whole.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name.trim_start_matches("./").trim_start_matches('/') == "data/present.txt" {
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            found = Some(content);
        }
    }
    assert_eq!(found.as_deref(), Some(&b"on the host\n"[..]));
    // The same through a running container (its own mount namespace).
    ok(f.docker(&["start", "sb"]));
    ok(f.docker(&[
        "run", "-d", "--name", "rb", "-v", &bind, "busybox", "sleep", "300",
    ]));
    ok(f.docker(&[
        "cp",
        "rb:/data/in.txt",
        local.path().join("again.txt").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read(local.path().join("again.txt")).unwrap(),
        b"copied in\n"
    );
}
