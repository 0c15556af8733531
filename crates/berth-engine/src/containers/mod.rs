//! The container object model: records persisted in redb ([`store`]), the lifecycle over
//! the shim (create, start, the exit monitor, kill, stop, remove), the wire shapes of
//! inspect and ps ([`wire`]), and logs read back from the json-file log ([`logs`]).

mod archive;
mod attach;
mod backend;
mod commit;
mod create;
mod exec;
mod filesystem;
pub(crate) mod health;
mod lifecycle;
mod list;
mod logs;
mod operations;
mod pause;
mod prune;
mod restart;
mod restore;
mod signals;
mod size;
mod stats;
pub mod store;
mod top;
mod update;
mod wire;

#[cfg(test)]
pub(crate) mod testing {
    use super::store::{ContainerRecord, ContainerStore};
    use super::Containers;
    use std::sync::Arc;

    /// Containers over an empty image store in `dir`, with these records.
    pub fn containers(dir: &std::path::Path, records: Vec<ContainerRecord>) -> Containers {
        let images = Arc::new(
            berth_image::ImageStore::open(&dir.join("data"), berth_image::Limits::default())
                .expect("image store"),
        );
        let containers = Containers::open(
            images,
            Arc::new(crate::EventBus::new()),
            dir.join("data"),
            dir.join("exec"),
        )
        .expect("containers");
        {
            let mut entries = containers.store.lock();
            for record in records {
                ContainerStore::insert(&mut entries, &containers.store, record).unwrap();
            }
        }
        containers
    }
}

pub use store::{ContainerRecord, ContainerStore, Status};

use berth_api::ApiError;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container database: {0}")]
    Database(String),
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Image(#[from] berth_image::ImageError),
    #[error("{0}")]
    Mount(#[from] berth_snapshot::MountError),
    #[error("{0}")]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    #[error("starting the container's shim: {0}")]
    Spawn(#[from] berth_shim::spawn::SpawnError),
    #[error("talking to the container's shim: {0}")]
    Shim(#[from] berth_shim::ClientError),
    #[error("writing the OCI spec: {0}")]
    Spec(#[from] serde_json::Error),
}

impl ContainerError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
        let context = context.into();
        move |source| ContainerError::Io { context, source }
    }
}

impl From<ContainerError> for ApiError {
    fn from(err: ContainerError) -> ApiError {
        match &err {
            ContainerError::NotFound(_) => ApiError::not_found(err.to_string()),
            _ => ApiError::system(err.to_string()),
        }
    }
}

/// Runs blocking container work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::system(format!("container operation panicked: {err}")))?
}

/// Docker's timestamps: RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// What container work needs, shared with the per-container exit monitors.
pub struct Containers {
    pub(crate) images: Arc<berth_image::ImageStore>,
    pub(crate) store: ContainerStore,
    pub(crate) events: Arc<crate::EventBus>,
    pub(crate) data_root: std::path::PathBuf,
    pub(crate) exec_root: std::path::PathBuf,
    /// Attaches waiting for a start, and exec instances.
    pub(crate) sessions: attach::Sessions,
    /// Per-container operation locks: start, stop, restart, rm, rename and a restart by
    /// the policy take turns on one container.
    op_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The current restart manager of each container that has one.
    restarts: std::sync::Mutex<HashMap<String, Arc<restart::RestartManager>>>,
    /// Containers being removed (moby's `RemovalInProgress`; not persisted).
    removing: std::sync::Mutex<HashSet<String>>,
    /// Cached writable-layer sizes.
    sizes: size::SizeCache,
    /// Stats samplers, one per container with stats subscribers.
    samplers: stats::Samplers,
}

impl Containers {
    /// Loads the records (blocking).
    pub fn open(
        images: Arc<berth_image::ImageStore>,
        events: Arc<crate::EventBus>,
        data_root: std::path::PathBuf,
        exec_root: std::path::PathBuf,
    ) -> Result<Containers, ContainerError> {
        Ok(Containers {
            store: ContainerStore::open(images.clone())?,
            images,
            events,
            data_root,
            exec_root,
            sessions: attach::Sessions::default(),
            op_locks: Default::default(),
            restarts: Default::default(),
            removing: Default::default(),
            sizes: Default::default(),
            samplers: Default::default(),
        })
    }

    /// The operation lock of one container.
    pub(crate) fn op_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.op_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    /// The container's restart manager (a fresh one the first time).
    pub(crate) fn restart_manager(&self, id: &str) -> Arc<restart::RestartManager> {
        let mut managers = self.restarts.lock().unwrap_or_else(|e| e.into_inner());
        managers.entry(id.to_string()).or_default().clone()
    }

    /// Cancels the current restart manager and installs a fresh one (a start).
    pub(crate) fn reset_restart_manager(&self, id: &str) {
        let mut managers = self.restarts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = managers.insert(id.to_string(), Default::default()) {
            old.cancel();
        }
    }

    pub(crate) fn is_removing(&self, id: &str) -> bool {
        self.removing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Marks a removal as started; false when one already is.
    pub(crate) fn begin_removal(&self, id: &str) -> bool {
        self.removing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string())
    }

    pub(crate) fn end_removal(&self, id: &str) {
        self.removing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Forgets the per-container state of a removed container.
    pub(crate) fn forget(&self, id: &str) {
        self.forget_size(id);
        self.op_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some(m) = self
            .restarts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        {
            m.cancel();
        }
    }

    /// Publishes a container event with Docker's attributes (name, image, and `extra`).
    pub(crate) fn publish(&self, action: &str, record: &ContainerRecord, extra: &[(&str, String)]) {
        let mut attributes = record
            .config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>();
        attributes.insert(
            "name".into(),
            record.name.trim_start_matches('/').to_string(),
        );
        attributes.insert("image".into(), record.image_name.clone());
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.clone());
        }
        self.events.publish(berth_api::events::EventMessage::new(
            "container",
            action,
            &record.id,
            attributes,
        ));
    }
}
