//! Privileged: specs from `translate` run under `berth-runc` (crates/berth-runtime) with a
//! busybox rootfs, and the container checks from inside what Docker would give it.
//! `berth-runc` is built on demand (`cargo build -p berth-runtime --bin berth-runc`).

use berth_api::models::container::{ContainerConfig, ContainerCreateRequest};
use berth_engine::container::{
    names, translate, ContainerFiles, DaemonDefaults, HostFacts, SharedNamespaces, TranslateInput,
};
use berth_testutil::require_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Docker's 14 default capabilities as /proc/<pid>/status shows them.
const DOCKER_CAPS: &str = "00000000a80425fb";

fn berth_runc() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-q", "-p", "berth-runtime", "--bin", "berth-runc"])
            .current_dir(&root)
            .status()
            .expect("running cargo build for berth-runc");
        assert!(status.success(), "building berth-runc failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        target.join("debug/berth-runc")
    })
}

/// A bundle (busybox rootfs + per-container files), a runtime root and a cgroup parent of
/// its own; Drop deletes the container, the cgroup directories and the temp dirs.
struct Fixture {
    runtime: PathBuf,
    bundle: tempfile::TempDir,
    state: tempfile::TempDir,
    id: String,
    cgroup_parent: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_runtime(berth_runc().to_path_buf())
    }

    /// runc, for what berth-runc does not implement yet (cgroups: its features report no
    /// cgroup support), so the translated resources are still checked from inside.
    fn runc() -> Fixture {
        Fixture::with_runtime(PathBuf::from("runc"))
    }

    fn with_runtime(runtime: PathBuf) -> Fixture {
        let bundle = tempfile::Builder::new()
            .prefix("berth-ct-")
            .tempdir()
            .unwrap();
        let rootfs = bundle.path().join("rootfs");
        let layer = berth_testutil::image::busybox_layer();
        tar::Archive::new(&layer[..]).unpack(&rootfs).unwrap();
        // Groups for --group-add by name.
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\naudio:x:29:\nnobody:x:65534:\n",
        )
        .unwrap();
        for (f, text) in [
            ("hosts", "127.0.0.1\tlocalhost\n"),
            ("hostname", "ignored\n"),
            ("resolv.conf", "nameserver 127.0.0.1\n"),
        ] {
            std::fs::write(bundle.path().join(f), text).unwrap();
        }
        Fixture {
            runtime,
            bundle,
            state: tempfile::Builder::new()
                .prefix("berth-rs-")
                .tempdir()
                .unwrap(),
            id: names::generate_id().unwrap(),
            cgroup_parent: format!("/{}", berth_testutil::unique_name("bt")),
        }
    }

    /// Translates `request` (image config: none), runs it to completion, returns
    /// (exit code, stdout, stderr).
    fn run(&self, request: serde_json::Value) -> (i32, String, String) {
        let request: ContainerCreateRequest = serde_json::from_value(request).unwrap();
        let files = ContainerFiles {
            hosts: Some(self.bundle.path().join("hosts")),
            hostname: Some(self.bundle.path().join("hostname")),
            resolv_conf: Some(self.bundle.path().join("resolv.conf")),
        };
        let defaults = DaemonDefaults {
            cgroup_parent: self.cgroup_parent.clone(),
            ..DaemonDefaults::for_host()
        };
        let t = translate(&TranslateInput {
            request: &request,
            image: &ContainerConfig::default(),
            id: &self.id,
            rootfs: &self.bundle.path().join("rootfs"),
            user_files: None,
            files: &files,
            shared: &SharedNamespaces::default(),
            defaults: &defaults,
            host: &HostFacts::detect(),
        })
        .unwrap();
        std::fs::write(
            self.bundle.path().join("config.json"),
            serde_json::to_vec_pretty(&t.spec).unwrap(),
        )
        .unwrap();
        let out = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.state.path())
            .args(["run", "--bundle"])
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn rootfs(&self) -> PathBuf {
        self.bundle.path().join("rootfs")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.state.path())
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
        for ctrl in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = ctrl.path().join(self.cgroup_parent.trim_start_matches('/'));
            let _ = std::fs::remove_dir(parent.join(&self.id));
            let _ = std::fs::remove_dir(parent);
        }
    }
}

