//! Pause and unpause through the cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`),
//! and the container's cgroup handle shared by top and update.

use super::store::{ContainerRecord, Status};
use super::{ContainerError, Containers};
use berth_api::ApiError;
use berth_cgroups::{Cgroup, CgroupPath, CgroupSetup};
use std::sync::OnceLock;

/// The host's cgroup layout, detected once.
fn setup() -> Result<&'static CgroupSetup, ApiError> {
    static SETUP: OnceLock<Option<CgroupSetup>> = OnceLock::new();
    SETUP
        .get_or_init(|| CgroupSetup::detect().ok())
        .as_ref()
        .ok_or_else(|| ApiError::system("no cgroup hierarchy is mounted"))
}

/// The container's cgroup, as its OCI spec names it (`linux.cgroupsPath`).
pub(crate) fn container_cgroup(record: &ContainerRecord) -> Result<Cgroup, ApiError> {
    let spec_path = record.paths.bundle.join("config.json");
    let bytes = std::fs::read(&spec_path).map_err(ContainerError::io(format!(
        "reading {}",
        spec_path.display()
    )))?;
    let spec: serde_json::Value = serde_json::from_slice(&bytes).map_err(ContainerError::from)?;
    let path = spec["linux"]["cgroupsPath"]
        .as_str()
        .ok_or_else(|| ApiError::system("the container's spec names no cgroup"))?;
    let path = CgroupPath::parse(path).map_err(|e| ApiError::system(e.to_string()))?;
    Cgroup::open(setup()?, &path).map_err(|e| cgroup_error(&e))
}

/// A cgroup error with its cause chain (the step, then the file error).
pub(crate) fn cgroup_error(err: &dyn std::error::Error) -> ApiError {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ApiError::system(message)
}

impl Containers {
    /// `POST /containers/{id}/pause` (blocking), moby `containerPause`.
    pub(crate) fn pause(&self, id: &str) -> Result<(), ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        match record.state.status {
            Status::Running if record.state.paused => {
                return Err(ApiError::conflict(format!(
                    "Container {id} is already paused"
                )))
            }
            Status::Running => {}
            Status::Restarting => {
                return Err(ApiError::conflict(format!(
                    "Container {id} is restarting, wait until the container is running"
                )))
            }
            _ => return Err(ApiError::conflict(format!("Container {id} is not running"))),
        }
        let cgroup = container_cgroup(&record)?;
        if let Err(err) = cgroup.freeze() {
            // Leave nothing half-frozen behind.
            let _ = cgroup.thaw();
            return Err(ApiError::system(format!(
                "Cannot pause container {id}: {}",
                cgroup_error(&err).message
            )));
        }
        let record = self.store.update(id, |r| {
            r.state.paused = true;
            r.clone()
        })?;
        self.publish("pause", &record, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause` (blocking), moby `containerUnpause`.
    pub(crate) fn unpause(&self, id: &str) -> Result<(), ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if !(record.state.paused && record.state.status == Status::Running) {
            return Err(ApiError::conflict(format!("Container {id} is not paused")));
        }
        let cgroup = container_cgroup(&record)?;
        cgroup.thaw().map_err(|err| {
            ApiError::system(format!(
                "Cannot unpause container {id}: {}",
                cgroup_error(&err).message
            ))
        })?;
        let record = self.store.update(id, |r| {
            r.state.paused = false;
            r.clone()
        })?;
        self.publish("unpause", &record, &[]);
        Ok(())
    }

    /// Thaws a paused container after the stop signal or SIGKILL was sent, so the signal
    /// is delivered (moby `killWithSignal`); the exit then clears the flag.
    pub(crate) fn thaw_after_kill(&self, record: &ContainerRecord) {
        match container_cgroup(record).and_then(|c| c.thaw().map_err(|e| cgroup_error(&e))) {
            Ok(()) => {
                let _ = self.store.update(&record.id, |r| r.state.paused = false);
            }
            Err(err) => {
                tracing::warn!(container = %record.id, error = %err.message, "cannot unpause container")
            }
        }
    }

    /// Freezes a running, unpaused container for a commit; returns whether it did.
    pub(crate) fn freeze_for_commit(&self, record: &ContainerRecord) -> Result<bool, ApiError> {
        if record.state.status != Status::Running || record.state.paused {
            return Ok(false);
        }
        let cgroup = container_cgroup(record)?;
        cgroup.freeze().map_err(|e| cgroup_error(&e))?;
        Ok(true)
    }

    pub(crate) fn thaw_after_commit(&self, record: &ContainerRecord) {
        if let Err(err) =
            container_cgroup(record).and_then(|c| c.thaw().map_err(|e| cgroup_error(&e)))
        {
            tracing::warn!(container = %record.id, error = %err.message, "thawing after commit");
        }
    }
}
