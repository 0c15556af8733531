//! Health checks (moby `daemon/health.go`): a monitor thread per running container with a
//! `HEALTHCHECK` runs the probe as an exec through the container's shim every interval,
//! keeps the last five results, counts the failing streak (not during the start period
//! while starting) and turns the status starting/healthy/unhealthy, publishing
//! `health_status: <status>` on every change. Results are kept in memory (moby's
//! `CommitInMemory`); a change of status is persisted. Each run of the container (a start,
//! a restart by the policy, a live restore) resets the status to starting as moby's
//! `initHealthMonitor`; paused containers are not probed.
//!
//! Beyond Docker: the label `berth.health-on-failure` (`none`, `kill`, `restart`, `stop`;
//! Podman's `--health-on-failure`) acts on the transition to unhealthy.

use super::exec::{exec_process, spec_process};
use super::store::{ContainerRecord, Status};
use super::{now_rfc3339, Containers};
use berth_api::attach::ExecConfig;
use berth_api::models::container::{ContainerConfig, Health, HealthcheckResult};
use berth_shim::protocol::Streams;
use berth_shim::ShimClient;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The label that carries `--health-on-failure` (the docker CLI can send labels only).
pub const ON_FAILURE_LABEL: &str = "berth.health-on-failure";

const MAX_OUTPUT: usize = 4096;
const MAX_LOG_ENTRIES: usize = 5;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// What to do when a container turns unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    None,
    Kill,
    Restart,
    Stop,
}

/// The action the container's labels ask for; an unknown one is a create error.
pub fn on_failure(config: &ContainerConfig) -> Result<OnFailure, String> {
    let value = config
        .labels
        .as_ref()
        .and_then(|l| l.get(ON_FAILURE_LABEL))
        .map_or("none", String::as_str);
    match value {
        "" | "none" => Ok(OnFailure::None),
        "kill" => Ok(OnFailure::Kill),
        "restart" => Ok(OnFailure::Restart),
        "stop" => Ok(OnFailure::Stop),
        other => Err(format!(
            "invalid {ON_FAILURE_LABEL} action {other:?}: must be none, kill, restart or stop"
        )),
    }
}

/// A container's probe settings with moby's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn nanos_or(value: i64, default: Duration) -> Duration {
    if value <= 0 {
        default
    } else {
        Duration::from_nanos(value as u64)
    }
}

impl Check {
    /// moby `getProbe`: `CMD` runs the arguments, `CMD-SHELL` the container's shell
    /// (default `/bin/sh -c`); `NONE`, an empty or unknown test means no probe.
    pub fn of(config: &ContainerConfig) -> Option<Check> {
        let h = config.healthcheck.as_ref()?;
        let test = h.test.as_ref()?;
        let mut cmd = match test.first()?.as_str() {
            "CMD" => Vec::new(),
            "CMD-SHELL" => match config.shell.as_ref().filter(|s| !s.is_empty()) {
                Some(shell) => shell.clone(),
                None => vec!["/bin/sh".into(), "-c".into()],
            },
            _ => return None,
        };
        cmd.extend(test[1..].iter().cloned());
        if cmd.is_empty() {
            return None;
        }
        Some(Check {
            cmd,
            interval: nanos_or(h.interval, DEFAULT_INTERVAL),
            timeout: nanos_or(h.timeout, DEFAULT_TIMEOUT),
            start_period: nanos_or(h.start_period, Duration::ZERO),
            start_interval: nanos_or(h.start_interval, DEFAULT_START_INTERVAL),
            retries: if h.retries <= 0 {
                DEFAULT_RETRIES
            } else {
                h.retries
            },
        })
    }

