//! Containers through the real docker CLI and docker-py: create, start, wait, logs, run -d,
//! ps, inspect, stop, kill, rm (plain, forced, refused), --rm, exit codes, name conflicts.
//! Needs root (mounts, namespaces); every test removes its containers before the daemon
//! stops, so nothing outlives the test.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::{ok, poll, stderr};
use berth_conformance::Daemon;
use std::process::Output;
use std::time::Duration;

/// A daemon with busybox loaded; on drop, force-removes every container before the daemon
/// stops, so no container or shim outlives the test (a live-restore daemon keeps them).
struct Fixture {
    daemon: Daemon,
}

impl Fixture {
    /// None (the test passes with a note) when not root: containers need mounts.
    fn new() -> Option<Fixture> {
        let daemon = berth_conformance::fixture::daemon_with_busybox()?;
        Some(Fixture { daemon })
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    /// Polls `docker ps -a` output until `check` holds or the deadline passes.
    fn wait_for_ps(&self, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        poll(Duration::from_secs(30), || {
            let out = ok(self.docker(args));
            match check(&out) {
                true => Ok(out),
                false => Err(format!("condition never held; last:\n{out}")),
            }
        })
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

#[test]
fn create_start_wait_logs_rm() {
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.docker(&["create", "--name", "c1", "busybox", "echo", "hi"]));
    assert_eq!(id.trim().len(), 64, "{id}");
    let status = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.StartedAt}}",
        "c1",
    ]));
    assert_eq!(status.trim(), "created 0001-01-01T00:00:00Z");
    assert_eq!(ok(f.docker(&["start", "c1"])).trim(), "c1");
    assert_eq!(ok(f.docker(&["wait", "c1"])).trim(), "0");
    let logs = f.docker(&["logs", "c1"]);
    assert_eq!(ok(logs).trim_end(), "hi");
    let fields = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Path}} {{.Args}}",
        &id.trim()[..12],
    ]));
    assert_eq!(fields.trim(), "exited 0 /c1 echo [hi]");
    let ps = ok(f.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.starts_with("c1 Exited (0) "), "{ps}");
    assert_eq!(ok(f.docker(&["rm", "c1"])).trim(), "c1");
    assert_eq!(ok(f.docker(&["ps", "-aq"])).trim(), "");
    let gone = f.docker(&["container", "inspect", "c1"]);
    assert!(
        stderr(&gone).contains("No such container: c1"),
        "{}",
        describe(&gone)
    );
}

#[test]
fn run_detached_ps_inspect_stop_rm() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--name", "c2", "busybox", "sleep", "100"]));
    let ps = ok(f.docker(&[
        "ps",
        "--format",
        "{{.Names}}|{{.Status}}|{{.Command}}|{{.Image}}",
    ]));
    assert!(ps.starts_with("c2|Up "), "{ps}");
    assert!(ps.contains("|\"sleep 100\"|busybox"), "{ps}");
    let state = ok(f.docker(&["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "c2"]));
    let (running, pid) = state.trim().split_once(' ').unwrap();
    assert_eq!(running, "true");
    let pid: u32 = pid.parse().unwrap();
    assert!(pid > 1 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    let refused = f.docker(&["rm", "c2"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("cannot remove container \"/c2\": container is running: stop the container before removing or force remove"),
        "{}",
        describe(&refused)
    );
    assert_eq!(ok(f.docker(&["stop", "-t", "1", "c2"])).trim(), "c2");
    let ps = ok(f.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(
        ps.starts_with("c2 Exited (137) ") || ps.starts_with("c2 Exited (143) "),
        "{ps}"
    );
    assert_eq!(ok(f.docker(&["ps", "-q"])).trim(), "");
    ok(f.docker(&["rm", "c2"]));
}

#[test]
fn run_rm_leaves_nothing_and_exit_codes_come_through() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--rm", "busybox", "true"]));
    f.wait_for_ps(&["ps", "-aq"], |out| out.trim().is_empty());
    ok(f.docker(&[
        "run", "-d", "--name", "three", "busybox", "sh", "-c", "exit 3",
    ]));
    assert_eq!(ok(f.docker(&["wait", "three"])).trim(), "3");
    let code = ok(f.docker(&["inspect", "-f", "{{.State.ExitCode}}", "three"]));
    assert_eq!(code.trim(), "3");
    ok(f.docker(&["rm", "three"]));
    // A `--rm` container whose start fails goes too (moby removes it), and the docker CLI's
    // wait for its removal returns with the start error's exit code.
    let missing = f.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", describe(&missing));
    f.wait_for_ps(&["ps", "-aq"], |out| out.trim().is_empty());
}

#[test]
fn name_conflict_kill_and_force_rm() {
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.docker(&["run", "-d", "--name", "dup", "busybox", "sleep", "100"]));
    let conflict = f.docker(&["create", "--name", "dup", "busybox"]);
    assert!(!conflict.status.success());
    let expected = format!(
        "Conflict. The container name \"/dup\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
        id.trim()
    );
    assert!(
        stderr(&conflict).contains(&expected),
        "{}",
        describe(&conflict)
    );
    ok(f.docker(&["kill", "dup"]));
    assert_eq!(ok(f.docker(&["wait", "dup"])).trim(), "137");
    let not_running = f.docker(&["kill", "dup"]);
    let expected = format!("Container {} is not running", id.trim());
    assert!(
        stderr(&not_running).contains(&expected),
        "{}",
        describe(&not_running)
    );
    ok(f.docker(&["start", "dup"]));
    let state = ok(f.docker(&["inspect", "-f", "{{.State.Running}}", "dup"]));
    assert_eq!(state.trim(), "true");
    assert_eq!(ok(f.docker(&["rm", "-f", "dup"])).trim(), "dup");
    assert_eq!(ok(f.docker(&["ps", "-aq"])).trim(), "");
}

#[test]
fn docker_py_run_wait_logs_remove() {
    let Some(f) = Fixture::new() else { return };
    let out = f.daemon.python(
        r#"
import docker
client = docker.from_env()
c = client.containers.run("busybox", "echo hi", detach=True)
print(c.wait()["StatusCode"])
print(c.logs().decode().strip())
c.remove()
print(len(client.containers.list(all=True)))
"#,
    );
    assert_eq!(ok(out).trim(), "0\nhi\n0");
}

#[test]
fn logs_streams_tail_timestamps_and_follow() {
    let Some(f) = Fixture::new() else { return };
    let script = "echo out1; echo err1 >&2; echo out2";
    ok(f.docker(&["run", "-d", "--name", "lg", "busybox", "sh", "-c", script]));
    assert_eq!(ok(f.docker(&["wait", "lg"])).trim(), "0");
    let both = f.docker(&["logs", "lg"]);
    assert_eq!(String::from_utf8_lossy(&both.stdout), "out1\nout2\n");
    assert_eq!(stderr(&both), "err1\n");
    // The shim drains stdout and stderr separately, so which of out2 and err1 is last
    // depends on scheduling; either way the tail is one line.
    let tail = f.docker(&["logs", "-t", "--tail", "1", "lg"]);
    let last = format!("{}{}", String::from_utf8_lossy(&tail.stdout), stderr(&tail));
    let (time, text) = last.split_once(' ').unwrap();
    assert!(time.ends_with('Z') && time.len() == 30, "{last}");
    assert!(text == "out2\n" || text == "err1\n", "{last}");
    // follow ends by itself once the container exits, with everything it printed.
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "fl",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ]));
    assert_eq!(ok(f.docker(&["logs", "-f", "fl"])), "a\nb\n");
}

