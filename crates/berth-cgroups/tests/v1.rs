//! cgroup v1 for real, as root: every test makes `berth-test-<unique>/c1` in each
//! hierarchy and removes exactly that, also when it fails.

mod common;

use berth_cgroups::{
    CgroupSetup, Controller, DevicePolicy, DeviceRule, FreezerState, Limit, Resources, Signal,
};
use common::{read, CgroupChild, TestCgroup};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

/// The host's v1 setup, or `None` (with a message) on a v2-only host.
fn v1_setup() -> Option<CgroupSetup> {
    let setup = CgroupSetup::detect().unwrap();
    if setup.is_v2() {
        eprintln!("skipped: this host has no cgroup v1 hierarchies");
        return None;
    }
    Some(setup)
}

fn mount(t: &TestCgroup, c: Controller) -> &Path {
    t.setup.v1_mount(c).unwrap()
}

fn file(t: &TestCgroup, c: Controller, name: &str) -> String {
    read(t.dir(mount(t, c)).join(name))
}

/// moby's default device rules, then runc's always-allowed list (SECURITY.md 1.4).
fn docker_default_rules() -> Vec<DeviceRule> {
    let mut rules = vec![DeviceRule::DENY_ALL];
    let allow = |r: &str| DeviceRule::parse(r, true).unwrap();
    for r in [
        "c 1:5 rwm",
        "c 1:3 rwm",
        "c 1:9 rwm",
        "c 1:8 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
    ] {
        rules.push(allow(r));
    }
    rules.push(DeviceRule::parse("c 10:229 rwm", false).unwrap());
    for r in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:8 rwm",
        "c 1:7 rwm",
        "c 5:0 rwm",
        "c 1:5 rwm",
        "c 1:9 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
    ] {
        rules.push(allow(r));
    }
    rules
}

#[test]
fn create_makes_every_hierarchy_and_copies_cpuset() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    for (c, m) in &t.setup.v1_mounts {
        assert!(t.dir(m).is_dir(), "{} has no cgroup dir", c.name());
    }
    let root_cpus = read(mount(&t, Controller::Cpuset).join("cpuset.cpus"));
    assert_eq!(file(&t, Controller::Cpuset, "cpuset.cpus"), root_cpus);
    assert!(!file(&t, Controller::Cpuset, "cpuset.mems").is_empty());
    // The intermediate parent was filled in too, or nothing could join the leaf.
    let parent = mount(&t, Controller::Cpuset).join(&t.parent);
    assert_eq!(read(parent.join("cpuset.cpus")), root_cpus);
    // Creating again is harmless.
    berth_cgroups::Cgroup::create(&t.setup, t.cgroup.path()).unwrap();
}

