//! `berth`: the CLI. Parses Docker's flags, finds the daemon, negotiates the API version,
//! runs one command, and exits with Docker's codes (125 when the daemon or the flags fail).

mod cli;
mod commands;
mod format;
mod opts;
mod output;
mod stream;
mod tty;

use berth_client::{Client, ClientError, Endpoint, TlsOptions};
use clap::Parser;
use std::process::ExitCode;

/// Exit code for failures of the CLI or the daemon (not of a container), as Docker's.
const EXIT_DAEMON_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let usage_error = err.use_stderr();
            let _ = err.print();
            return if usage_error {
                ExitCode::from(EXIT_DAEMON_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("berth: starting the async runtime: {err}");
            return ExitCode::from(EXIT_DAEMON_ERROR);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            match err.downcast_ref::<ClientError>() {
                Some(client) => eprintln!("{client}"),
                None => eprintln!("berth: {err:#}"),
            }
            ExitCode::from(EXIT_DAEMON_ERROR)
        }
    };
    // A thread blocked reading stdin must not hold the exit.
    runtime.shutdown_background();
    code
}

async fn connect(global: &cli::Global) -> anyhow::Result<Client> {
    let cert_path =
        std::env::var_os("BERTH_CERT_PATH").or_else(|| std::env::var_os("DOCKER_CERT_PATH"));
    let in_cert_path = |name: &str| {
        cert_path
            .as_ref()
            .map(|dir| std::path::Path::new(dir).join(name))
    };
    let verify =
        global.tlsverify || std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    let tls = TlsOptions {
        verify,
        ca: global.tlscacert.clone().or_else(|| in_cert_path("ca.pem")),
        cert: global.tlscert.clone().or_else(|| in_cert_path("cert.pem")),
        key: global.tlskey.clone().or_else(|| in_cert_path("key.pem")),
    };
    let endpoint = Endpoint::resolve(global.host.as_deref(), verify || global.tls)?;
    let mut client = Client::new(endpoint, &tls)?;
    client.negotiate().await?;
    Ok(client)
}

async fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    use cli::{Command, ContainerCommand as C, ImageCommand, SystemCommand};
    use commands::{containers, images, ops};
    if let Command::Version(args) = cli.command {
        return commands::system::version(&cli.global, args).await;
    }
    let client = connect(&cli.global).await?;
    let client = &client;
    match cli.command {
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            images::images(client, args).await
        }
        Command::Image(ImageCommand::Inspect(args)) => images::inspect(client, args).await,
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            images::history(client, args).await
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            images::tag(client, args).await
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            images::rmi(client, args).await
        }
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            images::save(client, args).await
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            images::load(client, args).await
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            images::import(client, args).await
        }
        Command::Image(ImageCommand::Prune(args)) => images::prune(client, args).await,
        Command::Version(_) => unreachable!("handled above: version works without a daemon"),
        Command::Info(args) | Command::System(SystemCommand::Info(args)) => {
            commands::system::info(client, args).await
        }
        Command::Events(args) | Command::System(SystemCommand::Events(args)) => {
            commands::system::events(client, args).await
        }
        Command::System(SystemCommand::Df(args)) => commands::system::df(client, args).await,
        Command::Run(args) | Command::Container(C::Run(args)) => {
            containers::run(client, args).await
        }
        Command::Create(args) | Command::Container(C::Create(args)) => {
            containers::create(client, args).await
        }
        Command::Start(args) | Command::Container(C::Start(args)) => {
            containers::start(client, args).await
        }
        Command::Stop(args) | Command::Container(C::Stop(args)) => {
            containers::stop(client, args, false).await
        }
        Command::Restart(args) | Command::Container(C::Restart(args)) => {
            containers::stop(client, args, true).await
        }
        Command::Kill(args) | Command::Container(C::Kill(args)) => {
            containers::kill(client, args).await
        }
        Command::Wait(args) | Command::Container(C::Wait(args)) => {
            containers::wait(client, args).await
        }
        Command::Attach(args) | Command::Container(C::Attach(args)) => {
            containers::attach(client, args).await
        }
        Command::Logs(args) | Command::Container(C::Logs(args)) => {
            containers::logs(client, args).await
        }
        Command::Exec(args) | Command::Container(C::Exec(args)) => {
            containers::exec(client, args).await
        }
        Command::Rm(args) | Command::Container(C::Rm(args)) => containers::rm(client, args).await,
        Command::Ps(args) | Command::Container(C::Ls(args)) => containers::ps(client, args).await,
        Command::Inspect(args) => containers::inspect(client, args).await,
        Command::Container(C::Inspect(args)) => containers::container_inspect(client, args).await,
        Command::Rename(args) | Command::Container(C::Rename(args)) => {
            containers::rename(client, args).await
        }
        Command::Pause(args) | Command::Container(C::Pause(args)) => {
            ops::pause(client, args, "pause").await
        }
        Command::Unpause(args) | Command::Container(C::Unpause(args)) => {
            ops::pause(client, args, "unpause").await
        }
        Command::Top(args) | Command::Container(C::Top(args)) => ops::top(client, args).await,
        Command::Diff(args) | Command::Container(C::Diff(args)) => ops::diff(client, args).await,
        Command::Export(args) | Command::Container(C::Export(args)) => {
            ops::export(client, args).await
        }
        Command::Commit(args) | Command::Container(C::Commit(args)) => {
            ops::commit(client, args).await
        }
        Command::Update(args) | Command::Container(C::Update(args)) => {
            ops::update(client, args).await
        }
        Command::Container(C::Prune(args)) => ops::prune(client, args).await,
        Command::Stats(args) | Command::Container(C::Stats(args)) => {
            commands::stats::stats(client, args).await
        }
        Command::Cp(args) | Command::Container(C::Cp(args)) => commands::cp::cp(client, args).await,
    }
}
