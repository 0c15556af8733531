//! Privileged tests of the shim with runc as the runtime and a busybox bundle: each test
//! spawns a real shim, drives it through the client, and checks the container's output,
//! log file and exit status.

mod support;

use berth_shim::logfile::LogConfig;
use berth_shim::protocol::ErrorKind;
use berth_shim::{exitfile, ClientError, Status, Streams};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use support::{process, shim_binary, Fixture};

#[test]
fn output_reaches_attach_and_log() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sh", "-c", "echo hello; echo oops >&2"], false, |_| {});
    let spawned = fx.spawn();
    let mut attach = fx.client().attach(None, Streams::output()).unwrap();
    let mut control = fx.client();
    assert_eq!(control.state(None).unwrap().status, Status::Created);
    assert_eq!(control.start().unwrap(), spawned.pid);
    let (out, err) = attach.read_to_end().unwrap();
    assert_eq!(out, b"hello\n");
    assert_eq!(err, b"oops\n");
    assert_eq!(control.wait(None).unwrap().exit_code, 0);

    let entries = Fixture::log_entries(&fx.log_path());
    let pairs: Vec<_> = entries
        .iter()
        .map(|e| (e["stream"].as_str().unwrap(), e["log"].as_str().unwrap()))
        .collect();
    assert!(pairs.contains(&("stdout", "hello\n")), "{pairs:?}");
    assert!(pairs.contains(&("stderr", "oops\n")), "{pairs:?}");
    assert_eq!(pairs.len(), 2);
    for e in &entries {
        let time = e["time"].as_str().unwrap();
        assert!(
            time.len() >= 20 && time.ends_with('Z') && time.contains('T'),
            "{time}"
        );
    }
    // The init's status was collected by `wait`: the shim goes, and removes its socket.
    fx.wait_shim_exit();
    assert!(!fx.config.socket.exists());
}

#[test]
fn attachers_share_output_and_late_ones_get_no_history() {
    berth_testutil::require_root!();
    let script = "echo early; read x; echo late-$x";
    let mut fx = Fixture::new(&["sh", "-c", script], false, |_| {});
    fx.config.stdin = true;
    fx.spawn();
    let mut first = fx.client().attach(None, Streams::all()).unwrap();
    fx.client().start().unwrap();
    assert_eq!(first.read_output().unwrap(), Some((1, b"early\n".to_vec())));
    let mut second = fx.client().attach(None, Streams::output()).unwrap();
    first.write_stdin(b"go\n").unwrap();
    let (out1, _) = first.read_to_end().unwrap();
    let (out2, _) = second.read_to_end().unwrap();
    assert_eq!(out1, b"late-go\n");
    assert_eq!(out2, b"late-go\n");
    assert_eq!(fx.client().wait(None).unwrap().exit_code, 0);
}

#[test]
fn stdin_half_close_delivers_eof() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["cat"], false, |_| {});
    fx.config.stdin = true;
    fx.spawn();
    let mut attach = fx.client().attach(None, Streams::all()).unwrap();
    let mut control = fx.client();
    control.start().unwrap();
    attach.write_stdin(b"ping\npong").unwrap();
    attach.close_stdin().unwrap();
    let (out, _) = attach.read_to_end().unwrap();
    assert_eq!(out, b"ping\npong");
    assert_eq!(control.wait(None).unwrap().exit_code, 0);
}

#[test]
fn exit_code_reaches_wait_and_exit_file() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sh", "-c", "exit 3"], false, |_| {});
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    let status = control.wait(None).unwrap();
    assert_eq!((status.exit_code, status.signal), (3, None));
    assert!(!status.oom_killed);
    let on_disk = exitfile::read(&fx.config.state_dir)
        .unwrap()
        .expect("exit file");
    assert_eq!(on_disk, status);
    // The runtime's state is gone: runc no longer knows the container.
    let out = Command::new(support::RUNC)
        .arg("--root")
        .arg(fx.config.runtime_root.as_ref().unwrap())
        .args(["state", &fx.config.id])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn shutdown_waits_for_the_exit_and_then_ends_the_shim() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sh", "-c", "read x; exit 3"], false, |_| {});
    fx.config.stdin = true;
    fx.spawn();
    let mut attach = fx.client().attach(None, Streams::all()).unwrap();
    let mut control = fx.client();
    control.start().unwrap();
    let err = fx.client().shutdown().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Shim {
                kind: ErrorKind::Conflict,
                ..
            }
        ),
        "{err}"
    );
    attach.close_stdin().unwrap();
    // The attach stream ends once the exit is final; `state` does not let the shim go.
    attach.read_to_end().unwrap();
    let state = control.state(None).unwrap();
    assert_eq!(state.status, Status::Stopped);
    assert_eq!(state.exit.as_ref().unwrap().exit_code, 3);
    assert_eq!(control.state(None).unwrap(), state);
    assert_eq!(exitfile::read(&fx.config.state_dir).unwrap(), state.exit);
    control.shutdown().unwrap();
    fx.wait_shim_exit();
    assert!(!fx.config.socket.exists());
    assert!(fx.config.state_dir.join(exitfile::EXIT_FILE).exists());
}

