//! `POST /containers/{id}/attach` and `/resize`, and the hijack every stream endpoint
//! shares: `101 UPGRADED` when the client asked to upgrade to `tcp` (what the docker CLI and
//! docker-py send), else `200 OK` followed by raw bytes on the same connection (the older
//! form, rewritten from the upgrade by `crate::hijack` at the connection level).

use crate::response::{self, ApiResponse};
use crate::router::Query;
use berth_api::attach::{AttachOptions, Hijack};
use berth_api::{ApiError, ApiVersion, Backend};
use http::{header, HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Whether the client asked for the connection to be upgraded (moby only checks that an
/// `Upgrade` header is present).
pub fn wants_upgrade(request: &Request<Incoming>) -> bool {
    request.headers().contains_key(header::UPGRADE)
}

/// The connection's upgrade handle; taken before the body is read.
pub fn take_upgrade(request: &mut Request<Incoming>) -> Option<hyper::upgrade::OnUpgrade> {
    wants_upgrade(request).then(|| hyper::upgrade::on(request))
}

/// Answers `101 UPGRADED` and runs the session once hyper hands the connection over.
pub fn hijack(
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    session: Hijack,
    version: ApiVersion,
) -> Result<ApiResponse, ApiError> {
    // `crate::hijack` gives the older form (no Upgrade header, first request on its
    // connection) an upgrade too; a later request on a kept-alive connection has none.
    let Some(upgrade) = upgrade else {
        return Err(ApiError::invalid(
            "attach and exec start without an Upgrade header must be the first request on \
             their connection",
        ));
    };
    let content_type = if !session.tty && version.announces_multiplexed_stream() {
        MULTIPLEXED_STREAM
    } else {
        RAW_STREAM
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => (session.session)(Box::new(TokioIo::new(upgraded))).await,
            Err(err) => tracing::debug!(error = %err, "the connection was not upgraded"),
        }
    });
    let mut response = response::status_only(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    Ok(response)
}

pub async fn attach<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
    version: ApiVersion,
    mut request: Request<Incoming>,
) -> Result<ApiResponse, ApiError> {
    let options = AttachOptions {
        stream: query.bool("stream"),
        logs: query.bool("logs"),
        stdin: query.bool("stdin"),
        stdout: query.bool("stdout"),
        stderr: query.bool("stderr"),
        detach_keys: query.get_or_empty("detachKeys").to_string(),
    };
    let upgrade = take_upgrade(&mut request);
    let session = backend.attach_container(id, options).await?;
    hijack(upgrade, session, version)
}

/// moby's `strconv.Atoi` on `h` and `w`: a missing or malformed value is a 400.
pub fn dimensions(query: &Query) -> Result<(u32, u32), ApiError> {
    let number = |key: &str| {
        let value = query.get_or_empty(key);
        value.parse::<i64>().map_err(|_| {
            ApiError::invalid(format!("strconv.Atoi: parsing \"{value}\": invalid syntax"))
        })
    };
    let (height, width) = (number("h")?, number("w")?);
    let clamp = |n: i64| n.clamp(0, i64::from(u16::MAX)) as u32;
    Ok((clamp(height), clamp(width)))
}

pub async fn resize<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let (height, width) = dimensions(query)?;
    backend.resize_container(id, height, width).await?;
    Ok(response::status_only(StatusCode::OK))
}
