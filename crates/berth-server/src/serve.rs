//! Accepting connections and dispatching requests. Each connection is served by hyper's
//! HTTP/1.1 server with upgrades enabled (attach and exec hijack the connection). Shutdown
//! stops accepting at once and gives in-flight requests a bounded time to finish.

use crate::errors::page_not_found;
use crate::handlers::{attach, containers, exec, images, operations, stats_archive, swarm, system};
use crate::listen::{Connection, Listener};
use crate::response::{self, ApiResponse};
use crate::router::{parse_path, route, ContainerAction, Query, Route};
use berth_api::{ApiError, ApiVersion, Backend};
use http::{HeaderValue, Request};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How the server behaves, independent of the backend.
#[derive(Clone)]
pub struct ServerSettings {
    /// The `Server` header on every response, e.g. `Berth/0.1.0 (linux)`.
    pub server_header: String,
    /// The bound on JSON request bodies.
    pub json_limit: usize,
    /// Cancelled to begin a graceful shutdown.
    pub shutdown: CancellationToken,
    /// How long in-flight requests may run after shutdown begins.
    pub drain_timeout: Duration,
}

/// Serves every listener until `settings.shutdown` is cancelled, then drains.
pub async fn serve<B: Backend>(
    listeners: Vec<Listener>,
    backend: Arc<B>,
    settings: ServerSettings,
) {
    let connections = TaskTracker::new();
    let mut accept_loops = tokio::task::JoinSet::new();
    for listener in listeners {
        let backend = backend.clone();
        let settings = settings.clone();
        let connections = connections.clone();
        accept_loops.spawn(accept_loop(listener, backend, settings, connections));
    }
    settings.shutdown.cancelled().await;
    accept_loops.shutdown().await;
    connections.close();
    if tokio::time::timeout(settings.drain_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?settings.drain_timeout,
            "in-flight requests did not finish in time; closing them"
        );
    }
}

async fn accept_loop<B: Backend>(
    listener: Listener,
    backend: Arc<B>,
    settings: ServerSettings,
    connections: TaskTracker,
) {
    loop {
        let connection = match listener.accept().await {
            Ok(connection) => connection,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                // Back off a little so a persistent failure (EMFILE) does not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let backend = backend.clone();
        let settings = settings.clone();
        connections.spawn(async move {
            let io = match connection {
                Connection::Plain(stream) => stream,
                Connection::Handshake(handshake) => match handshake.await {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::info!(error = %err, "TLS handshake refused");
                        return;
                    }
                },
            };
            serve_connection(io, backend, settings).await;
        });
    }
}

