//! Container operations through the real docker CLI and docker-py: pause/unpause, top,
//! update, prune, diff, export and commit, with their events. Needs root (mounts,
//! namespaces, cgroups); every test removes its containers and images before the daemon
//! stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::{failed, ok, poll};
use berth_conformance::Daemon;
use std::process::Output;
use std::time::{Duration, Instant};

/// A daemon with busybox loaded; on drop, force-removes every container and every image
/// other than busybox before the daemon stops.
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

    /// `docker run -d ARGS`: the new container's ID.
    fn run_detached(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        ok(self.docker(&all)).trim().to_string()
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

    /// The actions of this container's events so far, oldest first.
    fn actions(&self, name: &str) -> Vec<String> {
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
            &format!("container={name}"),
            "--format",
            "{{.Action}}",
        ]))
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(out) = std::str::from_utf8(&self.daemon.docker(&["ps", "-aq"]).stdout) {
            for id in out.split_whitespace() {
                let _ = self.daemon.docker(&["rm", "-f", id]);
            }
        }
        if let Ok(out) = std::str::from_utf8(
            &self
                .daemon
                .docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
                .stdout,
        ) {
            for line in out.lines().filter(|l| !l.starts_with("busybox:")) {
                if let Some(id) = line.split_whitespace().last() {
                    let _ = self.daemon.docker(&["rmi", "-f", id]);
                }
            }
        }
    }
}

#[test]
fn pause_freezes_and_shows_paused_and_exec_is_refused() {
    let Some(f) = Fixture::new() else { return };
    let id = f.run_detached(&["--name", "p1", "busybox", "sleep", "1000"]);
    ok(f.docker(&["pause", "p1"]));
    assert_eq!(
        f.inspect(
            "p1",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    let status = ok(f.docker(&["ps", "--format", "{{.Status}}", "--filter", "status=paused"]));
    assert!(
        status.trim().starts_with("Up ") && status.trim().ends_with("(Paused)"),
        "{status}"
    );
    let err = failed(f.docker(&["exec", "p1", "true"]));
    assert!(
        err.contains(&format!(
            "Container {id} is paused, unpause the container before exec"
        )),
        "{err}"
    );
    // The docker CLI refuses to attach to a paused container itself; the API answers 409.
    let attach = f
        .daemon
        .raw("POST", "/containers/p1/attach?stream=1&stdout=1");
    assert_eq!(attach.status, 409);
    assert_eq!(
        attach.message(),
        "container p1 is paused, unpause the container before attach."
    );
    let err = failed(f.docker(&["pause", "p1"]));
    assert!(
        err.contains(&format!("Container {id} is already paused")),
        "{err}"
    );
    ok(f.docker(&["unpause", "p1"]));
    assert_eq!(
        f.inspect("p1", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    let err = failed(f.docker(&["unpause", "p1"]));
    assert!(
        err.contains(&format!("Container {id} is not paused")),
        "{err}"
    );
    ok(f.docker(&["exec", "p1", "true"]));
    // A paused container can be stopped (the signal is delivered once it is thawed) and
    // removed with -f.
    ok(f.docker(&["pause", "p1"]));
    ok(f.docker(&["stop", "-t", "1", "p1"]));
    f.wait_for("p1", "{{.State.Status}}", |s| s == "exited");
    assert_eq!(f.inspect("p1", "{{.State.Paused}}"), "false");
    f.run_detached(&["--name", "p2", "busybox", "sleep", "1000"]);
    ok(f.docker(&["pause", "p2"]));
    ok(f.docker(&["rm", "-f", "p2"]));
    let err = failed(f.docker(&["pause", "p1"]));
    assert!(
        err.contains(&format!("Container {id} is not running")),
        "{err}"
    );
    let py = f.daemon.python(
        r#"
import docker
client = docker.from_env()
c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="p3")
c.pause()
c.reload()
print(c.status, c.attrs["State"]["Paused"])
try:
    c.exec_run("true")
except docker.errors.APIError as e:
    print(e.status_code)
c.unpause()
c.reload()
print(c.status, c.attrs["State"]["Paused"])
"#,
    );
    assert_eq!(
        ok(py).lines().collect::<Vec<_>>(),
        ["paused True", "409", "running False"]
    );
    let actions = f.actions("p1");
    for wanted in ["pause", "unpause", "kill", "die", "stop"] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
}

#[test]
fn top_lists_the_container_processes_only() {
    let Some(f) = Fixture::new() else { return };
    f.run_detached(&[
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "sleep 1001 & sleep 1002",
    ]);
    f.wait_for("t1", "{{.State.Running}}", |s| s == "true");
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = ok(f.docker(&["top", "t1"]));
        if out.contains("sleep 1002") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("UID") && header.contains("PID") && header.contains("CMD"),
        "{out}"
    );
    let rows: Vec<&str> = lines.collect();
    // busybox sh runs its last command in its own place: two sleeps.
    assert_eq!(rows.len(), 2, "two sleeps: {out}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 1001")), "{out}");
    let out = ok(f.docker(&["top", "t1", "-o", "pid,comm"]));
    assert!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["PID", "COMMAND"]),
        "{out}"
    );
    let err = failed(f.docker(&["top", "t1", "-o", "pid,ppid=PID"]));
    assert!(err.contains("is not allowed"), "{err}");
    let py = f.daemon.python(
        r#"
import docker
c = docker.from_env().containers.get("t1")
top = c.top()
print(sorted(top.keys()), len(top["Processes"]))
"#,
    );
    assert_eq!(ok(py).trim(), "['Processes', 'Titles'] 2");
    ok(f.docker(&["stop", "-t", "0", "t1"]));
    let err = failed(f.docker(&["top", "t1"]));
    assert!(err.contains("is not running"), "{err}");
    assert!(f.actions("t1").iter().any(|a| a == "top"));
}

