//! Start, the exit monitor, kill, stop and remove. The shim owns the running container;
//! berthd talks to it over its socket from the blocking pool and keeps the record in step.

use super::store::{ContainerRecord, ContainerStore, Status};
use super::{blocking, now_rfc3339, restart, signals, ContainerError, Containers};
use crate::container::names;
use berth_api::{ApiError, WaitCondition};
use berth_shim::config::RuntimeChoice;
use berth_shim::{ShimClient, ShimConfig};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The container's OCI runtime: berth-runtime inside the shim by default (`berth`), or a
/// runc-compatible binary on PATH when `HostConfig.Runtime` names one.
pub(super) fn runtime_choice(runtime: &str) -> Result<RuntimeChoice, ApiError> {
    match runtime {
        "" | "berth" => Ok(RuntimeChoice::Builtin),
        name @ ("runc" | "crun") => crate::host::on_path(name)
            .map(RuntimeChoice::External)
            .ok_or_else(|| ApiError::invalid(format!("unknown or invalid runtime name: {name}"))),
        name => Err(ApiError::invalid(format!(
            "unknown or invalid runtime name: {name}"
        ))),
    }
}

/// The shim binary as berthd executes it: through a private read-only bind of the file
/// (`/proc/self/fd/N`, resolved by execve before close-on-exec fds close), so that nothing
/// running in a container can ever rewrite the binary the shim and its forks run from
/// (CVE-2019-5736). Falls back to the plain path where the clone is refused.
fn shim_executable() -> Result<PathBuf, ApiError> {
    enum Shim {
        Sealed(std::os::fd::OwnedFd),
        Plain(PathBuf),
    }
    // Found and sealed once: the start path of every container uses it.
    static SHIM: std::sync::OnceLock<Option<Shim>> = std::sync::OnceLock::new();
    let shim = SHIM.get_or_init(|| {
        let path = crate::host::companion("berth-shim")?;
        Some(match berth_runtime::exeseal::readonly_clone(&path) {
            Ok(fd) => Shim::Sealed(fd),
            Err(e) => {
                tracing::warn!(error = %e, "running the shim from its plain path");
                Shim::Plain(path)
            }
        })
    });
    match shim {
        Some(Shim::Sealed(fd)) => Ok(PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))),
        Some(Shim::Plain(path)) => Ok(path.clone()),
        None => Err(ApiError::system("berth-shim not found next to berthd")),
    }
}

fn socket(record: &ContainerRecord) -> PathBuf {
    record.paths.shim_state.join("shim.sock")
}

fn not_running(id: &str) -> ApiError {
    ApiError::conflict(format!("Container {id} is not running"))
}

impl Containers {
    /// `POST /containers/{id}/start` under the container's lock: a start by the API resets
    /// the restart count and the restart manager (moby `containerStart(..., true)`).
    pub(crate) async fn start_api(self: &Arc<Self>, id: &str) -> Result<bool, ApiError> {
        let lock = self.op_lock(id);
        let _turn = lock.lock().await;
        self.start_and_monitor(id, true).await
    }

    async fn start_and_monitor(self: &Arc<Self>, id: &str, reset: bool) -> Result<bool, ApiError> {
        let this = self.clone();
        let owned = id.to_string();
        let started = blocking(move || this.start(&owned, reset)).await?;
        if started {
            self.monitor(id.to_string());
        }
        Ok(started)
    }

