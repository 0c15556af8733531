//! Attach, exec and resize through the real docker CLI (interactive cases through a pty),
//! docker-py, and raw HTTP: foreground `run` (attach before start), stdin and its EOF,
//! `attach` to a running container, detach keys, exec with and without a TTY, exit codes,
//! the hijack's `101 UPGRADED` headers, and Docker's 404/409s. Needs root; every test
//! removes its containers before its daemon stops.

use berth_conformance::daemon::describe;
use berth_conformance::fixture::{ok, poll, stderr};
use berth_conformance::Daemon;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
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

    /// The docker CLI with its environment, to spawn by hand.
    fn docker_command(&self, args: &[&str]) -> Command {
        let config = self.daemon.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).expect("docker config dir");
        let mut command = Command::new("docker");
        command
            .args(args)
            .env("DOCKER_HOST", self.daemon.host())
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        command
    }

    /// Runs the docker CLI with `input` on its stdin.
    fn docker_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs the docker CLI on a pty of `rows` x `cols` (python's pty module drives it);
    /// each step types its bytes once the output holds its text. Returns (exit code, output).
    fn docker_on_pty(
        &self,
        args: &[&str],
        rows: u16,
        cols: u16,
        steps: &[(&str, &[u8])],
    ) -> (i32, String) {
        let config = self.daemon.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).expect("docker config dir");
        let argv = serde_json::to_string(&args).unwrap();
        let steps: Vec<(String, Vec<u8>)> = steps
            .iter()
            .map(|(wait, send)| (wait.to_string(), send.to_vec()))
            .collect();
        let steps = serde_json::to_string(&steps).unwrap();
        let script = format!(
            r#"
import fcntl, json, os, select, struct, subprocess, sys, termios, time
argv = ["docker"] + json.loads({argv:?})
steps = json.loads({steps:?})
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", {rows}, {cols}, 0, 0))
env = dict(os.environ, DOCKER_CONFIG={config:?})
p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
os.close(slave)
out = b""
seen = 0
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if not data and p.poll() is not None:
            break
        out += data
    elif p.poll() is not None:
        break
    if steps and steps[0][0].encode() in out[seen:]:
        seen = out.index(steps[0][0].encode(), seen) + len(steps[0][0])
        os.write(master, bytes(steps[0][1]))
        steps.pop(0)
if p.poll() is None:
    p.kill()
p.wait()
sys.stdout.write(json.dumps({{"code": p.returncode, "out": out.decode("utf-8", "replace")}}))
"#,
            config = config.display().to_string(),
        );
        let output = self.daemon.python(&script);
        let result: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("pty driver ({e}): {}", describe(&output)));
        (
            result["code"].as_i64().unwrap() as i32,
            result["out"].as_str().unwrap().to_string(),
        )
    }

    fn python_ok(&self, script: &str) -> String {
        let output = self.daemon.python(script);
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Polls `docker exec` until `check` holds on its output.
    fn wait_for_exec(&self, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        poll(Duration::from_secs(30), || {
            let out = self.docker(args);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            match check(&text) {
                true => Ok(text),
                false => Err(format!("never held; last: {}", describe(&out))),
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
fn foreground_run_prints_output_passes_exit_codes_and_stdin() {
    let Some(f) = Fixture::new() else { return };
    assert_eq!(
        ok(f.docker(&["run", "--rm", "busybox", "echo", "hi"])),
        "hi\n"
    );
    let failed = f.docker(&["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 3"]);
    assert_eq!(failed.status.code(), Some(3), "{}", describe(&failed));
    assert_eq!(stderr(&failed), "err\n", "stderr stays stderr");
    let echoed = f.docker_with_input(&["run", "-i", "--rm", "busybox", "cat"], b"data\nmore\n");
    assert_eq!(
        ok(echoed),
        "data\nmore\n",
        "stdin reaches cat and its EOF ends it"
    );
    // `start -a` attaches before it starts, like `run`.
    ok(f.docker(&["create", "--name", "again", "busybox", "echo", "once more"]));
    assert_eq!(ok(f.docker(&["start", "-a", "again"])), "once more\n");
    assert_eq!(ok(f.docker(&["start", "-a", "again"])), "once more\n");
    assert_eq!(ok(f.docker(&["ps", "-aq"])).trim().lines().count(), 1);
    ok(f.docker(&["rm", "again"]));
}

#[test]
fn attach_to_a_running_container_sees_new_output() {
    let Some(f) = Fixture::new() else { return };
    let script = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done";
    ok(f.docker(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", script,
    ]));
    let mut child = f
        .docker_command(&["attach", "--sig-proxy=false", "ticker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    let second = lines.next().expect("a line").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let n = |l: &str| l.strip_prefix("tick").and_then(|n| n.parse::<u32>().ok());
    let (a, b) = (n(&first).expect(&first), n(&second).expect(&second));
    assert_eq!(b, a + 1, "consecutive live lines: {first} {second}");
    let running = ok(f.docker(&["inspect", "-f", "{{.State.Running}}", "ticker"]));
    assert_eq!(
        running.trim(),
        "true",
        "leaving an attach does not stop the container"
    );
    let refused = f.docker(&["attach", "no-such"]);
    assert!(
        stderr(&refused).contains("No such container: no-such"),
        "{}",
        describe(&refused)
    );
}

#[test]
fn exec_output_stdin_exit_codes_and_detached() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]));
    assert_eq!(ok(f.docker(&["exec", "box", "echo", "x"])), "x\n");
    let cat = f.docker_with_input(&["exec", "-i", "box", "cat"], b"through stdin\n");
    assert_eq!(ok(cat), "through stdin\n");
    let seven = f.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(seven.status.code(), Some(7), "{}", describe(&seven));
    assert_eq!(String::from_utf8_lossy(&seven.stdout), "out\n");
    assert_eq!(stderr(&seven), "err\n");
    let missing = f.docker(&["exec", "box", "nosuchcmd"]);
    assert_eq!(missing.status.code(), Some(127), "{}", describe(&missing));
    let text = String::from_utf8_lossy(&missing.stdout);
    assert!(
        text.contains(r#"OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown"#),
        "{}",
        describe(&missing)
    );
    let denied = f.docker(&["exec", "box", "/etc"]);
    assert_eq!(denied.status.code(), Some(126), "{}", describe(&denied));
    let env = ok(f.docker(&[
        "exec",
        "-w",
        "/tmp",
        "-e",
        "A=b",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        "pwd; echo $A; id -u",
    ]));
    assert_eq!(env, "/tmp\nb\n65534\n");
    let unknown = f.docker(&["exec", "-u", "nosuch", "box", "id"]);
    assert!(
        stderr(&unknown).contains("unable to find user nosuch: no matching entries in passwd file"),
        "{}",
        describe(&unknown)
    );
    ok(f.docker(&["exec", "-d", "box", "sh", "-c", "echo bg > /tmp/flag"]));
    f.wait_for_exec(&["exec", "box", "cat", "/tmp/flag"], |out| out == "bg\n");
    let privileged = ok(f.docker(&[
        "exec",
        "--privileged",
        "box",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    let plain = ok(f.docker(&["exec", "box", "grep", "CapEff", "/proc/self/status"]));
    assert_ne!(privileged, plain, "--privileged exec gets every capability");
    ok(f.docker(&["stop", "-t", "0", "box"]));
    let stopped = f.docker(&["exec", "box", "true"]);
    assert!(
        stderr(&stopped).contains("is not running"),
        "{}",
        describe(&stopped)
    );
}

#[test]
fn interactive_run_and_exec_through_a_pty() {
    let Some(f) = Fixture::new() else { return };
    let (code, out) = f.docker_on_pty(
        &["run", "-it", "--rm", "busybox", "stty", "size"],
        33,
        91,
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("33 91"),
        "the window size reaches the container: {out:?}"
    );
    ok(f.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]));
    let (code, out) = f.docker_on_pty(
        &["exec", "-it", "box", "sh", "-c", "stty size; tty; exit 4"],
        40,
        100,
        &[],
    );
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("40 100") && out.contains("/dev/pts/"),
        "{out:?}"
    );
    // Typed input reaches a shell on the pty; ctrl-p ctrl-q detaches and leaves it running.
    let (code, out) = f.docker_on_pty(
        &["run", "-it", "--name", "shell", "busybox", "sh"],
        24,
        80,
        &[("# ", b"echo typ''ed\r"), ("typed\r\n", b"\x10\x11")],
    );
    assert_eq!(code, 0, "{out}");
    let running = ok(f.docker(&["inspect", "-f", "{{.State.Running}}", "shell"]));
    assert_eq!(running.trim(), "true", "detached, not stopped: {out:?}");
    assert!(out.contains("typed\r\n"), "{out:?}");
    // Attach again: the shell is still there; custom detach keys end this one.
    let (code, out) = f.docker_on_pty(
        &["attach", "--detach-keys", "ctrl-x,a", "shell"],
        24,
        80,
        &[("", b"echo ag''ain\r"), ("again\r\n", b"\x18a")],
    );
    // As with Docker: `attach` reports the detach and exits 1 (`run` exits 0).
    assert_eq!(code, 1, "{out:?}");
    assert!(
        out.contains("again\r\n") && out.contains("read escape sequence"),
        "{out:?}"
    );
    let running = ok(f.docker(&["inspect", "-f", "{{.State.Running}}", "shell"]));
    assert_eq!(running.trim(), "true", "{out:?}");
    let bad = f.docker(&["attach", "--detach-keys", "ctrl-1", "shell"]);
    assert!(!bad.status.success(), "{}", describe(&bad));
}

#[test]
fn docker_py_run_exec_and_attach() {
    let Some(f) = Fixture::new() else { return };
    let script = format!(
        r#"
import docker, socket
client = docker.DockerClient(base_url="{host}")
out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True)
assert out == b"hi\n", out
c = client.containers.run("busybox", ["sleep", "300"], detach=True, name="py")
r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 5"])
assert r.exit_code == 5 and r.output == b"out\nerr\n", r
r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
assert r.output == (b"out\n", b"err\n"), r
r = c.exec_run(["sh", "-c", "tty; echo t"], tty=True)
assert r.exit_code == 0 and r.output.startswith(b"/dev/pts/") and r.output.endswith(b"t\r\n"), r
r = c.exec_run(["sh", "-c", "echo 1; echo 2"], stream=True)
assert b"".join(r.output) == b"1\n2\n", r
api = client.api
e = api.exec_create(c.id, ["sh", "-c", "exit 9"])
api.exec_start(e["Id"])
info = api.exec_inspect(e["Id"])
assert info["ExitCode"] == 9 and info["Running"] is False and info["ContainerID"] == c.id, info
assert info["ProcessConfig"] == {{"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 9"], "privileged": False}}, info
t = client.containers.run("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.1; done"], detach=True, name="ticker")
stream = t.attach(stream=True, logs=False)
assert next(iter(stream)).startswith(b"tick")
sock = api.attach_socket(t.id, params={{"stdout": 1, "stream": 1}})
raw = sock._sock if hasattr(sock, "_sock") else sock
raw.settimeout(30)
head = raw.recv(8)
assert head[0] == 1 and head[4:] != b"\0\0\0\0", head
raw.close()
for x in (c, t):
    x.remove(force=True)
print("ok")
"#,
        host = f.daemon.host()
    );
    assert_eq!(f.python_ok(&script).trim(), "ok");
}