#[test]
fn sigterm_is_reported_as_the_killing_signal() {
    berth_testutil::require_root!();
    // Without a pid namespace `sleep` is not an init, so SIGTERM's default action applies.
    let mut fx = Fixture::new(&["sleep", "1000"], false, |spec| {
        let ns = spec["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    assert_eq!(control.state(None).unwrap().status, Status::Running);
    control.signal(None, 15, false).unwrap();
    let status = control.wait(None).unwrap();
    assert_eq!((status.exit_code, status.signal), (143, Some(15)));
    let on_disk = exitfile::read(&fx.config.state_dir).unwrap().unwrap();
    assert_eq!(on_disk.signal, Some(15));
}

#[test]
fn an_oom_kill_is_flagged_from_the_cgroup() {
    berth_testutil::require_root!();
    // The shell grows a 64 MiB string in a 16 MiB cgroup: the OOM killer must strike.
    let script = "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived";
    let mut fx = Fixture::new(&["sh", "-c", script], false, |_| {});
    let cgroup = format!("/{}", fx.config.id);
    fx.edit_spec(|spec| {
        spec["linux"]["cgroupsPath"] = cgroup.clone().into();
        spec["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    let status = control.wait(None).unwrap();
    assert!(status.oom_killed, "{status:?}");
    assert_eq!(status.signal, Some(9));
    // runc delete removed the container's cgroup.
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory")
        .join(&cgroup[1..])
        .exists());
}

#[test]
fn tty_resize_is_seen_by_stty() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sh", "-c", "read x; stty size"], true, |_| {});
    fx.spawn();
    let mut attach = fx.client().attach(None, Streams::all()).unwrap();
    assert!(attach.tty());
    let mut control = fx.client();
    control.start().unwrap();
    control.resize(None, 37, 101).unwrap();
    attach.write_stdin(b"go\n").unwrap();
    let (out, _) = attach.read_to_end().unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("37 101"), "{text:?}");
    assert_eq!(control.wait(None).unwrap().exit_code, 0);
    // A TTY container logs stdout only.
    let entries = Fixture::log_entries(&fx.log_path());
    assert!(entries.iter().all(|e| e["stream"] == "stdout"));
    assert!(entries
        .iter()
        .any(|e| e["log"].as_str().unwrap().contains("37 101")));
}

#[test]
fn exec_has_its_own_output_and_exit_code() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sleep", "1000"], false, |_| {});
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    let proc = process(&["sh", "-c", "echo from-exec; echo e >&2; exit 7"], false);
    let (pid, mut attach) = fx
        .client()
        .exec_attached("e1", proc, Streams::output())
        .unwrap();
    assert!(pid > 0);
    let (out, err) = attach.read_to_end().unwrap();
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"from-exec\n"[..], &b"e\n"[..])
    );
    assert_eq!(control.wait(Some("e1")).unwrap().exit_code, 7);
    assert_eq!(control.state(Some("e1")).unwrap().status, Status::Stopped);
    // An exec's output is not the container's log.
    let entries = Fixture::log_entries(&fx.log_path());
    assert!(entries.is_empty(), "{entries:?}");

    // A TTY exec that is resized.
    let proc = process(&["sh", "-c", "read x; stty size"], true);
    let (_, mut attach) = fx
        .client()
        .exec_attached("e2", proc, Streams::all())
        .unwrap();
    control.resize(Some("e2"), 12, 34).unwrap();
    attach.write_stdin(b"go\n").unwrap();
    let (out, _) = attach.read_to_end().unwrap();
    assert!(String::from_utf8_lossy(&out).contains("12 34"));
    assert_eq!(control.wait(Some("e2")).unwrap().exit_code, 0);

    let err = control
        .exec("e1", process(&["true"], false), false)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Shim {
                kind: ErrorKind::Conflict,
                ..
            }
        ),
        "{err}"
    );
    // `all`: every process of the container, through `runc kill --all`.
    control.signal(None, 9, true).unwrap();
    assert_eq!(control.wait(None).unwrap().signal, Some(9));
}

