//! Connections and requests. A finished connection is kept and reused for the next request
//! (the docker CLI's keep-alive), so a command's requests share one socket unless one of
//! them is still streaming (a `wait` held open while `start` goes out).

use crate::endpoint::{Endpoint, TlsOptions};
use berth_api::error::ErrorBody;
use berth_api::ApiVersion;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};

type Sender = hyper::client::conn::http1::SendRequest<RequestBody>;

pub type RequestBody = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the Berth daemon at {endpoint}. Is the daemon running?")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("{0}")]
    Io(String),
    #[error("decoding the daemon's response: {0}")]
    Decode(#[from] serde_json::Error),
}

/// A connected byte stream to the daemon (UNIX socket, TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A client bound to one daemon and one API version.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    version: ApiVersion,
    /// Connections whose last exchange may be finished, for reuse.
    idle: Arc<Mutex<Vec<Sender>>>,
}

impl Client {
    pub fn new(endpoint: Endpoint, tls: &TlsOptions) -> Result<Client, ClientError> {
        let tls = match endpoint {
            Endpoint::Tcp { tls: true, .. } => Some(Arc::new(tls_config(tls)?)),
            _ => None,
        };
        Ok(Client {
            endpoint,
            tls,
            version: ApiVersion::MAX,
            idle: Arc::default(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn version(&self) -> ApiVersion {
        self.version
    }

    /// Picks the API version as the docker CLI does: `BERTH_API_VERSION` or
    /// `DOCKER_API_VERSION` when set, else the lower of ours and the daemon's `API-Version`.
    pub async fn negotiate(&mut self) -> Result<(), ClientError> {
        for name in ["BERTH_API_VERSION", "DOCKER_API_VERSION"] {
            if let Some(v) = std::env::var(name).ok().and_then(|v| v.parse().ok()) {
                self.version = v;
                return Ok(());
            }
        }
        // HEAD, as docker/cli pings: the headers are all it needs.
        let response = self.send_unversioned(Method::HEAD, "/_ping").await?;
        let server = response
            .headers()
            .get("API-Version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<ApiVersion>().ok());
        if let Some(server) = server {
            self.version = server.min(ApiVersion::MAX);
        }
        Ok(())
    }

    /// Sets the API version without asking the daemon.
    pub fn set_version(&mut self, version: ApiVersion) {
        self.version = version;
    }

    /// The `Host` header value for this endpoint.
    pub(crate) fn host_header(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix(_) => "localhost".to_string(),
            Endpoint::Tcp { host, port, .. } => format!("{host}:{port}"),
        }
    }

    /// A kept connection that is ready for a new request, if any. A connection whose
    /// response body was just read may need its task to run once before it says so.
    async fn take_idle(&self) -> Option<Sender> {
        for attempt in 0..2 {
            let mut waiting = false;
            {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.retain(|s| !s.is_closed());
                if let Some(i) = idle.iter().position(Sender::is_ready) {
                    return Some(idle.swap_remove(i));
                }
                waiting |= !idle.is_empty();
            }
            if !waiting || attempt == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        None
    }

    pub(crate) async fn connect(&self) -> Result<Box<dyn Io>, ClientError> {
        let connect_err = |source| ClientError::Connect {
            endpoint: self.endpoint.to_string(),
            source,
        };
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect_err)?;
                Ok(Box::new(stream))
            }
            Endpoint::Tcp { host, port, .. } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect_err)?;
                let Some(config) = &self.tls else {
                    return Ok(Box::new(stream));
                };
                let name = ServerName::try_from(host.clone())
                    .map_err(|err| ClientError::Tls(err.to_string()))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = connector.connect(name, stream).await.map_err(connect_err)?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Sends a request to an unversioned path (only `/_ping` uses this).
    async fn send_unversioned(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send_raw(method, path, None, empty_body()).await
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: RequestBody,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = match self.take_idle().await {
            Some(sender) => sender,
            None => {
                let io = self.connect().await?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                sender
            }
        };
        let host = self.host_header();
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host)
            .header(
                http::header::USER_AGENT,
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(content_type) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(body)
            .expect("a request built from valid parts");
        let response = sender.send_request(request).await?;
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok(response)
    }

    /// Sends a request to `/vX.Y{path_and_query}`; a non-2xx status becomes
    /// `ClientError::Daemon` with the daemon's message.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Response<Incoming>, ClientError> {
        let (content_type, body) = match json {
            Some(value) => (
                Some("application/json"),
                full_body(serde_json::to_vec(value)?),
            ),
            None => (None, empty_body()),
        };
        let path = format!("/v{}{}", self.version, path_and_query);
        let response = self.send_raw(method, &path, content_type, body).await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        Err(daemon_error(response).await)
    }

    /// Sends a streamed request body (image load and import, archive uploads).
    pub async fn send_stream(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: &str,
        body: impl tokio::io::AsyncRead + Send + Sync + 'static,
    ) -> Result<Response<Incoming>, ClientError> {
        use futures_util::TryStreamExt;
        let frames = tokio_util::io::ReaderStream::new(body).map_ok(hyper::body::Frame::data);
        let body = http_body_util::StreamBody::new(frames).boxed();
        let path = format!("/v{}{}", self.version, path_and_query);
        let response = self
            .send_raw(method, &path, Some(content_type), body)
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(daemon_error(response).await)
    }

    /// Sends a request and decodes a JSON answer.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let response = self.send(method, path_and_query, json).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, ClientError> {
        let response = self.send(Method::GET, path_and_query, None).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Starts a streaming GET; read it with [`ResponseStream::next_line`].
    pub async fn stream(&self, path_and_query: &str) -> Result<ResponseStream, ClientError> {
        let response = self.send(Method::GET, path_and_query, None).await?;
        Ok(ResponseStream {
            body: response.into_body(),
            buffer: Vec::new(),
        })
    }
}

/// A streamed response body read line by line (events, progress messages, logs).
pub struct ResponseStream {
    body: Incoming,
    buffer: Vec<u8>,
}

impl ResponseStream {
    pub fn new(response: Response<Incoming>) -> ResponseStream {
        ResponseStream {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// The next chunk of raw bytes; None at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        if !self.buffer.is_empty() {
            return Ok(Some(Bytes::from(std::mem::take(&mut self.buffer))));
        }
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The next newline-terminated line without its newline; None at the end of the stream
    /// (a last unterminated line is returned too).
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(Some(line[..line.len() - 1].to_vec()));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                None if self.buffer.is_empty() => return Ok(None),
                None => return Ok(Some(std::mem::take(&mut self.buffer))),
            }
        }
    }
}