#[test]
fn apply_writes_every_limit_and_update_reorders_memsw() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let mut r = Resources::default();
    r.memory.limit = Some(Limit::Value(64 << 20));
    r.memory.swap = Some(Limit::Value(128 << 20));
    r.memory.reservation = Some(Limit::Value(32 << 20));
    r.memory.swappiness = Some(10);
    r.memory.disable_oom_killer = Some(true);
    r.cpu.shares = Some(512);
    r.cpu.quota = Some(Limit::Value(50_000));
    r.cpu.period = Some(100_000);
    r.cpu.cpus = Some("0".into());
    r.cpu.mems = Some("0".into());
    r.pids_limit = Some(Limit::Value(20));
    r.blkio_weight = Some(300);
    r.devices = Some(docker_default_rules());
    t.cgroup.apply(&r).unwrap();

    let mem = |f| file(&t, Controller::Memory, f);
    assert_eq!(mem("memory.limit_in_bytes"), (64u64 << 20).to_string());
    if t.setup.capabilities().swap_limit {
        assert_eq!(
            mem("memory.memsw.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
    }
    assert_eq!(mem("memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    assert_eq!(mem("memory.swappiness"), "10");
    assert!(mem("memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(file(&t, Controller::Cpu, "cpu.shares"), "512");
    assert_eq!(file(&t, Controller::Cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(file(&t, Controller::Cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(file(&t, Controller::Cpuset, "cpuset.cpus"), "0");
    assert_eq!(file(&t, Controller::Cpuset, "cpuset.mems"), "0");
    assert_eq!(file(&t, Controller::Pids, "pids.max"), "20");
    let blkio = t.dir(mount(&t, Controller::Blkio));
    for weight_file in ["blkio.weight", "blkio.bfq.weight"] {
        if blkio.join(weight_file).exists() {
            // bfq prints "default 300".
            assert!(
                read(blkio.join(weight_file)).ends_with("300"),
                "{weight_file}"
            );
            break;
        }
    }
    let mut kernel: Vec<String> = file(&t, Controller::Devices, "devices.list")
        .lines()
        .map(str::to_owned)
        .collect();
    let mut emulated = DevicePolicy::from_rules(&docker_default_rules())
        .unwrap()
        .v1_list();
    kernel.sort();
    emulated.sort();
    assert_eq!(kernel, emulated, "the emulator must agree with the kernel");

    // Shrinking: memory first, then memsw; growing: memsw first, then memory.
    let mut u = Resources::default();
    u.memory.limit = Some(Limit::Value(16 << 20));
    u.memory.swap = Some(Limit::Value(16 << 20));
    t.cgroup.update(&u).unwrap();
    assert_eq!(mem("memory.limit_in_bytes"), (16u64 << 20).to_string());
    u.memory.limit = Some(Limit::Value(256 << 20));
    u.memory.swap = Some(Limit::Value(512 << 20));
    t.cgroup.update(&u).unwrap();
    assert_eq!(mem("memory.limit_in_bytes"), (256u64 << 20).to_string());
    assert_eq!(
        mem("memory.memsw.limit_in_bytes"),
        (512u64 << 20).to_string()
    );
    // Unlimited memory lifts memsw too.
    u.memory.limit = Some(Limit::Unlimited);
    u.memory.swap = None;
    u.cpu.quota = Some(Limit::Unlimited);
    u.pids_limit = Some(Limit::Unlimited);
    t.cgroup.update(&u).unwrap();
    assert!(t.cgroup.stats().unwrap().memory.limit.is_none());
    assert_eq!(file(&t, Controller::Cpu, "cpu.cfs_quota_us"), "-1");
    assert_eq!(file(&t, Controller::Pids, "pids.max"), "max");
}

#[test]
fn device_lists_match_the_emulator() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let p = |s: &str, allow| DeviceRule::parse(s, allow).unwrap();
    let cases = [
        vec![
            DeviceRule::DENY_ALL,
            p("c 1:3 r", true),
            p("c 1:3 w", true),
            p("b 8:* rw", true),
        ],
        vec![
            DeviceRule::DENY_ALL,
            p("c 1:* rwm", true),
            p("c 1:3 m", true),
            p("c 1:* w", false),
        ],
        vec![DeviceRule::DENY_ALL],
        vec![p("a", true)],
        // Without a leading `a` rule the list still starts from "deny all".
        vec![p("c 1:3 rw", true)],
        vec![],
    ];
    for rules in cases {
        let r = Resources {
            devices: Some(rules.clone()),
            ..Resources::default()
        };
        t.cgroup.apply(&r).unwrap();
        let mut kernel: Vec<String> = file(&t, Controller::Devices, "devices.list")
            .lines()
            .map(str::to_owned)
            .collect();
        let mut emulated = DevicePolicy::from_rules(&rules).unwrap().v1_list();
        kernel.sort();
        emulated.sort();
        assert_eq!(kernel, emulated, "rules {rules:?}");
    }
}

#[test]
fn live_device_update_reaches_the_new_list() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let p = |s: &str, allow| DeviceRule::parse(s, allow).unwrap();
    let with = |rules: Vec<DeviceRule>| Resources {
        devices: Some(rules),
        ..Resources::default()
    };
    let mut updated = docker_default_rules();
    updated.push(p("c 10:200 rw", false));
    updated.push(p("c 1:9 w", false));
    updated.push(p("b 7:0 r", true));
    let steps = [
        // allow-list to allow-list: only the difference is written
        (false, docker_default_rules()),
        (true, updated),
        // to and from privileged: a reset is needed
        (true, vec![p("a", true)]),
        (true, docker_default_rules()),
    ];
    for (live, rules) in steps {
        if live {
            t.cgroup.update(&with(rules.clone())).unwrap();
        } else {
            t.cgroup.apply(&with(rules.clone())).unwrap();
        }
        let mut kernel: Vec<String> = file(&t, Controller::Devices, "devices.list")
            .lines()
            .map(str::to_owned)
            .collect();
        let mut emulated = DevicePolicy::from_rules(&rules).unwrap().v1_list();
        kernel.sort();
        emulated.sort();
        assert_eq!(kernel, emulated, "rules {rules:?}");
    }
}

#[test]
fn the_current_thread_joins_every_hierarchy() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    // A thread of its own: it leaves the cgroup by exiting, even when an assertion fails.
    let (cgroup, mounts, parent) = (
        t.cgroup.clone(),
        t.setup.v1_mounts.clone(),
        t.parent.clone(),
    );
    std::thread::spawn(move || {
        let before = read("/proc/thread-self/cgroup");
        cgroup.add_current_thread().unwrap();
        let after = read("/proc/thread-self/cgroup");
        for c in mounts.keys() {
            let line = after
                .lines()
                .find(|l| {
                    l.split(':')
                        .nth(1)
                        .is_some_and(|n| n.split(',').any(|x| x == c.name()))
                })
                .unwrap_or_else(|| panic!("no {} line in {after}", c.name()));
            assert!(line.ends_with(&format!("/{parent}/c1")), "{line}");
        }
        // Back where it was, so the cgroup can be removed while the test still runs.
        for line in before.lines() {
            let mut it = line.splitn(3, ':');
            let (_, names, path) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            if let Some((_, mount)) = mounts
                .iter()
                .find(|(c, _)| names.split(',').any(|x| x == c.name()))
            {
                let tasks = mount.join(path.trim_start_matches('/')).join("tasks");
                std::fs::write(tasks, "0").unwrap();
            }
        }
    })
    .join()
    .unwrap();
    assert!(t.cgroup.processes().unwrap().is_empty());
}

#[test]
fn process_joins_every_hierarchy_and_freezes() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let child = CgroupChild::spawn(&t.cgroup, "exec sleep 1000");
    let own = read(format!("/proc/{}/cgroup", child.pid));
    for c in t.setup.v1_mounts.keys() {
        let wanted = format!("/{}/c1", t.parent);
        let line = own
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|n| n.split(',').any(|x| x == c.name()))
            })
            .unwrap_or_else(|| panic!("no {} line in {own}", c.name()));
        assert!(line.ends_with(&wanted), "{line} is not in {wanted}");
    }
    assert_eq!(t.cgroup.processes().unwrap(), [child.pid]);

    t.cgroup.freeze().unwrap();
    assert_eq!(t.cgroup.state().unwrap(), FreezerState::Frozen);
    assert_eq!(file(&t, Controller::Freezer, "freezer.state"), "FROZEN");
    t.cgroup.thaw().unwrap();
    assert_eq!(t.cgroup.state().unwrap(), FreezerState::Thawed);
    assert_eq!(file(&t, Controller::Freezer, "freezer.state"), "THAWED");

    // Signalling a paused container leaves it paused; the signal lands on unpause.
    t.cgroup.freeze().unwrap();
    t.cgroup.kill_all(Signal::TERM).unwrap();
    assert_eq!(t.cgroup.state().unwrap(), FreezerState::Frozen);
    assert_eq!(t.cgroup.processes().unwrap(), [child.pid]);
    t.cgroup.thaw().unwrap();
    let status = child.wait();
    assert_eq!(status.signal(), Some(Signal::TERM.as_raw()));
}

#[test]
fn memory_limit_oom_kills_an_allocator() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let mut r = Resources::default();
    // Memory only: with memsw = memory the kernel counts failures on memsw instead.
    r.memory.limit = Some(Limit::Value(32 << 20));
    r.memory.swappiness = Some(0);
    t.cgroup.apply(&r).unwrap();
    assert_eq!(t.cgroup.oom_kill_count().unwrap(), 0);
    // Writes 256 MiB, far over the limit, with swapping turned off for the cgroup.
    let child = CgroupChild::spawn(
        &t.cgroup,
        "exec python3 -c \"a = bytearray(b'x') * (256 << 20)\"",
    );
    let status = child.wait();
    assert_eq!(status.signal(), Some(Signal::KILL.as_raw()), "{status:?}");
    assert!(t.cgroup.oom_kill_count().unwrap() >= 1);
    let stats = t.cgroup.stats().unwrap();
    assert!(stats.memory.failcnt.unwrap() > 0);
    assert!(stats.memory.max_usage.unwrap() > 16 << 20);
    assert_eq!(stats.memory.limit, Some(32 << 20));
}

#[test]
fn pids_limit_makes_fork_fail() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let r = Resources {
        pids_limit: Some(Limit::Value(1)),
        ..Resources::default()
    };
    t.cgroup.apply(&r).unwrap();
    // The shell is the one task allowed; running /bin/true needs a fork.
    let child = CgroupChild::spawn(&t.cgroup, "/bin/true && echo forked; exit 0");
    let out = child.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("forked"), "fork succeeded: {stdout}");
    assert!(stderr.to_lowercase().contains("fork"), "stderr: {stderr}");
    let stats = t.cgroup.stats().unwrap();
    assert_eq!(stats.pids.limit, Some(1));
    assert!(file(&t, Controller::Pids, "pids.events").starts_with("max "));
    assert_ne!(file(&t, Controller::Pids, "pids.events"), "max 0");
}

