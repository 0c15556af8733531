//! v2 against a temp directory laid out like cgroupfs: every file written and parsed.

use super::parse_cpu_max;
use crate::{
    BlkioOp, Cgroup, CgroupError, CgroupPath, CgroupSetup, FreezerState, Limit, ResourceError,
    Resources, Signal,
};
use std::fs;
use std::path::{Path, PathBuf};

const CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";

/// Kernel-like content of a fresh container cgroup (Linux 6.x).
const LEAF_FILES: &[(&str, &str)] = &[
    ("cgroup.controllers", "cpuset cpu io memory pids\n"),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", ""),
    ("cgroup.freeze", "0\n"),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("cgroup.kill", ""),
    ("cpu.max", "max 100000\n"),
    ("cpu.weight", "100\n"),
    ("cpuset.cpus", "\n"),
    ("cpuset.mems", "\n"),
    ("memory.max", "max\n"),
    ("memory.swap.max", "max\n"),
    ("memory.low", "0\n"),
    ("pids.max", "max\n"),
    ("io.weight", "default 100\n"),
    (
        "cpu.stat",
        "usage_usec 2500\nuser_usec 1500\nsystem_usec 1000\ncore_sched.force_idle_usec 0\n\
         nr_periods 10\nnr_throttled 3\nthrottled_usec 700\nnr_bursts 0\nburst_usec 0\n",
    ),
    ("memory.current", "4194304\n"),
    ("memory.peak", "8388608\n"),
    (
        "memory.stat",
        "anon 1048576\nfile 2097152\nkernel 65536\nshmem 0\npgfault 321\noom_kill 0\n",
    ),
    (
        "memory.events",
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
    ),
    ("pids.current", "3\n"),
    (
        "io.stat",
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    ),
];

struct Fake {
    tmp: tempfile::TempDir,
    cgroup: Cgroup,
}

impl Fake {
    fn new() -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in [root.to_owned(), root.join("berth")] {
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("cgroup.controllers"), CONTROLLERS).unwrap();
            fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
        }
        let leaf = root.join("berth/c1");
        fs::create_dir_all(&leaf).unwrap();
        for (name, content) in LEAF_FILES {
            fs::write(leaf.join(name), content).unwrap();
        }
        let setup = CgroupSetup::v2_at(root);
        let cgroup = Cgroup::create(&setup, &CgroupPath::parse("/berth/c1").unwrap()).unwrap();
        Fake { tmp, cgroup }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn leaf(&self, name: &str) -> String {
        fs::read_to_string(self.path("berth/c1").join(name)).unwrap()
    }

    fn set(&self, name: &str, content: &str) {
        fs::write(self.path("berth/c1").join(name), content).unwrap();
    }
}

#[test]
fn create_enables_wanted_controllers_in_every_parent_only() {
    let f = Fake::new();
    let wanted = "+cpuset +cpu +io +memory +pids";
    assert_eq!(
        fs::read_to_string(f.path("cgroup.subtree_control")).unwrap(),
        wanted
    );
    assert_eq!(
        fs::read_to_string(f.path("berth/cgroup.subtree_control")).unwrap(),
        wanted
    );
    assert_eq!(f.leaf("cgroup.subtree_control"), "");
    assert_eq!(f.cgroup.path().to_string(), "/berth/c1");
    assert_eq!(f.cgroup.v2_dir(), Some(f.path("berth/c1").as_path()));
    assert_eq!(f.cgroup.v1_dir(crate::Controller::Memory), None);
}

#[test]
fn create_writes_only_missing_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    fs::write(tmp.path().join("cgroup.subtree_control"), "cpu memory\n").unwrap();
    let setup = CgroupSetup::v2_at(tmp.path());
    Cgroup::create(&setup, &CgroupPath::parse("c2").unwrap()).unwrap();
    assert!(tmp.path().join("c2").is_dir());
    assert_eq!(
        fs::read_to_string(tmp.path().join("cgroup.subtree_control")).unwrap(),
        "+pids"
    );
}

#[test]
fn create_refuses_a_symlinked_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("cgroup.controllers"), "").unwrap();
    fs::write(tmp.path().join("cgroup.subtree_control"), "").unwrap();
    std::os::unix::fs::symlink(outside.path(), tmp.path().join("berth")).unwrap();
    let setup = CgroupSetup::v2_at(tmp.path());
    let err = Cgroup::create(&setup, &CgroupPath::parse("/berth/x").unwrap()).unwrap_err();
    assert!(matches!(err, CgroupError::Create(_)), "{err:?}");
    assert!(!outside.path().join("x").exists());
}

#[test]
fn add_current_thread_writes_zero_to_cgroup_procs() {
    let f = Fake::new();
    f.cgroup.add_current_thread().unwrap();
    assert_eq!(f.leaf("cgroup.procs"), "0");
}

