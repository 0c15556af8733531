//! The traits the HTTP server is generic over. Routes decode a request into typed arguments
//! and call exactly one method here; the engine implements them, tests use fakes.

pub use crate::attach::StreamBackend;
use crate::error::ApiError;
use crate::events::EventMessage;
use crate::models::image::{DeleteItem, HistoryItem, ImageInspect, ImagePruneReport, ImageSummary};
use crate::models::system::{DiskUsageSections, SystemDiskUsage, SystemInfo, SystemVersion};
pub use crate::operations::OperationsBackend;
pub use crate::stats_archive::{ArchiveBackend, StatsBackend};
use std::future::Future;
use tokio::sync::broadcast;

/// Events already recorded at subscription time (oldest first), and a receiver for new ones.
/// Nothing is lost between the two: the receiver is subscribed before the history is read.
pub struct EventSubscription {
    pub history: Vec<EventMessage>,
    pub live: broadcast::Receiver<EventMessage>,
}

/// System-wide endpoints: version, info, disk usage, events.
pub trait SystemBackend: Send + Sync + 'static {
    fn version(&self) -> SystemVersion;

    fn info(&self) -> impl Future<Output = Result<SystemInfo, ApiError>> + Send;

    fn disk_usage(
        &self,
        sections: DiskUsageSections,
    ) -> impl Future<Output = Result<SystemDiskUsage, ApiError>> + Send;

    /// Subscribes to events: the whole bounded history, and new events from now on.
    fn subscribe_events(&self) -> EventSubscription;

    /// Whether experimental features are on (`Docker-Experimental` header).
    fn experimental(&self) -> bool {
        false
    }
}

/// Everything a daemon serves. Later work adds its traits as supertraits here.
pub trait Backend:
    SystemBackend
    + ImageBackend
    + ContainerBackend
    + StreamBackend
    + OperationsBackend
    + StatsBackend
    + ArchiveBackend
{
}

impl<T> Backend for T where
    T: SystemBackend
        + ImageBackend
        + ContainerBackend
        + StreamBackend
        + OperationsBackend
        + StatsBackend
        + ArchiveBackend
{
}

/// A request body streamed to the backend (image load and import, archive uploads).
pub type RequestBody = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// A response body the backend produces as it goes; dropping the receiver stops the work.
pub type ResponseBytes = tokio::sync::mpsc::Receiver<bytes::Bytes>;

/// `GET /images/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ImageListOptions {
    pub all: bool,
    pub digests: bool,
    pub shared_size: bool,
    pub filters: crate::filters::Filters,
}

/// `POST /images/create?fromSrc=-` parameters.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub repo: String,
    pub tag: String,
    pub message: String,
    pub changes: Vec<String>,
    pub platform: Option<String>,
}

/// Images: list, inspect, history, tag, delete, prune, import, load, save.
pub trait ImageBackend: Send + Sync + 'static {
    fn list_images(
        &self,
        options: ImageListOptions,
    ) -> impl Future<Output = Result<Vec<ImageSummary>, ApiError>> + Send;

    fn inspect_image(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ImageInspect, ApiError>> + Send;

    fn image_history(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<HistoryItem>, ApiError>> + Send;

    fn tag_image(
        &self,
        name: &str,
        repo: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn delete_image(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> impl Future<Output = Result<Vec<DeleteItem>, ApiError>> + Send;

    fn prune_images(
        &self,
        filters: crate::filters::Filters,
    ) -> impl Future<Output = Result<ImagePruneReport, ApiError>> + Send;

    /// Streams JSON progress messages; errors after the start are reported in-band.
    fn import_image(
        &self,
        body: RequestBody,
        request: ImportRequest,
    ) -> impl Future<Output = Result<ResponseBytes, ApiError>> + Send;

    /// Streams JSON progress messages (`Loaded image: ...`).
    fn load_images(
        &self,
        body: RequestBody,
        quiet: bool,
    ) -> impl Future<Output = Result<ResponseBytes, ApiError>> + Send;

    /// Streams a docker-archive tarball; unknown names fail before the stream starts.
    fn save_images(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<ResponseBytes, ApiError>> + Send;
}

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    /// Docker's names; anything else is rejected with Docker's message.
    pub fn parse(value: &str) -> Result<WaitCondition, ApiError> {
        match value {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// `GET /containers/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    pub all: bool,
    /// Only the newest `limit` containers (0 or negative: no limit).
    pub limit: i64,
    /// Fill in SizeRw and SizeRootFs.
    pub size: bool,
    pub filters: crate::filters::Filters,
}

/// `GET /containers/{id}/logs` parameters.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// Only the last `tail` lines; None for all.
    pub tail: Option<usize>,
    pub follow: bool,
    /// Only entries at or after this time.
    pub since: Option<crate::timestamp::Timestamp>,
    /// Only entries at or before this time.
    pub until: Option<crate::timestamp::Timestamp>,
    /// Prefix each line with its log attributes (`k=v,...`) and a space.
    pub details: bool,
}

/// A log stream and whether it is raw (TTY) or stdcopy-multiplexed.
pub struct LogStream {
    pub tty: bool,
    pub body: ResponseBytes,
}

/// Containers: create, start, wait, kill, stop, restart, rename, remove, list, inspect,
/// logs.
pub trait ContainerBackend: Send + Sync + 'static {
    fn create_container(
        &self,
        name: Option<String>,
        request: crate::models::container::ContainerCreateRequest,
    ) -> impl Future<Output = Result<crate::models::container::ContainerCreateResponse, ApiError>> + Send;

    /// Returns false when the container was already running (Docker's 304).
    fn start_container(&self, name: &str) -> impl Future<Output = Result<bool, ApiError>> + Send;

    /// Resolves the container now (so a missing one is a 404 before the response starts)
    /// and answers the exit code once the condition holds.
    fn wait_container(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> impl Future<Output = Result<tokio::sync::oneshot::Receiver<i64>, ApiError>> + Send;

    fn kill_container(
        &self,
        name: &str,
        signal: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Returns false when the container was not running (Docker's 304).
    fn stop_container(
        &self,
        name: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send;

    /// Stop (if running) then start; `signal` and `timeout` as for stop.
    fn restart_container(
        &self,
        name: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn rename_container(
        &self,
        name: &str,
        new_name: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn remove_container(
        &self,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn list_containers(
        &self,
        options: ContainerListOptions,
    ) -> impl Future<Output = Result<Vec<crate::models::container::ContainerSummary>, ApiError>> + Send;

    /// `size`: fill in SizeRw and SizeRootFs (`docker inspect -s`).
    fn inspect_container(
        &self,
        name: &str,
        size: bool,
    ) -> impl Future<Output = Result<crate::models::container::ContainerInspect, ApiError>> + Send;

    fn container_logs(
        &self,
        name: &str,
        options: LogsOptions,
    ) -> impl Future<Output = Result<LogStream, ApiError>> + Send;
}
