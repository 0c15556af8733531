//! Live restore through the real docker CLI: berthd is killed with SIGKILL while containers
//! run; they keep running (and logging) under their shims; the restarted daemon reattaches
//! to the running ones, records the exit of one that ended meanwhile, turns a container
//! whose shim vanished into exited(255), and after `rm` nothing of theirs is left: no shim,
//! mount, cgroup, runtime state or socket.

use berth_conformance::daemon::describe;
use berth_conformance::Daemon;
use berth_testutil::image::busybox_image_archive;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Docker's timestamp format, for comparing with FinishedAt as text (same width, UTC).
fn now_rfc3339() -> String {
    ok(std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .unwrap())
}

/// Polls until `check` holds, failing with `what` after 30 s.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie has exited: only its parent has not reaped it yet.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn kill9(pid: i32) {
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && pid != std::process::id() as i32 {
            found.push((pid, cmdline));
        }
    }
    found
}

/// The serving shim of container `id` (the launcher, `berth-shim start`, forks it and exits
/// at once, so the one left with the id on its command line is the serving shim).
fn shim_pid(id: &str) -> i32 {
    let shims: Vec<_> = processes_mentioning(id)
        .into_iter()
        .filter(|(_, cmd)| cmd.starts_with("berth-shim ") && cmd.contains(" --id "))
        .collect();
    assert_eq!(shims.len(), 1, "one shim for {id}: {shims:?}");
    shims[0].0
}

fn json_log(data_root: &Path, id: &str) -> PathBuf {
    data_root
        .join("containers")
        .join(id)
        .join(format!("{id}-json.log"))
}

fn log_lines(data_root: &Path, id: &str) -> usize {
    std::fs::read_to_string(json_log(data_root, id))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The daemon with busybox loaded; on drop, force-removes every container (restarting the
/// daemon first if a failed assertion left it killed), so nothing outlives the test.
struct Fixture {
    daemon: Daemon,
    killed: bool,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.killed {
            self.daemon.restart();
        }
        if let Ok(out) = std::str::from_utf8(&self.daemon.docker(&["ps", "-aq"]).stdout) {
            for id in out.split_whitespace() {
                let _ = self.daemon.docker(&["rm", "-f", id]);
            }
        }
    }
}

impl Fixture {
    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        ok(self.docker(&["inspect", "-f", format, name]))
    }

    fn pid(&self, name: &str) -> i32 {
        self.inspect(name, "{{.State.Pid}}").parse().unwrap()
    }
}

