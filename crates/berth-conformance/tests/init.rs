//! `docker run --init` through the real docker CLI: berth-init (static, bind-mounted at
//! /sbin/docker-init) is PID 1 with the command as its child, reaps orphaned zombies,
//! forwards the stop signal, and passes exit codes through.

use berth_conformance::daemon::describe;
use berth_conformance::Daemon;
use std::process::Output;

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A daemon with busybox loaded; removes its containers on drop.
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

    /// Runs a detached `--init` container to its end; (exit code, output).
    fn run_init(&self, name: &str, command: &[&str]) -> (String, String) {
        let mut args = vec!["run", "-d", "--init", "--name", name, "busybox"];
        args.extend(command);
        ok(self.docker(&args));
        let code = ok(self.docker(&["wait", name]));
        let logs = self.docker(&["logs", name]);
        let mut output = String::from_utf8_lossy(&logs.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&logs.stderr));
        ok(self.docker(&["rm", name]));
        (code, output)
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
fn init_is_pid_1_with_the_command_as_its_child() {
    let Some(f) = Fixture::new() else { return };
    let (code, out) = f.run_init("ps", &["ps", "-o", "pid,ppid,comm,args"]);
    assert_eq!(code, "0", "{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["1", "0", "docker-init"], "{out}");
    assert!(out.contains("/sbin/docker-init -- ps"), "{out}");
    let ps = rows.iter().find(|r| r[2] == "ps").expect("ps row");
    assert_eq!(ps[1], "1", "the command is the init's child: {out}");
}

#[test]
fn exit_codes_and_missing_commands_pass_through() {
    let Some(f) = Fixture::new() else { return };
    assert_eq!(f.run_init("code", &["sh", "-c", "exit 3"]).0, "3");
    // Killed by a signal: 128 + the signal, as a shell reports it.
    assert_eq!(f.run_init("killed", &["sh", "-c", "kill -9 $$"]).0, "137");
    let (code, out) = f.run_init("missing", &["no-such-command"]);
    assert_eq!(code, "127", "{out}");
    assert!(out.contains("no-such-command"), "{out}");
}

#[test]
fn orphaned_zombies_are_reaped() {
    let Some(f) = Fixture::new() else { return };
    // The inner shell exits at once; its background sleep is orphaned to PID 1, exits after
    // 0.1 s and must not stay a zombie.
    let script = "sh -c 'sleep 0.1 & exit 0'; sleep 1; ps -o stat,comm";
    let (code, out) = f.run_init("zombies", &["sh", "-c", script]);
    assert_eq!(code, "0", "{out}");
    let zombies: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with('Z'))
        .collect();
    assert!(zombies.is_empty(), "zombies left: {out}");
    assert!(out.contains("docker-init"), "{out}");
}

#[test]
fn stop_reaches_the_command_through_the_init() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run", "-d", "--init", "--name", "sleeper", "busybox", "sleep", "1000",
    ]));
    // Without the init, `sleep` as PID 1 ignores SIGTERM and only the SIGKILL after the
    // timeout ends it (137); through the init it dies of the SIGTERM itself.
    ok(f.docker(&["stop", "-t", "60", "sleeper"]));
    let state = ok(f.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Path}} {{.Args}}",
        "sleeper",
    ]));
    assert_eq!(state, "exited 143 sleep [1000]");
    ok(f.docker(&["rm", "sleeper"]));
}

/// The init is a host binary inside the container (CVE-2019-5736 class): it is mounted
/// read-only, so neither its path nor `/proc/1/exe` can be opened for writing, and the host
/// file stays the same.
#[test]
fn the_init_binary_cannot_be_overwritten_from_the_container() {
    let Some(f) = Fixture::new() else { return };
    let init = berth_conformance::daemon::bin_path("berth-init");
    let before = std::fs::read(&init).unwrap();
    let script = "for p in /sbin/docker-init /proc/1/exe; do \
                  (echo x >> $p) 2>/dev/null && echo wrote $p; \
                  (: > $p) 2>/dev/null && echo truncated $p; done; echo checked";
    let (code, out) = f.run_init("overwrite", &["sh", "-c", script]);
    assert_eq!(code, "0", "{out}");
    assert_eq!(out.trim(), "checked", "{out}");
    assert!(
        std::fs::read(&init).unwrap() == before,
        "berth-init changed on the host"
    );
}

#[test]
fn a_tty_command_under_the_init_owns_the_terminal() {
    let Some(f) = Fixture::new() else { return };
    ok(f.docker(&[
        "run",
        "-d",
        "-t",
        "--init",
        "--name",
        "tty",
        "busybox",
        "sh",
        "-c",
        "tty && test -t 0 && echo stdin-is-tty",
    ]));
    assert_eq!(ok(f.docker(&["wait", "tty"])), "0");
    let out = ok(f.docker(&["logs", "tty"]));
    assert!(
        out.contains("/dev/pts/0") || out.contains("/dev/console"),
        "{out}"
    );
    assert!(out.contains("stdin-is-tty"), "{out}");
    ok(f.docker(&["rm", "tty"]));
}
