//! Container lifecycle through the real docker CLI and docker-py: restart policies (with a
//! daemon restart), restart, rename, rm conflicts, ps filters and sizes, logs
//! since/until/details/tail, and a storm of concurrent `run --rm` that must leave nothing
//! behind. Needs root (mounts, namespaces); every test removes its containers before the
//! daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::{ok, poll, stderr};
use berth_conformance::Daemon;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// A daemon with busybox loaded; on drop, force-removes every container before the daemon
/// stops, so no container or shim outlives the test.
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

    fn inspect(&self, name: &str, format: &str) -> String {
        ok(self.docker(&["inspect", "-f", format, name]))
            .trim()
            .to_string()
    }

    /// `docker inspect -s`: "SizeRw SizeRootFs".
    fn inspect_sized(&self, name: &str) -> String {
        ok(self.docker(&["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", name]))
            .trim()
            .to_string()
    }

    /// `docker run -d ARGS` then `docker wait`: a run to the end without attaching.
    fn run_to_end(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let out = self.docker(&all);
        assert!(out.status.success(), "{}", describe(&out));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        ok(self.docker(&["wait", &id])).trim().to_string()
    }

    /// Polls `inspect -f format` until `check` holds (30 s at most).
    fn wait_for(&self, name: &str, format: &str, check: impl Fn(&str) -> bool) -> String {
        poll(Duration::from_secs(30), || {
            let out = self.inspect(name, format);
            match check(&out) {
                true => Ok(out),
                false => Err(format!(
                    "{name}: condition never held; last {format}: {out}"
                )),
            }
        })
    }

    /// Names listed by `docker ps -a` with these extra arguments, newest first.
    fn ps_names(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["ps", "-a", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        ok(self.docker(&all)).lines().map(str::to_string).collect()
    }

    /// Events so far matching `filter`, formatted, oldest first.
    fn events(&self, filter: &str, format: &str) -> Vec<String> {
        let until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1;
        ok(self.docker(&[
            "events",
            "--since",
            "30m",
            "--until",
            &until.to_string(),
            "--filter",
            filter,
            "--format",
            format,
        ]))
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The actions of this container's events so far, oldest first.
    fn actions(&self, name: &str) -> Vec<String> {
        self.events(&format!("container={name}"), "{{.Action}}")
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
fn on_failure_restarts_up_to_the_maximum_then_stays_exited() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "of",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]));
    // Three runs, then down for good: 100 ms and 200 ms of backoff in between.
    f.wait_for("of", "{{.State.Status}} {{.RestartCount}}", |s| {
        s == "exited 2"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        f.inspect(
            "of",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "exited 2 1 on-failure:2"
    );
    let actions = f.actions("of");
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!((count("start"), count("die")), (3, 3), "{actions:?}");
    // A default container echoes Docker's default policy.
    ok(f.docker(&["create", "--name", "plain", "busybox", "true"]));
    assert_eq!(
        f.inspect("plain", "{{json .HostConfig.RestartPolicy}} {{.State.StartedAt}} {{.State.Restarting}} {{.State.Dead}}"),
        r#"{"Name":"no","MaximumRetryCount":0} 0001-01-01T00:00:00Z false false"#
    );
}

#[test]
fn restart_policies_are_validated_with_dockers_messages() {
    let Some(f) = Fixture::new() else { return };
    let out = f.docker(&["run", "-d", "--restart", "sometimes", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ),
        "{}",
        describe(&out)
    );
    let body = br#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#;
    let response = f.daemon.raw_body("POST", "/containers/create", body);
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "can't create 'AutoRemove' container with restart policy"
    );
    let body = br#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}}"#;
    let response = f.daemon.raw_body("POST", "/containers/create", body);
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "invalid restart policy: maximum retry count can only be used with 'on-failure'"
    );
    assert_eq!(
        ok(f.docker(&["ps", "-aq"])).trim(),
        "",
        "nothing was created"
    );
}

