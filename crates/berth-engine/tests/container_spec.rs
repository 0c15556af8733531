//! `translate` over the docker CLI's own request bodies (fixtures/container_create) and a
//! few hand-written ones, checked field by field against Docker's rules. No root needed.

use berth_api::models::container::{ContainerConfig, ContainerCreateRequest};
use berth_engine::container::{
    translate, ContainerFiles, DaemonDefaults, HostFacts, SharedNamespaces, TranslateInput,
    Translated,
};
use oci_spec::runtime::Spec;
use serde_json::Value;

const ID: &str = "4f1c3a2b9d8e7f60112233445566778899aabbccddeeff00112233445566aabb";

struct Env {
    rootfs: tempfile::TempDir,
    files: ContainerFiles,
    host: HostFacts,
    defaults: DaemonDefaults,
}

impl Env {
    fn new() -> Env {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(rootfs.path().join("etc")).unwrap();
        std::fs::write(
            rootfs.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.path().join("etc/group"),
            "root:x:0:\naudio:x:29:\nweb:x:1000:\n",
        )
        .unwrap();
        let mut host = HostFacts::detect();
        // Fixed facts, so the fixtures' cpuset 0-1 and the swap rules do not depend on the box.
        host.cpus = [0, 1].into();
        host.cpus_text = "0-1".into();
        host.mems = [0].into();
        host.mems_text = "0".into();
        host.swap_limit = true;
        host.cgroup_v2 = false;
        Env {
            rootfs,
            files: ContainerFiles {
                hosts: Some("/run/berth/test/hosts".into()),
                hostname: Some("/run/berth/test/hostname".into()),
                resolv_conf: Some("/run/berth/test/resolv.conf".into()),
            },
            host,
            // A fixed init, so `--init` translates the same wherever the tests run.
            defaults: DaemonDefaults {
                init_path: Some("/usr/libexec/berth-init".into()),
                ..DaemonDefaults::for_host()
            },
        }
    }

    fn run_with(
        &self,
        req: &ContainerCreateRequest,
        image: &ContainerConfig,
        shared: &SharedNamespaces,
    ) -> Result<Translated, String> {
        translate(&TranslateInput {
            request: req,
            image,
            id: ID,
            rootfs: self.rootfs.path(),
            user_files: None,
            files: &self.files,
            shared,
            defaults: &self.defaults,
            host: &self.host,
        })
        .map_err(|e| e.to_string())
    }

    /// With an image whose config has `Cmd ["sh"]` (most fixtures give no command).
    fn run(&self, req: &ContainerCreateRequest) -> Result<Translated, String> {
        let image = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        self.run_with(req, &image, &SharedNamespaces::default())
    }
}

fn fixture(name: &str) -> ContainerCreateRequest {
    let path = format!(
        "{}/tests/fixtures/container_create/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(v["body"].clone()).unwrap()
}

fn json(spec: &Spec) -> Value {
    serde_json::to_value(spec).unwrap()
}

fn mount<'a>(spec: &'a Value, dest: &str) -> Option<&'a Value> {
    spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == dest)
}

