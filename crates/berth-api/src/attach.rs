//! Hijacked connections: attach, exec and resize. A handler asks the backend for a
//! [`Hijack`] first (so a missing container or a bad parameter is an ordinary error
//! response), then answers `101`/`200` and hands the raw connection to [`Hijack::session`].

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// The raw client connection once the HTTP response head is written.
pub trait HijackedIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> HijackedIo for T {}

pub type Hijacked = Box<dyn HijackedIo>;
pub type SessionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A stream session ready to run on the hijacked connection.
pub struct Hijack {
    /// Raw TTY bytes (true) or stdcopy frames (false); picks the content type.
    pub tty: bool,
    /// Runs the session; returns when it ends (the connection is then closed).
    pub session: Box<dyn FnOnce(Hijacked) -> SessionFuture + Send>,
}

/// `POST /containers/{id}/attach` parameters.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Docker's `ctrl-p,ctrl-q` notation; empty for the default.
    pub detach_keys: String,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `POST /containers/{id}/exec` body (moby's `ExecConfig`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub console_size: Option<[u32; 2]>,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    pub detach: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub detach_keys: String,
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub working_dir: String,
    #[serde(deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
}

/// `POST /exec/{id}/start` body (moby's `ExecStartCheck`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    pub detach: bool,
    pub tty: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub console_size: Option<[u32; 2]>,
}

/// `{"Id": ...}`, the answer to exec create.
#[derive(Debug, Clone, Serialize)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// `ProcessConfig` of exec inspect (moby's `ExecProcessConfig`).
#[derive(Debug, Clone, Serialize)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    /// `null` until the process has exited.
    pub exit_code: Option<i64>,
    pub process_config: ExecProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub detach_keys: String,
    pub pid: u32,
}

/// Attach, exec and resize: the endpoints that hijack the connection or talk to a TTY.
pub trait StreamBackend: Send + Sync + 'static {
    /// Checks the request and prepares the session; attaching to a container that is not
    /// running waits for its next start, so nothing it prints is missed.
    fn attach_container(
        &self,
        name: &str,
        options: AttachOptions,
    ) -> impl Future<Output = Result<Hijack, ApiError>> + Send;

    fn resize_container(
        &self,
        name: &str,
        height: u32,
        width: u32,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Registers an exec instance; returns its id.
    fn create_exec(
        &self,
        name: &str,
        config: ExecConfig,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;

    /// Starts an exec: detached (None) or with a session for the hijacked connection.
    fn start_exec(
        &self,
        id: &str,
        config: ExecStartConfig,
    ) -> impl Future<Output = Result<Option<Hijack>, ApiError>> + Send;

    fn inspect_exec(&self, id: &str) -> impl Future<Output = Result<ExecInspect, ApiError>> + Send;

    fn resize_exec(
        &self,
        id: &str,
        height: u32,
        width: u32,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}