    /// Starts a container (blocking; the caller holds its lock); false when it was already
    /// running or restarting. `reset`: a start by the API, not by the restart policy.
    pub(crate) fn start(self: &Arc<Self>, id: &str, reset: bool) -> Result<bool, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        // A restarting container is up as far as the API is concerned; the policy's own
        // start (not `reset`) is what brings it back.
        let up = match record.state.status {
            Status::Running => true,
            Status::Restarting => reset,
            _ => false,
        };
        if up {
            return Ok(false);
        }
        if self.is_removing(id) || record.state.status == Status::Dead {
            return Err(ApiError::conflict(
                "container is marked for removal and cannot be started",
            ));
        }
        if reset {
            self.reset_restart_manager(id);
        }
        super::create::restore_etc_files(&record)?;
        let rootfs = record.paths.bundle.join("rootfs");
        // A failed earlier start may have left it mounted.
        let _ = berth_snapshot::unmount(&rootfs);
        let snapshots = self.images.snapshotter();
        let mounts = match snapshots.mounts(id) {
            Ok(mounts) => mounts,
            Err(err) => {
                tracing::warn!(container = %id, error = %err, "repairing the container's layer");
                self.repair_layer(&record)?;
                snapshots.mounts(id).map_err(ContainerError::from)?
            }
        };
        if let Some(mount) = mounts.first() {
            mount.mount(&rootfs).map_err(ContainerError::from)?;
        }
        match self.spawn_and_start(&record) {
            Ok(pid) => {
                let record = self.store.update(id, |r| {
                    r.state.status = Status::Running;
                    r.state.pid = pid;
                    r.state.exit_code = 0;
                    r.state.error.clear();
                    r.state.started_at = now_rfc3339();
                    r.state.manually_stopped = false;
                    r.state.paused = false;
                    super::health::reset_for_run(r);
                    if reset {
                        r.restart_count = 0;
                    }
                    r.clone()
                })?;
                self.publish("start", &record, &[]);
                Ok(true)
            }
            Err(err) => {
                let _ = berth_snapshot::unmount(&rootfs);
                let message = err.message.clone();
                let _ = self.store.update(id, |r| {
                    r.state.error = message;
                    r.state.exit_code = 128;
                });
                // moby removes an AutoRemove container whose start failed; its removal takes
                // the operation lock, which our caller holds until we return.
                if record.auto_remove {
                    let this = self.clone();
                    let id = id.to_string();
                    std::thread::spawn(move || this.auto_remove(&id));
                }
                Err(err)
            }
        }
    }

    fn spawn_and_start(&self, record: &ContainerRecord) -> Result<u32, ApiError> {
        let state = &record.paths.shim_state;
        // A previous run's socket and exit file must not be mistaken for this one's.
        let _ = std::fs::remove_dir_all(state);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state)
            .map_err(ContainerError::io("creating the shim state directory"))?;
        let mut config = ShimConfig::new(
            &record.id,
            record.paths.bundle.clone(),
            state.clone(),
            runtime_choice(&record.host_config.runtime)?,
        );
        config.log = Some(super::logs::shim_log_config(
            record.paths.log.clone(),
            &record.host_config.log_config,
        ));
        config.stdin = record.config.open_stdin;
        berth_shim::spawn(&shim_executable()?, &config).map_err(ContainerError::from)?;
        self.connect_pending_attaches(&record.id, &config.socket);
        let mut client = ShimClient::connect(&config.socket).map_err(ContainerError::from)?;
        match client.start() {
            Ok(pid) => Ok(pid),
            Err(err) => {
                let _ = client.shutdown();
                Err(ApiError::system(format!(
                    "failed to create task for container: {}",
                    ContainerError::from(err)
                )))
            }
        }
    }

    /// Watches a running container until it exits, then records the exit, unmounts the
    /// rootfs, lets the shim go, publishes `die`, and either restarts it (its restart
    /// policy, after the backoff, under its lock) or removes an `--rm` container.
    pub(crate) fn monitor(self: &Arc<Self>, id: String) {
        super::health::remember_runtime();
        let this = self.clone();
        // A thread of its own, not the blocking pool: the wait lasts as long as the
        // container, and the runtime's shutdown waits for pool tasks but not for threads, so
        // berthd can stop while containers keep running under their shims.
        let spawned = std::thread::Builder::new()
            .name("container-monitor".into())
            .spawn(move || {
                if let Err(err) = this.watch(&id) {
                    tracing::warn!(container = %id, error = %err.message, "recording an exit failed");
                }
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "no thread for a container monitor");
        }
    }

    /// The monitor's loop: one round per run of the container.
    fn watch(self: &Arc<Self>, id: &str) -> Result<(), ApiError> {
        loop {
            let health = self.start_health(id);
            let exit = self.wait_exit(id)?;
            drop(health);
            let Some(exit) = exit else {
                return Ok(());
            };
            match exit {
                Exit::Stays { auto_remove } => {
                    if auto_remove {
                        self.auto_remove(id);
                    }
                    return Ok(());
                }
                Exit::Restarts { manager, delay } => {
                    if !manager.wait(delay) {
                        return Ok(());
                    }
                    let lock = self.op_lock(id);
                    let _turn = lock.blocking_lock();
                    // Canceled while this waited for the lock: whoever canceled it has
                    // recorded the container as stopped.
                    if manager.canceled() {
                        return Ok(());
                    }
                    match self.start(id, false) {
                        Ok(true) => continue,
                        Ok(false) => return Ok(()),
                        Err(err) => {
                            tracing::warn!(container = %id, error = %err.message, "restarting failed");
                            self.store.update(id, |r| {
                                if r.state.status == Status::Restarting {
                                    r.state.status = Status::Exited;
                                }
                            })?;
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Waits for the exit and records it; None when the record is gone.
    fn wait_exit(self: &Arc<Self>, id: &str) -> Result<Option<Exit>, ApiError> {
        let Some(record) = self.store.get(id) else {
            return Ok(None);
        };
        let status = match ShimClient::connect(&socket(&record)) {
            Ok(mut client) => {
                let status = client.wait(None);
                let _ = client.shutdown();
                status.ok()
            }
            Err(_) => None,
        };
        // The shim's exit file outlives the shim, so an exit seen by no client is kept.
        let status = status.or_else(|| {
            berth_shim::exitfile::read(&record.paths.shim_state)
                .ok()
                .flatten()
        });
        let _ = berth_snapshot::unmount(&record.paths.bundle.join("rootfs"));
        let (exit_code, finished_at) = match &status {
            Some(s) => (i64::from(s.exit_code), s.finished_at.clone()),
            None => (255, now_rfc3339()),
        };
        let manager = self.restart_manager(id);
        // An `--rm` container (never one with a restart policy) is removed next, durably.
        let durability = match record.auto_remove {
            true => redb::Durability::None,
            false => redb::Durability::Immediate,
        };
        let record = self.store.update_with(id, durability, |r| {
            let ran_for = run_time(&r.state.started_at, &finished_at);
            let delay = manager.decide(
                restart::Policy::of(&r.host_config.restart_policy),
                exit_code,
                r.state.manually_stopped,
                r.restart_count,
                ran_for,
            );
            r.state.pid = 0;
            r.state.paused = false;
            r.state.exit_code = exit_code;
            r.state.oom_killed = status.as_ref().is_some_and(|s| s.oom_killed);
            r.state.finished_at = finished_at.clone();
            r.state.status = match delay {
                Some(_) => {
                    r.restart_count += 1;
                    Status::Restarting
                }
                None => Status::Exited,
            };
            // Published before waiters wake, so `die` comes before the `stop` of a stop
            // that waited for this exit, as with Docker.
            if r.state.oom_killed {
                self.publish("oom", r, &[]);
            }
            self.publish("die", r, &[("exitCode", exit_code.to_string())]);
            (r.clone(), delay)
        });
        let (record, delay) = match record {
            Ok(updated) => updated,
            // Removed meanwhile (a forced rm that did not wait for this monitor).
            Err(ContainerError::NotFound(_)) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        Ok(Some(match delay {
            Some(delay) => Exit::Restarts { manager, delay },
            None => Exit::Stays {
                auto_remove: record.auto_remove,
            },
        }))
    }

    /// `--rm`: removal as a forced `docker rm` does it, marked as in progress.
    fn auto_remove(self: &Arc<Self>, id: &str) {
        let lock = self.op_lock(id);
        let _turn = lock.blocking_lock();
        // A `docker restart` that held the lock has started it again: it stays.
        let Some(record) = self.store.get(id).filter(|r| !super::wire::is_running(r)) else {
            return;
        };
        if !self.begin_removal(id) {
            return;
        }
        if let Err(err) = self.remove_files(&record) {
            tracing::warn!(container = %id, error = %err.message, "removing an --rm container failed");
        }
        self.end_removal(id);
    }

    /// Marks a container as stopped by the user (moby `HasBeenManuallyStopped`) and, for
    /// the stop signal or SIGKILL, cancels its pending or future restart (`ExitOnNext`).
    fn stopped_by_user(&self, id: &str, cancels_restart: bool) -> Result<(), ApiError> {
        if cancels_restart {
            self.restart_manager(id).cancel();
        }
        let Some(record) = self.store.get(id) else {
            return Ok(());
        };
        if record.state.manually_stopped && record.state.status != Status::Restarting {
            return Ok(());
        }
        self.store.update(id, |r| {
            r.state.manually_stopped = true;
            // A container waiting to restart is simply down now.
            if cancels_restart && r.state.status == Status::Restarting {
                r.state.status = Status::Exited;
            }
        })?;
        Ok(())
    }

    /// `POST /containers/{id}/kill` (blocking). Not under the container's lock, so
    /// `docker kill` gets through during a long `docker stop`, as with Docker; only a
    /// container waiting to restart is handled under it.
    pub(crate) fn kill_api(&self, id: &str, signal: &str) -> Result<(), ApiError> {
        self.kill(id, signal, false)
    }

    /// Sends a signal to the container's init (blocking); `locked`: the caller holds the
    /// container's lock.
    fn kill(&self, id: &str, signal: &str, locked: bool) -> Result<(), ApiError> {
        let signal = if signal.is_empty() { "SIGKILL" } else { signal };
        let number = signals::parse(signal)?;
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let stop_signal = signals::parse(&record.stop_signal).unwrap_or(15);
        let cancels_restart = number == 9 || number == stop_signal;
        match record.state.status {
            Status::Running => {}
            // Nothing to signal: the stop signal or SIGKILL keeps it from coming back.
            Status::Restarting => {
                let lock = self.op_lock(id);
                let _turn = if locked {
                    None
                } else {
                    Some(lock.blocking_lock())
                };
                self.stopped_by_user(id, cancels_restart)?;
                self.publish("kill", &record, &[("signal", number.to_string())]);
                return Ok(());
            }
            _ => return Err(not_running(id)),
        }
        self.stopped_by_user(id, cancels_restart)?;
        // No shim to talk to: the container has exited and its monitor is recording it.
        let Ok(mut client) = ShimClient::connect(&socket(&record)) else {
            return Err(not_running(id));
        };
        client
            .signal(None, number, false)
            .map_err(ContainerError::from)?;
        // moby `killWithSignal`: the stop signal or SIGKILL reaches a paused container once
        // it is thawed.
        if cancels_restart && record.state.paused {
            self.thaw_after_kill(&record);
        }
        self.publish("kill", &record, &[("signal", number.to_string())]);
        Ok(())
    }

    /// Subscribes now and returns a future that resolves to the exit code once the
    /// condition holds; subscribing first makes `next-exit` count from this moment.
    pub(crate) fn waiter(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static, ApiError> {
        let mut watch = self
            .store
            .subscribe(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let start = *watch.borrow();
        Ok(async move {
            loop {
                let now = *watch.borrow_and_update();
                let done = match condition {
                    WaitCondition::NotRunning => !now.running,
                    WaitCondition::NextExit => now.exits > start.exits,
                    WaitCondition::Removed => now.removed,
                };
                if done {
                    return now.exit_code;
                }
                if watch.changed().await.is_err() {
                    // The record is gone: removed, with the last exit code seen.
                    return watch.borrow().exit_code;
                }
            }
        })
    }

    /// Waits up to `timeout` for the container to stop running; true if it did.
    async fn stopped_within(&self, id: &str, timeout: Option<Duration>) -> bool {
        let Ok(wait) = self.waiter(id, WaitCondition::NotRunning) else {
            return true;
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait).await.is_ok(),
            None => {
                let _ = wait.await;
                true
            }
        }
    }

    /// `POST /containers/{id}/stop` under the container's lock; publishes `stop`.
    pub(crate) async fn stop_api(
        self: &Arc<Self>,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        let lock = self.op_lock(id);
        let _turn = lock.lock().await;
        let stopped = self.stop(id, signal, timeout).await?;
        if stopped {
            if let Some(record) = self.store.get(id) {
                self.publish("stop", &record, &[]);
            }
        }
        Ok(stopped)
    }

    /// Docker's stop (the caller holds the lock): the stop signal, then SIGKILL after the
    /// timeout; false if it was neither running nor restarting.
    pub(crate) async fn stop(
        self: &Arc<Self>,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        match record.state.status {
            Status::Running => {}
            Status::Restarting => {
                self.stopped_by_user(id, true)?;
                return Ok(true);
            }
            _ => return Ok(false),
        }
        // A stop never lets the policy bring it back, whatever signal it sends.
        self.stopped_by_user(id, true)?;
        let signal = signal.unwrap_or_else(|| record.stop_signal.clone());
        let seconds = timeout.or(record.stop_timeout).unwrap_or(10);
        let limit = (seconds >= 0).then(|| Duration::from_secs(seconds as u64));
        let this = self.clone();
        let owned = id.to_string();
        let sent = blocking(move || this.kill(&owned, &signal, true)).await;
        if !(sent.is_ok() && self.stopped_within(id, limit).await) {
            let this = self.clone();
            let owned = id.to_string();
            match blocking(move || this.kill(&owned, "SIGKILL", true)).await {
                Ok(()) => {}
                // It exited between the timeout and the kill: stopped all the same.
                Err(err) if err.kind == berth_api::error::ErrorKind::Conflict => {}
                Err(err) => return Err(err),
            }
            self.stopped_within(id, None).await;
        }
        // It exited on its own just before the stop and the policy chose to restart it.
        self.stopped_by_user(id, true)?;
        Ok(true)
    }

    /// `POST /containers/{id}/restart`: stop if running (the timeout and signal as for
    /// stop), then start with a fresh restart count; events `stop`, `start`, `restart`.
    pub(crate) async fn restart(
        self: &Arc<Self>,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError> {
        let lock = self.op_lock(id);
        let _turn = lock.lock().await;
        if self.is_removing(id) {
            return Err(ApiError::conflict(
                "container is marked for removal and cannot be started",
            ));
        }
        if self.stop(id, signal, timeout).await? {
            if let Some(record) = self.store.get(id) {
                self.publish("stop", &record, &[]);
            }
        }
        self.start_and_monitor(id, true).await?;
        if let Some(record) = self.store.get(id) {
            self.publish("restart", &record, &[]);
        }
        Ok(())
    }

    /// Docker's rm: refuses a running container unless forced (then kills it first); a
    /// second rm while one is in progress is a conflict. `name` is what the client asked.
    pub(crate) async fn remove(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        force: bool,
    ) -> Result<(), ApiError> {
        if !self.begin_removal(id) {
            return Err(ApiError::conflict(format!(
                "removal of container {name} is already in progress"
            )));
        }
        let lock = self.op_lock(id);
        let result = {
            let _turn = lock.lock().await;
            self.remove_locked(id, name, force).await
        };
        self.end_removal(id);
        result
    }

    async fn remove_locked(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        force: bool,
    ) -> Result<(), ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        match record.state.status {
            Status::Running | Status::Restarting if !force => {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"{}\": container is {}: stop the container \
                     before removing or force remove",
                    record.name,
                    record.state.status.as_str()
                )));
            }
            Status::Restarting => self.stopped_by_user(id, true)?,
            Status::Running => {
                self.stopped_by_user(id, true)?;
                let this = self.clone();
                let owned = id.to_string();
                match blocking(move || this.kill(&owned, "SIGKILL", true)).await {
                    Ok(()) => {}
                    Err(err) if err.kind == berth_api::error::ErrorKind::Conflict => {}
                    Err(err) => return Err(err),
                }
                self.stopped_within(id, None).await;
                self.stopped_by_user(id, true)?;
            }
            _ => {}
        }
        let this = self.clone();
        let Some(record) = self.store.get(id) else {
            return Ok(());
        };
        blocking(move || this.remove_files(&record)).await
    }

    /// Deletes the layer, the bundle and shim state, then the record (blocking).
    /// A failure leaves the container `dead` (moby's `SetDead`): only removal is left.
    fn remove_files(&self, record: &ContainerRecord) -> Result<(), ApiError> {
        let _ = berth_snapshot::unmount(&record.paths.bundle.join("rootfs"));
        let files = self
            .images
            .remove_container_layer(&record.id)
            .map_err(|e| ApiError::from(ContainerError::from(e)))
            .and_then(|()| remove_dir(&record.paths.bundle))
            .and_then(|()| remove_dir(&record.paths.shim_state))
            .and_then(|()| match record.paths.etc.as_os_str().is_empty() {
                true => Ok(()),
                false => remove_dir(&record.paths.etc),
            });
        if let Err(err) = files {
            let _ = self
                .store
                .update(&record.id, |r| r.state.status = Status::Dead);
            return Err(ApiError::system(format!(
                "unable to remove filesystem for {}: {}",
                record.id, err.message
            )));
        }
        self.store.remove(&record.id)?;
        self.forget(&record.id);
        self.publish("destroy", record, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`: Docker's name rules and messages; event
    /// `rename` with the old name.
    pub(crate) async fn rename(self: &Arc<Self>, id: &str, new_name: &str) -> Result<(), ApiError> {
        if new_name.is_empty() {
            return Err(ApiError::invalid("Neither old nor new names may be empty"));
        }
        let lock = self.op_lock(id);
        let _turn = lock.lock().await;
        let wanted = if new_name.starts_with('/') {
            new_name.to_string()
        } else {
            format!("/{new_name}")
        };
        let this = self.clone();
        let owned = id.to_string();
        let (old, record) = blocking(move || {
            let mut entries = this.store.lock();
            let old = entries
                .get(&owned)
                .map(|e| e.record.name.clone())
                .ok_or_else(|| ContainerError::NotFound(owned.clone()))?;
            if old == wanted {
                return Err(ApiError::invalid(
                    "Renaming a container with the same name as its current name",
                ));
            }
            let allocating = |e: ApiError| {
                ApiError::new(
                    e.kind,
                    format!("Error when allocating new name: {}", e.message),
                )
            };
            let name = names::validate_name(&wanted).map_err(allocating)?;
            if let Some(holder) = entries.values().find(|e| e.record.name == name) {
                return Err(allocating(names::name_conflict(&name, &holder.record.id)));
            }
            let record = ContainerStore::rename(&mut entries, &this.store, &owned, &name)?;
            Ok((old, record))
        })
        .await?;
        self.publish("rename", &record, &[("oldName", old)]);
        Ok(())
    }
}

/// How a run ended, for the monitor.
enum Exit {
    /// Down for good (until started again); `--rm` containers go.
    Stays { auto_remove: bool },
    /// The policy restarts it after `delay`, unless `manager` is canceled first.
    Restarts {
        manager: Arc<restart::RestartManager>,
        delay: Duration,
    },
}

/// How long a run lasted (zero when a time is missing).
fn run_time(started_at: &str, finished_at: &str) -> Duration {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(started_at), parse(finished_at)) {
        (Some(start), Some(end)) => (end - start).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

fn remove_dir(path: &Path) -> Result<(), ApiError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ContainerError::io(format!("removing {}", path.display()))(e).into()),
    }
}

impl Containers {
    /// At daemon start: a monitor for every container recorded as running (live restore),
    /// after releasing what a lost task (its shim gone) left behind (`restore.rs`);
    /// containers whose policy says so come back up (moby's restore: `always`, and
    /// `unless-stopped` or `on-failure` as their rules allow, if they ever ran); `--rm`
    /// containers that exited meanwhile go.
    pub(crate) fn restore(self: &Arc<Self>) {
        let records = self.store.all();
        let recorded = records.iter().map(|r| r.id.clone()).collect();
        match self.images.remove_unrecorded_container_layers(&recorded) {
            Ok(0) => {}
            Ok(n) => tracing::info!(layers = n, "removed container layers without a container"),
            Err(err) => tracing::warn!(error = %err, "sweeping container layers"),
        }
        for record in records {
            let id = record.id.clone();
            match record.state.status {
                Status::Running => {
                    if !super::restore::shim_answers(&record) {
                        if let Ok(runtime) = runtime_choice(&record.host_config.runtime) {
                            super::restore::release_lost_task(&record, &runtime);
                        }
                    }
                    self.monitor(id)
                }
                Status::Restarting | Status::Exited => {
                    let policy = restart::Policy::of(&record.host_config.restart_policy);
                    let comes_back = !record.state.started_at.is_empty()
                        && policy.should_restart(
                            record.state.exit_code,
                            record.state.manually_stopped,
                            record.restart_count,
                        );
                    if comes_back {
                        let this = self.clone();
                        std::thread::spawn(move || this.restore_start(&id));
                    } else if record.state.status == Status::Restarting {
                        let _ = self.store.update(&id, |r| r.state.status = Status::Exited);
                    } else if record.auto_remove {
                        let this = self.clone();
                        std::thread::spawn(move || this.auto_remove(&id));
                    }
                }
                Status::Created | Status::Dead => {}
            }
        }
    }

    fn restore_start(self: &Arc<Self>, id: &str) {
        let lock = self.op_lock(id);
        let _turn = lock.blocking_lock();
        let _ = self.store.update(id, |r| {
            if r.state.status == Status::Restarting {
                r.state.status = Status::Exited;
            }
        });
        match self.start(id, true) {
            Ok(true) => self.monitor(id.to_string()),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(container = %id, error = %err.message, "restarting at daemon start failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::containers;
    use super::*;

    fn record(name: &str, status: Status) -> ContainerRecord {
        let mut r = ContainerRecord {
            id: format!("{name:0<64}"),
            name: format!("/{name}"),
            ..Default::default()
        };
        r.state.status = status;
        r.state.started_at = "2024-01-01T00:00:00Z".into();
        r
    }

    #[tokio::test]
    async fn conflicting_operations_get_dockers_409s() {
        let dir = tempfile::tempdir().unwrap();
        let c = Arc::new(containers(
            dir.path(),
            vec![
                record("up", Status::Running),
                record("down", Status::Exited),
            ],
        ));
        let up = format!("{:0<64}", "up");
        let err = c.remove(&up, "up", false).await.unwrap_err();
        assert_eq!(err.kind, berth_api::error::ErrorKind::Conflict);
        assert_eq!(
            err.message,
            "cannot remove container \"/up\": container is running: stop the container \
             before removing or force remove"
        );
        // A removal in progress (held here) turns a second one and a start away.
        let down = format!("{:0<64}", "down");
        assert!(c.begin_removal(&down));
        let err = c.remove(&down, "down", true).await.unwrap_err();
        assert_eq!(err.kind, berth_api::error::ErrorKind::Conflict);
        assert_eq!(
            err.message,
            "removal of container down is already in progress"
        );
        let err = c.start_api(&down).await.unwrap_err();
        assert_eq!(
            err.message,
            "container is marked for removal and cannot be started"
        );
        c.end_removal(&down);
        assert!(c.store.get(&down).is_some(), "nothing was removed");
    }

    #[tokio::test]
    async fn rename_follows_dockers_rules() {
        let dir = tempfile::tempdir().unwrap();
        let c = Arc::new(containers(
            dir.path(),
            vec![record("one", Status::Exited), record("two", Status::Exited)],
        ));
        let one = format!("{:0<64}", "one");
        let two = format!("{:0<64}", "two");
        let err = c.rename(&one, "two").await.unwrap_err();
        assert_eq!(err.kind, berth_api::error::ErrorKind::Conflict);
        assert!(err
            .message
            .starts_with("Error when allocating new name: Conflict. The container name \"/two\""));
        let err = c.rename(&one, "one").await.unwrap_err();
        assert_eq!(
            err.message,
            "Renaming a container with the same name as its current name"
        );
        let err = c.rename(&one, "-x").await.unwrap_err();
        assert_eq!(err.kind, berth_api::error::ErrorKind::InvalidParameter);
        c.rename(&one, "/three").await.unwrap();
        assert_eq!(c.store.get(&one).unwrap().name, "/three");
        assert_eq!(c.store.get(&two).unwrap().name, "/two");
    }

    #[test]
    fn run_time_is_the_difference_or_zero() {
        assert_eq!(
            run_time("2024-01-01T00:00:00Z", "2024-01-01T00:00:12.5Z"),
            Duration::from_millis(12_500)
        );
        assert_eq!(run_time("", "2024-01-01T00:00:00Z"), Duration::ZERO);
    }
}
