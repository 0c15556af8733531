//! `GET /containers/{id}/stats`: Docker's stats JSON from the container's cgroup.
//!
//! One sampler task per container reads the cgroup once per second and publishes the sample
//! on a watch channel; every stats request of that container subscribes to it, so N clients
//! cost one read per second (Docker runs a collector per daemon but serialises every
//! subscriber's JSON from its own loop, moby#39664). The sampler stops when its last
//! subscriber leaves. Its second sample is taken shortly after the first, so `stream=false`
//! (which needs two samples, for precpu_stats) answers in tens of milliseconds rather than
//! a second.

use super::{Containers, Status};
use crate::engine::Engine;
use berth_api::stats_archive::{StatsBackend, StatsOptions};
use berth_api::{ApiError, ResponseBytes};
use berth_cgroups::{Cgroup, CgroupPath, CgroupSetup, Stats, SystemCpu};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const INTERVAL: Duration = Duration::from_secs(1);
/// Delay of the second sample after the first (precpu for `stream=false`).
const PRIME: Duration = Duration::from_millis(50);
/// Go's zero time, which Docker reports for an unset `read`/`preread`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The CPU part of a sample, kept as the next sample's precpu.
#[derive(Debug, Clone, Default)]
struct CpuSample {
    read: String,
    cpu: berth_cgroups::CpuStats,
    system: Option<SystemCpu>,
}

/// One reading of a container's cgroup; `None` stats when it is not running.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    read: String,
    stats: Option<Stats>,
    system: Option<SystemCpu>,
    /// The sampler's previous reading.
    previous: Option<CpuSample>,
    cgroup_v2: bool,
}

impl Sample {
    fn cpu(&self) -> CpuSample {
        CpuSample {
            read: self.read.clone(),
            cpu: self.stats.clone().unwrap_or_default().cpu,
            system: self.system,
        }
    }
}

type Slot = Arc<watch::Sender<Option<Arc<Sample>>>>;

/// The running samplers, by container id.
#[derive(Default)]
pub(crate) struct Samplers {
    running: Mutex<HashMap<String, Slot>>,
}

impl Containers {
    /// Subscribes to the container's sampler, starting it if none runs.
    fn subscribe_stats(
        self: &Arc<Self>,
        id: &str,
        setup: Option<CgroupSetup>,
    ) -> watch::Receiver<Option<Arc<Sample>>> {
        let mut running = self
            .samplers
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = running.get(id) {
            return slot.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let slot = Arc::new(sender);
        running.insert(id.to_string(), slot.clone());
        let containers = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { containers.sample_loop(id, slot, setup).await });
        receiver
    }

    async fn sample_loop(self: Arc<Self>, id: String, slot: Slot, setup: Option<CgroupSetup>) {
        let mut cgroup: Option<(u32, Cgroup)> = None;
        let mut previous: Option<CpuSample> = None;
        let mut first = true;
        loop {
            let sample = self.sample(&id, setup.as_ref(), &mut cgroup, previous.take());
            previous = sample.stats.as_ref().map(|_| sample.cpu());
            slot.send_replace(Some(Arc::new(sample)));
            tokio::time::sleep(if first { PRIME } else { INTERVAL }).await;
            first = false;
            let mut running = self
                .samplers
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Subscribers join under this lock, so none can arrive between check and removal.
            if slot.receiver_count() == 0 {
                running.remove(&id);
                return;
            }
        }
    }

    /// Reads the cgroup (a few small cgroupfs files and /proc/stat).
    fn sample(
        &self,
        id: &str,
        setup: Option<&CgroupSetup>,
        cgroup: &mut Option<(u32, Cgroup)>,
        previous: Option<CpuSample>,
    ) -> Sample {
        let read = super::now_rfc3339();
        let record = self.store.get(id);
        let pid = match &record {
            Some(r) if r.state.status == Status::Running && r.state.pid != 0 => r.state.pid,
            _ => {
                *cgroup = None;
                return Sample {
                    read,
                    ..Sample::default()
                };
            }
        };
        let cgroup_v2 = setup.is_some_and(|s| s.capabilities().cgroup_version == "2");
        if cgroup.as_ref().is_none_or(|(p, _)| *p != pid) {
            *cgroup = record
                .as_ref()
                .and_then(|r| open_cgroup(setup?, &r.paths.bundle))
                .map(|c| (pid, c));
        }
        let stats = cgroup.as_ref().and_then(|(_, c)| match c.stats() {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::debug!(error = %err, container = id, "reading cgroup stats");
                None
            }
        });
        Sample {
            read,
            system: berth_cgroups::system_cpu_usage().ok(),
            stats,
            previous,
            cgroup_v2,
        }
    }
}

/// The container's cgroup, from `linux.cgroupsPath` of its OCI spec.
fn open_cgroup(setup: &CgroupSetup, bundle: &std::path::Path) -> Option<Cgroup> {
    let spec = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: Value = serde_json::from_slice(&spec).ok()?;
    let path = spec.pointer("/linux/cgroupsPath")?.as_str()?;
    let path = CgroupPath::parse(path).ok()?;
    Cgroup::open(setup, &path).ok()
}

