//! The container object model: records persisted in redb ([`store`]), the lifecycle over
//! the shim (create, start, the exit monitor, kill, stop, remove), the wire shapes of
//! inspect and ps ([`wire`]), and logs read back from the json-file log ([`logs`]).

mod backend;
mod create;
mod lifecycle;
mod logs;
mod restore;
mod signals;
pub mod store;
mod wire;

pub use store::{ContainerRecord, ContainerStore, Status};

use berth_api::ApiError;

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
    pub(crate) images: std::sync::Arc<berth_image::ImageStore>,
    pub(crate) store: ContainerStore,
    pub(crate) events: std::sync::Arc<crate::EventBus>,
    pub(crate) data_root: std::path::PathBuf,
    pub(crate) exec_root: std::path::PathBuf,
}

impl Containers {
    /// Loads the records (blocking).
    pub fn open(
        images: std::sync::Arc<berth_image::ImageStore>,
        events: std::sync::Arc<crate::EventBus>,
        data_root: std::path::PathBuf,
        exec_root: std::path::PathBuf,
    ) -> Result<Containers, ContainerError> {
        Ok(Containers {
            store: ContainerStore::open(images.clone())?,
            images,
            events,
            data_root,
            exec_root,
        })
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