fn status_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

fn cmd(script: &str) -> serde_json::Value {
    serde_json::json!(["sh", "-c", script])
}

#[test]
fn default_container_has_dockers_caps_hostname_env_cwd_and_nofile() {
    require_root!();
    let f = Fixture::new();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("grep ^Cap /proc/self/status; echo host=$(hostname); echo cwd=$(pwd); \
                    echo nofile=$(ulimit -n); echo foo=$FOO; echo path=$PATH; echo home=$HOME"),
        "Env": ["FOO=bar"],
        "WorkingDir": "/tmp",
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    for key in ["CapEff:", "CapBnd:", "CapPrm:"] {
        assert_eq!(status_line(&out, key), DOCKER_CAPS, "{key}");
    }
    assert_eq!(status_line(&out, "CapInh:"), "0000000000000000");
    assert_eq!(status_line(&out, "CapAmb:"), "0000000000000000");
    assert_eq!(status_line(&out, "host="), &f.id[..12]);
    assert_eq!(status_line(&out, "cwd="), "/tmp");
    assert_eq!(status_line(&out, "nofile="), "1024");
    assert_eq!(status_line(&out, "foo="), "bar");
    assert_eq!(status_line(&out, "home="), "/root");
    assert_eq!(
        status_line(&out, "path="),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
}

#[test]
fn user_and_group_add_from_passwd_and_group() {
    require_root!();
    let f = Fixture::new();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("id; grep ^CapEff /proc/self/status; grep ^Groups /proc/self/status"),
        "User": "1000:1000",
        "HostConfig": {"GroupAdd": ["audio", "44"]},
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("uid=1000 gid=1000"), "{out}");
    let groups: Vec<&str> = status_line(&out, "Groups:").split_whitespace().collect();
    assert_eq!(
        groups,
        ["29", "44", "1000"],
        "primary gid is a supplementary group too"
    );
    assert_eq!(
        status_line(&out, "CapEff:"),
        "0000000000000000",
        "non-root: no caps"
    );
}

#[test]
fn read_only_root_and_read_only_bind() {
    require_root!();
    let f = Fixture::new();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("hello"), "from the host\n").unwrap();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("touch /newfile && echo root=writable || echo root=readonly; \
                    touch /data/new && echo data=writable || echo data=readonly; \
                    cat /data/hello; touch /scratch/x && echo tmpfs=writable"),
        "HostConfig": {
            "ReadonlyRootfs": true,
            "Binds": [format!("{}:/data:ro", host_dir.path().display())],
            "Tmpfs": {"/scratch": "size=1m"},
        },
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(status_line(&out, "root="), "readonly");
    assert_eq!(status_line(&out, "data="), "readonly");
    assert!(out.contains("from the host"), "{out}");
    assert_eq!(status_line(&out, "tmpfs="), "writable");
    assert!(!f.rootfs().join("newfile").exists());
    assert!(!host_dir.path().join("new").exists());
}

#[test]
fn cap_drop_all_cap_add_net_admin_and_ulimit() {
    require_root!();
    let f = Fixture::new();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("grep ^CapEff /proc/self/status; echo soft=$(ulimit -n) hard=$(ulimit -Hn)"),
        "HostConfig": {
            "CapDrop": ["ALL"], "CapAdd": ["NET_ADMIN"],
            "Ulimits": [{"Name": "nofile", "Soft": 256, "Hard": 512}],
        },
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        status_line(&out, "CapEff:"),
        "0000000000001000",
        "exactly bit 12"
    );
    assert!(out.contains("soft=256 hard=512"), "{out}");
}

