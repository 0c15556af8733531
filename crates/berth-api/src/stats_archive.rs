//! Container stats (`GET /containers/{id}/stats`) and the archive API behind `docker cp`
//! (`GET`, `HEAD` and `PUT /containers/{id}/archive`).

use crate::backend::{RequestBody, ResponseBytes};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// `GET /containers/{id}/stats` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsOptions {
    /// One JSON object per second until the client leaves (default true).
    pub stream: bool,
    /// With `stream=false`: answer with the first sample at once (precpu_stats empty)
    /// instead of waiting for a second one.
    pub one_shot: bool,
}

/// Stats: one sampler per container, shared by every stream of it.
pub trait StatsBackend: Send + Sync + 'static {
    /// Newline-separated JSON objects (Docker's `StatsResponse`).
    fn container_stats(
        &self,
        name: &str,
        options: StatsOptions,
    ) -> impl Future<Output = Result<ResponseBytes, ApiError>> + Send;
}

/// moby's `ContainerPathStat`, sent base64-encoded in `X-Docker-Container-Path-Stat`.
/// `mode` is Go's `os.FileMode` (type bits high, permissions low).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// `PUT /containers/{id}/archive` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// Owner of the extracted files: the container's user (moby `tarCopyOptions`).
    pub copy_uid_gid: bool,
}

/// A tar of a container path and the stat of that path.
pub struct ArchiveDownload {
    pub stat: PathStat,
    pub body: ResponseBytes,
}

/// The archive API; all path work stays inside the container's root.
pub trait ArchiveBackend: Send + Sync + 'static {
    /// `HEAD /containers/{id}/archive?path=`.
    fn stat_container_path(
        &self,
        name: &str,
        path: &str,
    ) -> impl Future<Output = Result<PathStat, ApiError>> + Send;

    /// `GET /containers/{id}/archive?path=`.
    fn container_archive(
        &self,
        name: &str,
        path: &str,
    ) -> impl Future<Output = Result<ArchiveDownload, ApiError>> + Send;

    /// `PUT /containers/{id}/archive?path=`: extracts the (possibly compressed) tar `body`
    /// into the directory at `path`.
    fn extract_to_container(
        &self,
        name: &str,
        path: &str,
        options: ExtractOptions,
        body: RequestBody,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}