/// Host memory, Docker's `limit` for a container without one.
fn machine_memory() -> u64 {
    let info = rustix::system::sysinfo();
    (info.totalram as u64).saturating_mul(u64::from(info.mem_unit))
}

fn cpu_json(sample: Option<&CpuSample>) -> Value {
    let Some(s) = sample else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let mut usage = Map::new();
    usage.insert("total_usage".into(), s.cpu.total_usage.into());
    if !s.cpu.per_cpu_usage.is_empty() {
        usage.insert("percpu_usage".into(), json!(s.cpu.per_cpu_usage));
    }
    usage.insert(
        "usage_in_kernelmode".into(),
        s.cpu.usage_in_kernelmode.into(),
    );
    usage.insert("usage_in_usermode".into(), s.cpu.usage_in_usermode.into());
    let mut cpu = Map::new();
    cpu.insert("cpu_usage".into(), Value::Object(usage));
    if let Some(system) = s.system {
        cpu.insert("system_cpu_usage".into(), system.usage_ns.into());
        cpu.insert("online_cpus".into(), system.online_cpus.into());
    }
    cpu.insert(
        "throttling_data".into(),
        json!({
            "periods": s.cpu.throttling.periods,
            "throttled_periods": s.cpu.throttling.throttled_periods,
            "throttled_time": s.cpu.throttling.throttled_time,
        }),
    );
    Value::Object(cpu)
}

fn blkio_json(stats: Option<&Stats>, cgroup_v2: bool) -> Value {
    let entries = |list: &[berth_cgroups::BlkioEntry]| -> Value {
        list.iter()
            .map(|e| {
                json!({
                    "major": e.major,
                    "minor": e.minor,
                    "op": if cgroup_v2 { e.op.as_v2_str() } else { e.op.as_str() },
                    "value": e.value,
                })
            })
            .collect()
    };
    match stats {
        None => json!({
            "io_service_bytes_recursive": null, "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null,
        }),
        // moby on v2 fills only the bytes list.
        Some(s) if cgroup_v2 => json!({
            "io_service_bytes_recursive": entries(&s.blkio.io_service_bytes_recursive),
            "io_serviced_recursive": null, "io_queue_recursive": null,
            "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
        }),
        Some(s) => json!({
            "io_service_bytes_recursive": entries(&s.blkio.io_service_bytes_recursive),
            "io_serviced_recursive": entries(&s.blkio.io_serviced_recursive),
            "io_queue_recursive": [], "io_service_time_recursive": [],
            "io_wait_time_recursive": [], "io_merged_recursive": [],
            "io_time_recursive": [], "sectors_recursive": [],
        }),
    }
}

fn memory_json(stats: Option<&Stats>) -> Value {
    let Some(s) = stats else {
        return json!({});
    };
    let m = &s.memory;
    let mut out = Map::new();
    if m.usage != 0 {
        out.insert("usage".into(), m.usage.into());
    }
    if let Some(max) = m.max_usage.filter(|v| *v != 0) {
        out.insert("max_usage".into(), max.into());
    }
    let stat: Map<String, Value> = m.stat.iter().map(|(k, v)| (k.into(), v.into())).collect();
    if !stat.is_empty() {
        out.insert("stats".into(), Value::Object(stat));
    }
    if let Some(failcnt) = m.failcnt.filter(|v| *v != 0) {
        out.insert("failcnt".into(), failcnt.into());
    }
    let machine = machine_memory();
    let limit = match m.limit {
        Some(l) if machine == 0 || l <= machine => l,
        _ => machine,
    };
    if limit != 0 {
        out.insert("limit".into(), limit.into());
    }
    Value::Object(out)
}

