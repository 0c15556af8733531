//! Health checks through the real docker CLI and docker-py: `--health-*` flags and an
//! image's HEALTHCHECK, starting/healthy/unhealthy with the failing streak and the last
//! probes in `State.Health`, `health_status` events, ps status text and the `health`
//! filter, `--no-healthcheck`, a probe timeout, and the `berth.health-on-failure` label.
//! Probes run every second; waits poll with generous deadlines. Needs root; every test
//! removes its containers before its daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::{ok, poll};
use berth_conformance::Daemon;
use std::process::Output;
use std::time::{Duration, Instant};

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

    /// Polls `docker args` until `check` holds on its output (30 s deadline).
    fn wait_for(&self, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        poll(Duration::from_secs(30), || {
            let out = ok(self.docker(args));
            match check(&out) {
                true => Ok(out),
                false => Err(format!("{args:?} never satisfied the check; last:\n{out}")),
            }
        })
    }

    fn health(&self, name: &str) -> serde_json::Value {
        let out = ok(self.docker(&["inspect", "-f", "{{json .State.Health}}", name]));
        serde_json::from_str(out.trim()).expect("health JSON")
    }

    fn wait_health(&self, name: &str, status: &str) -> serde_json::Value {
        self.wait_for(&["inspect", "-f", "{{.State.Health.Status}}", name], |s| {
            s.trim() == status
        });
        self.health(name)
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
fn health_cmd_turns_unhealthy_then_healthy() {
    let Some(f) = Fixture::new() else { return };
    let since = chrono::Utc::now().timestamp().to_string();
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]));
    // Probed every 30 s: starting until then.
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "30s",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(f.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"]));
    let slow = ok(f.docker(&["ps", "--filter", "name=slow", "--format", "{{.Status}}"]));
    assert!(slow.trim().ends_with("(health: starting)"), "{slow}");
    let starting = ok(f.docker(&[
        "ps",
        "--filter",
        "health=starting",
        "--format",
        "{{.Names}}",
    ]));
    assert!(starting.lines().any(|l| l == "slow"), "{starting}");
    let none = ok(f.docker(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]));
    assert_eq!(none.trim(), "plain");
    let fresh = f.health("slow");
    assert_eq!(fresh["Status"], "starting");
    assert_eq!(fresh["FailingStreak"], 0);

    let health = f.wait_health("hc", "unhealthy");
    assert!(health["FailingStreak"].as_i64().unwrap() >= 2, "{health}");
    let log = health["Log"].as_array().expect("Log");
    assert!(!log.is_empty() && log.len() <= 5, "{health}");
    for entry in log {
        assert_eq!(entry["ExitCode"], 1, "{entry}");
        assert!(
            entry["Start"].as_str().unwrap().starts_with("20"),
            "{entry}"
        );
        assert!(entry["End"].as_str().unwrap().starts_with("20"), "{entry}");
        assert_eq!(entry["Output"], "", "{entry}");
    }
    let status = ok(f.docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]));
    assert!(status.trim().ends_with("(unhealthy)"), "{status}");
    let unhealthy = ok(f.docker(&["ps", "--filter", "health=unhealthy", "-q"]));
    assert_eq!(unhealthy.lines().count(), 1, "{unhealthy}");

    ok(f.docker(&["exec", "hc", "touch", "/tmp/ok"]));
    let health = f.wait_health("hc", "healthy");
    assert_eq!(health["FailingStreak"], 0);
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0);
    let status = ok(f.docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]));
    assert!(status.trim().ends_with("(healthy)"), "{status}");
    let healthy = ok(f.docker(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]));
    assert_eq!(healthy.trim(), "hc");

    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = ok(f.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=health_status",
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}",
    ]));
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(
        lines,
        [
            "health_status: unhealthy hc busybox",
            "health_status: healthy hc busybox"
        ],
        "{events}"
    );

    // Stopped: probes stop and the last status stays, as with Docker.
    ok(f.docker(&["stop", "-t", "0", "hc"]));
    let stopped = f.health("hc");
    assert_eq!(stopped["Status"], "healthy");
    // A new run starts over.
    ok(f.docker(&["start", "hc"]));
    let restarted = f.health("hc");
    assert_eq!(restarted["Status"], "starting", "{restarted}");
}