#[test]
fn update_applies_limits_live_and_persists_them() {
    let Some(f) = Fixture::new() else { return };
    f.run_detached(&["--name", "u1", "busybox", "sleep", "1000"]);
    ok(f.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "u1",
    ]));
    assert_eq!(
        f.inspect("u1", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}"),
        format!("{} {} 512 50", 64 << 20, 128 << 20)
    );
    // The container sees its new limit in its own cgroup (v1 memory controller or v2).
    let limit = ok(f.docker(&[
        "exec",
        "u1",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]));
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    let pids = ok(f.docker(&[
        "exec",
        "u1",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]));
    assert_eq!(pids.trim(), "50");
    let err = failed(f.docker(&["update", "--memory", "1m", "u1"]));
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    ok(f.docker(&["update", "--cpu-quota", "50000", "u1"]));
    let err = failed(f.docker(&["update", "--cpus", "1", "u1"]));
    assert!(
        err.contains(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
        ),
        "{err}"
    );
    ok(f.docker(&["update", "--restart", "on-failure:3", "u1"]));
    assert_eq!(
        f.inspect(
            "u1",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:3"
    );
    // Stopped containers keep the update for their next start.
    let py = f.daemon.python(
        r#"
import docker
client = docker.from_env()
c = client.containers.create("busybox", ["sleep", "1000"], name="u2")
print(c.update(mem_limit="32m", memswap_limit="-1"))
c.start()
print(c.exec_run(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]).output.decode().strip())
"#,
    );
    let out = ok(py);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["{'Warnings': []}", &(32u64 << 20).to_string()]
    );
    let err = failed(
        f.docker(&[
            "run", "--rm", "-d", "--name", "u3", "busybox", "sleep", "100",
        ])
        .then_update(&f),
    );
    assert!(
        err.contains(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        ),
        "{err}"
    );
    assert!(f.actions("u1").iter().any(|a| a == "update"));
}

trait ThenUpdate {
    fn then_update(self, f: &Fixture) -> Output;
}

impl ThenUpdate for Output {
    /// After `run --rm -d`, tries to give the container a restart policy.
    fn then_update(self, f: &Fixture) -> Output {
        ok(self);
        f.docker(&["update", "--restart", "always", "u3"])
    }
}

#[test]
fn diff_export_and_commit() {
    let Some(f) = Fixture::new() else { return };
    f.run_detached(&[
        "--name",
        "d1",
        "busybox",
        "sh",
        "-c",
        "echo hi > /tmp/x && rm /etc/group && echo more >> /etc/passwd && touch /ready && sleep 1000",
    ]);
    f.wait_for("d1", "{{.State.Running}}", |s| s == "true");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(f.docker(&["diff", "d1"])).contains("A /ready") {
        assert!(
            Instant::now() < deadline,
            "the container never wrote /ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let diff = ok(f.docker(&["diff", "d1"]));
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        [
            "C /etc",
            "D /etc/group",
            "C /etc/passwd",
            "A /ready",
            "C /tmp",
            "A /tmp/x"
        ],
        "{diff}"
    );
    // docker-py's diff: Kind numbers.
    let py = f.daemon.python(
        r#"
import docker
print(sorted((c["Path"], c["Kind"]) for c in docker.from_env().containers.get("d1").diff()))
"#,
    );
    assert!(ok(py).contains("('/tmp/x', 1)"));
    // Export of the running container: the merged root filesystem.
    let out = f.daemon.docker(&["export", "d1"]);
    assert!(out.status.success(), "{}", describe(&out));
    let names = tar_names(&out.stdout);
    assert!(names.iter().any(|n| n == "tmp/x"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "deleted files stay deleted"
    );
    // Commit (paused by default), with changes, then run the new image.
    let id = ok(f.docker(&[
        "commit",
        "-m",
        "the message",
        "-a",
        "me",
        "-c",
        "ENV COMMITTED=yes",
        "-c",
        "CMD [\"cat\", \"/tmp/x\"]",
        "d1",
        "committed:one",
    ]));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The committed layer holds the container's changes only: the mount points the image
    // lacks (/proc, /sys, /dev, /etc/hosts, ...) come from the shared init layer, as
    // Docker's init layer keeps them out of commits.
    let top = top_layer_names(&f.daemon.docker(&["save", "committed:one"]).stdout);
    assert!(top.iter().any(|n| n == "tmp/x"), "{top:?}");
    for mount_point in [
        "proc",
        "sys",
        "dev",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
    ] {
        assert!(
            !top.iter().any(|n| n == mount_point),
            "{mount_point} in {top:?}"
        );
    }
    assert_eq!(
        f.inspect("d1", "{{.State.Status}}"),
        "running",
        "unpaused after the commit"
    );
    let out = ok(f.docker(&["run", "--rm", "committed:one"]));
    assert_eq!(out, "hi\n");
    let env = ok(f.docker(&[
        "run",
        "--rm",
        "committed:one",
        "sh",
        "-c",
        "echo $COMMITTED; ls /etc/group 2>&1; true",
    ]));
    assert!(
        env.starts_with("yes\n") && env.contains("No such file"),
        "{env}"
    );
    let parent = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.Parent}} {{.Comment}} {{.Author}}",
        "committed:one",
    ]));
    let busybox = f.inspect("busybox", "{{.Id}}");
    assert_eq!(parent.trim(), format!("{busybox} the message me"));
    let history = ok(f.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "committed:one",
    ]));
    assert!(
        history.lines().next().unwrap().starts_with("sh -c echo hi"),
        "{history}"
    );
    // Stopped: export mounts the snapshot read-only for the time of the export.
    ok(f.docker(&["stop", "-t", "0", "d1"]));
    assert_eq!(
        ok(f.docker(&["diff", "d1"])),
        diff,
        "diff of the stopped container"
    );
    let py = f.daemon.python(
        r#"
import docker, io, tarfile
c = docker.from_env().containers.get("d1")
data = b"".join(c.export())
names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
print("tmp/x" in names, "etc/group" in names)
img = c.commit(repository="committed", tag="two", changes=["LABEL a=b"])
print(img.labels)
"#,
    );
    assert_eq!(
        ok(py).lines().collect::<Vec<_>>(),
        ["True False", "{'a': 'b'}"]
    );
    let actions = f.actions("d1");
    for wanted in ["export", "commit"] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
}