#[test]
fn stop_keeps_always_down_until_the_daemon_restarts_and_unless_stopped_down_for_good() {
    let Some(mut f) = Fixture::new() else { return };
    for (name, policy) in [
        ("al", "always"),
        ("us", "unless-stopped"),
        ("live", "always"),
    ] {
        ok(f.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sh",
            "-c",
            // SIGHUP ends it (PID 1 ignores signals it has no handler for).
            "trap 'exit 5' HUP; while true; do sleep 0.1; done",
        ]));
    }
    ok(f.docker(&["stop", "-t", "1", "al", "us"]));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(f.inspect("al", "{{.State.Status}}"), "exited");
    assert_eq!(f.inspect("us", "{{.State.Status}}"), "exited");
    let live_pid = f.inspect("live", "{{.State.Pid}}");
    f.daemon.restart();
    // After a daemon restart: `always` is started again, `unless-stopped` stays stopped,
    // and the running one is still the same process (live restore).
    f.wait_for("al", "{{.State.Status}}", |s| s == "running");
    assert_eq!(f.inspect("us", "{{.State.Status}}"), "exited");
    assert_eq!(
        f.inspect("live", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {live_pid}")
    );
    // The restored monitor still restarts the live one when it dies.
    ok(f.docker(&["kill", "-s", "HUP", "live"]));
    f.wait_for("live", "{{.RestartCount}} {{.State.Status}}", |s| {
        s == "1 running"
    });
}

#[test]
fn a_restarting_container_shows_it_and_stop_cancels_the_restart() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "rs",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    // The backoff doubles, so it soon spends most of its time waiting to restart.
    let seen = f.wait_for(
        "rs",
        "{{.State.Status}} {{.State.Restarting}} {{.State.Running}} {{.State.ExitCode}}",
        |s| s.starts_with("restarting"),
    );
    assert_eq!(seen, "restarting true true 3");
    let status = ok(f.docker(&["ps", "-a", "--filter", "name=rs", "--format", "{{.Status}}"]));
    assert!(
        status.starts_with("Restarting (3) ") || status.starts_with("Up "),
        "{status}"
    );
    let rm = f.docker(&["rm", "rs"]);
    assert!(!rm.status.success());
    let message = stderr(&rm);
    assert!(
        message.contains("cannot remove container \"/rs\": container is restarting")
            || message.contains("cannot remove container \"/rs\": container is running"),
        "{message}"
    );
    ok(f.docker(&["stop", "rs"]));
    let count = f.inspect("rs", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        f.inspect("rs", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {count}")
    );
    ok(f.docker(&["rm", "rs"]));
}

#[test]
fn restart_and_rename() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--name", "r1", "busybox", "sleep", "1000"]));
    let pid = f.inspect("r1", "{{.State.Pid}}");
    ok(f.docker(&["restart", "-t", "1", "r1"]));
    let after = f.inspect("r1", "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}");
    assert!(
        after.starts_with("running ") && after.ends_with(" 0"),
        "{after}"
    );
    assert_ne!(after.split(' ').nth(1).unwrap(), pid);
    let actions = f.actions("r1");
    assert!(
        actions.ends_with(&[
            "kill".to_string(),
            "kill".into(),
            "die".into(),
            "stop".into(),
            "start".into(),
            "restart".into()
        ]),
        "{actions:?}"
    );
    // restart starts an exited container too.
    f.run_to_end(&["--name", "once", "busybox", "true"]);
    ok(f.docker(&["restart", "once"]));
    assert_eq!(ok(f.docker(&["wait", "once"])).trim(), "0");

    // An `--rm` container survives its own restart (the exit is not a removal).
    ok(f.docker(&[
        "run", "-d", "--rm", "--name", "rmr", "busybox", "sleep", "1000",
    ]));
    ok(f.docker(&["restart", "-t", "1", "rmr"]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.inspect("rmr", "{{.State.Status}}"), "running");

    ok(f.docker(&["rename", "r1", "r2"]));
    assert_eq!(f.inspect("r2", "{{.Name}}"), "/r2");
    assert!(!f.docker(&["inspect", "r1"]).status.success());
    let renamed = f.events(
        "event=rename",
        "{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}",
    );
    assert_eq!(renamed, ["/r1 r2"]);
    let other = ok(f.docker(&["create", "--name", "other", "busybox", "true"]));
    let out = f.docker(&["rename", "r2", "other"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "Error when allocating new name: Conflict. The container name \"/other\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            other.trim()
        )),
        "{}",
        describe(&out)
    );
    let out = f.docker(&["rename", "r2", "bad!name"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "Invalid container name (/bad!name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ),
        "{}",
        describe(&out)
    );
    let response = f.daemon.raw("POST", "/containers/r2/rename?name=r2");
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "Renaming a container with the same name as its current name"
    );
    let response = f.daemon.raw("POST", "/containers/r2/rename");
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["message"],
        "Neither old nor new names may be empty"
    );
}

