//! Privileged security tests (SECURITY.md 2.1, 5.D, 5.E) against berth-runc, checked from
//! inside the container with the validator.

mod common;

use common::{docker_caps, validate, Bundle, Root};
use serde_json::json;
use std::process::Stdio;

#[test]
fn docker_default_caps_show_the_known_bitmask_and_empty_inheritable_ambient() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    docker_caps(&mut bundle);
    let v = validate(&root, &mut bundle, &[]);
    for set in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(v["status"][set], "00000000a80425fb", "{set}");
    }
    assert_eq!(v["status"]["CapInh"], "0000000000000000");
    assert_eq!(v["status"]["CapAmb"], "0000000000000000");
}

#[test]
fn non_root_user_with_additional_gids_has_no_effective_caps() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    docker_caps(&mut bundle);
    bundle.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 2000]});
    let v = validate(&root, &mut bundle, &[]);
    assert_eq!(v["status"]["Uid"], "1000 1000 1000 1000");
    assert_eq!(v["status"]["Gid"], "1000 1000 1000 1000");
    assert_eq!(v["status"]["Groups"], "1000 2000");
    assert_eq!(v["status"]["CapEff"], "0000000000000000");
}

#[test]
fn hostname_rlimits_umask_and_only_stdio_fds() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["hostname"] = "box-7".into();
    bundle.config["domainname"] = "example.org".into();
    bundle.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}]);
    bundle.config["process"]["user"]["umask"] = 0o027.into();
    bundle.config["process"]["cwd"] = "/tmp".into();
    let v = validate(&root, &mut bundle, &[]);
    assert_eq!(v["hostname"], "box-7");
    assert_eq!(v["sysctl"]["kernel.domainname"], "example.org");
    assert_eq!(v["rlimits"]["Max open files"], "256:512");
    assert_eq!(v["status"]["Umask"], "0027");
    assert_eq!(v["cwd"], "/tmp");
    assert_eq!(
        v["fds"],
        json!(["0", "1", "2"]),
        "pid 1 must hold only stdio"
    );
}

#[test]
fn readonly_root_refuses_writes() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["root"]["readonly"] = true.into();
    let v = validate(&root, &mut bundle, &[]);
    assert!(
        v["mounts"]["/"]["options"]
            .as_str()
            .unwrap()
            .starts_with("ro"),
        "{}",
        v["mounts"]["/"]
    );
    bundle.args(&["touch", "/written"]);
    let (code, _, _) = root.run(&bundle);
    assert_ne!(code, 0);
    assert!(!bundle.rootfs().join("written").exists());
}

#[test]
fn masked_and_readonly_paths_are_unreadable_and_unwritable() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    // The default spec masks /proc/kcore, /proc/keys, /sys/firmware ... and makes /proc/sys ro.
    let v = validate(&root, &mut bundle, &[]);
    // Masked files are /dev/null (read empty; writes vanish), masked dirs an empty ro tmpfs.
    for path in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
    ] {
        let p = &v["paths"][path];
        if p["exists"] == true {
            assert_eq!(p["nonempty"], false, "{path} must read empty: {p}");
        }
    }
    assert_eq!(v["paths"]["/sys/firmware"]["writable"], false);
    for path in ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger"] {
        assert_eq!(v["paths"][path]["writable"], false, "{path}");
    }
}

#[test]
fn seccomp_profile_denies_with_errno_and_nnp_is_reported() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    bundle.config["process"]["noNewPrivileges"] = true.into();
    let v = validate(&root, &mut bundle, &[]);
    assert_eq!(v["status"]["Seccomp"], "2");
    assert_eq!(v["status"]["NoNewPrivs"], "1");
    bundle.args(&["sh", "-c", "mkdir /tmp/x 2>&1; test ! -e /tmp/x"]);
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn cwd_through_a_leaked_fd_fails_or_stays_inside() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    for n in 3..=12 {
        bundle.config["process"]["cwd"] = format!("/proc/self/fd/{n}").into();
        bundle.args(&["/bin/validate"]);
        let (code, out, _) = root.run(&bundle);
        if code == 0 {
            let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            let cwd = v["cwd"].as_str().unwrap();
            assert!(
                cwd.starts_with('/') && !cwd.contains("berth-root"),
                "fd {n}: cwd {cwd} escaped"
            );
        }
    }
}