fn ns_types(spec: &Value) -> Vec<String> {
    spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn minimal_run_gets_dockers_default_profile() {
    let env = Env::new();
    let t = env.run(&fixture("minimal")).unwrap();
    let s = json(&t.spec);
    assert_eq!(s["process"]["args"], serde_json::json!(["echo", "hi"]));
    assert_eq!(s["hostname"], &ID[..12]);
    assert_eq!(s["process"]["env"][1], format!("HOSTNAME={}", &ID[..12]));
    assert_eq!(s["process"]["cwd"], "/");
    assert_eq!(
        s["process"]["user"]["additionalGids"],
        serde_json::json!([0])
    );
    let caps = s["process"]["capabilities"]["effective"]
        .as_array()
        .unwrap();
    assert_eq!(caps.len(), 14);
    assert!(s["process"]["capabilities"]
        .get("inheritable")
        .is_none_or(Value::is_null));
    assert_eq!(ns_types(&s), ["mount", "network", "ipc", "pid", "uts"]);
    assert_eq!(s["linux"]["cgroupsPath"], format!("/berth/{ID}"));
    assert_eq!(
        s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
        "0"
    );
    assert!(s["linux"]["seccomp"]["syscalls"].as_array().unwrap().len() > 10);
    assert_eq!(s["linux"]["readonlyPaths"].as_array().unwrap().len(), 5);
    assert!(s["linux"]["maskedPaths"].as_array().unwrap().len() >= 12);
    assert_eq!(
        s["linux"]["resources"]["devices"].as_array().unwrap().len(),
        8
    );
    let shm = mount(&s, "/dev/shm").unwrap();
    assert!(shm["options"]
        .as_array()
        .unwrap()
        .contains(&"size=67108864".into()));
    let hosts = mount(&s, "/etc/hosts").unwrap();
    assert_eq!(hosts["options"], serde_json::json!(["rbind", "rprivate"]));
    assert_eq!(s["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert!(!t.init);
    assert_eq!(t.stop_signal, "SIGTERM");
    assert!(t.warnings.is_empty());
}

#[test]
fn user_tty_env_and_entrypoint_from_the_cli() {
    let env = Env::new();
    let t = env.run(&fixture("interactive_user_ports")).unwrap();
    let s = json(&t.spec);
    assert_eq!(
        s["process"]["args"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(s["process"]["user"]["uid"], 1000);
    assert_eq!(
        s["process"]["user"]["additionalGids"],
        serde_json::json!([1000, 29, 44])
    );
    assert_eq!(s["process"]["terminal"], true);
    assert_eq!(
        (s["hostname"].as_str(), s["domainname"].as_str()),
        (Some("myhost"), Some("example.com"))
    );
    let envs: Vec<&str> = s["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        envs,
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=myhost",
            "TERM=xterm",
            "X=1",
            "FOO=bar",
            "HOME=/srv"
        ]
    );
    assert_eq!(s["process"]["cwd"], "/srv");
}

#[test]
fn privileged_read_only_with_mounts() {
    let env = Env::new();
    let t = env.run(&fixture("privileged_mounts")).unwrap();
    let s = json(&t.spec);
    assert!(
        s["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len()
            > 14
    );
    assert!(s["linux"].get("seccomp").is_none_or(Value::is_null));
    assert_eq!(s["process"]["noNewPrivileges"], true);
    assert_eq!(s["linux"]["maskedPaths"], serde_json::json!([]));
    assert_eq!(s["root"]["readonly"], true);
    let sys = mount(&s, "/sys").unwrap();
    assert!(
        !sys["options"].as_array().unwrap().contains(&"ro".into()),
        "privileged /sys is rw"
    );
    assert!(mount(&s, "/etc/hosts").unwrap()["options"]
        .as_array()
        .unwrap()
        .contains(&"ro".into()));
    assert!(mount(&s, "/dev/mqueue").unwrap()["options"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o != "ro"));
    assert_eq!(
        mount(&s, "/data").unwrap()["options"],
        serde_json::json!(["rbind", "ro", "rprivate"])
    );
    assert_eq!(s["linux"]["rootfsPropagation"], "rshared");
    assert!(mount(&s, "/run").is_some() && mount(&s, "/cache").is_some());
    let vols: Vec<(Option<&str>, &str)> = t
        .volumes
        .iter()
        .map(|v| (v.name.as_deref(), v.target.as_str()))
        .collect();
    assert_eq!(vols, [(Some("named"), "/vol"), (Some("v2"), "/v2")]);
    assert!(t.volumes[1].no_copy);
    let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(
        s["linux"]["devices"].as_array().unwrap().len() > 3,
        "host devices"
    );
}

#[test]
fn resources_from_the_cli() {
    let env = Env::new();
    let t = env.run(&fixture("resources")).unwrap();
    let s = json(&t.spec);
    let r = &s["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(r["memory"]["swap"], 128 << 20);
    assert_eq!(r["memory"]["reservation"], 32 << 20);
    assert_eq!(r["memory"]["swappiness"], 10);
    assert_eq!(r["memory"]["disableOOMKiller"], true);
    assert_eq!(r["cpu"]["quota"], 150000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["cpu"]["cpus"], "0-1");
    assert_eq!(r["pids"]["limit"], 100);
    assert_eq!(r["blockIO"]["weight"], 300);
    assert_eq!(s["process"]["oomScoreAdj"], 100);
    let rl = s["process"]["rlimits"].as_array().unwrap();
    assert_eq!(
        rl[0],
        serde_json::json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048})
    );
    assert_eq!(rl[1]["type"], "RLIMIT_NPROC");
    let dev = &s["linux"]["devices"][0];
    assert_eq!(
        (
            dev["path"].as_str(),
            dev["major"].as_i64(),
            dev["minor"].as_i64()
        ),
        (Some("/dev/fuse"), Some(10), Some(229))
    );
    let rules = r["devices"].as_array().unwrap();
    assert_eq!(
        rules.len(),
        10,
        "8 defaults + --device + --device-cgroup-rule"
    );
    assert_eq!(s["linux"]["sysctl"]["kernel.msgmax"], "65536");
    assert!(mount(&s, "/dev/shm").unwrap()["options"]
        .as_array()
        .unwrap()
        .contains(&"size=134217728".into()));
}

#[test]
fn namespace_modes_health_and_init() {
    let env = Env::new();
    let t = env.run(&fixture("namespaces_health_log")).unwrap();
    let s = json(&t.spec);
    assert_eq!(ns_types(&s), ["mount", "network", "ipc", "cgroup"]);
    assert!(
        s.get("hostname").is_none_or(Value::is_null),
        "UTS host: no hostname"
    );
    assert_eq!(s["linux"]["cgroupsPath"], format!("/mygroup/{ID}"));
    assert!(t.init);
    assert_eq!(
        (t.stop_signal.as_str(), t.stop_timeout),
        ("SIGINT", Some(5))
    );
    assert_eq!(s["annotations"]["org.example"], "1");
}

#[test]
fn ipc_container_needs_the_callers_namespace() {
    let env = Env::new();
    let req = fixture("host_net_links");
    let err = env.run(&req).unwrap_err();
    assert!(err.contains("container:abc"), "{err}");
    let shared = SharedNamespaces {
        ipc: Some("/proc/1/ns/ipc".into()),
        pid: Some("/proc/1/ns/pid".into()),
        ipc_shm: Some("/run/berth/abc/shm".into()),
        net: None,
    };
    let image = ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        ..Default::default()
    };
    assert!(env
        .run_with(&req, &image, &SharedNamespaces::default())
        .is_err());
    let t = env.run_with(&req, &image, &shared).unwrap();
    let s = json(&t.spec);
    assert_eq!(ns_types(&s), ["mount", "ipc", "pid", "uts"]);
    assert_eq!(s["linux"]["namespaces"][2]["path"], "/proc/1/ns/pid");
    assert_eq!(
        mount(&s, "/dev/shm").unwrap()["source"],
        "/run/berth/abc/shm"
    );
    assert_eq!(
        s["hostname"], env.host.hostname,
        "host network: the host's hostname"
    );
    assert!(s["linux"]["sysctl"]
        .as_object()
        .is_none_or(|m| m.is_empty()));
    assert_eq!(
        s["linux"]["resources"]["cpu"],
        serde_json::json!({"period": 100000, "quota": 50000})
    );
}

fn req(v: Value) -> ContainerCreateRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn validation_errors_carry_dockers_messages() {
    let env = Env::new();
    let e = |v: Value| env.run(&req(v)).unwrap_err();
    let empty = ContainerConfig::default();
    let none = SharedNamespaces::default();
    assert_eq!(
        env.run_with(&req(serde_json::json!({"Image": "x"})), &empty, &none)
            .unwrap_err(),
        "No command specified"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "User": "nosuch"})),
        "unable to find user nosuch: no matching entries in passwd file"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "HostConfig": {"CapAdd": ["BOGUS"]}})),
        "unknown capability: \"CAP_BOGUS\""
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "HostConfig": {"Memory": 1024}})),
        "Minimum memory limit allowed is 6MB"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "Hostname": "h", "HostConfig": {"UTSMode": "host"}})),
        "conflicting options: hostname and the UTS mode"
    );
    assert_eq!(
        e(
            serde_json::json!({"Cmd": ["x"], "HostConfig": {"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}}})
        ),
        "sysctl 'net.ipv4.ip_forward' is not allowed in the host network namespace"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "HostConfig": {"Binds": ["/tmp:/"]}})),
        "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "HostConfig": {"ShmSize": -1}})),
        "SHM size can not be less than 0"
    );
    assert_eq!(
        e(serde_json::json!({"Cmd": ["x"], "HostConfig": {"OomScoreAdj": 1001}})),
        "Invalid value 1001, range for oom score adj is [-1000, 1000]"
    );
    let api: berth_api::ApiError = berth_engine::container::SpecError::Invalid("x".into()).into();
    assert_eq!(api.kind, berth_api::error::ErrorKind::InvalidParameter);
}

