//! Container operations beyond the lifecycle: pause and unpause, top, update, prune, the
//! filesystem changes, export and commit. A trait of its own so the server stays generic.

use crate::error::ApiError;
use crate::filters::Filters;
use crate::models::container::{ContainerConfig, Resources, RestartPolicy};
use crate::ResponseBytes;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/{id}/update` (moby `container.UpdateConfig`): zero fields are left
/// as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResponse {
    pub warnings: Vec<String>,
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// One entry of `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase")]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

/// `POST /commit` parameters; `config` is the optional body (a container config whose
/// set fields override the container's).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    pub config: Option<ContainerConfig>,
}

pub trait OperationsBackend: Send + Sync + 'static {
    fn pause_container(&self, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn unpause_container(&self, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;

    fn top_container(
        &self,
        name: &str,
        ps_args: &str,
    ) -> impl Future<Output = Result<TopResponse, ApiError>> + Send;

    fn update_container(
        &self,
        name: &str,
        update: UpdateRequest,
    ) -> impl Future<Output = Result<UpdateResponse, ApiError>> + Send;

    fn prune_containers(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<ContainerPruneReport, ApiError>> + Send;

    fn container_changes(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<FilesystemChange>, ApiError>> + Send;

    /// Streams a tar of the container's root filesystem.
    fn export_container(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ResponseBytes, ApiError>> + Send;

    /// Returns the new image's ID (`sha256:...`).
    fn commit_container(
        &self,
        request: CommitRequest,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;
}