#[test]
fn proc_symlink_in_the_rootfs_is_refused() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    std::fs::remove_dir(bundle.rootfs().join("proc")).unwrap();
    std::os::unix::fs::symlink("/x", bundle.rootfs().join("proc")).unwrap();
    bundle.args(&["true"]);
    let (code, _, err) = root.run(&bundle);
    assert_ne!(code, 0);
    assert!(
        err.contains("must be mounted on ordinary directory"),
        "{err}"
    );
}

#[test]
fn proc_bind_mount_destination_is_refused() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    let mounts = bundle.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/proc/sys", "type": "bind", "source": "/tmp", "options": ["rbind"]}),
    );
    bundle.args(&["true"]);
    let (code, _, err) = root.run(&bundle);
    assert_ne!(code, 0);
    assert!(err.contains("/proc"), "{err}");
}

#[test]
fn dev_symlinked_to_the_host_leaves_the_sentinel_untouched() {
    berth_testutil::require_root!();
    let sentinel = berth_testutil::Sentinel::new();
    let root = Root::berth();
    for target in [
        sentinel.dir.clone(),
        std::path::PathBuf::from(format!("../../../../../../..{}", sentinel.dir.display())),
    ] {
        let mut bundle = Bundle::new();
        std::fs::remove_dir(bundle.rootfs().join("dev")).unwrap();
        std::os::unix::fs::symlink(&target, bundle.rootfs().join("dev")).unwrap();
        bundle.args(&["true"]);
        let _ = root.run(&bundle);
        sentinel.assert_unchanged();
    }
}