#[test]
fn add_process_writes_cgroup_procs() {
    let f = Fake::new();
    f.cgroup.add_process(4242).unwrap();
    assert_eq!(f.leaf("cgroup.procs"), "4242");
}

fn full_resources() -> Resources {
    let mut r = Resources::default();
    r.memory.limit = Some(Limit::Value(64 << 20));
    r.memory.swap = Some(Limit::Value(96 << 20));
    r.memory.reservation = Some(Limit::Value(32 << 20));
    r.cpu.shares = Some(512);
    r.cpu.quota = Some(Limit::Value(50_000));
    r.cpu.period = Some(100_000);
    r.cpu.cpus = Some("0".into());
    r.cpu.mems = Some("0".into());
    r.pids_limit = Some(Limit::Value(20));
    r.blkio_weight = Some(500);
    r
}

#[test]
fn apply_writes_every_v2_file() {
    let f = Fake::new();
    f.cgroup.apply(&full_resources()).unwrap();
    assert_eq!(f.leaf("memory.max"), (64u64 << 20).to_string());
    assert_eq!(f.leaf("memory.swap.max"), (32u64 << 20).to_string());
    assert_eq!(f.leaf("memory.low"), (32u64 << 20).to_string());
    // 1 + (512 - 2) * 9999 / 262142
    assert_eq!(f.leaf("cpu.weight"), "20");
    assert_eq!(f.leaf("cpu.max"), "50000 100000");
    assert_eq!(f.leaf("cpuset.cpus"), "0");
    assert_eq!(f.leaf("cpuset.mems"), "0");
    assert_eq!(f.leaf("pids.max"), "20");
    assert_eq!(f.leaf("io.weight"), "4950");
}

#[test]
fn unlimited_values_are_max() {
    let f = Fake::new();
    f.set("memory.max", "1000\n");
    f.set("memory.swap.max", "0\n");
    let mut r = Resources::default();
    r.memory.limit = Some(Limit::Unlimited);
    r.cpu.quota = Some(Limit::Unlimited);
    r.pids_limit = Some(Limit::Unlimited);
    f.cgroup.update(&r).unwrap();
    assert_eq!(f.leaf("memory.max"), "max");
    // Unlimited memory with swap unset lifts the swap limit too.
    assert_eq!(f.leaf("memory.swap.max"), "max");
    assert_eq!(f.leaf("cpu.max"), "max 100000");
    assert_eq!(f.leaf("pids.max"), "max");
    r.pids_limit = Some(Limit::Value(0));
    f.cgroup.update(&r).unwrap();
    assert_eq!(f.leaf("pids.max"), "max", "0 means unlimited, as in Docker");
}

#[test]
fn quota_or_period_alone_keeps_the_other_half() {
    let f = Fake::new();
    f.set("cpu.max", "20000 50000\n");
    let mut r = Resources::default();
    r.cpu.quota = Some(Limit::Value(30_000));
    f.cgroup.update(&r).unwrap();
    assert_eq!(f.leaf("cpu.max"), "30000 50000");
    let mut r = Resources::default();
    r.cpu.period = Some(200_000);
    f.cgroup.update(&r).unwrap();
    assert_eq!(f.leaf("cpu.max"), "30000 200000");
    assert_eq!(
        parse_cpu_max("max 100000\n"),
        Some((Limit::Unlimited, 100_000))
    );
    assert_eq!(parse_cpu_max("max"), None);
}

#[test]
fn swap_alone_uses_the_current_memory_limit() {
    let f = Fake::new();
    let mut r = Resources::default();
    r.memory.swap = Some(Limit::Value(3000));
    let err = f.cgroup.update(&r).unwrap_err();
    assert!(matches!(
        err,
        CgroupError::Invalid(ResourceError::SwapWithoutMemory)
    ));
    f.set("memory.max", "1000\n");
    f.cgroup.update(&r).unwrap();
    assert_eq!(f.leaf("memory.swap.max"), "2000");
}

#[test]
fn bfq_weight_is_preferred_and_missing_weight_files_are_skipped() {
    let f = Fake::new();
    f.set("io.bfq.weight", "default 100\n");
    let r = Resources {
        blkio_weight: Some(300),
        ..Resources::default()
    };
    f.cgroup.apply(&r).unwrap();
    assert_eq!(f.leaf("io.bfq.weight"), "300");
    assert_eq!(f.leaf("io.weight"), "default 100\n");
    fs::remove_file(f.path("berth/c1/io.bfq.weight")).unwrap();
    fs::remove_file(f.path("berth/c1/io.weight")).unwrap();
    f.cgroup.apply(&r).unwrap();
}

