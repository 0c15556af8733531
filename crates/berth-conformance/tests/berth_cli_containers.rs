//! Our `berth` CLI's container commands against a throwaway berthd: run, create, start,
//! stop, kill, restart, wait, logs, rm, ps, inspect, rename and the `container ...` aliases;
//! Docker's exit codes (the container's, 125, 126, 127); `ps` tables and `--format` output
//! compared with the real docker CLI's for the same containers; `-it` through a pty.
//!
//! Tests marked "needs attach" use the hijacked attach/exec endpoints (foreground `run`,
//! `-i`, `-it`, `exec`); they pass once the daemon serves them. Needs root (containers);
//! every test force-removes its containers before the daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::poll;
use berth_conformance::{bin_path, Daemon};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", describe(&output));
    text(&output.stdout)
}

/// A daemon with busybox loaded; removes every container on drop, before the daemon stops.
struct Fixture {
    daemon: Daemon,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let daemon = berth_conformance::fixture::daemon_with_busybox()?;
        Some(Fixture { daemon })
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.daemon.berth(args)
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    /// `berth ARGS` with `stdin` fed in.
    fn berth_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(bin_path("berth"))
            .args(args)
            .env("BERTH_HOST", self.daemon.host())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running berth");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn wait_until(&self, what: &str, check: impl Fn() -> bool) {
        poll(Duration::from_secs(30), || match check() {
            true => Ok(()),
            false => Err(format!("never happened: {what}")),
        })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let ids = text(&self.daemon.docker(&["ps", "-aq"]).stdout);
        for id in ids.split_whitespace() {
            let _ = self.daemon.docker(&["rm", "-f", id]);
        }
    }
}

fn assert_stderr_contains(output: &Output, expected: &str) {
    assert!(
        text(&output.stderr).contains(expected),
        "{}",
        describe(output)
    );
}

/// Runs both CLIs with the same arguments until they print the same thing (a second may
/// tick between the two, changing "Up 1 second" to "Up 2 seconds"), and returns it.
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

/// Both CLIs give the same exit code and stdout, whether or not the command succeeds.
fn same_result(f: &Fixture, args: &[&str]) {
    let ours = f.berth(args);
    let docker = f.docker(args);
    assert_eq!(
        (ours.status.code(), text(&ours.stdout)),
        (docker.status.code(), text(&docker.stdout)),
        "{args:?}\nberth: {}\ndocker: {}",
        describe(&ours),
        describe(&docker)
    );
}

#[test]
fn create_start_wait_logs_rm() {
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.berth(&["create", "--name", "c1", "busybox", "echo", "hi"]));
    assert_eq!(id.trim().len(), 64, "{id}");
    assert_eq!(
        ok(f.berth(&["inspect", "-f", "{{.State.Status}}", "c1"])).trim(),
        "created"
    );
    assert_eq!(ok(f.berth(&["start", "c1"])).trim(), "c1");
    assert_eq!(ok(f.berth(&["wait", "c1"])).trim(), "0");
    assert_eq!(ok(f.berth(&["logs", "c1"])), "hi\n");
    assert_eq!(ok(f.berth(&["container", "logs", "-n", "1", "c1"])), "hi\n");
    let stamped = ok(f.berth(&["logs", "-t", "c1"]));
    assert!(
        stamped.ends_with("Z hi\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    for args in [
        &["logs", "--since", "10m", "c1"][..],
        &[
            "logs",
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "1m",
            "c1",
        ],
        &["logs", "--until", "2000-01-01", "c1"],
        &["logs", "--details", "c1"],
        &["logs", "-n", "0", "c1"],
        &["logs", "-f", "c1"],
    ] {
        same_result(&f, args);
    }
    assert_eq!(ok(f.berth(&["rm", "c1"])).trim(), "c1");
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "");
}