#[test]
fn containers_outlive_a_killed_daemon_and_are_reconciled_on_restart() {
    if !berth_testutil::is_root() {
        eprintln!("skipped: containers need root (mounts, namespaces); CI runs as root");
        return;
    }
    let daemon = Daemon::start();
    let archive = busybox_image_archive("busybox:latest");
    ok(daemon.docker(&["load", "-i", archive.to_str().unwrap()]));
    let mut f = Fixture {
        daemon,
        killed: false,
    };
    let data_root = f.daemon.data_root.clone();
    let exec_root = f.daemon.exec_root.clone();

    // Counts without end; TERM makes it exit 7 (a PID 1 without a handler ignores TERM).
    let logger = ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "logger",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done",
    ]));
    // Exits 3 once the test creates /tmp/go in its rootfs (while the daemon is down).
    let exiter = ok(f.docker(&[
        "run",
        "-d",
        "--name",
        "exiter",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3",
    ]));
    // The same, with --rm: removed once the restarted daemon sees the exit.
    let removed = ok(f.docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "removed",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3",
    ]));
    let sleeper = ok(f.docker(&["run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"]));
    // Its shim and process are killed while the daemon is down: the task is lost.
    let lost = ok(f.docker(&["run", "-d", "--name", "lost", "busybox", "sleep", "1000"]));
    let ids = [&logger, &exiter, &removed, &sleeper, &lost];

    let (logger_pid, exiter_pid, sleeper_pid, lost_pid) = (
        f.pid("logger"),
        f.pid("exiter"),
        f.pid("sleeper"),
        f.pid("lost"),
    );
    let removed_pid = f.pid("removed");
    let lost_shim = shim_pid(&lost);
    wait_until("the logger has written", || {
        log_lines(&data_root, &logger) > 2
    });

    f.daemon.signal(rustix::process::Signal::KILL);
    f.killed = true;
    wait_until("berthd is gone", || !alive(f.daemon.pid()));

    for (name, pid) in [("logger", logger_pid), ("sleeper", sleeper_pid)] {
        assert!(alive(pid), "{name} died with the daemon");
    }
    let before = log_lines(&data_root, &logger);
    wait_until("the logger writes its log with the daemon down", || {
        log_lines(&data_root, &logger) > before + 5
    });

    let exit_requested = now_rfc3339();
    for id in [&exiter, &removed] {
        let go = data_root.join("containers").join(id).join("rootfs/tmp/go");
        std::fs::write(go, "").unwrap();
    }
    wait_until("the exiters have exited", || {
        !alive(exiter_pid) && !alive(removed_pid)
    });
    let exited_by = now_rfc3339();

    kill9(lost_shim);
    wait_until("the lost container's shim is gone", || !alive(lost_shim));
    kill9(lost_pid);
    wait_until("the lost container is gone", || !alive(lost_pid));

    f.daemon.restart();
    f.killed = false;

    for (name, pid) in [("logger", logger_pid), ("sleeper", sleeper_pid)] {
        assert_eq!(
            f.inspect(name, "{{.State.Status}} {{.State.Pid}}"),
            format!("running {pid}"),
            "{name} is running with its pid after the restart"
        );
    }
    assert_eq!(
        f.inspect("exiter", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    let finished = f.inspect("exiter", "{{.State.FinishedAt}}");
    assert!(
        exit_requested.as_str() <= finished.as_str() && finished.as_str() <= exited_by.as_str(),
        "FinishedAt {finished} is when it exited, between {exit_requested} and {exited_by}"
    );
    wait_until(
        "the --rm container that exited meanwhile is removed",
        || !f.docker(&["inspect", "removed"]).status.success(),
    );
    assert_eq!(
        f.inspect("lost", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 255",
        "a running record whose shim is gone"
    );
    let lost_rootfs = data_root.join("containers").join(&lost).join("rootfs");
    assert!(
        !mountinfo().contains(lost_rootfs.to_str().unwrap()),
        "the lost container's rootfs is unmounted"
    );

    // Reattached: stop and kill reach the containers and report their exits.
    ok(f.docker(&["stop", "-t", "20", "logger"]));
    assert_eq!(
        f.inspect("logger", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7"
    );
    ok(f.docker(&["kill", "sleeper"]));
    assert_eq!(ok(f.docker(&["wait", "sleeper"])), "137");

    // Every line the logger wrote, across the outage, in order.
    let logs = ok(f.docker(&["logs", "logger"]));
    let numbers: Vec<usize> = logs.lines().map(|l| l.parse().unwrap()).collect();
    assert!(numbers.len() > before + 5, "{} lines", numbers.len());
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i, "line {i} of the logger's output");
    }

    for name in ["logger", "exiter", "sleeper", "lost"] {
        ok(f.docker(&["rm", name]));
    }

    for id in ids {
        let left = processes_mentioning(id);
        assert!(left.is_empty(), "processes of {id} left: {left:?}");
        assert!(
            !mountinfo().contains(id.as_str()),
            "mounts of {id} left:\n{}",
            mountinfo()
        );
        for controller in cgroup_v1_controllers() {
            let dir = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join("berth")
                .join(id);
            assert!(!dir.exists(), "cgroup {} left", dir.display());
        }
        assert!(
            !Path::new("/run/berth-runc").join(id).exists(),
            "runtime state of {id} left"
        );
    }
    let mounts = mountinfo();
    assert!(
        !mounts.contains(data_root.to_str().unwrap()),
        "mounts under the data root left:\n{mounts}"
    );
    let leftovers = walk(&exec_root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "berth.sock"))
        .filter(|p| {
            ids.iter()
                .any(|id| p.to_string_lossy().contains(id.as_str()))
        })
        .collect::<Vec<_>>();
    assert!(
        leftovers.is_empty(),
        "container state left under the exec root: {leftovers:?}"
    );
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// The v1 controller hierarchies (each dir under /sys/fs/cgroup that is a cgroup mount).
fn cgroup_v1_controllers() -> Vec<String> {
    let mut controllers = Vec::new();
    for line in mountinfo().lines() {
        let Some((_, after)) = line.split_once(" - ") else {
            continue;
        };
        let mut fields = after.split_whitespace();
        if fields.next() != Some("cgroup") {
            continue;
        }
        let mount_point = line.split_whitespace().nth(4).unwrap_or("");
        if let Some(name) = mount_point.strip_prefix("/sys/fs/cgroup/") {
            controllers.push(name.to_string());
        }
    }
    controllers
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}
