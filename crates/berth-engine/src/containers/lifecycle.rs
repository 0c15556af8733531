//! Start, the exit monitor, kill, stop and remove. The shim owns the running container;
//! berthd talks to it over its socket from the blocking pool and keeps the record in step.

use super::store::{ContainerRecord, Status};
use super::{blocking, now_rfc3339, signals, ContainerError, Containers};
use berth_api::{ApiError, WaitCondition};
use berth_shim::{ShimClient, ShimConfig};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The binary next to berthd's own (`berth-shim`, `berth-runc`), if present.
fn sibling(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(name);
    path.is_file().then_some(path)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// berth-runc beside berthd, else runc on PATH.
pub(super) fn runtime_binary() -> Result<PathBuf, ApiError> {
    sibling("berth-runc")
        .or_else(|| on_path("runc"))
        .ok_or_else(|| ApiError::system("no OCI runtime found (berth-runc or runc)"))
}

fn shim_binary() -> Result<PathBuf, ApiError> {
    sibling("berth-shim")
        .or_else(|| on_path("berth-shim"))
        .ok_or_else(|| ApiError::system("berth-shim not found next to berthd"))
}

fn socket(record: &ContainerRecord) -> PathBuf {
    record.paths.shim_state.join("shim.sock")
}

fn not_running(id: &str) -> ApiError {
    ApiError::conflict(format!("Container {id} is not running"))
}

impl Containers {
    /// Starts a container (blocking); false when it was already running.
    pub(crate) fn start(self: &Arc<Self>, id: &str) -> Result<bool, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if record.state.status == Status::Running {
            return Ok(false);
        }
        let rootfs = record.paths.bundle.join("rootfs");
        // A failed earlier start may have left it mounted.
        let _ = berth_snapshot::unmount(&rootfs);
        let mounts = self
            .images
            .snapshotter()
            .mounts(id)
            .map_err(ContainerError::from)?;
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
            runtime_binary()?,
        );
        config.log = Some(berth_shim::logfile::LogConfig::new(
            record.paths.log.clone(),
        ));
        config.stdin = record.config.open_stdin;
        berth_shim::spawn(&shim_binary()?, &config).map_err(ContainerError::from)?;
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
    /// rootfs, lets the shim go, publishes `die`, and removes an `--rm` container.
    pub(crate) fn monitor(self: &Arc<Self>, id: String) {
        let this = self.clone();
        // A thread of its own, not the blocking pool: the wait lasts as long as the
        // container, and the runtime's shutdown waits for pool tasks but not for threads, so
        // berthd can stop while containers keep running under their shims.
        let spawned = std::thread::Builder::new()
            .name("container-monitor".into())
            .spawn(move || {
                if let Err(err) = this.wait_exit(&id) {
                    tracing::warn!(container = %id, error = %err.message, "recording an exit failed");
                }
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "no thread for a container monitor");
        }
    }

    fn wait_exit(self: &Arc<Self>, id: &str) -> Result<(), ApiError> {
        let Some(record) = self.store.get(id) else {
            return Ok(());
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
        let record = self.store.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            match &status {
                Some(s) => {
                    r.state.exit_code = i64::from(s.exit_code);
                    r.state.oom_killed = s.oom_killed;
                    r.state.finished_at = s.finished_at.clone();
                }
                None => {
                    r.state.exit_code = 255;
                    r.state.finished_at = now_rfc3339();
                }
            }
            r.clone()
        })?;
        let code = record.state.exit_code.to_string();
        self.publish("die", &record, &[("exitCode", code)]);
        if record.auto_remove {
            self.remove_files(&record)?;
        }
        Ok(())
    }

    /// Sends a signal to the container's init (blocking).
    pub(crate) fn kill(&self, id: &str, signal: &str) -> Result<(), ApiError> {
        let signal = if signal.is_empty() { "SIGKILL" } else { signal };
        let number = signals::parse(signal)?;
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if record.state.status != Status::Running {
            return Err(not_running(id));
        }
        let mut client = ShimClient::connect(&socket(&record)).map_err(ContainerError::from)?;
        client
            .signal(None, number, false)
            .map_err(ContainerError::from)?;
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

    /// Docker's stop: the stop signal, then SIGKILL after the timeout; false if it was not
    /// running.
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
        if record.state.status != Status::Running {
            return Ok(false);
        }
        let signal = signal.unwrap_or_else(|| record.stop_signal.clone());
        let seconds = timeout.or(record.stop_timeout).unwrap_or(10);
        let limit = (seconds >= 0).then(|| Duration::from_secs(seconds as u64));
        let this = self.clone();
        let owned = id.to_string();
        let sent = blocking(move || this.kill(&owned, &signal)).await;
        if sent.is_ok() && self.stopped_within(id, limit).await {
            return Ok(true);
        }
        let this = self.clone();
        let owned = id.to_string();
        match blocking(move || this.kill(&owned, "SIGKILL")).await {
            Ok(()) => {}
            // It exited between the timeout and the kill: stopped all the same.
            Err(err) if err.kind == berth_api::error::ErrorKind::Conflict => return Ok(true),
            Err(err) => return Err(err),
        }
        self.stopped_within(id, None).await;
        Ok(true)
    }

    /// Docker's rm: refuses a running container unless forced (then kills it first).
    pub(crate) async fn remove(self: &Arc<Self>, id: &str, force: bool) -> Result<(), ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if record.state.status == Status::Running {
            if !force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container \
                     before removing or force remove",
                    record.name
                )));
            }
            let this = self.clone();
            let owned = id.to_string();
            match blocking(move || this.kill(&owned, "SIGKILL")).await {
                Ok(()) => {}
                Err(err) if err.kind == berth_api::error::ErrorKind::Conflict => {}
                Err(err) => return Err(err),
            }
            self.stopped_within(id, None).await;
        }
        let this = self.clone();
        let Some(record) = self.store.get(id) else {
            // An `--rm` container removed itself meanwhile.
            return Ok(());
        };
        blocking(move || this.remove_files(&record)).await
    }

    /// Deletes the layer, the bundle and shim state, then the record (blocking).
    fn remove_files(&self, record: &ContainerRecord) -> Result<(), ApiError> {
        let _ = berth_snapshot::unmount(&record.paths.bundle.join("rootfs"));
        self.images
            .remove_container_layer(&record.id)
            .map_err(ContainerError::from)?;
        remove_dir(&record.paths.bundle)?;
        remove_dir(&record.paths.shim_state)?;
        self.store.remove(&record.id)?;
        self.publish("destroy", record, &[]);
        Ok(())
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
    /// Starts a monitor for every container recorded as running, after releasing what a
    /// lost task (its shim gone) left behind (`restore.rs`).
    pub(crate) fn restore(self: &Arc<Self>) {
        for record in self.store.all() {
            if record.state.status == Status::Running {
                if !super::restore::shim_answers(&record) {
                    if let Ok(runtime) = runtime_binary() {
                        super::restore::release_lost_task(&record, &runtime);
                    }
                }
                self.monitor(record.id);
            }
        }
    }
}
