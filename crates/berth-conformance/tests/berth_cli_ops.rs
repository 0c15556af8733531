//! Our `berth` CLI's container operations against a throwaway berthd, compared with the real
//! docker CLI on the same containers where the output is deterministic: pause/unpause, top,
//! diff, export, commit, update, container prune, system df -v, the healthcheck flags of
//! run/create, stats and cp.
//!
//! `stats_*` and `cp_*` need the daemon's stats and archive endpoints
//! (`GET /containers/{id}/stats`, `GET/HEAD/PUT /containers/{id}/archive`). Needs root
//! (containers); every test force-removes its containers before the daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::{bin_path, Daemon};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", describe(&output));
    text(&output.stdout)
}

struct Fixture {
    daemon: Daemon,
    scratch: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let daemon = berth_conformance::fixture::daemon_with_busybox()?;
        Some(Fixture {
            daemon,
            scratch: tempfile::tempdir().unwrap(),
        })
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.daemon.berth(args)
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    fn scratch(&self, name: &str) -> String {
        self.scratch
            .path()
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// `berth` or `docker` with `stdin` fed in (and a private docker config).
    fn with_stdin(&self, program: &str, args: &[&str], stdin: &[u8]) -> Output {
        let config = self.scratch("docker-config");
        let mut child = Command::new(if program == "berth" {
            bin_path("berth")
        } else {
            "docker".into()
        })
        .args(args)
        .env("BERTH_HOST", self.daemon.host())
        .env("DOCKER_HOST", self.daemon.host())
        .env("DOCKER_CONFIG", config)
        .current_dir(self.scratch.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the CLI");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// `berth ARGS` with a pseudo-terminal as stdout (through `script`).
    fn berth_on_tty(&self, args: &[&str]) -> Output {
        let line = std::iter::once(bin_path("berth").to_string_lossy().into_owned())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("BERTH_HOST", self.daemon.host())
            .current_dir(self.scratch.path())
            .output()
            .expect("running script(1)")
    }

    fn run(&self, name: &str, script: &str) {
        ok(self.berth(&["run", "-d", "--name", name, "busybox", "sh", "-c", script]));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let ids = text(&self.daemon.docker(&["ps", "-aq"]).stdout);
        for id in ids.split_whitespace() {
            let _ = self.daemon.docker(&["unpause", id]);
            let _ = self.daemon.docker(&["rm", "-f", id]);
        }
    }
}

/// Runs both CLIs with the same arguments until they print the same thing, and returns it.
fn same_output(f: &Fixture, args: &[&str]) -> String {
    let mut last = (String::new(), String::new());
    for _ in 0..5 {
        let ours = ok(f.berth(args));
        let docker = ok(f.docker(args));
        if ours == docker {
            return ours;
        }
        last = (ours, docker);
    }
    panic!(
        "berth and docker differ for {args:?}:\nberth:\n{}\ndocker:\n{}",
        last.0, last.1
    );
}

/// Both CLIs give the same exit code, stdout and stderr.
fn same_result(f: &Fixture, args: &[&str]) -> Output {
    let ours = f.berth(args);
    let docker = f.docker(args);
    assert_eq!(
        (ours.status.code(), text(&ours.stdout), text(&ours.stderr)),
        (
            docker.status.code(),
            text(&docker.stdout),
            text(&docker.stderr)
        ),
        "{args:?}\nberth: {}\ndocker: {}",
        describe(&ours),
        describe(&docker)
    );
    ours
}

#[test]
fn pause_and_unpause_several_names_with_per_item_errors() {
    let Some(f) = Fixture::new() else { return };
    f.run("p1", "sleep 100");
    f.run("p2", "sleep 100");
    let paused = f.berth(&["pause", "p1", "nope", "p2"]);
    assert_eq!(paused.status.code(), Some(1), "{}", describe(&paused));
    assert_eq!(text(&paused.stdout), "p1\np2\n");
    assert_eq!(
        text(&paused.stderr),
        "Error response from daemon: No such container: nope\n"
    );
    let status = ok(f.berth(&["ps", "--format", "{{.Names}} {{.Status}}"]));
    assert!(status.contains("(Paused)"), "{status}");
    assert_eq!(
        ok(f.berth(&["inspect", "-f", "{{.State.Status}}", "p1"])).trim(),
        "paused"
    );
    // Pausing a paused container fails the same way in both CLIs.
    same_result(&f, &["pause", "p1"]);
    assert_eq!(
        ok(f.berth(&["container", "unpause", "p1", "p2"])),
        "p1\np2\n"
    );
    same_result(&f, &["unpause", "p1"]);
    assert_eq!(
        ok(f.berth(&["inspect", "-f", "{{.State.Status}}", "p2"])).trim(),
        "running"
    );
}

#[test]
fn top_prints_dockers_table() {
    let Some(f) = Fixture::new() else { return };
    f.run("t1", "sleep 100");
    let table = same_output(&f, &["top", "t1"]);
    assert!(table.starts_with("UID "), "{table}");
    assert!(table.contains("sleep 100"), "{table}");
    let custom = same_output(&f, &["container", "top", "t1", "-o", "pid,comm"]);
    assert!(custom.starts_with("PID "), "{custom}");
    same_result(&f, &["top", "nope"]);
}

#[test]
fn diff_lists_changes_as_docker() {
    let Some(f) = Fixture::new() else { return };
    f.run(
        "d1",
        "mkdir -p /tmp/new && echo x > /tmp/new/file && rm /bin/yes; sleep 100",
    );
    let mut changes = String::new();
    for _ in 0..100 {
        changes = ok(f.berth(&["diff", "d1"]));
        if changes.contains("D /bin/yes") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for line in ["C /bin", "D /bin/yes", "A /tmp/new", "A /tmp/new/file"] {
        assert!(changes.lines().any(|l| l == line), "{line}: {changes}");
    }
    assert_eq!(same_output(&f, &["diff", "d1"]), changes);
    same_result(&f, &["diff", "nope"]);
}

#[test]
fn export_to_a_file_and_refuses_a_terminal() {
    let Some(f) = Fixture::new() else { return };
    f.run("e1", "echo hello > /exported; sleep 100");
    let file = f.scratch("e1.tar");
    ok(f.berth(&["export", "-o", &file, "e1"]));
    let listing = text(
        &Command::new("tar")
            .args(["-tf", &file])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "exported"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{listing}"
    );
    let streamed = f.berth(&["container", "export", "e1"]);
    assert!(streamed.status.success(), "{}", describe(&streamed));
    assert!(streamed.stdout.len() > 1000);
    let tty = f.berth_on_tty(&["export", "e1"]);
    assert!(
        text(&tty.stdout)
            .contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{}",
        describe(&tty)
    );
    let missing_dir = f.berth(&["export", "-o", "/nonexistent-dir/x.tar", "e1"]);
    assert_eq!(missing_dir.status.code(), Some(1));
    assert_eq!(
        text(&missing_dir.stderr),
        text(
            &f.docker(&["export", "-o", "/nonexistent-dir/x.tar", "e1"])
                .stderr
        )
    );
}

#[test]
fn commit_then_run_the_new_image() {
    let Some(f) = Fixture::new() else { return };
    f.run("c1", "echo committed > /state; sleep 100");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let id = ok(f.berth(&[
        "commit",
        "-a",
        "Berth Tester <t@example.com>",
        "-m",
        "a message",
        "-c",
        "ENV FROM_COMMIT=1",
        "c1",
        "committed:v1",
    ]));
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(
        ok(f.berth(&[
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "cat /state; echo $FROM_COMMIT"
        ])),
        "committed\n1\n"
    );
    assert_eq!(
        ok(f.berth(&[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}",
            "committed:v1"
        ])),
        "Berth Tester <t@example.com>|a message\n"
    );
    // Without a reference the image is dangling; with --pause=false the container keeps
    // running throughout.
    let bare = ok(f.berth(&["commit", "--pause=false", "c1"]));
    assert!(bare.starts_with("sha256:"), "{bare}");
    same_result(&f, &["commit", "nope"]);
    let _ = f.berth(&["rmi", "committed:v1", bare.trim()]);
}

#[test]
fn update_then_inspect_like_docker() {
    let Some(f) = Fixture::new() else { return };
    f.run("u1", "sleep 100");
    f.run("u2", "sleep 100");
    let flags = [
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpus",
        "0.5",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:2",
    ];
    let mut ours = vec!["update"];
    ours.extend(flags);
    ours.push("u1");
    assert_eq!(ok(f.berth(&ours)), "u1\n");
    let mut theirs = vec!["update"];
    theirs.extend(flags);
    theirs.push("u2");
    ok(f.docker(&theirs));
    let template = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}";
    let u1 = ok(f.berth(&["inspect", "-f", template, "u1"]));
    assert_eq!(
        u1,
        "67108864 134217728 33554432 512 500000000 0 50 on-failure:2\n"
    );
    assert_eq!(u1, ok(f.docker(&["inspect", "-f", template, "u2"])));
    same_result(&f, &["update", "u1"]);
    same_result(&f, &["update", "--memory", "64m", "nope"]);
}

#[test]
fn container_prune_prompts_and_reports_as_docker() {
    let Some(f) = Fixture::new() else { return };
    let stopped = ok(f.berth(&["create", "busybox", "true"]));
    f.run("keep", "sleep 100");
    // Answering no leaves everything, silently, exit 0, as docker.
    let ours = f.with_stdin("berth", &["container", "prune"], b"n\n");
    let docker = f.with_stdin("docker", &["container", "prune"], b"n\n");
    assert_eq!(
        (ours.status.code(), text(&ours.stdout)),
        (docker.status.code(), text(&docker.stdout))
    );
    assert_eq!(
        text(&ours.stdout),
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(ok(f.berth(&["ps", "-aq"])).lines().count(), 2);
    let pruned = ok(f.with_stdin("berth", &["container", "prune"], b"y\n"));
    assert!(
        pruned.contains(&format!(
            "Deleted Containers:\n{}\n\nTotal reclaimed space: ",
            stopped.trim()
        )),
        "{pruned}"
    );
    // Nothing left to prune: both CLIs print the same.
    same_result(&f, &["container", "prune", "-f"]);
    let second = ok(f.berth(&["create", "--label", "x=1", "busybox", "true"]));
    same_result(&f, &["container", "prune", "-f", "--filter", "label=other"]);
    let filtered = ok(f.berth(&["container", "prune", "-f", "--filter", "label=x=1"]));
    assert!(
        filtered.starts_with(&format!("Deleted Containers:\n{}\n", second.trim())),
        "{filtered}"
    );
}

#[test]
fn system_df_shows_container_rows_like_docker() {
    let Some(f) = Fixture::new() else { return };
    f.run("df1", "head -c 5000 /dev/zero > /blob; sleep 100");
    ok(f.berth(&["create", "--name", "df2", "busybox", "true"]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let summary = same_output(&f, &["system", "df"]);
    assert!(summary.contains("Containers      2         1"), "{summary}");
    let verbose = same_output(&f, &["system", "df", "-v"]);
    assert!(verbose.contains("Containers space usage:"), "{verbose}");
    assert!(
        verbose.contains("df1") && verbose.contains("df2"),
        "{verbose}"
    );
}

#[test]
fn health_flags_reach_the_config_as_docker_sends_them() {
    let Some(f) = Fixture::new() else { return };
    let flags = [
        "--health-cmd",
        "true",
        "--health-interval",
        "1m30s",
        "--health-timeout",
        "500ms",
        "--health-retries",
        "4",
        "--health-start-period",
        "2s",
        "--health-start-interval",
        "1s",
    ];
    let mut ours = vec!["create", "--name", "h1"];
    ours.extend(flags);
    ours.extend(["busybox", "sleep", "100"]);
    ok(f.berth(&ours));
    let mut theirs = vec!["create", "--name", "h2"];
    theirs.extend(flags);
    theirs.extend(["busybox", "sleep", "100"]);
    ok(f.docker(&theirs));
    let json = |output: Output| -> serde_json::Value { serde_json::from_str(&ok(output)).unwrap() };
    let h1 = json(f.berth(&["inspect", "-f", "{{json .Config.Healthcheck}}", "h1"]));
    assert_eq!(
        h1,
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64,
            "Timeout": 500_000_000, "StartPeriod": 2_000_000_000i64,
            "StartInterval": 1_000_000_000, "Retries": 4})
    );
    assert_eq!(
        h1,
        json(f.docker(&["inspect", "-f", "{{json .Config.Healthcheck}}", "h2"]))
    );
    ok(f.berth(&["create", "--name", "h3", "--no-healthcheck", "busybox"]));
    ok(f.docker(&["create", "--name", "h4", "--no-healthcheck", "busybox"]));
    assert_eq!(
        json(f.berth(&["inspect", "-f", "{{json .Config.Healthcheck}}", "h3"])),
        json(f.docker(&["inspect", "-f", "{{json .Config.Healthcheck}}", "h4"]))
    );
    let conflict = f.berth(&[
        "create",
        "--no-healthcheck",
        "--health-retries",
        "1",
        "busybox",
    ]);
    assert_eq!(conflict.status.code(), Some(125), "{}", describe(&conflict));
    assert!(text(&conflict.stderr).contains("--no-healthcheck conflicts with --health-* options"));
}

/// Needs `GET /containers/{id}/stats`.
#[test]
fn stats_no_stream_table_and_format() {
    let Some(f) = Fixture::new() else { return };
    f.run("s1", "sleep 100");
    let table = ok(f.berth(&["stats", "--no-stream", "s1"]));
    let mut lines = table.lines();
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    );
    let row = lines.next().unwrap();
    assert!(row.contains(" s1 ") && row.contains("0B / 0B"), "{table}");
    // Fields that do not move between samples read the same in both CLIs.
    same_output(
        &f,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.NetIO}} {{.PIDs}}",
            "s1",
        ],
    );
    same_output(
        &f,
        &[
            "stats",
            "--no-stream",
            "--format",
            "table {{.Name}}\t{{.PIDs}}",
            "s1",
        ],
    );
    let all = ok(f.berth(&["stats", "--no-stream", "--all", "--format", "{{.Name}}"]));
    assert_eq!(all, "s1\n");
    same_result(&f, &["stats", "--no-stream", "nope"]);
}