#[test]
fn rm_of_a_running_container_is_refused_and_concurrent_removals_conflict() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]));
    let out = f.docker(&["rm", "-v", "busy"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains(
            "cannot remove container \"/busy\": container is running: stop the container before removing or force remove"
        ),
        "{}",
        describe(&out)
    );
    // Two forced removals at once: one removes it, the other is told it is in progress
    // (or, if it came after, that it is gone).
    let socket = f.daemon.socket.clone();
    let deletes: Vec<_> = (0..2)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                berth_conformance::raw::request(&socket, "DELETE", "/containers/busy?force=1", None)
            })
        })
        .collect();
    let mut statuses: Vec<(u16, String)> = deletes
        .into_iter()
        .map(|t| {
            let r = t.join().unwrap();
            let message = if r.body.is_empty() {
                String::new()
            } else {
                r.json()["message"].as_str().unwrap_or_default().to_string()
            };
            (r.status, message)
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses[0].0, 204, "{statuses:?}");
    match statuses[1] {
        (409, ref m) => assert_eq!(m, "removal of container busy is already in progress"),
        (404, ref m) => assert_eq!(m, "No such container: busy"),
        ref other => panic!("second removal: {other:?}"),
    }
}

#[test]
fn ps_filters_limits_sizes_and_status_texts() {
    let Some(f) = Fixture::new() else { return };
    let bind = tempfile::tempdir().unwrap();
    let bind_arg = format!("{}:/hosttmp", bind.path().display());
    f.run_to_end(&[
        "--name", "fa", "-l", "app=web", "-l", "tier=1", "busybox", "true",
    ]);
    f.run_to_end(&[
        "--name", "fb", "-l", "app=db", "busybox", "sh", "-c", "exit 3",
    ]);
    ok(f.docker(&["create", "--name", "fc", "busybox", "true"]));
    let fd = ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "fd",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(f.docker(&[
        "run", "-d", "--name", "fe", "-v", &bind_arg, "busybox", "sleep", "1000",
    ]));
    let all = ["fe", "fd", "fc", "fb", "fa"];
    let names = |args: &[&str]| f.ps_names(args);
    assert_eq!(names(&[]), all);
    assert_eq!(names(&["--filter", "label=app"]), ["fb", "fa"]);
    assert_eq!(names(&["--filter", "label=app=web"]), ["fa"]);
    assert_eq!(
        names(&["--filter", "label=app", "--filter", "label=tier=1"]),
        ["fa"]
    );
    assert_eq!(names(&["--filter", "name=fa"]), ["fa"]);
    assert_eq!(names(&["--filter", "name=^/fd$"]), ["fd"]);
    assert_eq!(names(&["--filter", &format!("id={}", &fd[..10])]), ["fd"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["fb", "fa"]);
    assert_eq!(names(&["--filter", "status=created"]), ["fc"]);
    assert_eq!(names(&["--filter", "status=running"]), ["fe", "fd"]);
    assert_eq!(names(&["--filter", "exited=3"]), ["fb"]);
    assert_eq!(names(&["--filter", "exited=0"]), ["fa"]);
    assert_eq!(names(&["--filter", "ancestor=busybox"]), all);
    let image_id = ok(f.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    assert_eq!(
        names(&["--filter", &format!("ancestor={}", image_id.trim())]),
        all
    );
    assert!(names(&["--filter", "ancestor=nothere"]).is_empty());
    assert_eq!(names(&["--filter", "before=fc"]), ["fb", "fa"]);
    assert_eq!(names(&["--filter", "since=fb"]), ["fe", "fd", "fc"]);
    assert_eq!(names(&["--filter", "volume=/hosttmp"]), ["fe"]);
    assert_eq!(names(&["--filter", "network=none"]), ["fd"]);
    assert_eq!(names(&["--filter", "health=none"]), all);
    assert_eq!(names(&["--filter", "is-task=false"]), all);
    assert!(names(&["--filter", "is-task=true"]).is_empty());
    assert_eq!(names(&["-n", "2"]), ["fe", "fd"]);
    assert_eq!(names(&["-l"]), ["fe"]);
    // Without -a only running ones, but a status filter lists all it matches.
    let running = ok(f.docker(&["ps", "--format", "{{.Names}}"]));
    assert_eq!(running.lines().collect::<Vec<_>>(), ["fe", "fd"]);
    let exited = ok(f.docker(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]));
    assert_eq!(exited.lines().collect::<Vec<_>>(), ["fb", "fa"]);
    for (filter, message) in [
        ("status=bogus", "invalid filter 'status=bogus'"),
        ("bogus=1", "invalid filter 'bogus'"),
        ("health=bad", "Unrecognised filter value for health: bad"),
    ] {
        let out = f.docker(&["ps", "-a", "--filter", filter]);
        assert!(!out.status.success(), "{filter}");
        assert!(stderr(&out).contains(message), "{}", describe(&out));
    }
    let out = f.docker(&["ps", "-a", "--filter", "before=nothere"]);
    assert!(
        stderr(&out).contains("No such container: nothere"),
        "{}",
        describe(&out)
    );

    let status = |name: &str| {
        ok(f.docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name=^/{name}$"),
            "--format",
            "{{.Status}}|{{.State}}",
        ]))
        .trim()
        .to_string()
    };
    assert_eq!(status("fc"), "Created|created");
    let fa = status("fa");
    assert!(
        fa.starts_with("Exited (0) ") && fa.ends_with(" ago|exited"),
        "{fa}"
    );
    let fb = status("fb");
    assert!(fb.starts_with("Exited (3) "), "{fb}");
    let up = status("fd");
    assert!(up.starts_with("Up ") && up.ends_with("|running"), "{up}");

    f.run_to_end(&[
        "--name",
        "sz",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /f",
    ]);
    let size = ok(f.docker(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        "name=sz",
        "--format",
        "{{.Size}}",
    ]));
    assert!(size.starts_with("100kB (virtual "), "{size}");
    let rows = f.daemon.raw("GET", "/containers/json?all=1&size=1").json();
    let sz = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Names"][0] == "/sz")
        .unwrap();
    let rw = sz["SizeRw"].as_i64().unwrap();
    assert!((100_000..200_000).contains(&rw), "{sz}");
    assert!(sz["SizeRootFs"].as_i64().unwrap() > rw, "{sz}");
    let rows = f.daemon.raw("GET", "/containers/json?all=1").json();
    assert!(rows[0].get("SizeRw").is_none(), "sizes only when asked");
    let inspected = f.inspect_sized("sz");
    assert_eq!(inspected, format!("{rw} {}", sz["SizeRootFs"]));
}

