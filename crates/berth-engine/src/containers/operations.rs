//! `OperationsBackend` for the engine: pause, unpause, top, update, prune, changes,
//! export and commit.

use super::blocking;
use crate::engine::Engine;
use crate::stream::ChannelWriter;
use berth_api::filters::Filters;
use berth_api::operations::{
    CommitRequest, ContainerPruneReport, FilesystemChange, OperationsBackend, TopResponse,
    UpdateRequest, UpdateResponse,
};
use berth_api::{ApiError, ResponseBytes};

impl OperationsBackend for Engine {
    async fn pause_container(&self, name: &str) -> Result<(), ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        blocking(move || containers.pause(&id)).await
    }

    async fn unpause_container(&self, name: &str) -> Result<(), ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        blocking(move || containers.unpause(&id)).await
    }

    async fn top_container(&self, name: &str, ps_args: &str) -> Result<TopResponse, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let ps_args = ps_args.to_string();
        blocking(move || containers.top(&id, &ps_args)).await
    }

    async fn update_container(
        &self,
        name: &str,
        update: UpdateRequest,
    ) -> Result<UpdateResponse, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let lock = containers.op_lock(&id);
        let _turn = lock.lock().await;
        blocking(move || containers.update_resources(&id, update)).await
    }

    async fn prune_containers(&self, filters: Filters) -> Result<ContainerPruneReport, ApiError> {
        self.containers().clone().prune(filters).await
    }

    async fn container_changes(&self, name: &str) -> Result<Vec<FilesystemChange>, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        blocking(move || containers.changes(&id)).await
    }

    async fn export_container(&self, name: &str) -> Result<ResponseBytes, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        let (writer, body) = ChannelWriter::channel();
        // Start/stop/rm wait while a stopped container's snapshot is mounted for export.
        let turn = match record.state.status {
            super::Status::Running => None,
            _ => Some(containers.op_lock(&id).lock_owned().await),
        };
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            match containers.export(&record, writer) {
                Ok(()) => containers.publish("export", &record, &[]),
                Err(err) => {
                    tracing::warn!(container = %record.id, error = %err.message, "export failed")
                }
            }
        });
        Ok(body)
    }

    async fn commit_container(&self, request: CommitRequest) -> Result<String, ApiError> {
        let (containers, id) = self.resolve_container(&request.container)?;
        blocking(move || containers.commit(&id, request)).await
    }
}
