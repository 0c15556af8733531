//! A throwaway berthd for one test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A binary built by the workspace (`target/<profile>/<name>`), next to the test's own
/// `deps` directory.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable under target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// Extra berthd arguments.
    pub args: Vec<String>,
    /// Contents of daemon.json, if any.
    pub config: Option<String>,
    /// Do not add the default unix socket listener.
    pub no_default_socket: bool,
}

/// A running berthd with its own temporary roots; stopped and removed on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub log: PathBuf,
    pub config_file: PathBuf,
    options: DaemonOptions,
    child: Option<Child>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(DaemonOptions::default())
    }

    pub fn start_with(options: DaemonOptions) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("temp dir");
        let data_root = dir.path().join("data");
        let exec_root = dir.path().join("exec");
        let socket = exec_root.join("berth.sock");
        let log = dir.path().join("berthd.log");
        let config_file = dir.path().join("daemon.json");
        std::fs::write(&config_file, options.config.as_deref().unwrap_or("{}")).expect("config");
        let mut daemon = Daemon {
            dir,
            socket,
            data_root,
            exec_root,
            log,
            config_file,
            options: options.clone(),
            child: None,
        };
        let child = daemon.spawn(&options);
        daemon.child = Some(child);
        daemon.wait_ready();
        daemon
    }

    /// The command line for this daemon's roots plus `options`.
    pub fn command(&self, options: &DaemonOptions) -> Command {
        let mut command = Command::new(bin_path("berthd"));
        command
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--config-file")
            .arg(&self.config_file);
        if !options.no_default_socket {
            command
                .arg("-H")
                .arg(format!("unix://{}", self.socket.display()));
        }
        command.args(&options.args);
        command
    }

    fn spawn(&self, options: &DaemonOptions) -> Child {
        let log = std::fs::File::create(&self.log).expect("log file");
        self.command(options)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting berthd")
    }

    /// Waits until the socket answers `/_ping`, failing with the daemon's log if it exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berthd exited early ({status}):\n{}", self.log_text());
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
                && crate::raw::request(&self.socket, "GET", "/_ping", None).status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not become ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the daemon and starts it again on the same roots. Also after a
    /// `signal(KILL)`: stopping a dead daemon only reaps it.
    pub fn restart(&mut self) {
        self.stop();
        let child = self.spawn(&self.options.clone());
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).expect("daemon pid");
        rustix::process::kill_process(pid, signal).expect("signalling berthd");
    }

    /// Sends SIGHUP and waits until the daemon has reloaded, which also publishes a
    /// `daemon reload` event: the one event a bare daemon can be made to emit.
    pub fn reload(&self) {
        let done = |text: &str| text.matches("configuration reloaded").count();
        let before = done(&self.log_text());
        self.signal(rustix::process::Signal::HUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        while done(&self.log_text()) == before {
            assert!(Instant::now() < deadline, "no reload:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `count` event subscribers are registered (`NEventsListener` in /info).
    pub fn wait_for_event_listeners(&self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.raw("GET", "/info").json()["NEventsListener"] != count {
            assert!(
                Instant::now() < deadline,
                "{count} event subscribers never registered"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A request over the socket, by hand.
    pub fn raw(&self, method: &str, path: &str) -> crate::RawResponse {
        crate::raw::request(&self.socket, method, path, None)
    }

    pub fn raw_body(&self, method: &str, path: &str, body: &[u8]) -> crate::RawResponse {
        crate::raw::request(&self.socket, method, path, Some(body))
    }

    /// Runs the real docker CLI against this daemon, with a private, empty docker config so
    /// the user's contexts and settings cannot interfere.
    pub fn docker(&self, args: &[&str]) -> Output {
        let config = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).expect("docker config dir");
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .output()
            .expect("running the docker CLI (is it installed?)")
    }

    /// Runs our CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(bin_path("berth"))
            .args(args)
            .env("BERTH_HOST", self.host())
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_API_VERSION")
            .env_remove("DOCKER_API_VERSION")
            .output()
            .expect("running berth")
    }

    /// Runs a Python script (docker-py) with `DOCKER_HOST` pointing here.
    pub fn python(&self, script: &str) -> Output {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("DOCKER_HOST", self.host())
            .output()
            .expect("running python3")
    }

    /// Stops the daemon with SIGTERM and waits; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = rustix::process::Pid::from_raw(child.id() as i32)?;
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        // berthd mounts a tmpfs on an exec root on disk and keeps it while container state
        // is left in it (a daemon that was killed, a test that left a container).
        if self.exec_root.join(".berth-tmpfs").exists() {
            let _ = rustix::mount::unmount(&self.exec_root, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Output as text, for assertions with context.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