#[test]
fn missing_files_and_v1_only_settings_are_unsupported() {
    let f = Fake::new();
    fs::remove_file(f.path("berth/c1/pids.max")).unwrap();
    let r = Resources {
        pids_limit: Some(Limit::Value(5)),
        ..Resources::default()
    };
    let err = f.cgroup.apply(&r).unwrap_err();
    assert!(
        matches!(&err, CgroupError::Unsupported { what: "pids limit", path } if path.ends_with("pids.max")),
        "{err:?}"
    );
    assert!(
        !f.path("berth/c1/pids.max").exists(),
        "files are never created"
    );
    let mut r = Resources::default();
    r.memory.disable_oom_killer = Some(true);
    assert!(matches!(
        f.cgroup.apply(&r),
        Err(CgroupError::Unsupported { .. })
    ));
    let mut r = Resources::default();
    r.memory.swappiness = Some(10);
    assert!(matches!(
        f.cgroup.apply(&r),
        Err(CgroupError::Unsupported { .. })
    ));
}

#[test]
fn freeze_and_thaw_write_cgroup_freeze_and_read_events() {
    let f = Fake::new();
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Thawed);
    // The fake kernel has already "settled".
    f.set("cgroup.events", "populated 1\nfrozen 1\n");
    f.cgroup.freeze().unwrap();
    assert_eq!(f.leaf("cgroup.freeze"), "1");
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Frozen);
    f.set("cgroup.events", "populated 1\nfrozen 0\n");
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Freezing);
    f.cgroup.thaw().unwrap();
    assert_eq!(f.leaf("cgroup.freeze"), "0");
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Thawed);
}

#[test]
fn stats_parse_every_v2_file() {
    let f = Fake::new();
    f.set("memory.max", "67108864\n");
    f.set("pids.max", "20\n");
    let s = f.cgroup.stats().unwrap();
    assert_eq!(s.cpu.total_usage, 2_500_000);
    assert_eq!(s.cpu.usage_in_usermode, 1_500_000);
    assert_eq!(s.cpu.usage_in_kernelmode, 1_000_000);
    assert!(s.cpu.per_cpu_usage.is_empty());
    assert_eq!(s.cpu.throttling.periods, 10);
    assert_eq!(s.cpu.throttling.throttled_periods, 3);
    assert_eq!(s.cpu.throttling.throttled_time, 700_000);
    assert_eq!(s.memory.usage, 4_194_304);
    assert_eq!(s.memory.max_usage, Some(8_388_608));
    assert_eq!(s.memory.limit, Some(67_108_864));
    assert_eq!(s.memory.failcnt, None);
    assert_eq!(s.memory.stat.get("anon"), Some(1_048_576));
    assert_eq!(s.memory.stat.iter().count(), 6);
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.pids.limit, Some(20));
    let bytes = &s.blkio.io_service_bytes_recursive;
    assert_eq!(bytes.len(), 3);
    assert_eq!(
        (bytes[0].major, bytes[0].minor, bytes[0].op, bytes[0].value),
        (8, 0, BlkioOp::Read, 4096)
    );
    assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);

    // Unlimited and absent files.
    f.set("memory.max", "max\n");
    fs::remove_file(f.path("berth/c1/memory.peak")).unwrap();
    fs::remove_file(f.path("berth/c1/io.stat")).unwrap();
    let s = f.cgroup.stats().unwrap();
    assert_eq!(s.memory.limit, None);
    assert_eq!(s.memory.max_usage, None);
    assert!(s.blkio.io_service_bytes_recursive.is_empty());
}

#[test]
fn oom_kill_count_reads_memory_events() {
    let f = Fake::new();
    assert_eq!(f.cgroup.oom_kill_count().unwrap(), 2);
    f.set("memory.events", "low 0\n");
    assert!(matches!(
        f.cgroup.oom_kill_count(),
        Err(CgroupError::OomKillCount(_))
    ));
}

#[test]
fn processes_include_nested_cgroups() {
    let f = Fake::new();
    f.set("cgroup.procs", "10\n11\n");
    let nested = f.path("berth/c1/inner");
    fs::create_dir(&nested).unwrap();
    fs::write(nested.join("cgroup.procs"), "12\n").unwrap();
    let mut pids = f.cgroup.processes().unwrap();
    pids.sort();
    assert_eq!(pids, [10, 11, 12]);
}

#[test]
fn sigkill_uses_cgroup_kill() {
    let f = Fake::new();
    f.cgroup.kill_all(Signal::KILL).unwrap();
    assert_eq!(f.leaf("cgroup.kill"), "1");
}

#[test]
fn destroy_of_a_missing_cgroup_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = CgroupSetup::v2_at(tmp.path());
    let cgroup = Cgroup::open(&setup, &CgroupPath::parse("/berth/gone").unwrap()).unwrap();
    cgroup.destroy().unwrap();
    cgroup.destroy().unwrap();
    assert!(!Path::new(&tmp.path().join("berth")).exists());
}