    /// moby `monitor.getInterval`: the start interval while starting inside the start
    /// period, and never past the end of the start period.
    pub fn next_interval(&self, since_start: Duration, starting: bool) -> Duration {
        if since_start >= self.start_period {
            return self.interval;
        }
        let remaining = self.start_period - since_start;
        if remaining < self.interval {
            remaining
        } else if starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// moby `handleProbeResult`: appends the result (last five kept), updates the streak and
/// status; returns the new status when it changed.
pub fn record_result(
    health: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    within_start_period: bool,
) -> Option<String> {
    let old = health.status.clone();
    let log = health.log.get_or_insert_with(Vec::new);
    log.push(result);
    if log.len() > MAX_LOG_ENTRIES {
        log.drain(..log.len() - MAX_LOG_ENTRIES);
    }
    let code = log.last().map_or(0, |r| r.exit_code);
    if code == 0 {
        health.failing_streak = 0;
        health.status = HEALTHY.into();
    } else if !(health.status == STARTING && within_start_period) {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = UNHEALTHY.into();
        }
    }
    (health.status != old).then(|| health.status.clone())
}

/// Go's `time.Duration.String` for the durations a probe timeout can have.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let trim = |whole: u128, frac: u128, digits: usize| {
        let mut s = whole.to_string();
        if frac > 0 {
            let f = format!("{frac:0digits$}");
            s.push('.');
            s.push_str(f.trim_end_matches('0'));
        }
        s
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(nanos / 1_000, nanos % 1_000, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(nanos / 1_000_000, nanos % 1_000_000, 6));
    }
    let total_secs = nanos / 1_000_000_000;
    let seconds = trim(total_secs % 60, nanos % 1_000_000_000, 9);
    let (hours, minutes) = (total_secs / 3600, (total_secs / 60) % 60);
    match (hours, total_secs / 60) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// moby `limitedBuffer`: the first 4096 bytes, `...` when more were dropped.
#[derive(Default)]
struct LimitedBuffer {
    bytes: Vec<u8>,
    truncated: bool,
}

impl LimitedBuffer {
    fn write(&mut self, data: &[u8]) {
        let keep = (MAX_OUTPUT - self.bytes.len()).min(data.len());
        self.bytes.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            out.push_str("...");
        }
        out
    }
}

/// Splits stdcopy frames out of `pending` into `out`.
fn drain_frames(pending: &mut Vec<u8>, out: &mut LimitedBuffer) {
    loop {
        if pending.len() < 8 {
            return;
        }
        let len = u32::from_be_bytes(pending[4..8].try_into().expect("4 bytes")) as usize;
        if pending.len() < 8 + len {
            return;
        }
        out.write(&pending[8..8 + len]);
        pending.drain(..8 + len);
    }
}

/// A stop flag the monitor sleeps on.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps up to `d`; true when stopped.
    fn wait(&self, d: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// Stops the container's health monitor when dropped (the run it belongs to ended).
pub(crate) struct HealthGuard(Option<Arc<Stop>>);

impl Drop for HealthGuard {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop.set();
        }
    }
}

static RUNTIME: OnceLock<tokio::runtime::Handle> = OnceLock::new();

/// Remembers the daemon's runtime, for the stop and restart actions run from monitor
/// threads. Call from inside the runtime.
pub(crate) fn remember_runtime() {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let _ = RUNTIME.set(handle);
    }
}