fn sha256(path: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn proc_self_exe_overwrite_attempts_leave_the_runtime_binary_unchanged() {
    berth_testutil::require_root!();
    let before = sha256(common::BERTH_RUNC);
    let root = Root::berth();
    let mut bundle = Bundle::new();
    docker_caps(&mut bundle);
    // pid 1 keeps trying to open every visible /proc/<pid>/exe for writing and writing to it.
    let attack = "while true; do for e in /proc/[0-9]*/exe; do echo pwned 2>/dev/null >> $e && echo WROTE $e >> /tmp/log; done; done";
    bundle.args(&["sh", "-c", attack]);
    bundle.write();
    let id = berth_testutil::unique_name("cve");
    let (ok, err) = root.detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert!(ok, "{err}");
    for _ in 0..20 {
        // An entrypoint-style "#!/proc/self/exe" re-enters whatever binary runs the exec.
        let out = root
            .cmd(&[
                "exec",
                &id,
                "sh",
                "-c",
                "printf '#!/proc/self/exe\\n' > /tmp/x; chmod +x /tmp/x; /tmp/x; true",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = root
        .cmd(&["exec", &id, "sh", "-c", "cat /tmp/log 2>/dev/null; true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(root.output(&["delete", "--force", &id]).status.success());
    assert_eq!(
        sha256(common::BERTH_RUNC),
        before,
        "the runtime binary was modified"
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.trim().is_empty(),
        "a write to a process image succeeded: {log}"
    );
}

#[test]
fn docker_default_seccomp_profile_denies_namespace_and_mount_calls() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["root"]["readonly"] = false.into();
    // The process holds CAP_SYS_ADMIN, so only seccomp can refuse unshare and mount.
    let caps: Vec<String> = common::DOCKER_CAPS.iter().map(|s| s.to_string()).collect();
    let with_admin: Vec<String> = caps
        .iter()
        .cloned()
        .chain(["CAP_SYS_ADMIN".to_string()])
        .collect();
    bundle.config["process"]["capabilities"] = json!({
        "bounding": with_admin, "effective": with_admin, "permitted": with_admin
    });
    let script = "unshare -m true && echo unshare-ok; echo ok > /tmp/f && cat /tmp/f";
    bundle.args(&["sh", "-c", script]);
    for (profile_caps, allowed) in [(caps.clone(), false), (with_admin.clone(), true)] {
        let profile = berth_runtime::profile::default_seccomp(
            &profile_caps,
            berth_runtime::profile::native_arch(),
            berth_runtime::profile::kernel_version(),
        )
        .unwrap();
        bundle.config["linux"]["seccomp"] = serde_json::to_value(&profile).unwrap();
        let (code, out, err) = root.run(&bundle);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(
            out.contains("unshare-ok"),
            allowed,
            "profile for {profile_caps:?}: {out}{err}"
        );
        assert!(out.ends_with("ok\n"), "ordinary work still runs: {out}");
    }
}

#[test]
fn a_precompiled_program_in_the_bundle_is_used_only_for_its_own_profile() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["root"]["readonly"] = false.into();
    let caps: Vec<String> = common::DOCKER_CAPS.iter().map(|s| s.to_string()).collect();
    let with_admin: Vec<String> = caps
        .iter()
        .cloned()
        .chain(["CAP_SYS_ADMIN".to_string()])
        .collect();
    bundle.config["process"]["capabilities"] = json!({
        "bounding": with_admin, "effective": with_admin, "permitted": with_admin
    });
    bundle.args(&["sh", "-c", "unshare -m true && echo unshare-ok; echo done"]);
    let profile = |caps: &[String]| {
        berth_runtime::profile::default_seccomp(
            caps,
            berth_runtime::profile::native_arch(),
            berth_runtime::profile::kernel_version(),
        )
        .unwrap()
    };
    let (strict, lenient) = (profile(&caps), profile(&with_admin));
    // The file holds the lenient program but the config names the strict profile: the
    // file must be ignored and the strict profile compiled.
    bundle.config["linux"]["seccomp"] = serde_json::to_value(&strict).unwrap();
    berth_runtime::seccomp::save_program(bundle.path(), &lenient).unwrap();
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("unshare-ok"),
        "a foreign program was loaded: {out}"
    );
    // Its own program is used, and filters exactly as the compiled profile does.
    berth_runtime::seccomp::save_program(bundle.path(), &strict).unwrap();
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("unshare-ok") && out.ends_with("done\n"),
        "{out}"
    );
    bundle.config["linux"]["seccomp"] = serde_json::to_value(&lenient).unwrap();
    berth_runtime::seccomp::save_program(bundle.path(), &lenient).unwrap();
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("unshare-ok"), "{out}{err}");
}

fn cgroup_dir(bundle: &Bundle, controller: &str) -> std::path::PathBuf {
    let path = bundle.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .trim_start_matches('/');
    std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path)
}

#[test]
fn cgroup_limits_apply_and_the_cgroup_is_removed_on_delete() {
    berth_testutil::require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/pids").is_dir() {
        eprintln!("skipped: this test reads the cgroup v1 pids hierarchy of the CI host");
        return;
    }
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.config["linux"]["resources"]["pids"] = json!({"limit": 64});
    bundle.config["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    bundle.args(&["sleep", "1000"]);
    bundle.write();
    let id = berth_testutil::unique_name("cg");
    let (ok, err) = root.detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert!(ok, "{err}");
    let dir = cgroup_dir(&bundle, "pids");
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max"))
            .unwrap()
            .trim(),
        "64"
    );
    let pid = root.state(&id)["pid"].as_i64().unwrap().to_string();
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid),
        "the init must be in its cgroup: {procs}"
    );
    // exec joins the cgroup too, and the container sees its limits.
    let out = root
        .cmd(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "33554432");
    assert!(root
        .output(&["kill", "--all", &id, "KILL"])
        .status
        .success());
    assert!(root.output(&["delete", "--force", &id]).status.success());
    assert!(!dir.exists(), "delete must remove the cgroup");
}