#[test]
fn device_rules_deny_open_but_allow_mknod() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let r = Resources {
        devices: Some(docker_default_rules()),
        ..Resources::default()
    };
    t.cgroup.apply(&r).unwrap();
    let nodes = tempfile::tempdir().unwrap();
    let d = nodes.path().display();
    // /dev/loop0-like block node and /dev/fuse: mknod is allowed, open is not.
    let script = format!(
        "mknod {d}/blk b 7 0 && echo mknod-ok; \
         head -c 1 {d}/blk >/dev/null && echo blk-open; \
         mknod {d}/fuse c 10 229 && head -c 1 {d}/fuse >/dev/null && echo fuse-open; \
         head -c 1 /dev/zero | wc -c; \
         cat /dev/null && echo null-ok; exit 0"
    );
    let out = CgroupChild::spawn(&t.cgroup, &script).finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("mknod-ok"), "{stdout} {stderr}");
    assert!(!stdout.contains("blk-open"), "{stdout}");
    assert!(!stdout.contains("fuse-open"), "{stdout}");
    assert!(
        stdout.contains("null-ok") && stdout.contains('1'),
        "{stdout} {stderr}"
    );
    assert!(stderr.contains("Operation not permitted"), "{stderr}");

    // Deny everything: /dev/null is refused too.
    let r = Resources {
        devices: Some(vec![
            DeviceRule::DENY_ALL,
            DeviceRule::parse("c 1:5 r", true).unwrap(),
        ]),
        ..Resources::default()
    };
    t.cgroup.apply(&r).unwrap();
    let out = CgroupChild::spawn(
        &t.cgroup,
        "cat /dev/null && echo null-ok; head -c 1 /dev/zero | wc -c",
    )
    .finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("null-ok"), "{stdout}");
    assert!(
        stdout.contains('1'),
        "reading /dev/zero is still allowed: {stdout}"
    );

    // Partial access, as `--device /dev/x:/dev/x:r`: read opens, write does not.
    let r = Resources {
        devices: Some(vec![
            DeviceRule::DENY_ALL,
            DeviceRule::parse("c 1:3 r", true).unwrap(),
        ]),
        ..Resources::default()
    };
    t.cgroup.apply(&r).unwrap();
    let out = CgroupChild::spawn(&t.cgroup, READ_NOT_WRITE).finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("read-ok") && !stdout.contains("write-ok"),
        "{stdout}"
    );
}

