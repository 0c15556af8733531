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
    fn resolve_container(&self, name: &str) -> Result<(Arc<Containers>, String), ApiError> {
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
        let worker = containers.clone();
        let owned = id.clone();
        let started = blocking(move || worker.start(&owned)).await?;
        if started {
            containers.monitor(id);
        }
        Ok(started)
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
        blocking(move || containers.kill(&id, &signal)).await
    }

    async fn stop_container(
        &self,
        name: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let stopped = containers.stop(&id, signal, timeout).await?;
        if stopped {
            if let Some(record) = containers.store.get(&id) {
                containers.publish("stop", &record, &[]);
            }
        }
        Ok(stopped)
    }

    async fn remove_container(
        &self,
        name: &str,
        force: bool,
        _volumes: bool,
    ) -> Result<(), ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        containers.remove(&id, force).await
    }

    async fn list_containers(
        &self,
        options: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        let mut records = self.containers().store.all();
        records.retain(|r| options.all || r.state.status == super::Status::Running);
        // Newest first, as Docker lists them.
        records.sort_by(|a, b| b.created.cmp(&a.created));
        if options.limit > 0 {
            records.truncate(options.limit as usize);
        }
        let now = chrono::Utc::now();
        Ok(records.iter().map(|r| wire::summary(r, now)).collect())
    }

    async fn inspect_container(&self, name: &str) -> Result<ContainerInspect, ApiError> {
        let (containers, id) = self.resolve_container(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))?;
        Ok(wire::inspect(&record))
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
            watch,
            read: Some(read),
        };
        let (sender, body) = tokio::sync::mpsc::channel(64);
        tokio::task::spawn_blocking(move || logs::produce(source, options, sender));
        let _ = was_read.await;
        Ok(LogStream { tty, body })
    }
}