#[test]
fn run_detached_stop_kill_restart_rm() {
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.berth(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]));
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(
        ok(f.berth(&["inspect", "-f", "{{.State.Running}}", "d1"])).trim(),
        "true"
    );
    // Running: rm without -f is refused with the daemon's message, exit 1.
    let refused = f.berth(&["rm", "d1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert_stderr_contains(
        &refused,
        "Error response from daemon: cannot remove container",
    );
    assert_eq!(ok(f.berth(&["stop", "-t", "1", "d1"])).trim(), "d1");
    let code = ok(f.berth(&["inspect", "-f", "{{.State.ExitCode}}", "d1"]));
    assert!(matches!(code.trim(), "137" | "143"), "{code}");
    ok(f.berth(&["start", "d1"]));
    assert_eq!(ok(f.berth(&["kill", "-s", "KILL", "d1"])).trim(), "d1");
    assert_eq!(ok(f.berth(&["wait", "d1"])).trim(), "137");
    assert_eq!(ok(f.berth(&["rm", "-f", "d1"])).trim(), "d1");
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "");
}

#[test]
fn restart_brings_a_container_back() {
    let Some(f) = Fixture::new() else { return };
    ok(f.berth(&["run", "-d", "--name", "r1", "busybox", "sleep", "100"]));
    let before = ok(f.berth(&["inspect", "-f", "{{.State.StartedAt}}", "r1"]));
    let restart = f.berth(&["restart", "-t", "1", "r1"]);
    if text(&restart.stderr).contains("page not found") {
        eprintln!("skipped: this daemon has no restart endpoint yet");
        return;
    }
    assert_eq!(ok(restart).trim(), "r1");
    let after = ok(f.berth(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.StartedAt}}",
        "r1",
    ]));
    assert!(after.starts_with("true "), "{after}");
    assert_ne!(after.trim_start_matches("true ").trim(), before.trim());
}