/// The entry names of the last layer of a `docker save` archive.
fn top_layer_names(saved: &[u8]) -> Vec<String> {
    let mut files = std::collections::HashMap::new();
    for entry in tar::Archive::new(saved).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.insert(name, bytes);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let top = layers.last().unwrap().as_str().unwrap();
    tar_names(&files[top])
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

#[test]
fn prune_removes_stopped_containers_with_filters() {
    let Some(f) = Fixture::new() else { return };
    f.run_detached(&["--name", "keep-running", "busybox", "sleep", "1000"]);
    ok(f.docker(&["create", "--name", "gone", "busybox", "true"]));
    ok(f.docker(&[
        "create", "--name", "labelled", "--label", "keep=1", "busybox", "true",
    ]));
    let out = ok(f.docker(&["container", "prune", "-f", "--filter", "label!=keep"]));
    assert!(
        out.contains("Deleted Containers:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    let mut names: Vec<String> = ok(f.docker(&["ps", "-a", "--format", "{{.Names}}"]))
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["keep-running", "labelled"]);
    let py = f.daemon.python(
        r#"
import docker
print(docker.from_env().containers.prune(filters={"label": "keep=1"}))
"#,
    );
    let out = ok(py);
    assert!(
        out.contains("'ContainersDeleted': ['") && out.contains("SpaceReclaimed"),
        "{out}"
    );
    let report = f.daemon.raw("POST", "/containers/prune");
    assert_eq!(report.status, 200);
    assert_eq!(report.json()["ContainersDeleted"], serde_json::Value::Null);
    let bad = f.daemon.raw(
        "POST",
        "/containers/prune?filters=%7B%22name%22%3A%5B%22x%22%5D%7D",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
}

#[test]
fn system_df_lists_containers_and_oom_is_an_event() {
    let Some(f) = Fixture::new() else { return };
    f.run_detached(&[
        "--name",
        "w1",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /big && sleep 1000",
    ]);
    f.wait_for("w1", "{{.State.Running}}", |s| s == "true");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(f.docker(&["diff", "w1"])).contains("A /big") {
        assert!(Instant::now() < deadline, "never wrote /big");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let out = ok(f.docker(&["system", "df", "-v", "--format", "{{json .Containers}}"]));
    let rows: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Names"] == "w1")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row["Size"].as_str().unwrap().contains("MB"), "{row}");
    let summary = ok(f.docker(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]));
    assert!(summary.contains("Containers 1 1"), "{summary}");
    assert!(summary.contains("Images 1 1"), "{summary}");
    // A container killed by the OOM killer: `oom` then `die`, OOMKilled in inspect.
    f.run_detached(&[
        "--name",
        "oom1",
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    f.wait_for("oom1", "{{.State.Status}}", |s| s == "exited");
    assert_eq!(f.inspect("oom1", "{{.State.OOMKilled}}"), "true");
    let actions = f.actions("oom1");
    let oom = actions.iter().position(|a| a == "oom");
    let die = actions.iter().position(|a| a == "die");
    assert!(oom.is_some() && oom < die, "{actions:?}");
}
