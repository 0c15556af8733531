//! v1 against temp directories laid out like the v1 hierarchies, so parsing and file
//! choice are checked on any host (the privileged tests in tests/v1.rs use the kernel).

use crate::{
    stats, BlkioOp, Cgroup, CgroupError, CgroupMode, CgroupPath, CgroupSetup, Controller,
    FreezerState, Limit, Resources,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

const UNLIMITED: &str = "9223372036854771712\n";

/// Per controller, the files of a fresh cgroup (Linux 6.x, bfq but no CFQ).
fn leaf_files(c: Controller) -> &'static [(&'static str, &'static str)] {
    match c {
        Controller::Cpu => &[
            ("cpu.shares", "1024\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n"),
            ("cpuacct.usage", "3000\n"),
            ("cpuacct.usage_percpu", "1000 2000 \n"),
            ("cpuacct.stat", "user 10\nsystem 5\n"),
        ],
        Controller::Cpuset => &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
        Controller::Memory => &[
            ("memory.limit_in_bytes", UNLIMITED),
            ("memory.memsw.limit_in_bytes", UNLIMITED),
            ("memory.soft_limit_in_bytes", UNLIMITED),
            ("memory.swappiness", "60\n"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            ("memory.usage_in_bytes", "1048576\n"),
            ("memory.max_usage_in_bytes", "2097152\n"),
            ("memory.failcnt", "7\n"),
            ("memory.stat", "cache 4096\nrss 8192\ntotal_rss 8192\n"),
        ],
        Controller::Pids => &[("pids.max", "max\n"), ("pids.current", "2\n")],
        Controller::Blkio => &[
            ("blkio.bfq.weight", "default 100\n"),
            ("blkio.bfq.io_service_bytes_recursive", "Total 0\n"),
            ("blkio.bfq.io_serviced_recursive", "Total 0\n"),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 300\nTotal 300\n",
            ),
            ("blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n"),
        ],
        Controller::Freezer => &[("freezer.state", "THAWED\n")],
        Controller::Devices | Controller::Cpuacct | Controller::NameSystemd => &[],
    }
}

struct Fake {
    tmp: tempfile::TempDir,
    cgroup: Cgroup,
}

impl Fake {
    fn new() -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let mut mounts = BTreeMap::new();
        for c in Controller::ALL {
            mounts.insert(c, tmp.path().join(c.name()));
        }
        // cpu and cpuacct co-mounted, as many distributions do.
        mounts.insert(Controller::Cpuacct, tmp.path().join("cpu"));
        for (c, mount) in &mounts {
            for dir in [mount.clone(), mount.join("berth"), mount.join("berth/c1")] {
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join("cgroup.procs"), "").unwrap();
                fs::write(dir.join("tasks"), "").unwrap();
                for (name, content) in leaf_files(*c) {
                    fs::write(dir.join(name), content).unwrap();
                }
            }
        }
        fs::write(mounts[&Controller::Cpuset].join("cpuset.cpus"), "0-3\n").unwrap();
        fs::write(mounts[&Controller::Cpuset].join("cpuset.mems"), "0\n").unwrap();
        let setup = CgroupSetup {
            mode: CgroupMode::V1,
            v1_mounts: mounts,
            v2_mount: None,
        };
        let cgroup = Cgroup::create(&setup, &CgroupPath::parse("/berth/c1").unwrap()).unwrap();
        Fake { tmp, cgroup }
    }

    fn path(&self, c: &str, name: &str) -> PathBuf {
        self.tmp.path().join(c).join("berth/c1").join(name)
    }

    fn read(&self, c: &str, name: &str) -> String {
        fs::read_to_string(self.path(c, name)).unwrap()
    }
}

#[test]
fn create_copies_cpuset_down_every_level() {
    let f = Fake::new();
    let parent = f.tmp.path().join("cpuset/berth");
    assert_eq!(
        fs::read_to_string(parent.join("cpuset.cpus")).unwrap(),
        "0-3"
    );
    assert_eq!(f.read("cpuset", "cpuset.cpus"), "0-3");
    assert_eq!(f.read("cpuset", "cpuset.mems"), "0");
    let memory = f.cgroup.v1_dir(Controller::Memory).unwrap();
    assert_eq!(memory, f.tmp.path().join("memory/berth/c1"));
    assert_eq!(
        f.cgroup.v1_dir(Controller::Cpuacct),
        f.cgroup.v1_dir(Controller::Cpu)
    );
    assert_eq!(f.cgroup.v2_dir(), None);
}

#[test]
fn add_current_thread_writes_zero_to_each_tasks_file() {
    let f = Fake::new();
    f.cgroup.add_current_thread().unwrap();
    for c in [
        "cpu",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    ] {
        assert_eq!(f.read(c, "tasks"), "0", "{c}");
    }
}