#[test]
fn multi_argument_commands_report_each_failure_and_exit_1() {
    let Some(f) = Fixture::new() else { return };
    ok(f.berth(&["run", "-d", "--name", "m1", "busybox", "sleep", "100"]));
    ok(f.berth(&["run", "-d", "--name", "m2", "busybox", "sleep", "100"]));
    let stop = f.berth(&["stop", "-t", "1", "m1", "nosuch", "m2"]);
    assert_eq!(stop.status.code(), Some(1), "{}", describe(&stop));
    assert_eq!(text(&stop.stdout), "m1\nm2\n");
    assert_eq!(
        text(&stop.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
    let kill = f.berth(&["kill", "m1", "nosuch"]);
    assert_eq!(kill.status.code(), Some(1));
    assert_stderr_contains(&kill, "is not running");
    assert_stderr_contains(&kill, "No such container: nosuch");
    let start = f.berth(&["start", "nosuch", "m1"]);
    assert_eq!(start.status.code(), Some(1));
    assert_eq!(text(&start.stdout), "m1\n");
    assert_eq!(
        text(&start.stderr),
        "Error response from daemon: No such container: nosuch\nError: failed to start containers: nosuch\n"
    );
    let wait = f.berth(&["wait", "m2", "nosuch"]);
    assert_eq!(wait.status.code(), Some(1));
    assert!(
        matches!(text(&wait.stdout).trim(), "137" | "143"),
        "{}",
        describe(&wait)
    );
    let rm = f.berth(&["rm", "-f", "m1", "nosuch", "m2"]);
    assert_eq!(rm.status.code(), Some(1));
    assert_eq!(text(&rm.stdout), "m1\nm2\n");
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "");
}

#[test]
fn exit_codes_for_flags_daemon_errors_and_missing_commands() {
    let Some(f) = Fixture::new() else { return };
    // Bad flags: 125 before anything is created.
    for args in [
        &["run", "--bogus", "busybox"][..],
        &["run", "-m", "12x", "busybox"],
        &["run", "--cpus", "abc", "busybox"],
        &["run", "--ulimit", "nofile=5:2", "busybox"],
        &["run", "--restart", "on-failure:x", "busybox"],
        &["run", "--pull", "sometimes", "busybox"],
        &["run", "--rm", "--restart", "always", "busybox"],
    ] {
        let out = f.berth(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", describe(&out));
        let docker = f.docker(args);
        assert_eq!(docker.status.code(), Some(125), "docker {args:?}");
    }
    let bad = f.berth(&["run", "-m", "12x", "busybox"]);
    assert_stderr_contains(
        &bad,
        "invalid argument \"12x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
    );
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "");
    // A missing image with --pull never: the daemon's 404, exit 125.
    let never = f.berth(&["run", "--pull", "never", "nosuch:1"]);
    assert_eq!(never.status.code(), Some(125));
    assert_stderr_contains(
        &never,
        "berth: Error response from daemon: No such image: nosuch:1",
    );
    // --pull missing (the default): Docker's notice, then the pull's error.
    let missing = f.berth(&["run", "nosuch"]);
    assert_eq!(missing.status.code(), Some(125), "{}", describe(&missing));
    let docker_missing = f.docker(&["run", "nosuch"]);
    assert_eq!(docker_missing.status.code(), Some(125));
    assert!(text(&missing.stderr).starts_with("Unable to find image 'nosuch:latest' locally\n"));
    // The same pull error text as the docker CLI shows.
    let pull_error = |s: &str| {
        s.lines()
            .nth(1)
            .unwrap_or_default()
            .split_once(": ")
            .map(|(_, m)| m.to_string())
    };
    assert_eq!(
        pull_error(&text(&missing.stderr)),
        pull_error(&text(&docker_missing.stderr))
    );
    // A command that is not there: 127; one that cannot be run: 126 (detached, so the
    // start error is all there is).
    let not_found = f.berth(&["run", "-d", "busybox", "nosuchcmd"]);
    assert_eq!(
        not_found.status.code(),
        Some(127),
        "{}",
        describe(&not_found)
    );
    assert_stderr_contains(&not_found, "executable file not found");
    let not_runnable = f.berth(&["run", "-d", "busybox", "/etc"]);
    assert_eq!(
        not_runnable.status.code(),
        Some(126),
        "{}",
        describe(&not_runnable)
    );
    // A name in use: the daemon's conflict, 125.
    ok(f.berth(&["create", "--name", "taken", "busybox"]));
    let conflict = f.berth(&["run", "-d", "--name", "taken", "busybox"]);
    assert_eq!(conflict.status.code(), Some(125));
    assert_stderr_contains(
        &conflict,
        "Conflict. The container name \"/taken\" is already in use",
    );
}

#[test]
fn run_flags_reach_the_container_config() {
    let Some(f) = Fixture::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "A=1\n# comment\nB= two \n").unwrap();
    ok(f.berth(&[
        "create",
        "--name",
        "cfg",
        "-e",
        "X=1",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "1:2",
        "-h",
        "hn",
        "-l",
        "a=b",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "100",
        "--ulimit",
        "nofile=100:200",
        "--cap-add",
        "net_admin",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "--init",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "5",
        "--restart",
        "on-failure:3",
        "--network",
        "none",
        "busybox",
        "echo",
        "hi",
    ]));
    let template = "{{.Config.Env}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{.Config.Hostname}}|{{.Config.Labels}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.PidsLimit}}|{{.HostConfig.Ulimits}}|{{.HostConfig.CapAdd}}|{{.HostConfig.ReadonlyRootfs}}|{{.HostConfig.Tmpfs}}|{{.HostConfig.Init}}|{{.Config.StopSignal}}|{{.Config.StopTimeout}}|{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}|{{.HostConfig.NetworkMode}}|{{.Config.Cmd}}";
    let fields = same_output(&f, &["inspect", "-f", template, "cfg"]);
    assert!(
        fields.starts_with("[A=1 B= two  X=1 PATH="),
        "env file first, then -e: {fields}"
    );
    assert!(
        fields.trim().ends_with("]|/tmp|1:2|hn|map[a:b]|67108864|1500000000|100|[map[Hard:200 Name:nofile Soft:100]]|[CAP_NET_ADMIN]|true|map[/run:size=1m]|true|SIGUSR1|5|on-failure:3|none|[echo hi]"),
        "{fields}"
    );
    // docker's own create with the same flags gives the same configuration.
    ok(f.docker(&[
        "create",
        "--name",
        "cfg2",
        "-e",
        "X=1",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "1:2",
        "-h",
        "hn",
        "-l",
        "a=b",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "100",
        "--ulimit",
        "nofile=100:200",
        "--cap-add",
        "net_admin",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "--init",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "5",
        "--restart",
        "on-failure:3",
        "--network",
        "none",
        "busybox",
        "echo",
        "hi",
    ]));
    assert_eq!(ok(f.berth(&["inspect", "-f", template, "cfg2"])), fields);
}

