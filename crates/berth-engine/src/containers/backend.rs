//! `ContainerBackend` for the engine: resolve the name, then do the work on the blocking
//! pool (the store, mounts and the shim client all block).

use super::{blocking, logs, wire, Containers};
use crate::engine::Engine;
use berth_api::models::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ContainerSummary,
};
use berth_api::{
    ApiError, ContainerBackend, ContainerListOptions, LogStream, LogsOptions, WaitCondition,
};
use std::sync::Arc;

impl Engine {
    pub(crate) fn resolve_container(
        &self,
        name: &str,
    ) -> Result<(Arc<Containers>, String), ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        Ok((containers, id))
    }
}

impl ContainerBackend for Engine {
    async fn create_container(
        &self,
        name: Option<String>,
        request: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse, ApiError> {
        let containers = self.containers().clone();
        blocking(move || containers.create(name, request)).await
    }

    async fn start_container(&self, name: &str) -> Result<bool, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        containers.start_api(&id).await
    }

    async fn wait_container(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<tokio::sync::oneshot::Receiver<i64>, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let waiter = containers.waiter(&id, condition)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = sender.send(waiter.await);
        });
        Ok(receiver)
    }

    async fn kill_container(&self, name: &str, signal: &str) -> Result<(), ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let signal = signal.to_string();
        blocking(move || containers.kill_api(&id, &signal)).await
    }

    async fn stop_container(
        &self,
        name: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        containers.stop_api(&id, signal, timeout).await
    }

    async fn restart_container(
        &self,
        name: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        containers.restart(&id, signal, timeout).await
    }

    async fn rename_container(&self, name: &str, new_name: &str) -> Result<(), ApiError> {
        if name.is_empty() || new_name.is_empty() {
            return Err(ApiError::invalid("Neither old nor new names may be empty"));
        }
        let (containers, id) = self.resolve_container(name)?;
        containers.rename(&id, new_name).await
    }

    async fn remove_container(
        &self,
        name: &str,
        force: bool,
        _volumes: bool,
    ) -> Result<(), ApiError> {
        // `v` (anonymous volumes) is accepted; volumes come with the volumes work.
        let (containers, id) = self.resolve_container(name)?;
        containers.remove(&id, name, force).await
    }

    async fn list_containers(
        &self,
        options: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        let containers = self.containers().clone();
        if options.size {
            // Sizes walk the container layers: the blocking pool.
            return blocking(move || containers.list(&options)).await;
        }
        containers.list(&options)
    }

    async fn inspect_container(
        &self,
        name: &str,
        size: bool,
    ) -> Result<ContainerInspect, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        let mut inspected = wire::inspect(&record, containers.is_removing(&id));
        if size {
            let (rw, root_fs) = blocking(move || Ok(containers.sizes(&record))).await?;
            inspected.size_rw = Some(rw);
            inspected.size_root_fs = Some(root_fs);
        }
        Ok(inspected)
    }

    async fn container_logs(
        &self,
        name: &str,
        options: LogsOptions,
    ) -> Result<LogStream, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        let watch = containers
            .store
            .subscribe(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        if !options.stdout && !options.stderr {
            return Err(ApiError::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let tty = record.config.tty;
        let (read, was_read) = tokio::sync::oneshot::channel();
        let source = logs::LogSource {
            path: record.paths.log.clone(),
            tty,
            attrs: logs::log_attributes(&record.config, &record.host_config.log_config),
            watch,
            read: Some(read),
        };
        let (sender, body) = tokio::sync::mpsc::channel(64);
        tokio::task::spawn_blocking(move || logs::produce(source, options, sender));
        let _ = was_read.await;
        Ok(LogStream { tty, body })
    }
}