#[test]
fn the_builtin_runtime_creates_execs_and_signals_without_a_runtime_binary() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(
        &["sh", "-c", "echo started; exec sleep 1000"],
        false,
        |_| {},
    )
    .builtin();
    let spawned = fx.spawn();
    let mut attach = fx.client().attach(None, Streams::output()).unwrap();
    let mut control = fx.client();
    assert_eq!(control.state(None).unwrap().status, Status::Created);
    assert_eq!(control.start().unwrap(), spawned.pid);
    let (stream, first) = attach.read_output().unwrap().expect("output");
    assert_eq!((stream, first.as_slice()), (1, &b"started\n"[..]));

    // The shim runs from a read-only image of its binary, never the writable file.
    let shim_maps = std::fs::read_to_string(format!("/proc/{}/maps", spawned.shim_pid)).unwrap();
    assert!(
        !shim_maps.contains(&shim_binary().display().to_string()),
        "the shim maps its on-disk binary"
    );

    let proc = process(&["sh", "-c", "echo from-exec; exit 5"], false);
    let (_, mut exec) = fx
        .client()
        .exec_attached("e1", proc, Streams::output())
        .unwrap();
    assert_eq!(exec.read_to_end().unwrap().0, b"from-exec\n");
    assert_eq!(control.wait(Some("e1")).unwrap().exit_code, 5);
    let missing = control.exec("e2", process(&["/no/such/binary"], false), false);
    assert!(missing.is_err(), "exec of a missing binary must fail");

    // SIGKILL: pid 1 of its namespace ignores SIGTERM without a handler.
    control.signal(None, 9, false).unwrap();
    let exit = control.wait(None).unwrap();
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
    fx.wait_shim_exit();
    // The runtime's state went with the container.
    let root = fx.config.state_dir.join("runtime").join(&fx.config.id);
    assert!(!root.exists(), "{} left behind", root.display());
}

#[test]
fn a_long_line_is_logged_as_16k_partial_messages() {
    berth_testutil::require_root!();
    let script = "head -c 40960 /dev/zero | tr '\\0' x";
    let mut fx = Fixture::new(&["sh", "-c", script], false, |_| {});
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    assert_eq!(control.wait(None).unwrap().exit_code, 0);
    let entries = Fixture::log_entries(&fx.log_path());
    let logs: Vec<&str> = entries.iter().map(|e| e["log"].as_str().unwrap()).collect();
    let sizes: Vec<usize> = logs.iter().map(|l| l.len()).collect();
    assert_eq!(sizes, [16384, 16384, 8192]);
    assert_eq!(logs.concat(), "x".repeat(40960));
}

#[test]
fn rotation_bounds_the_log_and_names_files_like_docker() {
    berth_testutil::require_root!();
    let script = "i=0; while [ $i -lt 400 ]; do echo line-$i-0123456789abcdef; i=$((i+1)); done";
    let mut fx = Fixture::new(&["sh", "-c", script], false, |_| {});
    let path = fx.config.state_dir.join("c-json.log");
    fx.config.log = Some(LogConfig {
        path: path.clone(),
        max_size: Some(4096),
        max_files: 3,
    });
    fx.spawn();
    let mut control = fx.client();
    control.start().unwrap();
    assert_eq!(control.wait(None).unwrap().exit_code, 0);
    let mut names: Vec<String> = std::fs::read_dir(&fx.config.state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("c-json.log"))
        .collect();
    names.sort();
    assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
    let mut total = 0;
    for name in &names {
        let len = std::fs::metadata(fx.config.state_dir.join(name))
            .unwrap()
            .len();
        assert!(len < 4096 + 200, "{name}: {len} bytes");
        total += len;
    }
    assert!(total < 3 * (4096 + 200));
    let live = Fixture::log_entries(&path);
    assert_eq!(live.last().unwrap()["log"], "line-399-0123456789abcdef\n");
}

#[test]
fn shim_survives_its_parents_death() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sh", "-c", "read x; echo got-$x"], false, |_| {});
    fx.config.stdin = true;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&fx.config.state_dir)
        .unwrap();
    // A short-lived parent: sh runs the serving shim in the background and waits.
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg("\"$@\" & wait")
        .arg("sh")
        .arg(shim_binary())
        .arg("serve")
        .args(fx.config.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let spawned = berth_shim::spawn::parse_report(&line).expect("shim ready");
    fx.adopt(spawned.shim_pid);
    fx.client().start().unwrap();
    parent.kill().unwrap();
    parent.wait().unwrap();

    let mut control = fx.client();
    assert_eq!(control.state(None).unwrap().status, Status::Running);
    let mut attach = fx.client().attach(None, Streams::all()).unwrap();
    attach.write_stdin(b"hi\n").unwrap();
    let (out, _) = attach.read_to_end().unwrap();
    assert_eq!(out, b"got-hi\n");
    assert_eq!(control.wait(None).unwrap().exit_code, 0);
}

const PROBE: &str = r#"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("connect-denied"); sys.exit(0)
body = b'{"protocol":1}'
s.sendall(struct.pack(">I", len(body)) + body)
head = s.recv(4)
print(s.recv(struct.unpack(">I", head)[0]).decode() if len(head) == 4 else "closed")
"#;

#[test]
fn other_uids_are_refused() {
    berth_testutil::require_root!();
    let mut fx = Fixture::new(&["sleep", "1000"], false, |_| {});
    fx.spawn();
    // Plain uid 65534: the 0700 directory already stops it.
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PROBE])
        .arg(&fx.config.socket)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "connect-denied"
    );
    // uid 65534 that can pass the directory (CAP_DAC_OVERRIDE): SO_PEERCRED stops it.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"])
        .args(["/usr/bin/python3", "-c", PROBE])
        .arg(&fx.config.socket)
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains("permission_denied"),
        "{reply} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Root still gets in.
    assert_eq!(fx.client().state(None).unwrap().status, Status::Created);
}