#[test]
fn default_profile_masks_paths_sets_sysctls_and_sizes_shm() {
    require_root!();
    let f = Fixture::new();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("echo timers=$(cat /proc/timer_list | wc -c); \
                    echo port=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start); \
                    echo shm=$(df -k /dev/shm | tail -n 1 | awk '{print $2}'); \
                    mount -t tmpfs none /mnt 2>/dev/null && echo mount=allowed || echo mount=denied; \
                    (echo h > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=w || echo sysrq=ro"),
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        status_line(&out, "timers="),
        "0",
        "/proc/timer_list is masked"
    );
    assert_eq!(
        status_line(&out, "port="),
        "0",
        "Docker's sysctl in a private netns"
    );
    assert_eq!(status_line(&out, "shm="), "65536", "64 MiB /dev/shm");
    assert_eq!(status_line(&out, "mount="), "denied");
    assert_eq!(status_line(&out, "sysrq="), "ro");
}

#[test]
fn privileged_gets_every_capability_and_a_writable_sys() {
    require_root!();
    // Every capability berthd itself may grant: the test process's bounding set.
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let all = status_line(&own, "CapBnd:").to_string();
    let f = Fixture::new();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("grep ^CapEff /proc/self/status; \
                    echo sys=$(awk '$5 == \"/sys\" {print $6}' /proc/self/mountinfo | cut -d, -f1); \
                    echo timers=$(head -c 16 /proc/timer_list | wc -c)"),
        "HostConfig": {"Privileged": true},
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(status_line(&out, "CapEff:"), all);
    assert_eq!(status_line(&out, "sys="), "rw");
    assert_eq!(
        status_line(&out, "timers="),
        "16",
        "no masked paths when privileged"
    );
}

#[test]
fn a_custom_seccomp_profile_applies() {
    require_root!();
    let f = Fixture::new();
    // What the docker CLI sends for `--security-opt seccomp=profile.json`: the file's content.
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("mkdir /tmp/d 2>/dev/null && echo mkdir=ok || echo mkdir=denied; \
                    touch /tmp/f && echo touch=ok"),
        "HostConfig": {"SecurityOpt": [format!("seccomp={profile}")]},
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        status_line(&out, "mkdir="),
        "denied",
        "the custom profile's rule"
    );
    assert_eq!(status_line(&out, "touch="), "ok", "its default action");
}

/// Under runc: berth-runc does not manage cgroups yet, and the device cgroup is what stops
/// a container from opening devices it may mknod (SECURITY.md 1.4).
#[test]
fn device_flag_gives_read_only_access_and_memory_and_pids_limits_apply() {
    require_root!();
    let f = Fixture::runc();
    let (code, out, err) = f.run(serde_json::json!({
        "Cmd": cmd("head -c 1 /dev/x > /dev/null && echo read=ok || echo read=denied; \
                    echo write=$( (echo hi > /dev/x) 2>&1 | grep -c 'not permitted'); \
                    mknod /tmp/sda b 8 0 && (head -c 1 /tmp/sda 2>&1 | grep -c 'not permitted' \
                      | sed 's/^/sda=/'); \
                    echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
                    echo pids=$(cat /sys/fs/cgroup/pids/pids.max)"),
        "HostConfig": {
            // An unbound loop device (7:0) is in neither Docker's nor runc's default rules;
            // a write that reached it would fail with ENXIO/ENOSPC, not EPERM.
            "Devices": [{"PathOnHost": "/dev/loop0", "PathInContainer": "/dev/x",
                         "CgroupPermissions": "r"}],
            "Memory": 64 << 20,
            "PidsLimit": 64,
            "CgroupnsMode": "private",
        },
    }));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(status_line(&out, "read="), "ok");
    assert_eq!(status_line(&out, "write="), "1", "only r is allowed: {out}");
    assert_eq!(
        status_line(&out, "sda="),
        "1",
        "mknod works, opening does not: {out}"
    );
    assert_eq!(status_line(&out, "mem="), (64u64 << 20).to_string());
    assert_eq!(status_line(&out, "pids="), "64");
}