#[test]
fn ps_table_and_formats_match_the_docker_cli() {
    let Some(f) = Fixture::new() else { return };
    ok(f.berth(&[
        "create",
        "--name",
        "p-created",
        "-l",
        "k=v",
        "busybox",
        "sh",
        "-c",
        "echo a long command line here",
    ]));
    ok(f.berth(&[
        "run",
        "-d",
        "--name",
        "p-running",
        "busybox",
        "sleep",
        "100",
    ]));
    ok(f.berth(&[
        "run", "-d", "--name", "p-exited", "busybox", "sh", "-c", "exit 3",
    ]));
    ok(f.berth(&["wait", "p-exited"]));
    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-aq"],
        &["ps", "-a", "-q", "--no-trunc"],
        &["ps", "-l"],
        &["ps", "-n", "2"],
        &["ps", "-a", "--filter", "name=p-running"],
        &["ps", "-a", "--filter", "status=exited"],
        &[
            "ps",
            "-a",
            "--format",
            "{{.Names}} {{.Status}} {{.Command}} {{.Labels}}",
        ],
        &[
            "ps",
            "-a",
            "--format",
            "table {{.ID}}\t{{.Names}}\t{{.State}}",
        ],
        &["ps", "-a", "--format", "json"],
        &["ps", "-a", "-s"],
        &["ps", "-a", "--format", "{{.Names}} {{.Size}}"],
        &["container", "ls", "-a"],
        &["container", "list"],
    ] {
        same_output(&f, args);
    }
    let table = same_output(&f, &["ps", "-a"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("CONTAINER ID   IMAGE     COMMAND"),
        "{header}"
    );
    assert!(table.contains("\"sh -c echo a long c…\""), "{table}");
    assert!(table.contains("Exited (3) "), "{table}");
    assert!(table.contains(" Created "), "{table}");
    assert!(table.contains("Up "), "{table}");
}