pub(crate) async fn daemon_error(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let bytes = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return ClientError::Http(err),
    };
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|body| body.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
    ClientError::Daemon { status, message }
}

fn empty_body() -> RequestBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn full_body(bytes: Vec<u8>) -> RequestBody {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

fn tls_config(options: &TlsOptions) -> Result<rustls::ClientConfig, ClientError> {
    let err = |what: &str, e: &dyn std::fmt::Display| ClientError::Tls(format!("{what}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &options.ca {
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| err("reading the CA", &e))? {
            roots
                .add(cert.map_err(|e| err("reading the CA", &e))?)
                .map_err(|e| err("adding the CA", &e))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions", &e))?
        .with_root_certificates(roots);
    match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(|e| err("reading the certificate", &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("reading the certificate", &e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| err("reading the key", &e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| err("client certificate", &e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TlsOptions;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A fake daemon answering every request `{}` with keep-alive; counts connections.
    async fn counting_daemon() -> (tempfile::TempDir, Client, Arc<AtomicUsize>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut head = true;
                    let mut hold = false;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line.starts_with("HEAD ") {
                            head = true;
                        } else if line.contains(" HTTP/1.1") {
                            head = false;
                            hold = line.contains("/hold");
                        }
                        if line != "\r\n" {
                            continue;
                        }
                        if hold {
                            // Headers now, the body never (a `wait` in progress).
                            let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                            reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
                            continue;
                        }
                        let mut answer = "HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n".to_string();
                        if !head {
                            answer.push_str("{}");
                        }
                        reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        let client = Client::new(Endpoint::Unix(socket), &TlsOptions::default()).unwrap();
        (dir, client, connections)
    }

    #[tokio::test]
    async fn a_command_reuses_one_connection() {
        let (_dir, mut client, connections) = counting_daemon().await;
        client.negotiate().await.unwrap();
        assert_eq!(client.version().to_string(), "1.45");
        for _ in 0..3 {
            let _: serde_json::Value = client.get_json("/info").await.unwrap();
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        // A response still being read keeps its connection busy: the next request opens
        // another one instead of waiting.
        let held = client.send(Method::GET, "/hold", None).await.unwrap();
        let _: serde_json::Value = client.get_json("/info").await.unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        drop(held);
    }
}