fn since(started_at: &str, at: chrono::DateTime<chrono::Utc>) -> Duration {
    chrono::DateTime::parse_from_rfc3339(started_at)
        .ok()
        .and_then(|t| (at - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default()
}

/// moby `initHealthMonitor`'s reset, for a new run of a container with a probe: the status
/// is starting, the streak zero, the log kept. Done in the start itself too, so the status
/// is there as soon as the start returns.
pub(crate) fn reset_for_run(record: &mut ContainerRecord) {
    if Check::of(&record.config).is_none() {
        return;
    }
    let h = record.state.health.get_or_insert_with(Health::default);
    h.status = STARTING.into();
    h.failing_streak = 0;
    h.log.get_or_insert_with(Vec::new);
}

impl Containers {
    /// moby `initHealthMonitor` for one run of a running container: resets the status to
    /// starting and starts probing. No-op without a probe.
    pub(crate) fn start_health(self: &Arc<Self>, id: &str) -> HealthGuard {
        let Some(record) = self.store.get(id) else {
            return HealthGuard(None);
        };
        let Some(check) = Check::of(&record.config) else {
            return HealthGuard(None);
        };
        if record.state.status != Status::Running {
            return HealthGuard(None);
        }
        let reset = self.store.update(id, reset_for_run);
        if reset.is_err() {
            return HealthGuard(None);
        }
        let stop = Arc::new(Stop::default());
        let (this, owned, flag) = (self.clone(), id.to_string(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("health-monitor".into())
            .spawn(move || this.health_loop(&owned, check, &flag));
        if let Err(err) = spawned {
            tracing::error!(error = %err, "no thread for a health monitor");
        }
        HealthGuard(Some(stop))
    }

    fn health_loop(self: &Arc<Self>, id: &str, check: Check, stop: &Stop) {
        let started = Instant::now();
        loop {
            let starting = self
                .store
                .get(id)
                .and_then(|r| r.state.health)
                .is_some_and(|h| h.status == STARTING);
            if stop.wait(check.next_interval(started.elapsed(), starting)) {
                return;
            }
            let Some(record) = self.store.get(id) else {
                return;
            };
            if record.state.status != Status::Running {
                return;
            }
            if record.state.paused {
                continue;
            }
            let start = chrono::Utc::now();
            let start_text = now_rfc3339();
            let (exit_code, output) = match self.probe(&record, &check) {
                Ok(outcome) => outcome,
                Err(message) => (-1, message),
            };
            // Stopped, paused or exited meanwhile: the result belongs to no run.
            let current = self.store.get(id);
            if stop.is_set()
                || current.is_none_or(|r| r.state.paused || r.state.status != Status::Running)
            {
                continue;
            }
            let result = HealthcheckResult {
                start: start_text,
                end: now_rfc3339(),
                exit_code,
                output,
            };
            let within = since(&record.state.started_at, start) < check.start_period;
            let changed = self.store.update_in_memory(id, |r| {
                let h = r.state.health.get_or_insert_with(Health::default);
                record_result(h, result, check.retries, within)
            });
            let Some(Some(status)) = changed else {
                continue;
            };
            // Persist the new status (the log rides along).
            let _ = self.store.update(id, |_| ());
            if let Some(record) = self.store.get(id) {
                self.publish(&format!("health_status: {status}"), &record, &[]);
                if status == UNHEALTHY {
                    if let Ok(action) = super::health::on_failure(&record.config) {
                        if action != OnFailure::None {
                            self.act_on_failure(id, action);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Podman's `--health-on-failure`: kill (SIGKILL), stop or restart the container.
    fn act_on_failure(self: &Arc<Self>, id: &str, action: OnFailure) {
        let outcome = match action {
            OnFailure::None => Ok(()),
            OnFailure::Kill => self.kill_api(id, "SIGKILL"),
            OnFailure::Stop | OnFailure::Restart => match RUNTIME.get() {
                Some(handle) if action == OnFailure::Stop => {
                    handle.block_on(self.stop_api(id, None, None)).map(drop)
                }
                Some(handle) => handle.block_on(self.restart(id, None, None)),
                None => Err(berth_api::ApiError::system("no runtime for the action")),
            },
        };
        if let Err(err) = outcome {
            tracing::warn!(container = %id, error = %err.message, ?action, "health-on-failure action failed");
        }
    }

    /// One probe run (moby `cmdProbe.run`): an exec with the container's process settings,
    /// stdout and stderr captured together; killed at the timeout. Returns (exit code,
    /// output); an error is a probe that could not run.
    fn probe(&self, record: &ContainerRecord, check: &Check) -> Result<(i64, String), String> {
        let exec_id = crate::container::names::generate_id().map_err(|e| e.to_string())?;
        let config = ExecConfig {
            cmd: check.cmd.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecConfig::default()
        };
        let groups = record.host_config.group_add.clone().unwrap_or_default();
        let rootfs = record.paths.bundle.join("rootfs");
        let process = spec_process(&record.paths.bundle)
            .and_then(|p| exec_process(p, &config, &rootfs, &groups, None))
            .map_err(|e| e.message)?;
        let command = check.cmd.join(" ");
        let exec_attr = [("execID", exec_id.clone())];
        self.publish(&format!("exec_create: {command}"), record, &exec_attr);
        let socket = record.paths.shim_state.join("shim.sock");
        let streams = Streams {
            stdin: false,
            stdout: true,
            stderr: true,
            close_stdin_on_eof: true,
        };
        let client = ShimClient::connect(&socket).map_err(|e| e.to_string())?;
        let (_pid, stream) = client
            .exec_attached(&exec_id, process, streams)
            .map_err(|e| e.to_string())?;
        self.publish(&format!("exec_start: {command}"), record, &exec_attr);
        let mut stream = stream.into_inner();
        let deadline = Instant::now() + check.timeout;
        let (mut pending, mut output) = (Vec::new(), LimitedBuffer::default());
        let mut timed_out = false;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let now = Instant::now();
            let wait = if timed_out {
                Duration::from_secs(5)
            } else if now >= deadline {
                timed_out = true;
                if let Ok(mut c) = ShimClient::connect(&socket) {
                    let _ = c.signal(Some(&exec_id), 9, false);
                }
                continue;
            } else {
                deadline - now
            };
            let _ = stream.set_read_timeout(Some(wait));
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    pending.extend_from_slice(&chunk[..n]);
                    drain_frames(&mut pending, &mut output);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && !timed_out => {}
                Err(_) => break,
            }
        }
        let status = ShimClient::connect(&socket).and_then(|mut c| c.wait(Some(&exec_id)));
        let code = status.map_or(137, |s| i64::from(s.exit_code));
        let die = [("execID", exec_id.clone()), ("exitCode", code.to_string())];
        self.publish("exec_die", record, &die);
        if timed_out {
            let limit = go_duration(check.timeout);
            let out = output.text();
            return Ok((
                -1,
                if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                },
            ));
        }
        Ok((code, output.text()))
    }
}

/// The health status ps shows and filters on: `none` without health checks.
pub fn status_of(record: &ContainerRecord) -> &str {
    record
        .state
        .health
        .as_ref()
        .map_or("none", |h| h.status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::container::HealthConfig;

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    fn starting() -> Health {
        Health {
            status: STARTING.into(),
            ..Default::default()
        }
    }

    #[test]
    fn failures_count_to_unhealthy_and_a_pass_heals() {
        let mut h = starting();
        assert_eq!(record_result(&mut h, result(1), 2, false), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            record_result(&mut h, result(1), 2, false).as_deref(),
            Some(UNHEALTHY)
        );
        assert_eq!(record_result(&mut h, result(-1), 2, false), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(
            record_result(&mut h, result(0), 2, false).as_deref(),
            Some(HEALTHY)
        );
        assert_eq!(h.failing_streak, 0);
        for _ in 0..4 {
            record_result(&mut h, result(0), 2, false);
        }
        assert_eq!(h.log.as_ref().unwrap().len(), 5, "the last five kept");
    }

    #[test]
    fn start_period_failures_do_not_count_while_starting() {
        let mut h = starting();
        assert_eq!(record_result(&mut h, result(1), 1, true), None);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        // Once healthy, failures count even inside the start period.
        record_result(&mut h, result(0), 1, true);
        assert_eq!(
            record_result(&mut h, result(1), 1, true).as_deref(),
            Some(UNHEALTHY)
        );
    }

    #[test]
    fn checks_follow_mobys_defaults_and_test_forms() {
        let config = |test: &[&str], interval: i64| ContainerConfig {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                interval,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = Check::of(&config(&["CMD-SHELL", "test -f /x"], 0)).unwrap();
        assert_eq!(c.cmd, ["/bin/sh", "-c", "test -f /x"]);
        assert_eq!(
            (c.interval, c.timeout, c.retries),
            (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, 3)
        );
        let c = Check::of(&config(&["CMD", "true"], 1_000_000_000)).unwrap();
        assert_eq!(c.cmd, ["true"]);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert!(Check::of(&config(&["NONE"], 0)).is_none());
        assert!(Check::of(&ContainerConfig::default()).is_none());
        let mut c = c;
        c.start_period = Duration::from_secs(60);
        c.interval = Duration::from_secs(30);
        assert_eq!(c.next_interval(Duration::ZERO, true), c.start_interval);
        assert_eq!(c.next_interval(Duration::ZERO, false), c.interval);
        // Never past the end of the start period.
        assert_eq!(
            c.next_interval(Duration::from_secs(50), true),
            Duration::from_secs(10)
        );
        assert_eq!(c.next_interval(Duration::from_secs(61), true), c.interval);
    }

    #[test]
    fn output_is_limited_and_timeouts_read_like_go() {
        let mut b = LimitedBuffer::default();
        let mut framed = vec![1, 0, 0, 0, 0, 0, 0x13, 0x88];
        framed.extend(std::iter::repeat_n(b'x', 5000));
        let mut pending = framed[..100].to_vec();
        drain_frames(&mut pending, &mut b);
        assert!(b.bytes.is_empty());
        pending.extend_from_slice(&framed[100..]);
        drain_frames(&mut pending, &mut b);
        assert!(pending.is_empty());
        assert_eq!(b.text().len(), 4096 + 3);
        assert!(b.text().ends_with("x..."));
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn on_failure_label_values() {
        let with = |v: &str| ContainerConfig {
            labels: Some([(ON_FAILURE_LABEL.to_string(), v.to_string())].into()),
            ..Default::default()
        };
        assert_eq!(on_failure(&ContainerConfig::default()), Ok(OnFailure::None));
        assert_eq!(on_failure(&with("kill")), Ok(OnFailure::Kill));
        assert_eq!(on_failure(&with("restart")), Ok(OnFailure::Restart));
        assert!(on_failure(&with("explode")).is_err());
    }
}
