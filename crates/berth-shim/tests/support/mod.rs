//! A container fixture for the shim tests: a busybox bundle from the test image, a private
//! runc root, a state dir, and a Drop guard that removes the container (runc delete
//! --force), kills the shim (through a pidfd, so never another process) and the temp dir.

#![allow(dead_code)]

use berth_shim::config::RuntimeChoice;
use berth_shim::{ShimClient, ShimConfig, Spawned};
use rustix::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const RUNC: &str = "/usr/sbin/runc";

pub fn shim_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"))
}

fn layer() -> &'static [u8] {
    static LAYER: OnceLock<Vec<u8>> = OnceLock::new();
    LAYER.get_or_init(berth_testutil::image::busybox_layer)
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: ShimConfig,
    pub shim: Option<(u32, OwnedFd)>,
}

impl Fixture {
    /// A created-not-spawned fixture for `args`; `edit` may change the OCI config.
    pub fn new(args: &[&str], tty: bool, edit: impl FnOnce(&mut serde_json::Value)) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir(&bundle).unwrap();
        tar::Archive::new(layer())
            .unpack(bundle.join("rootfs"))
            .expect("unpack busybox");
        let status = Command::new(RUNC)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .expect("runc spec");
        assert!(status.success());
        let path = bundle.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["root"]["path"] = "rootfs".into();
        spec["root"]["readonly"] = false.into();
        spec["process"]["terminal"] = tty.into();
        spec["process"]["args"] = args.iter().map(|a| a.to_string()).collect();
        edit(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        let id = berth_testutil::unique_name("shimt");
        let mut config =
            ShimConfig::new(&id, bundle, dir.path().join("state"), PathBuf::from(RUNC));
        config.runtime_root = Some(dir.path().join("runc"));
        Fixture {
            dir,
            config,
            shim: None,
        }
    }

    /// Uses the runtime linked into the shim instead of runc.
    pub fn builtin(mut self) -> Fixture {
        self.config.runtime = RuntimeChoice::Builtin;
        self
    }

    /// The runtime CLI that can see (and delete) this fixture's container.
    fn runtime_cli(&self) -> PathBuf {
        match &self.config.runtime {
            RuntimeChoice::Builtin => shim_binary().with_file_name("berth-runc"),
            RuntimeChoice::External(binary) => binary.clone(),
        }
    }

    /// Changes the bundle's config.json.
    pub fn edit_spec(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.config.bundle.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    }

    /// Spawns the shim the way berthd does.
    pub fn spawn(&mut self) -> Spawned {
        let spawned = berth_shim::spawn(&shim_binary(), &self.config).expect("spawn shim");
        self.adopt(spawned.shim_pid);
        spawned
    }

    /// Keeps a pidfd of the shim so cleanup signals exactly that process.
    pub fn adopt(&mut self, shim_pid: u32) {
        let pid = rustix::process::Pid::from_raw(shim_pid as i32).expect("pid");
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .expect("pidfd_open");
        self.shim = Some((shim_pid, fd));
    }

    pub fn client(&self) -> ShimClient {
        ShimClient::connect(&self.config.socket).expect("connect to shim")
    }

    pub fn log_path(&self) -> PathBuf {
        self.config.log.as_ref().unwrap().path.clone()
    }

    /// The entries of a json-file log.
    pub fn log_entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line is JSON"))
            .collect()
    }

    /// Blocks until the shim process has exited (its pidfd becomes readable).
    pub fn wait_shim_exit(&self) {
        let (_, fd) = self.shim.as_ref().expect("spawned");
        let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => panic!("poll pidfd: {e}"),
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new(self.runtime_cli())
            .arg("--root")
            .arg(self.config.runtime_root.as_ref().unwrap())
            .args(["delete", "--force", &self.config.id])
            .stderr(std::process::Stdio::null())
            .status();
        if let Some((_, fd)) = &self.shim {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
        }
    }
}

/// An OCI process object for exec.
pub fn process(args: &[&str], tty: bool) -> serde_json::Value {
    serde_json::json!({
        "terminal": tty,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/bin", "TERM=xterm"],
        "cwd": "/",
    })
}