/// One frame of Docker's `StatsResponse`; `pre` is the precpu reading (none for the first
/// frame of a stream).
fn frame(name: &str, id: &str, sample: Option<&Sample>, pre: Option<&CpuSample>) -> Bytes {
    let stats = sample.and_then(|s| s.stats.as_ref());
    let running = stats.is_some();
    let mut pids = Map::new();
    if let Some(s) = stats {
        if s.pids.current != 0 {
            pids.insert("current".into(), s.pids.current.into());
        }
        if let Some(limit) = s.pids.limit.filter(|l| *l != 0) {
            pids.insert("limit".into(), limit.into());
        }
    }
    let cgroup_v2 = sample.is_some_and(|s| s.cgroup_v2);
    let read = match sample {
        Some(s) if running => s.read.as_str(),
        _ => ZERO_TIME,
    };
    let cpu = sample.filter(|_| running).map(Sample::cpu);
    let pre = pre.filter(|_| running);
    let value = json!({
        "name": name,
        "id": id,
        "read": read,
        "preread": pre.map_or(ZERO_TIME, |p| p.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": blkio_json(stats, cgroup_v2),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cpu.as_ref()),
        "precpu_stats": cpu_json(pre),
        "memory_stats": memory_json(stats),
    });
    let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

impl StatsBackend for Engine {
    async fn container_stats(
        &self,
        name: &str,
        options: StatsOptions,
    ) -> Result<ResponseBytes, ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| super::ContainerError::NotFound(id.clone()))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        // moby: a container that is not running answers `stream=false` with an empty frame.
        if !options.stream && record.state.status != Status::Running {
            let _ = sender.try_send(frame(&record.name, &id, None, None));
            return Ok(receiver);
        }
        let mut samples = containers.subscribe_stats(&id, self.cgroup_setup().cloned());
        let name = record.name.clone();
        tokio::spawn(async move {
            if !options.stream {
                let wanted = |s: &Option<Arc<Sample>>| {
                    s.as_ref().is_some_and(|s| {
                        options.one_shot || s.previous.is_some() || s.stats.is_none()
                    })
                };
                let Ok(sample) = samples.wait_for(wanted).await.map(|s| s.clone()) else {
                    return;
                };
                let sample = sample.as_deref();
                let pre = if options.one_shot {
                    None
                } else {
                    sample.and_then(|s| s.previous.as_ref())
                };
                let _ = sender.send(frame(&name, &id, sample, pre)).await;
                return;
            }
            // Streaming: each client's first frame has an empty precpu, as with Docker.
            let mut pre: Option<CpuSample> = None;
            let mut first = true;
            loop {
                if !first && samples.changed().await.is_err() {
                    return;
                }
                first = false;
                let sample = samples.borrow_and_update().clone();
                let Some(sample) = sample else {
                    continue;
                };
                let bytes = frame(&name, &id, Some(&sample), pre.as_ref());
                pre = sample.stats.as_ref().map(|_| sample.cpu());
                if sender.send(bytes).await.is_err() {
                    return; // The client left; dropping `samples` unsubscribes.
                }
            }
        });
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_share_one_sampler_that_stops_after_the_last_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let record = super::super::ContainerRecord {
            id: "c0ffee".into(),
            name: "/sampled".into(),
            ..Default::default()
        };
        let containers = Arc::new(super::super::testing::containers(dir.path(), vec![record]));
        let running = |c: &Containers| c.samplers.running.lock().unwrap().len();
        let mut first = containers.subscribe_stats("c0ffee", None);
        let mut second = containers.subscribe_stats("c0ffee", None);
        assert_eq!(running(&containers), 1, "one sampler for both subscribers");
        let a = first
            .wait_for(Option::is_some)
            .await
            .unwrap()
            .clone()
            .unwrap();
        let b = second
            .wait_for(Option::is_some)
            .await
            .unwrap()
            .clone()
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "both see the same sample");
        assert!(
            a.stats.is_none(),
            "a container that is not running has no stats"
        );
        drop((first, second));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running(&containers) != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the sampler never stopped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A new subscriber starts a new one.
        let _third = containers.subscribe_stats("c0ffee", None);
        assert_eq!(running(&containers), 1);
    }

    #[test]
    fn a_stopped_container_frame_is_docker_empty_stats() {
        let bytes = frame("/c", "abc", None, None);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["read"], ZERO_TIME);
        assert_eq!(v["preread"], ZERO_TIME);
        assert_eq!(v["memory_stats"], json!({}));
        assert_eq!(v["pids_stats"], json!({}));
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_null());
        assert_eq!(v["name"], "/c");
    }

    #[test]
    fn a_running_frame_carries_cpu_memory_and_precpu() {
        let mut stats = Stats::default();
        stats.cpu.total_usage = 500;
        stats.cpu.per_cpu_usage = vec![200, 300];
        stats.memory.usage = 4096;
        stats.memory.limit = Some(8192);
        stats.memory.stat = berth_cgroups::MemoryStat::from_raw("cache 1\nrss 2\n".into());
        stats.pids.current = 3;
        let system = SystemCpu {
            usage_ns: 10_000,
            online_cpus: 2,
        };
        let sample = Sample {
            read: "2024-01-01T00:00:01Z".into(),
            stats: Some(stats),
            system: Some(system),
            previous: None,
            cgroup_v2: false,
        };
        let pre = CpuSample {
            read: "2024-01-01T00:00:00Z".into(),
            cpu: Default::default(),
            system: Some(system),
        };
        let v: Value =
            serde_json::from_slice(&frame("/c", "abc", Some(&sample), Some(&pre))).unwrap();
        assert_eq!(
            v["cpu_stats"]["cpu_usage"]["percpu_usage"],
            json!([200, 300])
        );
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 10_000);
        assert_eq!(v["preread"], "2024-01-01T00:00:00Z");
        assert_eq!(v["memory_stats"]["limit"], 8192);
        assert_eq!(v["memory_stats"]["stats"]["rss"], 2);
        assert_eq!(v["pids_stats"]["current"], 3);
        assert_eq!(v["blkio_stats"]["io_queue_recursive"], json!([]));
    }
}