/// Needs `GET /containers/{id}/stats`: the live table is redrawn in place.
#[test]
fn stats_stream_redraws_the_table() {
    let Some(f) = Fixture::new() else { return };
    f.run("s2", "sleep 100");
    let mut child = Command::new(bin_path("berth"))
        .args(["stats", "--format", "{{.Name}} {{.PIDs}}", "s2"])
        .env("BERTH_HOST", f.daemon.host())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let screen = text(&output.stdout);
    assert!(screen.matches("\x1b[H").count() >= 2, "{screen:?}");
    assert!(screen.contains("s2 1"), "{screen:?}");
}

/// Needs the archive API.
#[test]
fn cp_both_ways_follows_dockers_path_rules() {
    let Some(f) = Fixture::new() else { return };
    f.run(
        "cp1",
        "mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two && ln -s one /data/link; sleep 100",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // A file out, then the same through docker: same bytes.
    let ours = f.scratch("one-berth");
    let theirs = f.scratch("one-docker");
    ok(f.berth(&["cp", "cp1:/data/one", &ours]));
    ok(f.docker(&["cp", "cp1:/data/one", &theirs]));
    assert_eq!(std::fs::read(&ours).unwrap(), b"one\n");
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap()
    );
    // A directory to a new name, and its contents (`/.`) into an existing directory.
    let copy = f.scratch("copy");
    ok(f.berth(&["cp", "cp1:/data", &copy]));
    assert_eq!(std::fs::read(format!("{copy}/sub/two")).unwrap(), b"two\n");
    let into = f.scratch("into");
    std::fs::create_dir(&into).unwrap();
    ok(f.berth(&["cp", "cp1:/data/.", &into]));
    assert!(Path::new(&format!("{into}/one")).is_file());
    // A symlink is copied as a link, unless -L.
    let link = f.scratch("link");
    ok(f.berth(&["cp", "cp1:/data/link", &link]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let followed = f.scratch("followed");
    ok(f.berth(&["cp", "-L", "cp1:/data/link", &followed]));
    assert_eq!(std::fs::read(&followed).unwrap(), b"one\n");
    // In: a file to a new name and a directory into an existing one.
    let local = f.scratch("local.txt");
    std::fs::write(&local, b"from the host\n").unwrap();
    ok(f.berth(&["cp", &local, "cp1:/data/renamed"]));
    ok(f.berth(&["cp", &copy, "cp1:/tmp/"]));
    assert_eq!(
        ok(f.berth(&["exec", "cp1", "cat", "/data/renamed", "/tmp/copy/sub/two"])),
        "from the host\ntwo\n"
    );
    // A tar stream out and back in with `-`.
    let tar = f.berth(&["cp", "cp1:/data/sub", "-"]);
    assert!(tar.status.success(), "{}", describe(&tar));
    let piped = f.with_stdin("berth", &["cp", "-", "cp1:/tmp"], &tar.stdout);
    assert!(piped.status.success(), "{}", describe(&piped));
    assert_eq!(
        ok(f.berth(&["exec", "cp1", "cat", "/tmp/sub/two"])),
        "two\n"
    );
    // The progress line only on a terminal, and never with -q.
    let shown = f.berth_on_tty(&["cp", "cp1:/data/one", "tty-copy"]);
    assert!(
        text(&shown.stdout).contains("Successfully copied "),
        "{}",
        describe(&shown)
    );
    let quiet = f.berth_on_tty(&["cp", "-q", "cp1:/data/one", "tty-quiet"]);
    assert!(
        !text(&quiet.stdout).contains("Successfully"),
        "{}",
        describe(&quiet)
    );
    // Errors as docker's.
    same_result(&f, &["cp", "cp1:/nope", &f.scratch("x")]);
    same_result(&f, &["cp", "a", "b"]);
    same_result(&f, &["cp", "cp1:/a", "cp1:/b"]);
}