#[test]
fn inspect_rename_and_aliases() {
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.berth(&["container", "create", "--name", "old", "busybox"]));
    let id = id.trim();
    // Generic inspect finds containers and images; --type narrows it.
    let both: serde_json::Value =
        serde_json::from_str(&ok(f.berth(&["inspect", "old", "busybox"]))).unwrap();
    assert_eq!(both[0]["Id"], id);
    assert!(both[1]["RepoTags"].is_array(), "{both}");
    assert_eq!(
        ok(f.berth(&["inspect", "--format", "{{.Name}}", "old"])),
        ok(f.docker(&["inspect", "--format", "{{.Name}}", "old"]))
    );
    let missing = f.berth(&["inspect", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(text(&missing.stdout), "[]\n");
    assert_eq!(text(&missing.stderr), "Error: No such object: nosuch\n");
    let typed = f.berth(&["inspect", "--type", "container", "busybox"]);
    assert_eq!(typed.status.code(), Some(1));
    assert_stderr_contains(&typed, "No such container: busybox");
    let bad_type = f.berth(&["inspect", "--type", "bogus", "old"]);
    assert_eq!(bad_type.status.code(), Some(1));
    assert_stderr_contains(&bad_type, "unknown type: \"bogus\"");
    same_output(
        &f,
        &[
            "container",
            "inspect",
            "-s",
            "-f",
            "{{.Name}} {{.SizeRootFs}}",
            "old",
        ],
    );
    // Rename, when the daemon has it.
    let rename = f.berth(&["rename", "old", "new"]);
    if text(&rename.stderr).contains("page not found") {
        eprintln!("note: this daemon has no rename endpoint yet");
    } else {
        assert!(rename.status.success(), "{}", describe(&rename));
        assert_eq!(
            ok(f.berth(&["container", "inspect", "-f", "{{.Name}}", id])).trim(),
            "/new"
        );
        ok(f.berth(&["container", "rename", "new", "old"]));
    }
    assert_eq!(ok(f.berth(&["container", "rm", "old"])).trim(), "old");
    let detached = ok(f.berth(&["container", "run", "-d", "busybox", "true"]));
    assert_eq!(detached.trim().len(), 64);
    ok(f.berth(&["container", "wait", detached.trim()]));
    ok(f.berth(&["container", "remove", detached.trim()]));
}

// ---- needs attach (hijacked connections in the daemon) ----

#[test]
fn foreground_run_streams_output_and_exits_with_the_containers_code() {
    let Some(f) = Fixture::new() else { return };
    let out = f.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "", "--rm removed it");
    // stdin reaches the process and its EOF ends it.
    let cat = f.berth_with_stdin(&["run", "--rm", "-i", "busybox", "cat"], b"hello\n");
    assert_eq!(ok(cat), "hello\n");
    // -a stdout: stderr is not attached.
    let only_out = f.berth(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "busybox",
        "sh",
        "-c",
        "echo o; echo e >&2",
    ]);
    assert_eq!(
        (text(&only_out.stdout), text(&only_out.stderr)),
        ("o\n".into(), String::new())
    );
    // A missing command in the foreground: 127, and --rm still removes it.
    let missing = f.berth(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(missing.status.code(), Some(127), "{}", describe(&missing));
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "");
}

#[test]
fn start_attach_and_exec() {
    let Some(f) = Fixture::new() else { return };
    ok(f.berth(&[
        "create",
        "--name",
        "sa",
        "busybox",
        "sh",
        "-c",
        "echo started; exit 4",
    ]));
    let started = f.berth(&["start", "-a", "sa"]);
    assert_eq!(started.status.code(), Some(4), "{}", describe(&started));
    assert_eq!(text(&started.stdout), "started\n");
    ok(f.berth(&["run", "-d", "--name", "ex", "busybox", "sleep", "100"]));
    let exec = f.berth(&[
        "exec",
        "-e",
        "V=1",
        "-w",
        "/tmp",
        "ex",
        "sh",
        "-c",
        "echo $V $(pwd); exit 5",
    ]);
    assert_eq!(exec.status.code(), Some(5), "{}", describe(&exec));
    assert_eq!(text(&exec.stdout), "1 /tmp\n");
    let piped = f.berth_with_stdin(&["exec", "-i", "ex", "cat"], b"piped\n");
    assert_eq!(ok(piped), "piped\n");
    let missing = f.berth(&["exec", "ex", "nosuchcmd"]);
    assert!(
        matches!(missing.status.code(), Some(126) | Some(127)),
        "{}",
        describe(&missing)
    );
    ok(f.berth(&["exec", "-d", "ex", "sleep", "1"]));
    let attach_stopped = f.berth(&["attach", "sa"]);
    assert_eq!(attach_stopped.status.code(), Some(1));
    assert_stderr_contains(
        &attach_stopped,
        "cannot attach to a stopped container, start it first",
    );
}

#[test]
fn signals_are_proxied_without_a_tty() {
    let Some(f) = Fixture::new() else { return };
    let child = Command::new(bin_path("berth"))
        .args([
            "run",
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got; exit 3' TERM; echo ready; sleep 100 & wait",
        ])
        .env("BERTH_HOST", f.daemon.host())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    f.wait_until("the container printed ready", || {
        text(&f.berth(&["logs", "sig"]).stdout).contains("ready")
    });
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "ready\ngot\n");
}