#[test]
fn device_cgroup_denies_a_node_made_with_mknod_or_shipped_in_the_image() {
    berth_testutil::require_root!();
    // A host block device that root can read here (the control below proves it).
    let Some((major, minor)) = readable_block_device() else {
        eprintln!("skipped: no readable block device on this host");
        return;
    };
    let root = Root::berth();
    let mut bundle = Bundle::new();
    docker_caps(&mut bundle);
    bundle.config["root"]["readonly"] = false.into();
    // /dev stays the image's directory, so the node shipped there is reachable.
    bundle.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        bundle.rootfs().join("dev/shipped-disk"),
        rustix::fs::FileType::BlockDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(major, minor),
    )
    .unwrap();
    let script = format!(
        "mknod /tmp/disk b {major} {minor}; head -c 1 /tmp/disk > /dev/null 2>&1 && echo READ1; \
         head -c 1 /dev/shipped-disk > /dev/null 2>&1 && echo READ2; echo ok > /dev/null && echo null-ok"
    );
    bundle.args(&["sh", "-c", &script]);
    // Positive control: with every device allowed the shipped node is readable.
    bundle.config["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    let (_, out, _) = root.run(&bundle);
    assert!(
        out.contains("READ2"),
        "control: an allowed disk node reads: {out}"
    );
    // Deny every device; the runtime adds its own defaults (null, zero, tty, pts ...).
    bundle.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("READ"),
        "opening the host disk must fail: {out}"
    );
    assert!(
        out.contains("null-ok"),
        "the default devices stay usable: {out}"
    );
}

fn readable_block_device() -> Option<(u32, u32)> {
    for entry in std::fs::read_dir("/sys/dev/block").ok()?.flatten() {
        let uevent = std::fs::read_to_string(entry.path().join("uevent")).unwrap_or_default();
        let Some(name) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) else {
            continue;
        };
        // The device cgroup acts at open(): that is what the container tries.
        let readable = std::fs::File::open(format!("/dev/{name}")).is_ok();
        if readable {
            let nums = entry.file_name().to_string_lossy().into_owned();
            let (major, minor) = nums.split_once(':')?;
            return Some((major.parse().ok()?, minor.parse().ok()?));
        }
    }
    None
}

#[test]
fn exec_cwd_through_a_leaked_fd_fails_or_stays_inside() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    bundle.args(&["sleep", "1000"]);
    bundle.write();
    let id = berth_testutil::unique_name("xcwd");
    let (ok, err) = root.detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert!(ok, "{err}");
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = root
            .cmd(&["exec", "--cwd", &cwd, &id, "/bin/validate"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let seen = v["cwd"].as_str().unwrap();
            assert!(
                seen.starts_with('/'),
                "exec --cwd {cwd}: cwd {seen} is outside the container"
            );
            assert_eq!(v["fds"], json!(["0", "1", "2"]), "exec must not leak fds");
        }
    }
    assert!(root.output(&["delete", "--force", &id]).status.success());
}