#[test]
fn image_healthcheck_and_no_healthcheck() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["create", "--name", "base", "busybox"]));
    ok(f.docker(&[
        "commit",
        "--change",
        "HEALTHCHECK --interval=1s --retries=1 CMD echo probing",
        "base",
        "hc-image:1",
    ]));
    let config = ok(f.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "hc-image:1",
    ]));
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD-SHELL", "echo probing"])
    );
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "from-image",
        "hc-image:1",
        "sleep",
        "300",
    ]));
    let health = f.wait_health("from-image", "healthy");
    let log = health["Log"].as_array().unwrap();
    assert_eq!(log[0]["Output"], "probing\n", "{health}");
    // The request's flags fill in over the image's.
    ok(f.docker(&[
        "create",
        "--name",
        "override",
        "--health-retries",
        "7",
        "hc-image:1",
    ]));
    let merged = ok(f.docker(&["inspect", "-f", "{{json .Config.Healthcheck}}", "override"]));
    let merged: serde_json::Value = serde_json::from_str(merged.trim()).unwrap();
    assert_eq!(merged["Retries"], 7);
    assert_eq!(merged["Interval"], 1_000_000_000i64);
    assert_eq!(merged["Test"], config["Test"]);

    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "unchecked",
        "--no-healthcheck",
        "hc-image:1",
        "sleep",
        "300",
    ]));
    let test = ok(f.docker(&[
        "inspect",
        "-f",
        "{{json .Config.Healthcheck.Test}}",
        "unchecked",
    ]));
    assert_eq!(test.trim(), r#"["NONE"]"#);
    std::thread::sleep(Duration::from_millis(1500));
    let state = ok(f.docker(&["inspect", "-f", "{{json .State.Health}}", "unchecked"]));
    assert_eq!(state.trim(), "null");
    let none = ok(f.docker(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]));
    assert_eq!(none.trim(), "unchecked");
    ok(f.docker(&["rmi", "-f", "hc-image:1"]));
}

#[test]
fn a_probe_past_its_timeout_fails_with_dockers_message() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "slowprobe",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    let health = f.wait_health("slowprobe", "unhealthy");
    let entry = &health["Log"][0];
    assert_eq!(entry["ExitCode"], -1, "{health}");
    assert_eq!(entry["Output"], "Health check exceeded timeout (1s)");
    // Timed-out probes are killed: at most the current one is left (its shell and sleep).
    let top = ok(f.docker(&["top", "slowprobe"]));
    let probes = top.lines().filter(|l| l.ends_with("sleep 30")).count();
    assert!(probes <= 2, "{top}");
}

#[test]
fn health_on_failure_label_kills_an_unhealthy_container() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "doomed",
        "--label",
        "berth.health-on-failure=kill",
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    f.wait_for(&["inspect", "-f", "{{.State.Status}}", "doomed"], |s| {
        s.trim() == "exited"
    });
    let state = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.Health.Status}}",
        "doomed",
    ]));
    assert_eq!(state.trim(), "137 unhealthy");

    // `restart` brings it back up, starting over.
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--label",
        "berth.health-on-failure=restart",
        "--health-cmd",
        "test -f /tmp/once || (touch /tmp/once; false)",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    let first = ok(f.docker(&["inspect", "-f", "{{.State.StartedAt}}", "phoenix"]));
    f.wait_for(&["inspect", "-f", "{{.State.StartedAt}}", "phoenix"], |s| {
        s != first
    });
    f.wait_health("phoenix", "healthy");

    let bad = f.docker(&[
        "create",
        "--label",
        "berth.health-on-failure=explode",
        "busybox",
    ]);
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(message.contains("berth.health-on-failure"), "{message}");
}