/// A pty pair: the CLI gets the slave as stdin/stdout/stderr; the test reads the master.
struct Pty {
    master: std::fs::File,
    slave: std::os::fd::OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn open(rows: u16, cols: u16) -> Pty {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave: std::os::fd::OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap()
            .into();
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, size).unwrap();
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Pty {
            master,
            slave,
            output,
        }
    }

    fn spawn(&self, host: &str, args: &[&str]) -> std::process::Child {
        let io = || Stdio::from(self.slave.try_clone().unwrap());
        Command::new(bin_path("berth"))
            .args(args)
            .env("BERTH_HOST", host)
            .stdin(io())
            .stdout(io())
            .stderr(io())
            .spawn()
            .unwrap()
    }

    fn resize(&self, rows: u16, cols: u16) {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, size).unwrap();
    }

    fn send(&self, bytes: &[u8]) {
        (&self.master).write_all(bytes).unwrap();
    }

    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = text(&self.output.lock().unwrap());
            if seen.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?} in {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn is_cooked(&self) -> bool {
        use rustix::termios::LocalModes;
        let attrs = rustix::termios::tcgetattr(&self.slave).unwrap();
        attrs
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO)
    }
}

fn wait_child(child: &mut std::process::Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interactive_tty_raw_mode_size_detach_and_restore() {
    let Some(f) = Fixture::new() else { return };
    let pty = Pty::open(30, 100);
    assert!(pty.is_cooked());
    let mut child = pty.spawn(
        &f.daemon.host(),
        &["run", "-it", "--name", "tty1", "busybox", "sh"],
    );
    pty.wait_for("# ");
    assert!(!pty.is_cooked(), "the terminal is raw while attached");
    pty.send(b"stty size; echo done-$((40+2))\r");
    pty.wait_for("done-42");
    assert!(
        text(&pty.output.lock().unwrap()).contains("30 100"),
        "stty size sees the pty size"
    );
    // ctrl-p ctrl-q: detach, exit 0, container still running, terminal restored.
    pty.send(&[16, 17]);
    assert_eq!(wait_child(&mut child), Some(0));
    assert!(pty.is_cooked(), "the terminal is restored");
    assert_eq!(
        ok(f.berth(&["inspect", "-f", "{{.State.Running}}", "tty1"])).trim(),
        "true"
    );
    // attach again; a size change (SIGWINCH) reaches the container; detaching from attach
    // prints docker's message and exits 1.
    let mut attach = pty.spawn(&f.daemon.host(), &["attach", "tty1"]);
    pty.send(b"echo again-$((1+1))\r");
    pty.wait_for("again-2");
    pty.resize(40, 120);
    let pid = rustix::process::Pid::from_raw(attach.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::WINCH).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        pty.send(b"stty size\r");
        std::thread::sleep(Duration::from_millis(100));
        if text(&pty.output.lock().unwrap()).contains("40 120") {
            break;
        }
        assert!(Instant::now() < deadline, "the new size never arrived");
    }
    pty.send(&[16, 17]);
    assert_eq!(wait_child(&mut attach), Some(1));
    pty.wait_for("read escape sequence");
    assert!(pty.is_cooked());
    // exec -it sees the size too, and its exit code comes back; then the shell exits.
    let mut exec = pty.spawn(&f.daemon.host(), &["exec", "-it", "tty1", "sh"]);
    pty.send(b"stty size; exit 6\r");
    assert_eq!(wait_child(&mut exec), Some(6));
    assert!(pty.is_cooked());
    let mut rerun = pty.spawn(
        &f.daemon.host(),
        &["run", "--rm", "-it", "busybox", "sh", "-c", "exit 7"],
    );
    assert_eq!(wait_child(&mut rerun), Some(7));
    assert!(pty.is_cooked());
}

#[test]
fn tty_needs_a_terminal_on_stdin() {
    let Some(f) = Fixture::new() else { return };
    let out = f.berth_with_stdin(&["run", "-it", "busybox", "true"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(text(&out.stderr), "the input device is not a TTY\n");
    assert_eq!(ok(f.berth(&["ps", "-aq"])), "", "nothing was created");
}