#[test]
fn logs_since_until_details_and_tail() {
    let Some(f) = Fixture::new() else { return };
    f.run_to_end(&[
        "--name",
        "lt",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1.5; echo b; echo c",
    ]);
    let stamped = ok(f.docker(&["logs", "-t", "lt"]));
    let times: Vec<&str> = stamped
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{stamped}");
    assert_eq!(ok(f.docker(&["logs", "--since", times[1], "lt"])), "b\nc\n");
    assert_eq!(ok(f.docker(&["logs", "--until", times[0], "lt"])), "a\n");
    // Unix seconds (the daemon's own form) work too.
    let b = chrono::DateTime::parse_from_rfc3339(times[1]).unwrap();
    let unix = format!("{}.{:09}", b.timestamp(), b.timestamp_subsec_nanos());
    let raw = f
        .daemon
        .raw("GET", &format!("/containers/lt/logs?stdout=1&since={unix}"));
    assert_eq!(raw.status, 200);
    assert!(
        raw.body.ends_with(b"b\n\x01\0\0\0\0\0\0\x02c\n"),
        "{:?}",
        raw.body
    );
    assert_eq!(ok(f.docker(&["logs", "--details", "lt"])), " a\n b\n c\n");
    assert_eq!(ok(f.docker(&["logs", "--tail", "2", "lt"])), "b\nc\n");
    assert_eq!(ok(f.docker(&["logs", "-n", "0", "lt"])), "");
    // json-file's `labels` and `env` options name the attributes `--details` shows.
    f.run_to_end(&[
        "--name",
        "ld",
        "-l",
        "team=a b",
        "-e",
        "STAGE=dev",
        "--log-opt",
        "labels=team",
        "--log-opt",
        "env=STAGE",
        "--log-opt",
        "max-size=50m",
        "busybox",
        "echo",
        "x",
    ]);
    assert_eq!(
        ok(f.docker(&["logs", "--details", "ld"])),
        "STAGE=dev,team=a+b x\n"
    );
    let out = f.docker(&["create", "--log-opt", "bogus=1", "busybox", "true"]);
    assert!(
        stderr(&out).contains("unknown log opt 'bogus' for json-file log driver"),
        "{}",
        describe(&out)
    );
    let response = f
        .daemon
        .raw("GET", "/containers/lt/logs?stdout=1&since=yesterday");
    assert_eq!(response.status, 400);
}