#[test]
fn an_image_dev_null_symlink_cannot_redirect_masking() {
    berth_testutil::require_root!();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    // /dev comes from the image, whose /dev/null points at a procfs file (CVE-2025-31133).
    bundle.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        bundle.rootfs().join("dev/null"),
    )
    .unwrap();
    let mut bundle_v = bundle;
    let v = validate(&root, &mut bundle_v, &[]);
    assert_eq!(
        v["paths"]["/proc/kcore"]["nonempty"], false,
        "/proc/kcore must stay masked"
    );
    assert_eq!(
        v["paths"]["/proc/sys/kernel/core_pattern"]["writable"],
        false
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

/// Builds `tests/probe/syscall_probe.c` static into the rootfs as `/bin/probe`; false (the
/// caller skips) when there is no C compiler or no static libc.
fn install_probe(bundle: &Bundle) -> bool {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/probe/syscall_probe.c");
    let built = std::process::Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(bundle.rootfs().join("bin/probe"))
        .arg(source)
        .status();
    matches!(built, Ok(s) if s.success())
}

/// Whether the kernel runs 32-bit `int $0x80` calls (IA32 emulation), tried on the host
/// with the probe: getpid through `int $0x80` answers, or the process dies (SIGSEGV) or
/// gets ENOSYS when the kernel lacks CONFIG_IA32_EMULATION or has it disabled.
fn ia32_emulation(probe: &std::path::Path) -> bool {
    std::process::Command::new(probe)
        .args(["i386", "20"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "errno=0")
}

/// Docker's default profile (SECURITY.md 1.5, 5.E 38): a syscall newer than any the
/// profile names gets ENOSYS (so libc falls back), a known denied one EPERM, and neither
/// the i386 `int $0x80` ABI nor the x32 ABI slips past the filter. The process holds
/// CAP_SYS_ADMIN, so only seccomp can refuse `unshare`.
#[test]
fn default_profile_answers_enosys_for_unknown_syscalls_and_filters_every_abi() {
    berth_testutil::require_root!();
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the probe issues x86_64, x32 and i386 system calls");
        return;
    }
    let root = Root::berth();
    let mut bundle = Bundle::new();
    if !install_probe(&bundle) {
        eprintln!("skipped: no C compiler with a static libc to build the syscall probe");
        return;
    }
    let caps: Vec<String> = common::DOCKER_CAPS.iter().map(|s| s.to_string()).collect();
    let mut with_admin = caps.clone();
    with_admin.push("CAP_SYS_ADMIN".into());
    bundle.config["process"]["capabilities"] = json!({
        "bounding": with_admin, "effective": with_admin, "permitted": with_admin
    });
    let profile = berth_runtime::profile::default_seccomp(
        &caps,
        berth_runtime::profile::native_arch(),
        berth_runtime::profile::kernel_version(),
    )
    .unwrap();
    bundle.config["linux"]["seccomp"] = serde_json::to_value(&profile).unwrap();
    let ia32 = ia32_emulation(&bundle.rootfs().join("bin/probe"));
    // (label, probe arguments, expected errno)
    let mut cases = vec![
        ("getpid allowed", "64 39", 0),
        ("unknown number 1000", "64 1000", 38),
        ("keyctl", "64 250", 1),
        ("unshare(CLONE_NEWUTS)", "64 272 0x04000000", 1),
        // The x32 ABI is filtered on its own numbers (the profile lists x32), whether or not
        // this kernel runs x32 at all (CONFIG_X86_X32_ABI).
        ("x32 unshare", "x32 272 0x04000000", 1),
        ("x32 keyctl", "x32 250", 1),
        ("x32 unknown number 1000", "x32 1000", 38),
    ];
    if ia32 {
        cases.extend([
            ("i386 getpid allowed", "i386 20", 0),
            ("i386 unshare", "i386 310 0x04000000", 1),
            ("i386 keyctl", "i386 288", 1),
            ("i386 unknown number 1000", "i386 1000", 38),
        ]);
    } else {
        eprintln!(
            "i386 cases skipped: int $0x80 does not run on this kernel \
             (no IA32 emulation: CONFIG_IA32_EMULATION unset, or ia32_emulation=0)"
        );
    }
    let script: String = cases
        .iter()
        .map(|(_, args, _)| format!("/bin/probe {args};"))
        .collect();
    bundle.args(&["sh", "-c", &script]);
    let (code, out, err) = root.run(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), cases.len(), "{out}{err}");
    for ((label, _, expected), answer) in cases.iter().zip(answers) {
        assert_eq!(answer, format!("errno={expected}"), "{label}");
    }
}