#[test]
fn the_image_config_fills_what_the_request_leaves_out() {
    let env = Env::new();
    let image: ContainerConfig = serde_json::from_value(serde_json::json!({
        "Env": ["PATH=/opt/bin:/bin", "LANG=C"], "Entrypoint": ["/entry"], "Cmd": ["serve"],
        "WorkingDir": "/srv", "User": "web", "Volumes": {"/data": {}}, "StopSignal": "SIGQUIT"
    }))
    .unwrap();
    let request = req(serde_json::json!({"Cmd": ["debug"], "Env": ["LANG=en"]}));
    let t = env
        .run_with(&request, &image, &SharedNamespaces::default())
        .unwrap();
    let s = json(&t.spec);
    assert_eq!(s["process"]["args"], serde_json::json!(["/entry", "debug"]));
    assert_eq!(s["process"]["env"][0], "PATH=/opt/bin:/bin");
    assert!(s["process"]["env"]
        .as_array()
        .unwrap()
        .contains(&"LANG=en".into()));
    assert_eq!(
        (
            s["process"]["user"]["uid"].as_u64(),
            s["process"]["cwd"].as_str()
        ),
        (Some(1000), Some("/srv"))
    );
    assert_eq!(t.volumes[0].target, "/data");
    assert_eq!(t.volumes[0].name, None);
    assert_eq!(t.stop_signal, "SIGQUIT");
    assert_eq!(
        (t.path.as_str(), t.args.clone()),
        ("/entry", vec!["debug".to_string()])
    );
}

#[test]
fn init_prefixes_the_command_and_mounts_the_init_read_only() {
    let mut env = Env::new();
    let request = req(serde_json::json!({"Cmd": ["sleep", "5"], "HostConfig": {"Init": true}}));
    let t = env.run(&request).unwrap();
    let s = json(&t.spec);
    assert_eq!(
        s["process"]["args"],
        serde_json::json!(["/sbin/docker-init", "--", "sleep", "5"])
    );
    let m = mount(&s, "/sbin/docker-init").expect("the init's mount");
    assert_eq!(m["source"], "/usr/libexec/berth-init");
    assert_eq!(m["options"], serde_json::json!(["bind", "ro"]));
    // Inspect keeps the container's own command.
    assert_eq!(
        (t.path.as_str(), t.args.clone()),
        ("sleep", vec!["5".to_string()])
    );
    assert!(t.init);

    env.defaults.init_path = None;
    let err = env.run(&request).unwrap_err();
    assert!(err.contains("executable file not found"), "{err}");
    let plain = env
        .run(&req(serde_json::json!({"Cmd": ["sleep", "5"]})))
        .unwrap();
    assert_eq!(
        json(&plain.spec)["process"]["args"],
        serde_json::json!(["sleep", "5"])
    );
}