#[test]
fn events_and_a_daemon_restart_keep_the_container() {
    let Some(mut f) = Fixture::new() else { return };
    let id = ok(f.docker(&["run", "-d", "--name", "ev", "busybox", "sleep", "100"]));
    f.daemon.restart();
    let state = ok(f.docker(&["inspect", "-f", "{{.State.Running}}", "ev"]));
    assert_eq!(
        state.trim(),
        "true",
        "the shim keeps the container across a restart"
    );
    ok(f.docker(&["stop", "-t", "1", "ev"]));
    let code = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "ev",
    ]));
    assert!(
        code.trim() == "exited 143" || code.trim() == "exited 137",
        "{code}"
    );
    ok(f.docker(&["rm", "ev"]));
    // An until a second ahead: "now" would cut off events within the current second.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = (now.as_secs() + 1).to_string();
    let events = ok(f.docker(&[
        "events",
        "--since",
        "1",
        "--until",
        &until,
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let actions: Vec<&str> = events.lines().collect();
    // The history is the restarted daemon's: what happened after the restart.
    for expected in ["kill ev", "die ev", "stop ev", "destroy ev"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert!(!id.trim().is_empty());
}

#[test]
fn raw_api_status_codes() {
    let Some(f) = Fixture::new() else { return };
    let d = &f.daemon;
    let missing = d.raw_body("POST", "/v1.47/containers/create", br#"{"Image":"nope"}"#);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such image: nope");
    let created = d.raw_body(
        "POST",
        "/v1.47/containers/create?name=raw",
        br#"{"Image":"busybox","Cmd":["sleep","100"]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["Id"].as_str().unwrap().len(), 64);
    assert!(created.json()["Warnings"].is_array());
    assert_eq!(d.raw("POST", "/v1.47/containers/raw/stop").status, 304);
    assert_eq!(d.raw("POST", "/v1.47/containers/raw/start").status, 204);
    assert_eq!(d.raw("POST", "/v1.47/containers/raw/start").status, 304);
    let bad = d.raw("POST", "/v1.47/containers/raw/wait?condition=soon");
    assert_eq!(bad.status, 400);
    let bad = d.raw("POST", "/v1.47/containers/raw/kill?signal=SIGNOPE");
    assert_eq!(bad.message(), "Invalid signal: SIGNOPE");
    assert_eq!(d.raw("POST", "/v1.47/containers/nope/start").status, 404);
    let refused = d.raw("DELETE", "/v1.47/containers/raw");
    assert_eq!(refused.status, 409);
    assert_eq!(d.raw("DELETE", "/v1.47/containers/raw?force=1").status, 204);
    let rows = d.raw("GET", "/v1.47/containers/json?all=1").json();
    assert_eq!(rows, serde_json::json!([]));
}

#[test]
fn runtime_names_pick_runc_or_are_refused() {
    let Some(f) = Fixture::new() else { return };
    // runc (installed by scripts/setup.sh) instead of the runtime linked into the shim.
    let out = ok(f.docker(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "echo",
        "via runc",
    ]));
    assert_eq!(out.trim(), "via runc");
    let unknown = f.docker(&["create", "--runtime", "no-such-runtime", "busybox"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown or invalid runtime name: no-such-runtime"),
        "{}",
        describe(&unknown)
    );
    f.wait_for_ps(&["ps", "-aq"], |out| out.trim().is_empty());
}