/// CVE-2016-9962 (SECURITY.md 2, D): the container's PID 1 tries PTRACE_ATTACH on every
/// process that appears while the runtime execs into the container 50 times. The joining
/// process is the runtime until its execve and must stay non-dumpable until then, so any
/// attach that succeeds reaches only the exec'd command (busybox), never the runtime.
#[test]
fn container_pid_1_cannot_ptrace_the_runtime_during_exec() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    if !install_probe(&bundle) {
        eprintln!("skipped: no C compiler with a static libc to build the probe");
        return;
    }
    bundle.config["root"]["readonly"] = false.into();
    bundle.args(&["/bin/probe", "ptrace-watch", "/tmp/stop", "/tmp/ptrace.log"]);
    bundle.write();
    let id = berth_testutil::unique_name("ptrace");
    let (ok, err) = root.detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    assert!(ok, "{err}");
    for _ in 0..50 {
        let out = root
            .cmd(&["exec", &id, "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(bundle.rootfs().join("tmp/stop"), "").unwrap();
    let log_path = bundle.rootfs().join("tmp/ptrace.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("done ") {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never finished: {log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(root.output(&["delete", "--force", &id]).status.success());
    eprintln!("{}", log.lines().last().unwrap_or_default());
    for line in log.lines().filter(|l| l.starts_with("attached ")) {
        let exe = line.split_whitespace().nth(2).unwrap_or_default();
        assert_eq!(exe, "/bin/busybox", "attached to the runtime: {line}");
    }
}

/// Removes the process on drop (after asking it to stop), so a failing test leaves no
/// swapper running.
struct Swapper {
    child: std::process::Child,
    stop: std::path::PathBuf,
}

impl Drop for Swapper {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.stop, "");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CVE-2021-30465 / CVE-2024-45310 (SECURITY.md D 28): while an attacker exchanges a
/// directory of a shared volume with a symlink to `/` in a tight loop, a victim starts 100
/// times with a bind mount below that directory. The mount and its mountpoint must land
/// inside the container (or the start fail): no mount of the victim's source ever appears
/// in the host's mount table and no mountpoint is created at the host's `/`.
#[test]
fn a_mount_destination_swapped_for_a_symlink_never_escapes_the_rootfs() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    if !install_probe(&bundle) {
        eprintln!("skipped: no C compiler with a static libc to build the probe");
        return;
    }
    let shared = tempfile::Builder::new()
        .prefix("berth-race-vol-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(shared.path().join("dir")).unwrap();
    std::os::unix::fs::symlink("/", shared.path().join("link")).unwrap();
    let source = tempfile::Builder::new()
        .prefix("berth-race-src-")
        .tempdir()
        .unwrap();
    std::fs::write(source.path().join("marker"), "victim").unwrap();
    let mountpoint = berth_testutil::unique_name("berth-race-mnt-");
    let mounts = bundle.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/vol", "type": "bind",
        "source": shared.path(), "options": ["rbind"]}));
    mounts.push(
        json!({"destination": format!("/vol/dir/{mountpoint}"), "type": "bind",
        "source": source.path(), "options": ["rbind"]}),
    );
    bundle.args(&["true"]);

    let stop = shared.path().join("stop");
    let _swapper = Swapper {
        child: std::process::Command::new(bundle.rootfs().join("bin/probe"))
            .arg("swap")
            .arg(&stop)
            .arg(shared.path().join("dir"))
            .arg(shared.path().join("link"))
            .spawn()
            .unwrap(),
        stop,
    };
    let source_name = source
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let host_mountpoint = std::path::Path::new("/").join(&mountpoint);
    let mut started = 0;
    for _ in 0..100 {
        let (code, _, _) = root.run(&bundle);
        if code == 0 {
            started += 1;
        }
        let escaped = host_mountpoint.exists();
        if escaped {
            let _ = std::fs::remove_dir(&host_mountpoint);
        }
        assert!(
            !escaped,
            "a mountpoint was created at the host's {}",
            host_mountpoint.display()
        );
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !host_mounts.contains(&source_name),
            "the victim's bind source is mounted in the host namespace:\n{host_mounts}"
        );
    }
    eprintln!("{started} of 100 starts succeeded during the swap loop");
}