#[test]
fn add_process_writes_each_hierarchy_once() {
    let f = Fake::new();
    f.cgroup.add_process(77).unwrap();
    for c in [
        "cpu",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    ] {
        assert_eq!(f.read(c, "cgroup.procs"), "77", "{c}");
    }
    assert!(
        !f.tmp.path().join("cpuacct").exists(),
        "co-mounted cpuacct has no own tree"
    );
}

#[test]
fn apply_picks_v1_files() {
    let f = Fake::new();
    let mut r = Resources::default();
    r.memory.reservation = Some(Limit::Value(1 << 20));
    r.memory.swappiness = Some(0);
    r.memory.disable_oom_killer = Some(true);
    r.cpu.shares = Some(256);
    r.cpu.quota = Some(Limit::Value(25_000));
    r.cpu.period = Some(50_000);
    r.pids_limit = Some(Limit::Value(9));
    r.blkio_weight = Some(200);
    f.cgroup.apply(&r).unwrap();
    assert_eq!(f.read("memory", "memory.soft_limit_in_bytes"), "1048576");
    assert_eq!(f.read("memory", "memory.swappiness"), "0");
    assert_eq!(f.read("memory", "memory.oom_control"), "1");
    assert_eq!(f.read("cpu", "cpu.shares"), "256");
    assert_eq!(f.read("cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(f.read("cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(f.read("pids", "pids.max"), "9");
    // No CFQ blkio.weight here: BFQ's file gets the weight.
    assert_eq!(f.read("blkio", "blkio.bfq.weight"), "200");
    assert!(!f.path("blkio", "blkio.weight").exists());
}

#[test]
fn stats_convert_ticks_and_fall_back_to_throttle_blkio() {
    let f = Fake::new();
    let s = f.cgroup.stats().unwrap();
    assert_eq!(s.cpu.total_usage, 3000);
    assert_eq!(s.cpu.per_cpu_usage, [1000, 2000]);
    let hz = stats::clock_ticks();
    assert_eq!(s.cpu.usage_in_usermode, 10 * 1_000_000_000 / hz);
    assert_eq!(s.cpu.usage_in_kernelmode, 5 * 1_000_000_000 / hz);
    assert_eq!(s.cpu.throttling.periods, 10);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.cpu.throttling.throttled_time, 5000);
    assert_eq!(s.memory.usage, 1_048_576);
    assert_eq!(s.memory.max_usage, Some(2_097_152));
    assert_eq!(s.memory.limit, None, "PAGE_COUNTER_MAX means unlimited");
    assert_eq!(s.memory.failcnt, Some(7));
    assert_eq!(s.memory.stat.get("total_rss"), Some(8192));
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.pids.limit, None);
    let bytes = &s.blkio.io_service_bytes_recursive;
    assert_eq!(bytes.len(), 6);
    assert_eq!((bytes[1].op, bytes[1].value), (BlkioOp::Write, 200));
    assert_eq!(s.blkio.io_serviced_recursive.len(), 2);

    fs::write(f.path("memory", "memory.limit_in_bytes"), "33554432\n").unwrap();
    fs::write(
        f.path("blkio", "blkio.bfq.io_serviced_recursive"),
        "8:0 Read 9\n",
    )
    .unwrap();
    let s = f.cgroup.stats().unwrap();
    assert_eq!(s.memory.limit, Some(33_554_432));
    // BFQ has entries now, so it wins over the throttle layer.
    assert_eq!(s.blkio.io_serviced_recursive.len(), 1);
    assert_eq!(s.blkio.io_serviced_recursive[0].value, 9);
}

#[test]
fn oom_count_freezer_and_processes() {
    let f = Fake::new();
    assert_eq!(f.cgroup.oom_kill_count().unwrap(), 3);
    // A regular file "settles" at once: the write is what the state reads back.
    f.cgroup.freeze().unwrap();
    assert_eq!(f.read("freezer", "freezer.state"), "FROZEN");
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Frozen);
    f.cgroup.thaw().unwrap();
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Thawed);
    fs::write(f.path("freezer", "freezer.state"), "FREEZING\n").unwrap();
    assert_eq!(f.cgroup.state().unwrap(), FreezerState::Freezing);
    fs::write(f.path("freezer", "freezer.state"), "MELTED\n").unwrap();
    assert!(matches!(f.cgroup.state(), Err(CgroupError::State(_))));
    fs::write(f.path("freezer", "cgroup.procs"), "5\n6\n").unwrap();
    assert_eq!(f.cgroup.processes().unwrap(), [5, 6]);
}

#[test]
fn a_host_without_the_devices_hierarchy_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = CgroupSetup {
        mode: CgroupMode::V1,
        v1_mounts: BTreeMap::from([(Controller::Memory, tmp.path().to_owned())]),
        v2_mount: None,
    };
    let err = Cgroup::open(&setup, &CgroupPath::parse("/berth/x").unwrap()).unwrap_err();
    assert!(matches!(err, CgroupError::NotMounted("devices")));
}
