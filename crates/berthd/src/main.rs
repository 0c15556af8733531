//! berthd: reads its configuration, takes the data-root lock, opens its listeners and serves
//! the Docker Engine API until SIGTERM or SIGINT; SIGHUP reloads what is reloadable.

mod config;
mod exec_root;
mod hosts;
mod logging;

use anyhow::{bail, Context};
use berth_engine::{DataRootLock, Engine, EngineConfig};
use berth_server::{serve, Listener, ServerSettings, TlsFiles};
use config::Settings;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn main() {
    let (cli, settings) = match config::load() {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("berthd: {err}");
            std::process::exit(1);
        }
    };
    if cli.validate {
        println!("configuration OK");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("starting the async runtime");
    if let Err(err) = runtime.block_on(run(cli, settings)) {
        eprintln!("berthd: {err:#}");
        std::process::exit(1);
    }
}

/// Creates a directory (and parents) and sets its mode, so host users cannot traverse
/// container state (CVE-2021-41091).
fn make_private_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

async fn open_listeners(
    cli: &config::Cli,
    settings: &Settings,
) -> anyhow::Result<(Vec<Listener>, Vec<String>)> {
    let tlsverify = settings.tlsverify.unwrap_or(false);
    let tls_files = match (&settings.tlscacert, &settings.tlscert, &settings.tlskey) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ if tlsverify => bail!(hosts::HostError::MissingTlsFiles),
        _ => None,
    };
    let host_texts = host_texts(settings);
    let mut listeners = Vec::new();
    let mut warnings = Vec::new();
    for text in &host_texts {
        let host = hosts::parse(text, tlsverify)?;
        if let Some(warning) = hosts::check_policy(&host, tlsverify, cli.insecure_tcp)? {
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        let listener = match host {
            hosts::Host::Unix(path) => Listener::unix(&path)?,
            hosts::Host::Tcp { address, port } => {
                let tls = if tlsverify { tls_files.as_ref() } else { None };
                Listener::tcp(&format!("{address}:{port}"), tls).await?
            }
        };
        tracing::info!(host = %text, "API listening");
        listeners.push(listener);
    }
    Ok((listeners, warnings))
}

/// The `-H` addresses; without any, the socket `berth.sock` in the exec root (by default
/// /run/berth/berth.sock).
fn host_texts(settings: &Settings) -> Vec<String> {
    if settings.hosts.is_empty() {
        vec![format!(
            "unix://{}",
            settings.exec_root().join("berth.sock").display()
        )]
    } else {
        settings.hosts.clone()
    }
}

/// The UNIX sockets this daemon listens on, to remove them when it stops.
fn unix_socket_paths(settings: &Settings) -> Vec<std::path::PathBuf> {
    host_texts(settings)
        .iter()
        .filter_map(|h| h.strip_prefix("unix://").map(Into::into))
        .collect()
}

fn engine_config(settings: &Settings, warnings: Vec<String>) -> EngineConfig {
    EngineConfig {
        data_root: settings.data_root(),
        exec_root: settings.exec_root(),
        debug: settings.debug(),
        labels: settings.labels.clone(),
        live_restore: settings.live_restore(),
        log_driver: settings.log_driver(),
        default_address_pools: settings.address_pools(),
        insecure_registries: settings.insecure_registries.clone(),
        registry_mirrors: settings.registry_mirrors.clone(),
        warnings,
    }
}

async fn run(cli: config::Cli, settings: Settings) -> anyhow::Result<()> {
    let log = logging::init(&settings)?;
    // Handlers go in before the socket opens: a SIGHUP that arrives as soon as clients can
    // connect must reload, not kill (the default action).
    let signals = Signals::install()?;
    let data_root = settings.data_root();
    let exec_root = settings.exec_root();
    make_private_dir(&data_root, 0o710)?;
    // The API socket lives here by default, so group members must be able to traverse it.
    make_private_dir(&exec_root, 0o711)?;
    let _lock = DataRootLock::acquire(&data_root)?;
    if let Err(err) = exec_root::ensure_tmpfs(&exec_root, 0o711) {
        tracing::warn!(error = format!("{err:#}"), "the exec root stays on disk");
    }
    let result = run_locked(cli, settings, signals, &log).await;
    exec_root::release_tmpfs(&exec_root);
    result
}

/// The daemon's life once it holds the data root.
async fn run_locked(
    cli: config::Cli,
    settings: Settings,
    signals: Signals,
    log: &logging::LogHandle,
) -> anyhow::Result<()> {
    let data_root = settings.data_root();
    let id = berth_engine::identity::load_or_create(&data_root)?;
    // Opening the store also sweeps what a crash left half-done, so it comes before the
    // sockets: a client never reaches a store that is still being repaired.
    let data_root_for_store = data_root.clone();
    let images = tokio::task::spawn_blocking(move || {
        berth_image::ImageStore::open(&data_root_for_store, berth_image::Limits::default())
    })
    .await
    .context("opening the image store")?
    .context("opening the image store")?;
    let (listeners, warnings) = open_listeners(&cli, &settings).await?;
    let cgroups = match berth_cgroups::CgroupSetup::detect() {
        Ok(setup) => Some(setup),
        Err(err) => {
            tracing::warn!(error = %err, "no usable cgroup hierarchy; resource limits are unavailable");
            None
        }
    };
    let engine = Arc::new(
        Engine::new(
            engine_config(&settings, warnings.clone()),
            id,
            cgroups,
            images,
        )
        .context("loading the container records")?,
    );
    // Containers outlive the daemon (their shims keep them); watch the running ones again.
    engine.restore_containers();
    let shutdown = CancellationToken::new();
    let server_settings = ServerSettings {
        server_header: format!("Berth/{} (linux)", berth_engine::VERSION),
        json_limit: berth_server::body::DEFAULT_JSON_LIMIT,
        shutdown: shutdown.clone(),
        drain_timeout: Duration::from_secs(settings.shutdown_timeout.unwrap_or(15)),
    };
    let server = tokio::spawn(serve(listeners, engine.clone(), server_settings));
    tracing::info!(data_root = %data_root.display(), pid = std::process::id(), "berthd started");
    handle_signals(signals, &cli, &engine, log, warnings).await?;
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    shutdown.cancel();
    server.await.context("waiting for the server to stop")?;
    for path in unix_socket_paths(&settings) {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("berthd stopped");
    Ok(())
}

/// Waits for SIGTERM/SIGINT; on SIGHUP re-reads the configuration and applies the
/// reloadable parts (log level, debug, labels, live restore, registries).
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

async fn handle_signals(
    mut signals: Signals,
    cli: &config::Cli,
    engine: &Engine,
    log: &logging::LogHandle,
    warnings: Vec<String>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = signals.terminate.recv() => return Ok(()),
            _ = signals.interrupt.recv() => return Ok(()),
            _ = signals.hangup.recv() => {
                use clap::CommandFactory;
                let matches = config::Cli::command().get_matches();
                match config::load_with(cli, &matches) {
                    Ok(settings) => {
                        if let Err(err) = log.set_filter(&settings) {
                            tracing::error!(error = %err, "reload: log level not applied");
                        }
                        let mut config = engine_config(&settings, warnings.clone());
                        // Roots and listeners are not reloadable: keep the running ones.
                        let running = engine.config();
                        config.data_root = running.data_root;
                        config.exec_root = running.exec_root;
                        engine.reload(config);
                        tracing::info!("configuration reloaded");
                    }
                    Err(err) => tracing::error!(error = %err, "reload failed; keeping the running configuration"),
                }
            }
        }
    }
}