#[test]
fn docker_py_healthcheck() {
    let Some(f) = Fixture::new() else { return };
    let out = f.daemon.python(
        r#"
import docker, time
client = docker.from_env()
c = client.containers.run("busybox", "sleep 300", detach=True, name="pyhc",
    healthcheck={"test": ["CMD", "true"], "interval": 1000000000, "retries": 1})
try:
    deadline = time.time() + 30
    while True:
        c.reload()
        health = c.attrs["State"]["Health"]
        if health["Status"] == "healthy":
            break
        assert time.time() < deadline, health
        time.sleep(0.1)
    assert health["FailingStreak"] == 0, health
    assert health["Log"][-1]["ExitCode"] == 0, health
    assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]
    names = [x.name for x in client.containers.list(filters={"health": "healthy"})]
    assert names == ["pyhc"], names
    print("ok")
finally:
    c.remove(force=True)
"#,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// The End of the newest probe result.
fn last_end(health: &serde_json::Value) -> String {
    health["Log"]
        .as_array()
        .and_then(|l| l.last())
        .map_or(String::new(), |e| e["End"].as_str().unwrap().to_string())
}

#[test]
fn paused_containers_are_not_probed_and_probes_resume_after_live_restore() {
    let Some(mut f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "steady",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]));
    f.wait_health("steady", "healthy");
    ok(f.docker(&["pause", "steady"]));
    let frozen = last_end(&f.health("steady"));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(last_end(&f.health("steady")), frozen, "probed while paused");
    ok(f.docker(&["unpause", "steady"]));
    f.wait_for(
        &["inspect", "-f", "{{json .State.Health}}", "steady"],
        |s| {
            let h: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
            last_end(&h) != frozen
        },
    );

    let before = last_end(&f.health("steady"));
    f.daemon.restart();
    // Live restore: the same container, probed again (the status starts over, as moby).
    f.wait_for(
        &["inspect", "-f", "{{json .State.Health}}", "steady"],
        |s| {
            let h: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
            last_end(&h) > before && h["Status"] == "healthy"
        },
    );
    let log = f.health("steady")["Log"].as_array().unwrap().len();
    assert!(log <= 5, "{log}");
}

#[test]
fn berth_health_on_failure_flag_is_the_label_and_stop_stops() {
    let Some(f) = Fixture::new() else { return };
    let out = f.daemon.berth(&[
        "create",
        "--name",
        "viaberth",
        "--health-on-failure",
        "stop",
        "busybox",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let label = ok(f.docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"berth.health-on-failure\"}}",
        "viaberth",
    ]));
    assert_eq!(label.trim(), "stop");
    let since = chrono::Utc::now().timestamp().to_string();
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "stopper",
        "--stop-timeout",
        "1",
        "--label",
        "berth.health-on-failure=stop",
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    f.wait_for(&["inspect", "-f", "{{.State.Status}}", "stopper"], |s| {
        s.trim() == "exited"
    });
    // Stopped by the daemon, as `docker stop` would: the restart policy keeps it down.
    let events = ok(f.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &(chrono::Utc::now().timestamp() + 1).to_string(),
        "--filter",
        "container=stopper",
        "--format",
        "{{.Action}}",
    ]));
    assert!(events.lines().any(|l| l == "stop"), "{events}");
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "warming",
        "--health-cmd",
        "exit 3",
        "--health-interval",
        "30s",
        "--health-start-period",
        "60s",
        "--health-start-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    // Probed every start interval, failing, but still starting with no streak.
    f.wait_for(
        &["inspect", "-f", "{{len .State.Health.Log}}", "warming"],
        |s| s.trim().parse::<usize>().unwrap_or(0) >= 2,
    );
    let health = f.health("warming");
    assert_eq!(health["Status"], "starting", "{health}");
    assert_eq!(health["FailingStreak"], 0, "{health}");
    assert_eq!(health["Log"][0]["ExitCode"], 3, "{health}");
    let config = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.Config.Healthcheck.StartPeriod}} {{.Config.Healthcheck.StartInterval}}",
        "warming",
    ]));
    assert_eq!(config.trim(), "1m0s 1s");
}

#[test]
fn many_probes_leave_the_shim_serving() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--health-cmd",
        "true",
        "--health-interval",
        "20ms",
        "busybox",
        "sleep",
        "300",
    ]));
    // Well past the shim's 32 remembered execs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut probes = 0;
    let mut last = String::new();
    while probes < 80 {
        assert!(Instant::now() < deadline, "only {probes} probes");
        let end = last_end(&f.health("busy"));
        if end != last {
            probes += 1;
            last = end;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(f.health("busy")["Status"], "healthy");
    assert_eq!(ok(f.docker(&["exec", "busy", "echo", "hi"])).trim(), "hi");
    let code = f.docker(&["exec", "busy", "sh", "-c", "exit 7"]);
    assert_eq!(code.status.code(), Some(7));
}