/// Serves one connection; once shutdown begins, the connection finishes its current request
/// and closes instead of waiting for the next one.
async fn serve_connection<B: Backend>(
    io: crate::listen::BoxedStream,
    backend: Arc<B>,
    settings: ServerSettings,
) {
    let shutdown = settings.shutdown.clone();
    let io = tokio::select! {
        io = crate::hijack::prepare(io) => io,
        _ = shutdown.cancelled() => return,
    };
    let service = service_fn(move |request| {
        let backend = backend.clone();
        let settings = settings.clone();
        async move { Ok::<_, Infallible>(dispatch(request, backend, &settings).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Routes one request and stamps the headers every response carries.
pub async fn dispatch<B: Backend>(
    request: Request<Incoming>,
    backend: Arc<B>,
    settings: &ServerSettings,
) -> ApiResponse {
    let span =
        tracing::debug_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let mut response = match handle(request, backend, settings).await {
            Ok(response) => response,
            Err(err) => {
                tracing::debug!(message = %err.message, "request failed");
                response::error(&err)
            }
        };
        let headers = response.headers_mut();
        if let Ok(server) = HeaderValue::from_str(&settings.server_header) {
            headers.insert(http::header::SERVER, server);
        }
        let api_version = HeaderValue::from_str(&ApiVersion::MAX.to_string());
        if let Ok(api_version) = api_version {
            headers.insert("API-Version", api_version);
        }
        headers.insert("OSType", HeaderValue::from_static("linux"));
        tracing::debug!(status = response.status().as_u16(), "responded");
        response
    }
    .instrument(span)
    .await
}

async fn handle<B: Backend>(
    request: Request<Incoming>,
    backend: Arc<B>,
    settings: &ServerSettings,
) -> Result<ApiResponse, ApiError> {
    let parsed = parse_path(request.uri().path()).ok_or_else(page_not_found)?;
    let version = ApiVersion::negotiate(parsed.version.as_deref())?;
    let found = route(request.method(), &parsed.segments).ok_or_else(page_not_found)?;
    let query = Query::parse(request.uri().query());
    match found {
        Route::Ping { head } => Ok(system::ping(&*backend, head)),
        Route::Version => Ok(system::version(&*backend)),
        Route::Info => system::info(&*backend).await,
        Route::SystemDf => system::disk_usage(&*backend, version, &query).await,
        Route::Events => system::events(backend, version, &query, settings.shutdown.clone()),
        Route::Swarm(which) => swarm::swarm(which, request.into_body(), settings.json_limit).await,
        Route::PluginList => Ok(swarm::plugin_list()),
        Route::PluginInspect(name) => Err(swarm::plugin_inspect(&name)),
        Route::PluginUnsupported => Err(swarm::plugin_unsupported()),
        Route::ImageList => images::list(&*backend, &query).await,
        Route::ImageInspect(name) => images::inspect(&*backend, &name).await,
        Route::ImageHistory(name) => images::history(&*backend, &name).await,
        Route::ImageTag(name) => images::tag(&*backend, &name, &query).await,
        Route::ImageDelete(name) => images::delete(&*backend, &name, &query).await,
        Route::ImagePrune => images::prune(&*backend, &query).await,
        Route::ImageCreate => images::create(&*backend, &query, request.into_body()).await,
        Route::ImageLoad => images::load(&*backend, &query, request.into_body()).await,
        Route::ImageSaveMany => images::save(&*backend, query.get_all("names").to_vec()).await,
        Route::ImageSave(name) => images::save(&*backend, vec![name]).await,
        Route::ContainerCreate => {
            containers::create(&*backend, &query, request.into_body(), settings.json_limit).await
        }
        Route::ContainerList => containers::list(&*backend, &query).await,
        Route::ContainerPrune => operations::prune(&*backend, &query).await,
        Route::Commit => {
            operations::commit(&*backend, &query, request.into_body(), settings.json_limit).await
        }
        Route::Container(id, ContainerAction::Update) => {
            let limit = settings.json_limit;
            operations::update(&*backend, &id, request.into_body(), limit).await
        }
        Route::Container(id, ContainerAction::Attach) => {
            attach::attach(&*backend, &id, &query, version, request).await
        }
        Route::Container(id, ContainerAction::Resize) => {
            attach::resize(&*backend, &id, &query).await
        }
        Route::Container(id, ContainerAction::ExecCreate) => {
            exec::create(&*backend, &id, request.into_body(), settings.json_limit).await
        }
        Route::Container(id, ContainerAction::ArchivePut) => {
            stats_archive::archive_put(&*backend, &id, &query, request.into_body()).await
        }
        Route::Exec(id, action) => {
            let limit = settings.json_limit;
            exec::exec(&*backend, &id, action, &query, version, request, limit).await
        }
        Route::Container(id, action) => container(&*backend, &id, action, &query).await,
    }
}

async fn container<B: Backend>(
    backend: &B,
    id: &str,
    action: ContainerAction,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    match action {
        ContainerAction::Start => containers::start(backend, id).await,
        ContainerAction::Wait => containers::wait(backend, id, query).await,
        ContainerAction::Kill => containers::kill(backend, id, query).await,
        ContainerAction::Stop => containers::stop(backend, id, query).await,
        ContainerAction::Restart => containers::restart(backend, id, query).await,
        ContainerAction::Rename => containers::rename(backend, id, query).await,
        ContainerAction::Remove => containers::remove(backend, id, query).await,
        ContainerAction::Inspect => containers::inspect(backend, id, query).await,
        ContainerAction::Logs => containers::logs(backend, id, query).await,
        ContainerAction::Pause | ContainerAction::Unpause | ContainerAction::Top => {
            operations::container(backend, id, action, query).await
        }
        ContainerAction::Changes | ContainerAction::Export => {
            operations::container(backend, id, action, query).await
        }
        ContainerAction::Stats => stats_archive::stats(backend, id, query).await,
        ContainerAction::ArchiveGet => stats_archive::archive_get(backend, id, query).await,
        ContainerAction::ArchiveHead => stats_archive::archive_head(backend, id, query).await,
        // Routed in `handle`: they need the whole request.
        ContainerAction::Attach
        | ContainerAction::Resize
        | ContainerAction::ExecCreate
        | ContainerAction::Update
        | ContainerAction::ArchivePut => Err(page_not_found()),
    }
}