/// Mount points, shims, records and cgroups of a daemon's containers: none may be left.
fn leftovers(daemon: &Daemon, ids: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let data_root = daemon.data_root.display().to_string();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    found.extend(
        mountinfo
            .lines()
            .filter(|l| l.contains(&data_root))
            .map(|l| format!("mount: {l}")),
    );
    let exec_root = daemon.exec_root.display().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("berth-shim") && cmdline.contains(&exec_root) {
                found.push(format!("shim: {cmdline}"));
            }
        }
    }
    let containers = daemon.data_root.join("containers");
    if let Ok(dir) = std::fs::read_dir(&containers) {
        found.extend(
            dir.flatten()
                .map(|e| format!("bundle: {}", e.path().display())),
        );
    }
    if let Ok(dir) = std::fs::read_dir(daemon.exec_root.join("shims")) {
        found.extend(
            dir.flatten()
                .map(|e| format!("shim state: {}", e.path().display())),
        );
    }
    for controller in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ids {
            let path = controller.path().join("berth").join(id);
            if Path::new(&path).exists() {
                found.push(format!("cgroup: {}", path.display()));
            }
        }
    }
    found
}

#[test]
fn fifty_concurrent_run_rm_finish_cleanly() {
    let Some(f) = Fixture::new() else { return };
    let host = f.daemon.host();
    let runs: Vec<_> = (0..50)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                std::process::Command::new("docker")
                    .args(["run", "-d", "--rm", "busybox", "true"])
                    .env("DOCKER_HOST", host)
                    .output()
                    .expect("docker run")
            })
        })
        .collect();
    let mut ids = Vec::new();
    for run in runs {
        ids.push(ok(run.join().unwrap()).trim().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok(f.docker(&["ps", "-aq"])).trim().is_empty() {
        assert!(Instant::now() < deadline, "containers never went away");
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = leftovers(&f.daemon, &ids);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn docker_py_lifecycle() {
    let Some(f) = Fixture::new() else { return };
    let out = f.daemon.python(
        r#"
import docker
client = docker.from_env()
c = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 1; echo two; sleep 1000"],
                          detach=True, name="py1", labels={"suite": "lc"})
lines = []
for chunk in c.logs(stream=True, follow=True):
    lines.append(chunk.decode())
    if "two" in "".join(lines):
        break
print("logs", "".join(lines).split())
print("list", [x.name for x in client.containers.list(filters={"label": "suite=lc"})])
print("list-status", [x.name for x in client.containers.list(all=True, filters={"status": "running", "name": "py1"})])
c.restart(timeout=1)
c.reload()
print("restarted", c.status)
c.rename("py2")
c.reload()
print("renamed", c.name)
c.kill(signal="SIGKILL")
print("wait", c.wait()["StatusCode"])
c.start()
c.stop(timeout=1)
c.reload()
print("stopped", c.status)
c.remove(v=True)
print("left", len(client.containers.list(all=True, filters={"label": "suite=lc"})))
"#,
    );
    assert_eq!(
        ok(out),
        "logs ['one', 'two']\nlist ['py1']\nlist-status ['py1']\nrestarted running\nrenamed py2\nwait 137\nstopped exited\nleft 0\n"
    );
}

#[test]
fn a_start_rewrites_etc_files_a_reboot_or_crash_took() {
    // hosts, hostname and resolv.conf live on the exec root's tmpfs, unsynced (they derive
    // from the record): a reboot takes them, a crash can leave one empty, and the next start
    // writes them again.
    let Some(f) = Fixture::new() else { return };
    let id = ok(f.docker(&[
        "create",
        "-h",
        "mybox",
        "busybox",
        "cat",
        "/etc/hosts",
        "/etc/hostname",
    ]))
    .trim()
    .to_string();
    let etc = f.daemon.exec_root.join("etc").join(&id);
    let hosts_path = ok(f.docker(&["inspect", "-f", "{{.HostsPath}}", &id]));
    assert_eq!(hosts_path.trim(), etc.join("hosts").to_str().unwrap());
    std::fs::remove_dir_all(&etc).unwrap();
    ok(f.docker(&["start", &id]));
    assert_eq!(f.docker(&["wait", &id]).status.code(), Some(0));
    let logs = ok(f.docker(&["logs", &id]));
    assert!(logs.contains("127.0.0.1\tlocalhost"), "{logs}");
    assert!(logs.lines().any(|l| l == "mybox"), "{logs}");
    // An empty file (written, never synced, then a power loss) counts as lost too.
    std::fs::write(etc.join("hostname"), b"").unwrap();
    ok(f.docker(&["start", &id]));
    assert_eq!(f.docker(&["wait", &id]).status.code(), Some(0));
    assert_eq!(std::fs::read(etc.join("hostname")).unwrap(), b"mybox\n");
    ok(f.docker(&["rm", &id]));
    assert!(!etc.exists(), "rm removes the container's /etc files");
}

#[test]
fn a_container_layer_a_crash_took_is_made_again_and_unrecorded_ones_are_swept() {
    // A container's layer is created and removed without fsync: a crash can take a new
    // one (the start makes it again, empty as it was) or bring back a removed one (the
    // daemon's start-up removes it).
    let Some(mut f) = Fixture::new() else { return };
    let id = ok(f.docker(&["create", "busybox", "ls", "/proc/self"]))
        .trim()
        .to_string();
    let layers = f.daemon.data_root.join("snapshots").join("snapshots");
    std::fs::remove_dir_all(layers.join(&id)).unwrap();
    ok(f.docker(&["start", "-a", &id]));
    assert!(layers.join(&id).join("meta.json").exists());
    // A removed container's layer that came back.
    let gone = ok(f.docker(&["create", "busybox", "true"]))
        .trim()
        .to_string();
    let saved = f.daemon.dir.path().join("saved-layer");
    std::process::Command::new("cp")
        .args(["-a"])
        .arg(layers.join(&gone))
        .arg(&saved)
        .status()
        .unwrap();
    ok(f.docker(&["rm", &gone]));
    std::fs::rename(&saved, layers.join(&gone)).unwrap();
    f.daemon.restart();
    assert!(!layers.join(&gone).exists(), "swept at start-up");
    assert!(
        layers.join(&id).exists(),
        "a recorded container keeps its layer"
    );
    ok(f.docker(&["rm", &id]));
}