/// Sends a request on a fresh connection and returns the socket and the response head.
fn hijack(daemon: &Daemon, path: &str, body: &str, upgrade: bool) -> (UnixStream, String) {
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let upgrade = if upgrade {
        "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    } else {
        ""
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{upgrade}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

fn read_all(mut stream: UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn raw_hijack_headers_and_errors() {
    let Some(f) = Fixture::new() else { return };
    let d = &f.daemon;
    ok(f.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]));
    let created = d.raw_body(
        "POST",
        "/v1.50/containers/box/exec",
        br#"{"Cmd":["sh","-c","echo hi; echo no >&2"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_string();
    let inspect = d.raw("GET", &format!("/exec/{id}/json"));
    assert_eq!(inspect.json()["ExitCode"], serde_json::Value::Null);
    assert_eq!(inspect.json()["Running"], false);
    let (stream, head) = hijack(
        d,
        &format!("/v1.50/exec/{id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
        true,
    );
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/vnd.docker.multiplexed-stream\r\n"),
        "{head}"
    );
    assert!(
        lower.contains("connection: upgrade\r\n") && lower.contains("upgrade: tcp\r\n"),
        "{head}"
    );
    assert_eq!(
        read_all(stream),
        b"\x01\0\0\0\0\0\0\x03hi\n\x02\0\0\0\0\0\0\x03no\n"
    );
    let inspect = d.raw("GET", &format!("/exec/{id}/json")).json();
    assert_eq!(inspect["ExitCode"], 0);
    let again = d.raw_body("POST", &format!("/exec/{id}/start"), br#"{"Detach":true}"#);
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(
        again.message(),
        format!("Error: Exec command {id} has already run")
    );
    // Before API 1.42 an upgraded stream is announced as raw.
    let created = d.raw_body(
        "POST",
        "/v1.41/containers/box/exec",
        br#"{"Cmd":["echo","old"],"AttachStdout":true}"#,
    );
    let id = created.json()["Id"].as_str().unwrap().to_string();
    let (stream, head) = hijack(d, &format!("/v1.41/exec/{id}/start"), "{}", true);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream\r\n"),
        "{head}"
    );
    assert_eq!(read_all(stream), b"\x01\0\0\0\0\0\0\x04old\n");
    // The older form: 200 and raw bytes on the same connection.
    let created = d.raw_body(
        "POST",
        "/containers/box/exec",
        br#"{"Cmd":["echo","legacy"],"AttachStdout":true}"#,
    );
    let id = created.json()["Id"].as_str().unwrap().to_string();
    let (stream, head) = hijack(d, &format!("/exec/{id}/start"), "{}", false);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream\r\n"),
        "{head}"
    );
    assert_eq!(read_all(stream), b"\x01\0\0\0\0\0\0\x07legacy\n");

    let missing = d.raw("POST", "/containers/nope/attach?stream=1&stdout=1");
    assert_eq!(
        (missing.status, missing.message()),
        (404, "No such container: nope".to_string())
    );
    let keys = d.raw("POST", "/containers/box/attach?stream=1&detachKeys=ctrl-1");
    assert_eq!(
        (keys.status, keys.message()),
        (400, "Invalid detach keys (ctrl-1) provided".to_string())
    );
    assert_eq!(
        d.raw("GET", "/exec/nope/json").message(),
        "No such exec instance: nope"
    );
    assert_eq!(d.raw("POST", "/exec/nope/resize?h=1&w=1").status, 404);
    let start = d.raw_body("POST", "/exec/nope/start", b"{}");
    assert_eq!(
        (start.status, start.message()),
        (404, "No such exec instance: nope".to_string())
    );
    let no_cmd = d.raw_body("POST", "/containers/box/exec", b"{}");
    assert_eq!(
        (no_cmd.status, no_cmd.message()),
        (400, "No exec command specified".to_string())
    );
    assert_eq!(
        d.raw("POST", "/containers/box/resize?h=10&w=20").status,
        200
    );
    assert_eq!(d.raw("POST", "/containers/box/resize?h=x&w=20").status, 400);
    ok(f.docker(&["create", "--name", "idle", "busybox", "true"]));
    let full = ok(f.docker(&["inspect", "-f", "{{.Id}}", "idle"]))
        .trim()
        .to_string();
    let resize = d.raw("POST", "/containers/idle/resize?h=10&w=20");
    assert_eq!(
        (resize.status, resize.message()),
        (409, format!("Container {full} is not running"))
    );
    let exec = d.raw_body("POST", "/containers/idle/exec", br#"{"Cmd":["true"]}"#);
    assert_eq!(
        (exec.status, exec.message()),
        (409, format!("Container {full} is not running"))
    );
    let detached = d.raw_body("POST", "/containers/box/exec", br#"{"Cmd":["sleep","1"]}"#);
    let id = detached.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        d.raw_body("POST", &format!("/exec/{id}/start"), br#"{"Detach":true}"#)
            .status,
        200
    );
    let running = d.raw("GET", &format!("/exec/{id}/json")).json();
    assert!(running["Pid"].as_u64().unwrap() > 0, "{running}");
    // Removing the container forgets its execs.
    ok(f.docker(&["rm", "-f", "box"]));
    assert_eq!(d.raw("GET", &format!("/exec/{id}/json")).status, 404);
}

#[test]
fn attach_replays_logs_and_exec_publishes_dockers_events() {
    let Some(f) = Fixture::new() else { return };
    let d = &f.daemon;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let script = "echo hello; echo oops >&2; sleep 300";
    ok(f.docker(&["run", "-d", "--name", "box", "busybox", "sh", "-c", script]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ok(f.docker(&["logs", "box"])) != "hello\n" {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    // logs=1 without stream: the log so far, framed, then the end.
    let (stream, head) = hijack(d, "/containers/box/attach?logs=1&stdout=1", "", true);
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    assert_eq!(read_all(stream), b"\x01\0\0\0\0\0\0\x06hello\n");
    let three = f.docker(&["exec", "box", "sh", "-c", "exit 3"]);
    assert_eq!(three.status.code(), Some(3), "{}", describe(&three));
    let events = ok(f.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1)
        .to_string(),
        "--filter",
        "container=box",
        "--format",
        "{{json .}}",
    ]));
    let events: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["Action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {events:?}"))
    };
    let attributes = |action: &str| find(action)["Actor"]["Attributes"].clone();
    assert_eq!(attributes("attach")["name"], "box");
    let created = attributes("exec_create: sh -c exit 3");
    let exec_id = created["execID"].as_str().unwrap();
    assert_eq!(exec_id.len(), 64, "{created}");
    assert_eq!(attributes("exec_start: sh -c exit 3")["execID"], exec_id);
    let died = attributes("exec_die");
    assert_eq!(
        (died["execID"].as_str(), died["exitCode"].as_str()),
        (Some(exec_id), Some("3"))
    );
    assert_eq!(find("exec_die")["Type"], "container");
}