/// Opens /dev/null for reading, then for writing.
const READ_NOT_WRITE: &str =
    "cat /dev/null && echo read-ok; echo x > /dev/null && echo write-ok; exit 0";

#[test]
fn stats_count_work_done() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let work = tempfile::tempdir().unwrap();
    let script = format!(
        "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; \
         head -c 4194304 /dev/zero > {}/f; sync",
        work.path().display()
    );
    let status = CgroupChild::spawn(&t.cgroup, &script).wait();
    assert!(status.success());
    let s = t.cgroup.stats().unwrap();
    assert!(s.cpu.total_usage > 0);
    assert!(!s.cpu.per_cpu_usage.is_empty());
    // Nothing runs any more, so the per-CPU counters add up to the total.
    assert_eq!(s.cpu.per_cpu_usage.iter().sum::<u64>(), s.cpu.total_usage);
    assert!(s.cpu.usage_in_usermode + s.cpu.usage_in_kernelmode > 0);
    assert!(s.memory.max_usage.unwrap() > 0);
    assert!(s.memory.stat.get("cache").is_some() && s.memory.stat.get("rss").is_some());
    assert_eq!(s.pids.current, 0);
    assert_eq!(s.pids.limit, None);
    let sys = berth_cgroups::system_cpu_usage().unwrap();
    assert!(sys.usage_ns > s.cpu.total_usage && sys.online_cpus >= 1);
}

