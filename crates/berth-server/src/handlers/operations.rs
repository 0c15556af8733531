//! `/containers/{id}/{pause,unpause,top,update,changes,export}`, `/containers/prune` and
//! `/commit`.

use crate::body::{decode_json, json_body, read_bounded};
use crate::response::{self, ApiResponse};
use crate::router::{ContainerAction, Query};
use berth_api::filters::Filters;
use berth_api::models::container::ContainerConfig;
use berth_api::operations::{CommitRequest, UpdateRequest};
use berth_api::{ApiError, Backend};
use http::StatusCode;
use hyper::body::Incoming;

const PRUNE_FILTERS: [&str; 3] = ["label", "label!", "until"];

pub async fn container<B: Backend>(
    backend: &B,
    id: &str,
    action: ContainerAction,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    match action {
        ContainerAction::Pause => {
            backend.pause_container(id).await?;
            Ok(response::no_content())
        }
        ContainerAction::Unpause => {
            backend.unpause_container(id).await?;
            Ok(response::no_content())
        }
        ContainerAction::Top => {
            let top = backend
                .top_container(id, query.get_or_empty("ps_args"))
                .await?;
            Ok(response::json(StatusCode::OK, &top))
        }
        ContainerAction::Changes => {
            let changes = backend.container_changes(id).await?;
            Ok(response::json(StatusCode::OK, &changes))
        }
        ContainerAction::Export => {
            let tar = backend.export_container(id).await?;
            Ok(response::from_receiver(
                StatusCode::OK,
                "application/x-tar",
                tar,
            ))
        }
        _ => Err(crate::errors::page_not_found()),
    }
}

pub async fn update<B: Backend>(
    backend: &B,
    id: &str,
    body: Incoming,
    limit: usize,
) -> Result<ApiResponse, ApiError> {
    let update: Option<UpdateRequest> = json_body(body, limit).await?;
    let answer = backend
        .update_container(id, update.unwrap_or_default())
        .await?;
    Ok(response::json(StatusCode::OK, &answer))
}

pub async fn prune<B: Backend>(backend: &B, query: &Query) -> Result<ApiResponse, ApiError> {
    let filters = Filters::from_json(query.get_or_empty("filters"))?;
    filters.validate(&PRUNE_FILTERS)?;
    let report = backend.prune_containers(filters).await?;
    Ok(response::json(StatusCode::OK, &report))
}

/// `POST /commit`: `pause` defaults to true (API 1.13 and later), the body is an optional
/// container config.
pub async fn commit<B: Backend>(
    backend: &B,
    query: &Query,
    body: Incoming,
    limit: usize,
) -> Result<ApiResponse, ApiError> {
    let bytes = read_bounded(body, limit).await?;
    let config: Option<ContainerConfig> = decode_json(&bytes)?;
    let request = CommitRequest {
        container: query.get_or_empty("container").to_string(),
        repo: query.get_or_empty("repo").to_string(),
        tag: query.get_or_empty("tag").to_string(),
        comment: query.get_or_empty("comment").to_string(),
        author: query.get_or_empty("author").to_string(),
        pause: query.get_or_empty("pause").is_empty() || query.bool("pause"),
        changes: query.get_all("changes").to_vec(),
        config,
    };
    let id = backend.commit_container(request).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": id }),
    ))
}