/// SECURITY.md E 39 (moby `TestRunNoNewPrivSetuid`): a setuid-root binary run as uid 1500
/// raises the effective uid to 0 without no_new_privileges (the positive control) and does
/// not with it.
#[test]
fn no_new_privileges_stops_a_setuid_binary_from_raising_the_uid() {
    berth_testutil::require_root!();
    use std::os::unix::fs::PermissionsExt;
    let root = Root::berth();
    let mut bundle = Bundle::new();
    if !install_probe(&bundle) {
        eprintln!("skipped: no C compiler with a static libc to build the probe");
        return;
    }
    let probe = bundle.rootfs().join("bin/probe");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o4755)).unwrap();
    bundle.config["process"]["user"] = json!({"uid": 1500, "gid": 1500});
    bundle.args(&["/bin/probe", "ids"]);
    for (nnp, expected) in [(false, "uid=1500 euid=0"), (true, "uid=1500 euid=1500")] {
        bundle.config["process"]["noNewPrivileges"] = nnp.into();
        let (code, out, err) = root.run(&bundle);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(out.trim(), expected, "noNewPrivileges {nnp}");
    }
}

/// Runs the bundle with a TTY and returns what it wrote to the pty; None if it did not start.
fn run_with_console(root: &Root, bundle: &Bundle) -> Option<String> {
    use std::os::fd::AsFd;
    bundle.write();
    let sock_path = bundle.path().join("console.sock");
    let _ = std::fs::remove_file(&sock_path);
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let id = berth_testutil::unique_name("cons");
    let (ok, err) = root.detached(&[
        "run",
        "--detach",
        "--console-socket",
        sock_path.to_str().unwrap(),
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    if !ok {
        eprintln!("not started: {err}");
        return None;
    }
    let (conn, _) = listener.accept().unwrap();
    let master = berth_runtime::console::receive_fd(conn.as_fd()).unwrap();
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    // Reads end with EIO once the container closed the last fd of the pty peer.
    while let Ok(n) = rustix::io::read(&master, &mut buf) {
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&output).into_owned())
}

/// The mount points of `fstype` in a mountinfo text.
fn mount_points_of(mountinfo: &str, fstype: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                == Some(fstype)
        })
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .collect()
}

/// CVE-2025-52565 (SECURITY.md D 30): with a TTY and a `/dev` taken from the image (no
/// tmpfs), an image whose `/dev/console` is a symlink to `/proc/sysrq-trigger` (or another
/// procfs file) must not get the console mounted over the procfs file: the console is
/// opened without following symlinks. Without the symlink, the console is mounted (the
/// positive control).
#[test]
fn an_image_dev_console_symlink_cannot_redirect_the_console_mount() {
    berth_testutil::require_root!();
    let root = Root::berth();
    let mut bundle = Bundle::new();
    // This kernel may lack sysrq (CONFIG_MAGIC_SYSRQ): then another procfs file that exists.
    let target = ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    let console = bundle.rootfs().join("dev/console");
    std::os::unix::fs::symlink(target, &console).unwrap();
    let mounts = bundle.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    bundle.config["root"]["readonly"] = false.into();
    bundle.config["process"]["terminal"] = true.into();
    bundle.args(&["cat", "/proc/self/mountinfo"]);
    if let Some(mountinfo) = run_with_console(&root, &bundle) {
        let ptys = mount_points_of(&mountinfo, "devpts");
        assert!(
            !ptys.iter().any(|p| p == target),
            "the console is mounted over {target}: {mountinfo}"
        );
        assert!(
            mountinfo.contains(" /proc "),
            "the container ran: {mountinfo}"
        );
    }
    std::fs::remove_file(&console).unwrap();
    let mountinfo = run_with_console(&root, &bundle).expect("a plain TTY container starts");
    let ptys = mount_points_of(&mountinfo, "devpts");
    assert!(ptys.iter().any(|p| p == "/dev/console"), "{mountinfo}");
}
