//! `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked or detached),
//! `GET /exec/{id}/json` and `POST /exec/{id}/resize`.

use crate::body::json_body;
use crate::handlers::attach::{dimensions, hijack, take_upgrade};
use crate::response::{self, ApiResponse};
use crate::router::{ExecAction, Query};
use berth_api::attach::{ExecConfig, ExecStartConfig, IdResponse};
use berth_api::{ApiError, ApiVersion, Backend};
use http::{Request, StatusCode};
use hyper::body::Incoming;

pub async fn create<B: Backend>(
    backend: &B,
    id: &str,
    body: Incoming,
    limit: usize,
) -> Result<ApiResponse, ApiError> {
    let config: Option<ExecConfig> = json_body(body, limit).await?;
    let config = config.unwrap_or_default();
    if config.cmd.is_empty() {
        return Err(ApiError::invalid("No exec command specified"));
    }
    let id = backend.create_exec(id, config).await?;
    Ok(response::json(StatusCode::CREATED, &IdResponse { id }))
}

pub async fn exec<B: Backend>(
    backend: &B,
    id: &str,
    action: ExecAction,
    query: &Query,
    version: ApiVersion,
    mut request: Request<Incoming>,
    limit: usize,
) -> Result<ApiResponse, ApiError> {
    match action {
        ExecAction::Inspect => Ok(response::json(
            StatusCode::OK,
            &backend.inspect_exec(id).await?,
        )),
        ExecAction::Resize => {
            let (height, width) = dimensions(query)?;
            backend.resize_exec(id, height, width).await?;
            Ok(response::status_only(StatusCode::OK))
        }
        ExecAction::Start => {
            let upgrade = take_upgrade(&mut request);
            let config: Option<ExecStartConfig> = json_body(request.into_body(), limit).await?;
            let config = config.unwrap_or_default();
            match backend.start_exec(id, config).await? {
                None => Ok(response::status_only(StatusCode::OK)),
                Some(session) => hijack(upgrade, session, version),
            }
        }
    }
}
