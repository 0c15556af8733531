//! `GET /containers/{id}/stats` and the archive API (`GET`/`HEAD`/`PUT
//! /containers/{id}/archive`) behind `docker stats` and `docker cp`.

use super::images::body_reader;
use crate::response::{self, ApiResponse};
use crate::router::Query;
use berth_api::stats_archive::{ExtractOptions, PathStat, StatsOptions};
use berth_api::{ApiError, Backend};
use http::{HeaderValue, StatusCode};
use hyper::body::Incoming;

const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub async fn stats<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    // `stream` defaults to true (moby: `httputils.BoolValueOrDefault(r, "stream", true)`).
    let stream = query.get("stream").is_none_or(|_| query.bool("stream"));
    let one_shot = query.bool("one-shot");
    if one_shot && stream {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let body = backend
        .container_stats(id, StatsOptions { stream, one_shot })
        .await?;
    Ok(response::from_receiver(
        StatusCode::OK,
        "application/json",
        body,
    ))
}

fn archive_path(query: &Query) -> Result<&str, ApiError> {
    match query.get_or_empty("path") {
        "" => Err(ApiError::invalid("path cannot be empty")),
        path => Ok(path),
    }
}

/// moby's header: base64 (standard, padded) of the JSON stat.
fn with_stat(mut response: ApiResponse, stat: &PathStat) -> ApiResponse {
    let json = serde_json::to_vec(stat).unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&base64(&json)) {
        response.headers_mut().insert(PATH_STAT_HEADER, value);
    }
    response
}

pub async fn archive_head<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let stat = backend
        .stat_container_path(id, archive_path(query)?)
        .await?;
    Ok(with_stat(response::status_only(StatusCode::OK), &stat))
}

pub async fn archive_get<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let download = backend.container_archive(id, archive_path(query)?).await?;
    let response = response::from_receiver(StatusCode::OK, "application/x-tar", download.body);
    Ok(with_stat(response, &download.stat))
}

pub async fn archive_put<B: Backend>(
    backend: &B,
    id: &str,
    query: &Query,
    body: Incoming,
) -> Result<ApiResponse, ApiError> {
    let options = ExtractOptions {
        no_overwrite_dir_non_dir: query.bool("noOverwriteDirNonDir"),
        copy_uid_gid: query.bool("copyUIDGID"),
    };
    backend
        .extract_to_container(id, archive_path(query)?, options, body_reader(body))
        .await?;
    Ok(response::status_only(StatusCode::OK))
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}