#[test]
fn destroy_kills_and_removes_every_directory() {
    berth_testutil::require_root!();
    let Some(setup) = v1_setup() else { return };
    let t = TestCgroup::create(setup);
    let a = CgroupChild::spawn(&t.cgroup, "exec sleep 1000");
    let b = CgroupChild::spawn(&t.cgroup, "sleep 1000; exit 0");
    // Removing a paused container: destroy must work on a frozen cgroup.
    // A sub-cgroup the container made itself, with b's shell moved into it.
    let nested = t.dir(mount(&t, Controller::Freezer)).join("inner");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(nested.join("cgroup.procs"), b.pid.to_string()).unwrap();
    let mut pids = t.cgroup.processes().unwrap();
    pids.sort();
    assert!(pids.contains(&a.pid) && pids.contains(&b.pid), "{pids:?}");

    t.cgroup.freeze().unwrap();
    t.cgroup.destroy().unwrap();
    assert_eq!(a.wait().signal(), Some(Signal::KILL.as_raw()));
    assert_eq!(b.wait().signal(), Some(Signal::KILL.as_raw()));
    for m in t.setup.v1_mounts.values() {
        assert!(!t.dir(m).exists(), "{} still exists", t.dir(m).display());
    }
    t.cgroup.destroy().unwrap();
}

#[test]
fn host_capabilities_reflect_v1_files() {
    let Some(setup) = v1_setup() else { return };
    let caps = setup.capabilities();
    assert_eq!(caps.cgroup_version, "1");
    assert_eq!(caps.cgroup_driver, "cgroupfs");
    let memory = setup.v1_mount(Controller::Memory).unwrap();
    assert_eq!(
        caps.swap_limit,
        memory.join("memory.memsw.limit_in_bytes").exists()
    );
    assert_eq!(
        caps.oom_kill_disable,
        memory.join("memory.oom_control").exists()
    );
    assert_eq!(caps.pids_limit, setup.v1_mount(Controller::Pids).is_some());
    assert!(!caps.kernel_memory);
}
