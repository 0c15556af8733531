//! `/containers/...`: create, start, wait, kill, stop, restart, rename, remove, list,
//! inspect, logs.

use crate::body::json_body;
use crate::response::{self, ApiResponse};
use crate::router::Query;
use berth_api::filters::Filters;
use berth_api::models::container::ContainerCreateRequest;
use berth_api::timestamp::Timestamp;
use berth_api::{ApiError, Backend, ContainerListOptions, LogsOptions, WaitCondition};
use http::StatusCode;
use hyper::body::Incoming;

pub async fn create<B: Backend>(
    backend: &B,
    query: &Query,
    body: Incoming,
    limit: usize,
) -> Result<ApiResponse, ApiError> {
    let request: ContainerCreateRequest = json_body(body, limit).await?;
    let name = query.get("name").map(str::to_string);
    let created = backend.create_container(name, request).await?;
    Ok(response::json(StatusCode::CREATED, &created))
}

fn done_or_not_modified(changed: bool) -> ApiResponse {
    if changed {
        response::no_content()
    } else {
        response::status_only(StatusCode::NOT_MODIFIED)
    }
}

pub async fn start<B: Backend>(backend: &B, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(done_or_not_modified(backend.start_container(id).await?))
}

pub async fn wait<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let condition = WaitCondition::parse(query.get_or_empty("condition"))?;
    let exit = backend.wait_container(id, condition).await?;
    // Docker sends the status line at once and the body when the condition holds: the
    // CLI waits for the headers before it starts the container (`docker run`).
    let (sender, response) = response::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let body = match exit.await {
            Ok(code) => serde_json::json!({ "StatusCode": code, "Error": null }),
            Err(_) => {
                serde_json::json!({ "StatusCode": -1, "Error": { "Message": "the daemon stopped waiting" } })
            }
        };
        let mut bytes = body.to_string().into_bytes();
        bytes.push(b'\n');
        let _ = sender.send(bytes.into()).await;
    });
    Ok(response)
}

pub async fn kill<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    backend
        .kill_container(id, query.get_or_empty("signal"))
        .await?;
    Ok(response::no_content())
}

fn seconds(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid value for {key}: {v}"))),
    }
}

pub async fn stop<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let signal = query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let timeout = seconds(query, "t")?;
    Ok(done_or_not_modified(
        backend.stop_container(id, signal, timeout).await?,
    ))
}

pub async fn restart<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let signal = query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let timeout = seconds(query, "t")?;
    backend.restart_container(id, signal, timeout).await?;
    Ok(response::no_content())
}

pub async fn rename<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    backend
        .rename_container(id, query.get_or_empty("name"))
        .await?;
    Ok(response::no_content())
}

pub async fn remove<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    backend
        .remove_container(id, query.bool("force"), query.bool("v"))
        .await?;
    Ok(response::no_content())
}

pub async fn list<B: Backend>(backend: &B, query: &Query) -> Result<ApiResponse, ApiError> {
    let options = ContainerListOptions {
        all: query.bool("all"),
        limit: seconds(query, "limit")?.unwrap_or(0),
        size: query.bool("size"),
        filters: Filters::from_json(query.get_or_empty("filters"))?,
    };
    Ok(response::json(
        StatusCode::OK,
        &backend.list_containers(options).await?,
    ))
}

pub async fn inspect<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    Ok(response::json(
        StatusCode::OK,
        &backend.inspect_container(id, query.bool("size")).await?,
    ))
}

pub async fn logs<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let tail = match query.get_or_empty("tail") {
        "" | "all" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("invalid value for tail: {n}")))?
                .max(0) as usize,
        ),
    };
    let options = LogsOptions {
        stdout: query.bool("stdout"),
        stderr: query.bool("stderr"),
        timestamps: query.bool("timestamps"),
        tail,
        follow: query.bool("follow"),
        since: log_time(query, "since")?,
        until: log_time(query, "until")?,
        details: query.bool("details"),
    };
    let stream = backend.container_logs(id, options).await?;
    let content_type = if stream.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(response::from_receiver(
        StatusCode::OK,
        content_type,
        stream.body,
    ))
}

/// `since`/`until` of logs: Docker's time forms; empty or `0` means unset.
fn log_time(query: &Query, key: &str) -> Result<Option<Timestamp>, ApiError> {
    match query.get_or_empty(key) {
        "" | "0" => Ok(None),
        value => Timestamp::parse(value, Timestamp::now())
            .map(Some)
            .map_err(|e| ApiError::invalid(e.to_string())),
    }
}
