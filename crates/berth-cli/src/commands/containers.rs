//! Container commands: run, create, start, stop, kill, restart, wait, attach, logs, exec,
//! rm, ps, inspect, rename; Docker's flags, output, messages and exit codes.

use crate::cli::{
    AttachArgs, ContainerInspectArgs, ContainerOptions, ContainersArgs, CreateArgs, ExecArgs,
    GenericInspectArgs, KillArgs, LogsArgs, PsArgs, RenameArgs, RmArgs, RunArgs, StartArgs,
    StopArgs,
};
use crate::format::{print_one, render};
use crate::opts;
use crate::output::{ellipsis, human_duration_since, human_size, short_id};
use crate::stream::{self, StreamEnd, StreamOptions, DEFAULT_DETACH_KEYS};
use crate::tty::{self, RawTerminal};
use berth_api::models::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerSummary, EmptyObject, HostConfig, NetworkingConfig,
};
use berth_client::stdcopy::{Demuxer, StdStream};
use berth_client::{Client, ClientError, ResponseStream};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit code when the daemon or the flags fail (`docker run`).
const EXIT_RUN_FAILED: u8 = 125;

fn code(n: i64) -> ExitCode {
    ExitCode::from((n & 0xff) as u8)
}

pub(crate) fn encode(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    query.finish()
}

pub(crate) fn escape(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

/// docker/cli's `reportError` for run and create: `berth: MESSAGE.` and where to get help.
fn report_error(command: &str, message: &str, with_help: bool) {
    let message = message.trim_end_matches('.');
    if with_help {
        eprintln!("berth: {message}\n\nRun 'berth {command} --help' for more information");
    } else {
        eprintln!("berth: {message}");
    }
}

/// docker/cli's `runStartContainerErr`: 127 when the command is not found, 126 when it
/// cannot be invoked, 125 otherwise.
pub fn start_error_code(message: &str) -> u8 {
    let message = message
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(message);
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        EXIT_RUN_FAILED
    }
}

/// What `run`/`create` send: the create body, and the name and platform query values.
pub struct CreatePlan {
    pub request: ContainerCreateRequest,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub pull: String,
    pub quiet: bool,
}

/// Translates the flags into a create request as docker/cli's `parse` does. Errors are
/// flag errors (exit 125).
pub fn plan(options: &ContainerOptions, detach: bool) -> Result<CreatePlan, String> {
    if !matches!(options.pull.as_str(), "always" | "missing" | "never") {
        return Err(format!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            options.pull
        ));
    }
    let flag = |name: &str, value: &str, err: String| {
        format!("invalid argument \"{value}\" for \"{name}\" flag: {err}")
    };
    let (image, command) = options
        .args
        .split_first()
        .ok_or_else(|| "requires at least 1 argument".to_string())?;
    if image.starts_with('-') {
        return Err(format!("unknown flag: {image}"));
    }
    let mut attach: Vec<String> = Vec::new();
    for stream in &options.attach {
        let lower = stream.to_ascii_lowercase();
        if !matches!(lower.as_str(), "stdin" | "stdout" | "stderr") {
            return Err(flag(
                "-a, --attach",
                stream,
                "valid streams are STDIN, STDOUT and STDERR".to_string(),
            ));
        }
        attach.push(lower);
    }
    let mut attach_stdin = attach.iter().any(|s| s == "stdin");
    let (mut attach_stdout, mut attach_stderr) = if attach.is_empty() {
        (true, true)
    } else {
        (
            attach.iter().any(|s| s == "stdout"),
            attach.iter().any(|s| s == "stderr"),
        )
    };
    if options.interactive {
        attach_stdin = true;
    }
    let mut stdin_once = attach_stdin;
    if detach {
        attach_stdin = false;
        attach_stdout = false;
        attach_stderr = false;
        stdin_once = false;
    }
    let env = opts::read_env(&options.env_file, &options.env)?;
    for entry in &options.env {
        opts::env_entry(entry).map_err(|e| flag("-e, --env", entry, e))?;
    }
    let mut labels = opts::read_labels(&options.label_file, &options.label)?;
    // Beyond Docker, carried as a label so the docker CLI can ask for it too.
    if let Some(action) = &options.health_on_failure {
        labels.insert("berth.health-on-failure".into(), action.clone());
    }
    let size = |name: &str, value: &Option<String>| -> Result<i64, String> {
        match value {
            Some(v) => opts::ram_in_bytes(v).map_err(|e| flag(name, v, e)),
            None => Ok(0),
        }
    };
    let memory = size("-m, --memory", &options.memory)?;
    let memory_reservation = size("--memory-reservation", &options.memory_reservation)?;
    let shm_size = size("--shm-size", &options.shm_size)?;
    let memory_swap = match &options.memory_swap {
        Some(v) => opts::memory_swap(v).map_err(|e| flag("--memory-swap", v, e))?,
        None => 0,
    };
    let nano_cpus = match &options.cpus {
        Some(v) => opts::nano_cpus(v).map_err(|e| flag("--cpus", v, e))?,
        None => 0,
    };
    let mut ulimits = Vec::new();
    for u in &options.ulimit {
        ulimits.push(opts::ulimit(u).map_err(|e| flag("--ulimit", u, e))?);
    }
    let restart_policy = opts::restart_policy(&options.restart)?;
    if options.rm && !matches!(restart_policy.name.as_str(), "" | "no") {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    let mut devices = Vec::new();
    for d in &options.device {
        devices.push(opts::device(d)?);
    }
    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &options.volume {
        match opts::volume(v)? {
            opts::VolumeSpec::Anonymous(path) => {
                volumes.insert(path, EmptyObject {});
            }
            opts::VolumeSpec::Bind(spec) => binds.push(spec),
        }
    }
    let tmpfs: BTreeMap<String, String> = options.tmpfs.iter().map(|t| opts::tmpfs(t)).collect();
    let mut sysctls = BTreeMap::new();
    for s in &options.sysctl {
        let (k, v) = opts::sysctl(s).map_err(|e| flag("--sysctl", s, e))?;
        sysctls.insert(k, v);
    }
    let mut log_options = BTreeMap::new();
    for o in &options.log_opt {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| format!("invalid key-value pair format in driver options: {o}"))?;
        log_options.insert(k.to_string(), v.to_string());
    }
    let exposed: BTreeMap<String, EmptyObject> = options
        .expose
        .iter()
        .map(|p| {
            let port = if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            };
            (port, EmptyObject {})
        })
        .collect();
    if !options.publish.is_empty() {
        return Err(
            "publishing ports (-p) needs bridge networking, which berth does not have yet".into(),
        );
    }
    let entrypoint = options.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            vec![String::new()]
        } else {
            vec![e.clone()]
        }
    });
    let network_mode = options
        .network
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let mut endpoints = BTreeMap::new();
    if !matches!(network_mode.as_str(), "none" | "host") && !network_mode.starts_with("container:")
    {
        endpoints.insert(network_mode.clone(), Some(Default::default()));
    }
    let healthcheck = health_config(options)?;
    let config = ContainerConfig {
        healthcheck,
        hostname: options.hostname.clone().unwrap_or_default(),
        domainname: options.domainname.clone().unwrap_or_default(),
        user: options.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: options.tty,
        open_stdin: options.interactive,
        stdin_once,
        env: (!env.is_empty()).then_some(env),
        cmd: (!command.is_empty()).then(|| command.to_vec()),
        image: image.clone(),
        volumes: Some(volumes),
        working_dir: options.workdir.clone().unwrap_or_default(),
        entrypoint,
        labels: Some(labels),
        stop_signal: options.stop_signal.clone().unwrap_or_default(),
        stop_timeout: options.stop_timeout,
        ..Default::default()
    };
    let mut host_config = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        container_id_file: options.cidfile.clone().unwrap_or_default(),
        network_mode,
        restart_policy,
        auto_remove: options.rm,
        volumes_from: (!options.volumes_from.is_empty()).then(|| options.volumes_from.clone()),
        cap_add: (!options.cap_add.is_empty()).then(|| {
            options
                .cap_add
                .iter()
                .map(|c| opts::capability(c))
                .collect()
        }),
        cap_drop: (!options.cap_drop.is_empty()).then(|| {
            options
                .cap_drop
                .iter()
                .map(|c| opts::capability(c))
                .collect()
        }),
        cgroupns_mode: options.cgroupns.clone().unwrap_or_default(),
        dns: Some(options.dns.clone()),
        dns_options: Some(options.dns_option.clone()),
        dns_search: Some(options.dns_search.clone()),
        extra_hosts: (!options.add_host.is_empty()).then(|| options.add_host.clone()),
        group_add: (!options.group_add.is_empty()).then(|| options.group_add.clone()),
        ipc_mode: options.ipc.clone().unwrap_or_default(),
        oom_score_adj: options.oom_score_adj.unwrap_or(0),
        pid_mode: options.pid.clone().unwrap_or_default(),
        privileged: options.privileged,
        publish_all_ports: options.publish_all,
        readonly_rootfs: options.read_only,
        security_opt: (!options.security_opt.is_empty()).then(|| options.security_opt.clone()),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        uts_mode: options.uts.clone().unwrap_or_default(),
        userns_mode: options.userns.clone().unwrap_or_default(),
        shm_size,
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        runtime: options.runtime.clone().unwrap_or_default(),
        init: options.init.then_some(true),
        ..Default::default()
    };
    host_config.log_config.kind = options.log_driver.clone().unwrap_or_default();
    host_config.log_config.config = Some(log_options);
    let resources = &mut host_config.resources;
    resources.cpu_shares = options.cpu_shares.unwrap_or(0);
    resources.memory = memory;
    resources.nano_cpus = nano_cpus;
    resources.cpu_period = options.cpu_period.unwrap_or(0);
    resources.cpu_quota = options.cpu_quota.unwrap_or(0);
    resources.cpuset_cpus = options.cpuset_cpus.clone().unwrap_or_default();
    resources.cpuset_mems = options.cpuset_mems.clone().unwrap_or_default();
    resources.devices = Some(devices);
    resources.memory_reservation = memory_reservation;
    resources.memory_swap = memory_swap;
    resources.memory_swappiness = Some(options.memory_swappiness.unwrap_or(-1));
    resources.oom_kill_disable = Some(options.oom_kill_disable);
    // docker/cli always sends these (0 and empty lists when not given).
    resources.pids_limit = Some(options.pids_limit.unwrap_or(0));
    resources.blkio_weight_device = Some(Vec::new());
    resources.blkio_device_read_bps = Some(Vec::new());
    resources.blkio_device_write_bps = Some(Vec::new());
    resources.blkio_device_read_iops = Some(Vec::new());
    resources.blkio_device_write_iops = Some(Vec::new());
    resources.ulimits = Some(ulimits);
    Ok(CreatePlan {
        request: ContainerCreateRequest {
            config,
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
        },
        name: options.name.clone(),
        platform: options.platform.clone(),
        pull: options.pull.clone(),
        quiet: options.quiet,
    })
}

/// Go's `time.ParseDuration` in nanoseconds (flag values like `1m30s`, `500ms`, `-1s`).
pub fn go_duration_nanos(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {text:?}"))?;
        if end == 0 {
            return Err(invalid());
        }
        let number: f64 = rest[..end].parse().map_err(|_| invalid())?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += number * factor;
        rest = &rest[unit_end..];
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// docker/cli's healthcheck flags into `Config.Healthcheck` (durations in nanoseconds).
fn health_config(
    options: &ContainerOptions,
) -> Result<Option<berth_api::models::container::HealthConfig>, String> {
    let duration = |name: &str, value: &Option<String>| -> Result<i64, String> {
        match value {
            Some(v) => go_duration_nanos(v)
                .map_err(|e| format!("invalid argument \"{v}\" for \"{name}\" flag: {e}")),
            None => Ok(0),
        }
    };
    let interval = duration("--health-interval", &options.health_interval)?;
    let timeout = duration("--health-timeout", &options.health_timeout)?;
    let start_period = duration("--health-start-period", &options.health_start_period)?;
    let start_interval = duration("--health-start-interval", &options.health_start_interval)?;
    let retries = options.health_retries.unwrap_or(0);
    let cmd = options.health_cmd.clone().unwrap_or_default();
    let have_settings = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    if options.no_healthcheck {
        if have_settings {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(berth_api::models::container::HealthConfig {
            test: Some(vec!["NONE".to_string()]),
            ..Default::default()
        }));
    }
    if !have_settings {
        return Ok(None);
    }
    for (value, name) in [
        (interval, "--health-interval"),
        (timeout, "--health-timeout"),
        (retries, "--health-retries"),
        (start_period, "--health-start-period"),
        (start_interval, "--health-start-interval"),
    ] {
        if value < 0 {
            return Err(format!("{name} cannot be negative"));
        }
    }
    Ok(Some(berth_api::models::container::HealthConfig {
        test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".to_string(), cmd]),
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }))
}

/// Why creating failed: a daemon error (its message) or something else.
enum CreateError {
    Daemon(String),
    Other(anyhow::Error),
}

impl CreateError {
    fn message(&self) -> String {
        match self {
            CreateError::Daemon(m) => format!("Error response from daemon: {m}"),
            CreateError::Other(e) => format!("{e:#}"),
        }
    }
}

impl From<ClientError> for CreateError {
    fn from(err: ClientError) -> CreateError {
        match err {
            ClientError::Daemon { message, .. } => CreateError::Daemon(message),
            other => CreateError::Other(other.into()),
        }
    }
}

async fn create_once(client: &Client, plan: &CreatePlan) -> Result<String, ClientError> {
    let mut pairs = Vec::new();
    if let Some(name) = &plan.name {
        pairs.push(("name", name.as_str()));
    }
    if let Some(platform) = &plan.platform {
        pairs.push(("platform", platform.as_str()));
    }
    let query = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", encode(&pairs))
    };
    let body = serde_json::to_value(&plan.request)?;
    let created: ContainerCreateResponse = client
        .call_json(
            Method::POST,
            &format!("/containers/create{query}"),
            Some(&body),
        )
        .await?;
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    Ok(created.id)
}

/// Pulls `image` (`POST /images/create`), printing progress to stderr as docker does.
async fn pull(client: &Client, image: &str, platform: Option<&str>) -> Result<(), CreateError> {
    let reference = berth_types::reference::parse_named_with_default_tag(image)
        .map_err(|e| CreateError::Other(anyhow::anyhow!("{e}")))?;
    let name = reference.name();
    let tag = reference.tag().unwrap_or("latest").to_string();
    let mut pairs = vec![("fromImage", name.as_str()), ("tag", tag.as_str())];
    if let Some(platform) = platform {
        pairs.push(("platform", platform));
    }
    let response = client
        .send(
            Method::POST,
            &format!("/images/create?{}", encode(&pairs)),
            None,
        )
        .await?;
    let mut stream = ResponseStream::new(response);
    while let Some(line) = stream.next_line().await? {
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if let Some(error) = message["errorDetail"]["message"]
            .as_str()
            .or(message["error"].as_str())
        {
            return Err(CreateError::Other(anyhow::anyhow!("{error}")));
        }
        if let Some(status) = message["status"].as_str() {
            match message["id"].as_str() {
                Some(id) => eprintln!("{id}: {status}"),
                None => eprintln!("{status}"),
            }
        }
    }
    Ok(())
}

/// docker/cli's `createContainer`: create; with `--pull missing` and an absent image, pull
/// and try again; `--pull always` pulls first.
async fn create_container(client: &Client, plan: &CreatePlan) -> Result<String, CreateError> {
    // --cidfile is written by the client, as docker/cli does; an existing file is refused.
    let cidfile = plan
        .request
        .host_config
        .as_ref()
        .map(|h| h.container_id_file.clone())
        .filter(|p| !p.is_empty());
    if let Some(path) = &cidfile {
        if std::path::Path::new(path).exists() {
            return Err(CreateError::Other(anyhow::anyhow!(
                "container ID file found, make sure the other container isn't running or delete {path}"
            )));
        }
    }
    let id = create_or_pull(client, plan).await?;
    if let Some(path) = &cidfile {
        std::fs::write(path, &id).map_err(|e| {
            CreateError::Other(anyhow::anyhow!(
                "failed to write the container ID to the file: {e}"
            ))
        })?;
    }
    Ok(id)
}

async fn create_or_pull(client: &Client, plan: &CreatePlan) -> Result<String, CreateError> {
    let image = plan.request.config.image.clone();
    if plan.pull == "always" {
        pull(client, &image, plan.platform.as_deref()).await?;
    }
    match create_once(client, plan).await {
        Ok(id) => Ok(id),
        Err(ClientError::Daemon { status, .. })
            if status == StatusCode::NOT_FOUND && plan.pull == "missing" =>
        {
            if !plan.quiet {
                let familiar = berth_types::reference::parse_named_with_default_tag(&image)
                    .map(|r| r.familiar_string())
                    .unwrap_or_else(|_| image.clone());
                eprintln!("Unable to find image '{familiar}' locally");
            }
            pull(client, &image, plan.platform.as_deref()).await?;
            Ok(create_once(client, plan).await?)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<ExitCode> {
    // `create` keeps the attach settings docker's parse gives (those of a foreground run).
    let plan = match plan(&args.options, false) {
        Ok(plan) => plan,
        Err(message) => {
            report_error("create", &message, true);
            return Ok(ExitCode::from(EXIT_RUN_FAILED));
        }
    };
    match create_container(client, &plan).await {
        Ok(id) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{}", err.message());
            Ok(ExitCode::from(1))
        }
    }
}

/// Starts `POST /containers/{id}/wait?condition=...` and returns once the daemon has
/// answered with its headers (so the wait is registered before the container starts); the
/// task yields the exit code (125 when the daemon reports an error).
async fn begin_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> anyhow::Result<tokio::task::JoinHandle<i64>> {
    let response = client
        .send(
            Method::POST,
            &format!("/containers/{}/wait?condition={condition}", escape(id)),
            None,
        )
        .await?;
    Ok(tokio::spawn(async move {
        let mut stream = ResponseStream::new(response);
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = stream.next_chunk().await {
            body.extend_from_slice(&chunk);
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                if let Some(message) = v["Error"]["Message"].as_str() {
                    eprintln!("Error waiting for container: {message}");
                    return i64::from(EXIT_RUN_FAILED);
                }
                v["StatusCode"]
                    .as_i64()
                    .unwrap_or(i64::from(EXIT_RUN_FAILED))
            }
            Err(_) => i64::from(EXIT_RUN_FAILED),
        }
    }))
}

/// The signals `run`/`attach` forward to the container without a TTY (docker forwards
/// all but SIGCHLD, SIGPIPE, SIGURG and SIGWINCH).
const PROXIED_SIGNALS: [(i32, &str); 11] = [
    (1, "HUP"),
    (2, "INT"),
    (3, "QUIT"),
    (10, "USR1"),
    (12, "USR2"),
    (14, "ALRM"),
    (15, "TERM"),
    (18, "CONT"),
    (20, "TSTP"),
    (21, "TTIN"),
    (22, "TTOU"),
];

fn proxy_signals(client: &Client, id: &str) -> Vec<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut tasks = Vec::new();
    for (number, name) in PROXIED_SIGNALS {
        let Ok(mut receiver) = signal(SignalKind::from_raw(number)) else {
            continue;
        };
        let client = client.clone();
        let path = format!("/containers/{}/kill?signal={name}", escape(id));
        tasks.push(tokio::spawn(async move {
            while receiver.recv().await.is_some() {
                if let Err(err) = client.send(Method::POST, &path, None).await {
                    eprintln!("error sending signal: {err}");
                }
            }
        }));
    }
    tasks
}

fn detach_keys(flag: Option<&str>) -> (Vec<u8>, Option<String>) {
    match flag {
        Some(text) => match opts::detach_keys(text) {
            Ok(keys) => (keys, Some(text.to_string())),
            Err(_) => (DEFAULT_DETACH_KEYS.to_vec(), Some(text.to_string())),
        },
        None => (DEFAULT_DETACH_KEYS.to_vec(), None),
    }
}

fn attach_path(id: &str, stdin: bool, stdout: bool, stderr: bool, keys: Option<&str>) -> String {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut pairs = vec![
        ("stream", "1"),
        ("stdin", flag(stdin)),
        ("stdout", flag(stdout)),
        ("stderr", flag(stderr)),
    ];
    if let Some(keys) = keys {
        pairs.push(("detachKeys", keys));
    }
    format!("/containers/{}/attach?{}", escape(id), encode(&pairs))
}

pub async fn run(client: &Client, args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = &args.options;
    if args.detach && !options.attach.is_empty() {
        eprintln!("conflicting options: cannot specify both --attach and --detach");
        return Ok(ExitCode::from(1));
    }
    let plan = match plan(options, args.detach) {
        Ok(plan) => plan,
        Err(message) => {
            report_error("run", &message, true);
            return Ok(ExitCode::from(EXIT_RUN_FAILED));
        }
    };
    let config = plan.request.config.clone();
    if !args.detach && config.tty && config.attach_stdin && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(ExitCode::from(1));
    }
    let id = match create_container(client, &plan).await {
        Ok(id) => id,
        Err(err) => {
            let message = err.message();
            report_error("run", &message, true);
            return Ok(ExitCode::from(start_error_code(&message)));
        }
    };
    // docker/cli's run proxies signals with or without a TTY (attach only without one).
    let proxies = if args.sig_proxy {
        proxy_signals(client, &id)
    } else {
        Vec::new()
    };
    let attach = config.attach_stdin || config.attach_stdout || config.attach_stderr;
    if !config.attach_stdout && !config.attach_stderr {
        println!("{id}");
    }
    let (keys, keys_flag) = detach_keys(args.detach_keys.as_deref());
    let hijacked = if attach {
        let path = attach_path(
            &id,
            config.attach_stdin,
            config.attach_stdout,
            config.attach_stderr,
            keys_flag.as_deref(),
        );
        Some(client.hijack(Method::POST, &path, None).await?)
    } else {
        None
    };
    let condition = if options.rm { "removed" } else { "next-exit" };
    let wait = begin_wait(client, &id, condition).await?;
    // Raw mode before start, so the first keystrokes and output are already raw.
    let raw = if attach && config.tty && config.attach_stdin {
        RawTerminal::enable()?
    } else {
        None
    };
    if let Err(err) = client
        .send(
            Method::POST,
            &format!("/containers/{}/start", escape(&id)),
            None,
        )
        .await
    {
        drop(raw);
        let message = err.to_string();
        report_error("run", &message, false);
        if options.rm {
            // The daemon removes an auto-remove container whose start failed (as dockerd
            // does); docker/cli waits for that removal before it exits.
            let _ = wait.await;
        }
        return Ok(ExitCode::from(start_error_code(&message)));
    }
    let resizer = (attach && config.tty && std::io::stdout().is_terminal())
        .then(|| tty::monitor_size(client, format!("/containers/{}/resize", escape(&id)), false));
    let mut status = ExitCode::SUCCESS;
    if let Some(hijacked) = hijacked {
        let end = stream::stream(
            hijacked,
            StreamOptions {
                tty: config.tty,
                stdin: config.attach_stdin,
                stdout: config.attach_stdout,
                stderr: config.attach_stderr,
                detach_keys: keys,
            },
            raw,
        )
        .await;
        match end {
            Ok(StreamEnd::Detached) => return Ok(ExitCode::SUCCESS),
            Ok(StreamEnd::Finished) => {}
            Err(err) => {
                eprintln!("{err:#}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    if config.attach_stdout || config.attach_stderr {
        status = code(wait.await.unwrap_or(i64::from(EXIT_RUN_FAILED)));
    }
    if let Some(resizer) = resizer {
        resizer.abort();
    }
    proxies.iter().for_each(|t| t.abort());
    Ok(status)
}

/// Runs `action` for every name, printing the name on success; errors go to stderr at the
/// end (docker joins them), and the exit code is 1 if any failed.
pub(crate) async fn for_each<F, Fut>(names: &[String], mut action: F) -> anyhow::Result<ExitCode>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut errors = Vec::new();
    for name in names {
        match action(name.clone()).await {
            Ok(()) => println!("{name}"),
            Err(err @ ClientError::Daemon { .. }) => errors.push(err.to_string()),
            Err(err) => return Err(err.into()),
        }
    }
    for error in &errors {
        eprintln!("{error}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub async fn stop(client: &Client, args: StopArgs, restart: bool) -> anyhow::Result<ExitCode> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(signal) = &args.signal {
        pairs.push(("signal", signal.clone()));
    }
    if let Some(t) = args.timeout {
        pairs.push(("t", t.to_string()));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = if borrowed.is_empty() {
        String::new()
    } else {
        format!("?{}", encode(&borrowed))
    };
    let action = if restart { "restart" } else { "stop" };
    for_each(&args.containers, |name| {
        let path = format!("/containers/{}/{action}{query}", escape(&name));
        async move { client.send(Method::POST, &path, None).await.map(drop) }
    })
    .await
}

pub async fn kill(client: &Client, args: KillArgs) -> anyhow::Result<ExitCode> {
    let query = match &args.signal {
        Some(signal) => format!("?{}", encode(&[("signal", signal)])),
        None => String::new(),
    };
    for_each(&args.containers, |name| {
        let path = format!("/containers/{}/kill{query}", escape(&name));
        async move { client.send(Method::POST, &path, None).await.map(drop) }
    })
    .await
}

pub async fn rm(client: &Client, args: RmArgs) -> anyhow::Result<ExitCode> {
    let flag = |b: bool| if b { "1" } else { "0" };
    let query = encode(&[
        ("force", flag(args.force)),
        ("v", flag(args.volumes)),
        ("link", flag(args.link)),
    ]);
    for_each(&args.containers, |name| {
        let path = format!(
            "/containers/{}?{query}",
            escape(name.trim_start_matches('/'))
        );
        async move { client.send(Method::DELETE, &path, None).await.map(drop) }
    })
    .await
}

pub async fn wait(client: &Client, args: ContainersArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in &args.containers {
        let result = async {
            let response = client
                .send(
                    Method::POST,
                    &format!("/containers/{}/wait", escape(name)),
                    None,
                )
                .await?;
            let mut stream = ResponseStream::new(response);
            let mut body = Vec::new();
            while let Some(chunk) = stream.next_chunk().await? {
                body.extend_from_slice(&chunk);
            }
            Ok::<Value, ClientError>(serde_json::from_slice(&body)?)
        }
        .await;
        match result {
            Ok(v) => match v["Error"]["Message"].as_str() {
                Some(message) => {
                    eprintln!("{message}");
                    failed = true;
                }
                None => println!("{}", v["StatusCode"].as_i64().unwrap_or(-1)),
            },
            Err(err @ ClientError::Daemon { .. }) => {
                eprintln!("{err}");
                failed = true;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn inspect_container(client: &Client, name: &str) -> Result<ContainerInspect, ClientError> {
    client
        .get_json(&format!("/containers/{}/json", escape(name)))
        .await
}

/// Whether `attach_and_stream` attaches to a running container or starts one.
#[derive(Clone, Copy)]
enum AttachMode {
    Attach,
    Start { auto_remove: bool },
}

/// Streams a hijacked attach to a running container (used by `attach` and `start -a`);
/// returns the exit code docker would.
async fn attach_and_stream(
    client: &Client,
    id: &str,
    tty: bool,
    stdin: bool,
    keys_flag: Option<&str>,
    sig_proxy: bool,
    mode: AttachMode,
) -> anyhow::Result<ExitCode> {
    let (keys, keys_flag) = detach_keys(keys_flag);
    // `start -a` waits for the coming exit (or removal); `attach` for not-running.
    let condition = match mode {
        AttachMode::Start { auto_remove: true } => "removed",
        AttachMode::Start { auto_remove: false } => "next-exit",
        AttachMode::Attach => "",
    };
    let start = matches!(mode, AttachMode::Start { .. });
    let wait = begin_wait(client, id, condition).await?;
    let proxies = if sig_proxy && !tty {
        proxy_signals(client, id)
    } else {
        Vec::new()
    };
    let path = attach_path(id, stdin, true, true, keys_flag.as_deref());
    let hijacked = client.hijack(Method::POST, &path, None).await?;
    let raw = if tty && stdin {
        RawTerminal::enable()?
    } else {
        None
    };
    if start {
        if let Err(err) = client
            .send(
                Method::POST,
                &format!("/containers/{}/start", escape(id)),
                None,
            )
            .await
        {
            drop(raw);
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
    }
    let resizer = (tty && std::io::stdout().is_terminal())
        .then(|| tty::monitor_size(client, format!("/containers/{}/resize", escape(id)), !start));
    let end = stream::stream(
        hijacked,
        StreamOptions {
            tty,
            stdin,
            stdout: true,
            stderr: true,
            detach_keys: keys,
        },
        raw,
    )
    .await;
    if let Some(resizer) = resizer {
        resizer.abort();
    }
    proxies.iter().for_each(|t| t.abort());
    match end {
        Ok(StreamEnd::Detached) => {
            eprintln!("read escape sequence");
            Ok(ExitCode::from(1))
        }
        Ok(StreamEnd::Finished) => Ok(code(wait.await.unwrap_or(1))),
        Err(err) => {
            eprintln!("{err:#}");
            Ok(ExitCode::from(1))
        }
    }
}

pub async fn attach(client: &Client, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let container = match inspect_container(client, &args.container).await {
        Ok(c) => c,
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    let state = container.state.clone().unwrap_or_default();
    let message = if !state.running {
        Some("cannot attach to a stopped container, start it first")
    } else if state.paused {
        Some("cannot attach to a paused container, unpause it first")
    } else if state.restarting {
        Some("cannot attach to a restarting container, wait until it is running")
    } else {
        None
    };
    if let Some(message) = message {
        eprintln!("{message}");
        return Ok(ExitCode::from(1));
    }
    let config = container.config.unwrap_or_default();
    let stdin = !args.no_stdin && config.open_stdin;
    if config.tty && stdin && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(ExitCode::from(1));
    }
    attach_and_stream(
        client,
        &container.id,
        config.tty,
        stdin,
        args.detach_keys.as_deref(),
        args.sig_proxy,
        AttachMode::Attach,
    )
    .await
}

pub async fn start(client: &Client, args: StartArgs) -> anyhow::Result<ExitCode> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            eprintln!("you cannot start and attach multiple containers at once");
            return Ok(ExitCode::from(1));
        }
        let container = match inspect_container(client, &args.containers[0]).await {
            Ok(c) => c,
            Err(err @ ClientError::Daemon { .. }) => {
                eprintln!("{err}");
                return Ok(ExitCode::from(1));
            }
            Err(err) => return Err(err.into()),
        };
        let auto_remove = container
            .host_config
            .as_ref()
            .is_some_and(|h| h.auto_remove);
        let config = container.config.unwrap_or_default();
        let stdin = args.interactive && config.open_stdin;
        if config.tty && stdin && !std::io::stdin().is_terminal() {
            eprintln!("the input device is not a TTY");
            return Ok(ExitCode::from(1));
        }
        return attach_and_stream(
            client,
            &container.id,
            config.tty,
            stdin,
            args.detach_keys.as_deref(),
            true,
            AttachMode::Start { auto_remove },
        )
        .await;
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        match client
            .send(
                Method::POST,
                &format!("/containers/{}/start", escape(name)),
                None,
            )
            .await
        {
            Ok(_) => println!("{name}"),
            Err(err @ ClientError::Daemon { .. }) => {
                eprintln!("{err}");
                failed.push(name.clone());
            }
            Err(err) => return Err(err.into()),
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("Error: failed to start containers: {}", failed.join(", "));
    Ok(ExitCode::from(1))
}

/// `--since`/`--until` as docker's `GetTimestamp`: a Unix time, an RFC 3339 time, or a
/// duration before now (`10m`, `1h30m`).
pub fn timestamp_value(value: &str) -> String {
    if let Some(seconds) = go_duration_seconds(value) {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9;
        return format!("{:.9}", now - seconds);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        let nanos = t.timestamp_subsec_nanos();
        return format!("{}.{nanos:09}", t.timestamp());
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, layout) {
            return format!(
                "{}.{:09}",
                t.and_utc().timestamp(),
                t.and_utc().timestamp_subsec_nanos()
            );
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(value, layout) {
            let t = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            return format!("{}.000000000", t.timestamp());
        }
    }
    value.to_string()
}

/// Go's `time.ParseDuration` for the units logs and events accept.
fn go_duration_seconds(text: &str) -> Option<f64> {
    if text.is_empty() || text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_end..];
    }
    Some(total)
}

pub async fn logs(client: &Client, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let container = match inspect_container(client, &args.container).await {
        Ok(c) => c,
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    let tty = container.config.as_ref().is_some_and(|c| c.tty);
    let flag = |b: bool| if b { "1" } else { "0" };
    let since = args.since.as_deref().map(timestamp_value);
    let until = args.until.as_deref().map(timestamp_value);
    let mut pairs = vec![
        ("stdout", "1"),
        ("stderr", "1"),
        ("follow", flag(args.follow)),
        ("timestamps", flag(args.timestamps)),
        ("details", flag(args.details)),
        ("tail", args.tail.as_str()),
    ];
    if let Some(since) = &since {
        pairs.push(("since", since));
    }
    if let Some(until) = &until {
        pairs.push(("until", until));
    }
    let response = match client
        .send(
            Method::GET,
            &format!(
                "/containers/{}/logs?{}",
                escape(&container.id),
                encode(&pairs)
            ),
            None,
        )
        .await
    {
        Ok(r) => r,
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    let mut stream = ResponseStream::new(response);
    let mut demuxer = Demuxer::new();
    while let Some(chunk) = stream.next_chunk().await? {
        if tty {
            let mut out = std::io::stdout().lock();
            out.write_all(&chunk)?;
            out.flush()?;
            continue;
        }
        demuxer.push(&chunk);
        // One write per received chunk, not per log line (the daemon batches lines into
        // chunks); stdout is flushed before any stderr frame so the order stays the same.
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        while let Some((kind, payload)) = demuxer.next_frame()? {
            if kind == StdStream::Stderr {
                out.flush()?;
                let mut err = std::io::stderr().lock();
                err.write_all(&payload)?;
                err.flush()?;
            } else {
                out.write_all(&payload)?;
            }
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn exec(client: &Client, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let (container, command) = args
        .args
        .split_first()
        .expect("clap requires a container and a command");
    let env = match opts::read_env(&args.env_file, &args.env) {
        Ok(env) => env,
        Err(message) => {
            eprintln!("{message}");
            return Ok(ExitCode::from(1));
        }
    };
    let (keys, keys_flag) = detach_keys(args.detach_keys.as_deref());
    let attach_stdin = args.interactive && !args.detach;
    if !args.detach && args.tty && attach_stdin && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(ExitCode::from(1));
    }
    let mut body = json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attach_stdin,
        "AttachStdout": !args.detach,
        "AttachStderr": !args.detach,
        "Detach": args.detach,
        "Env": env,
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": command,
    });
    if let Some(keys) = &keys_flag {
        body["DetachKeys"] = keys.clone().into();
    }
    if let Some(size) = tty::size().filter(|_| args.tty) {
        body["ConsoleSize"] = json!([size.0, size.1]);
    }
    let created: Value = match client
        .call_json(
            Method::POST,
            &format!("/containers/{}/exec", escape(container)),
            Some(&body),
        )
        .await
    {
        Ok(v) => v,
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    let start_body = json!({"Detach": args.detach, "Tty": args.tty});
    let start_path = format!("/exec/{}/start", escape(&exec_id));
    if args.detach {
        if let Err(err) = client
            .send(Method::POST, &start_path, Some(&start_body))
            .await
        {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let hijacked = match client
        .hijack(Method::POST, &start_path, Some(&start_body))
        .await
    {
        Ok(h) => h,
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    let raw = if args.tty && attach_stdin {
        RawTerminal::enable()?
    } else {
        None
    };
    let resizer = (args.tty && std::io::stdout().is_terminal())
        .then(|| tty::monitor_size(client, format!("/exec/{}/resize", escape(&exec_id)), false));
    let end = stream::stream(
        hijacked,
        StreamOptions {
            tty: args.tty,
            stdin: attach_stdin,
            stdout: true,
            stderr: true,
            detach_keys: keys,
        },
        raw,
    )
    .await;
    if let Some(resizer) = resizer {
        resizer.abort();
    }
    match end {
        Ok(StreamEnd::Detached) => return Ok(ExitCode::SUCCESS),
        Ok(StreamEnd::Finished) => {}
        Err(err) => {
            eprintln!("{err:#}");
            return Ok(ExitCode::from(1));
        }
    }
    let inspect: Value = client
        .get_json(&format!("/exec/{}/json", escape(&exec_id)))
        .await?;
    if inspect["Running"].as_bool() == Some(true) {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(code(inspect["ExitCode"].as_i64().unwrap_or(0)))
}

pub async fn rename(client: &Client, args: RenameArgs) -> anyhow::Result<ExitCode> {
    let old = args.container.trim();
    let new = args.new_name.trim();
    if old.is_empty() || new.is_empty() {
        eprintln!("Error: neither old nor new names may be empty");
        return Ok(ExitCode::from(1));
    }
    let path = format!(
        "/containers/{}/rename?{}",
        escape(old),
        encode(&[("name", new)])
    );
    match client.send(Method::POST, &path, None).await {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(err @ ClientError::Daemon { .. }) => {
            eprintln!("{err}");
            eprintln!("Error: failed to rename container named {old}");
            Ok(ExitCode::from(1))
        }
        Err(err) => Err(err.into()),
    }
}

/// docker's default `ps` format, which `default_ps_table` lays out by hand.
#[cfg(test)]
const PS_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// The cells of the default `ps` table, as docker's container formatter makes them.
struct PsCells {
    id: String,
    image: String,
    command: String,
    running_for: String,
    names: String,
    size: String,
}

fn ps_cells(c: &ContainerSummary, no_trunc: bool) -> PsCells {
    let id = if no_trunc {
        c.id.clone()
    } else {
        short_id(&c.id)
    };
    let mut image = c.image.clone();
    if !no_trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image);
        } else if let Some((name, _)) = image.split_once("@sha256:") {
            image = name.to_string();
        }
    }
    let command = c.command.clone();
    let command = if no_trunc {
        format!("\"{command}\"")
    } else {
        format!("\"{}\"", ellipsis(&command, 20))
    };
    let names: Vec<String> = c
        .names
        .iter()
        .filter_map(|n| {
            let n = n.trim_start_matches('/');
            (!n.contains('/') || no_trunc).then(|| n.to_string())
        })
        .collect();
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) if root > 0 => format!(
            "{} (virtual {})",
            human_size(rw as f64),
            human_size(root as f64)
        ),
        (Some(rw), _) => human_size(rw as f64),
        _ => "0B".to_string(),
    };
    PsCells {
        id,
        image,
        command,
        running_for: human_duration_since(c.created),
        names: names.join(","),
        size,
    }
}

/// One `ps` row with docker's container formatter fields.
pub fn ps_row(c: &ContainerSummary, no_trunc: bool) -> Value {
    let cells = ps_cells(c, no_trunc);
    let labels = c
        .labels
        .as_ref()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            };
            if no_trunc {
                name
            } else {
                ellipsis(&name, 15)
            }
        })
        .collect();
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    json!({
        "ID": cells.id,
        "Image": cells.image,
        "Command": cells.command,
        "CreatedAt": crate::output::go_time_string(c.created),
        "RunningFor": cells.running_for,
        "Ports": ports_text(c),
        "Status": c.status,
        "State": c.state,
        "Names": cells.names,
        "Labels": labels,
        "Size": cells.size,
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "Platform": Value::Null,
        "LocalVolumes": c.mounts.iter().filter(|m| m.driver == "local").count().to_string(),
    })
}

/// The default `ps` table (`PS_FORMAT`, plus SIZE with `-s`) laid out without the template
/// engine: the same text, at a fraction of the cost for a thousand containers.
fn default_ps_table(
    containers: &[ContainerSummary],
    no_trunc: bool,
    size: bool,
) -> anyhow::Result<String> {
    let mut text = String::with_capacity(128 * (containers.len() + 1));
    text.push_str("CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES");
    if size {
        text.push_str("\tSIZE");
    }
    text.push('\n');
    for c in containers {
        let cells = ps_cells(c, no_trunc);
        for cell in [
            &cells.id,
            &cells.image,
            &cells.command,
            &cells.running_for,
            &c.status,
            &ports_text(c),
        ] {
            text.push_str(cell);
            text.push('\t');
        }
        text.push_str(&cells.names);
        if size {
            text.push('\t');
            text.push_str(&cells.size);
        }
        text.push('\n');
    }
    Ok(berth_template::align_columns(&text)?)
}

fn ports_text(c: &ContainerSummary) -> String {
    c.ports
        .iter()
        .map(|p| {
            if p.public_port > 0 {
                format!("{}:{}->{}/{}", p.ip, p.public_port, p.private_port, p.kind)
            } else {
                format!("{}/{}", p.private_port, p.kind)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn ps(client: &Client, args: PsArgs) -> anyhow::Result<ExitCode> {
    let mut filters = berth_api::filters::Filters::default();
    for pair in &args.filter {
        let Some((key, value)) = pair.split_once('=') else {
            eprintln!("invalid argument \"{pair}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)");
            return Ok(ExitCode::from(125));
        };
        filters.add(key, value);
    }
    let mut limit = args.last;
    if args.latest && limit == -1 {
        limit = 1;
    }
    let format = args.format.clone().unwrap_or_default();
    let size = args.size || format.contains(".Size");
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if args.all {
        pairs.push(("all", "1".into()));
    }
    if limit > 0 {
        pairs.push(("limit", limit.to_string()));
    }
    if size {
        pairs.push(("size", "1".into()));
    }
    if !filters.is_empty() {
        pairs.push(("filters", filters.to_json()));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = if borrowed.is_empty() {
        String::new()
    } else {
        format!("?{}", encode(&borrowed))
    };
    let containers: Vec<ContainerSummary> =
        match client.get_json(&format!("/containers/json{query}")).await {
            Ok(c) => c,
            Err(err @ ClientError::Daemon { .. }) => {
                eprintln!("{err}");
                return Ok(ExitCode::from(1));
            }
            Err(err) => return Err(err.into()),
        };
    if args.quiet && (format.is_empty() || format == "table") {
        let mut out = String::new();
        for c in &containers {
            out.push_str(&ps_cells(c, args.no_trunc).id);
            out.push('\n');
        }
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    if format.is_empty() || format == "table" {
        print!(
            "{}",
            default_ps_table(&containers, args.no_trunc, args.size)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| ps_row(c, args.no_trunc))
        .collect();
    let header = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "State": "STATE",
        "Names": "NAMES", "Labels": "LABELS", "Size": "SIZE", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
    });
    print!("{}", render(&format, &header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

fn print_found(found: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(format) => {
            for value in found {
                print_one(format, value)?;
            }
            Ok(())
        }
        None => crate::commands::images::print_inspect_array(found),
    }
}

pub async fn container_inspect(
    client: &Client,
    args: ContainerInspectArgs,
) -> anyhow::Result<ExitCode> {
    inspect(
        client,
        GenericInspectArgs {
            names: args.names,
            format: args.format,
            size: args.size,
            kind: Some("container".into()),
        },
    )
    .await
}

/// `inspect`: containers first, then images (as docker's generic inspect, for the object
/// types berth has); `--type` restricts the search.
pub async fn inspect(client: &Client, args: GenericInspectArgs) -> anyhow::Result<ExitCode> {
    let kind = args.kind.clone().unwrap_or_default();
    const TYPES: &str = "\"config\", \"container\", \"image\", \"network\", \"node\", \"plugin\", \"secret\", \"service\", \"task\", \"volume\"";
    if !matches!(kind.as_str(), "" | "container" | "image") {
        if TYPES.contains(&format!("\"{kind}\"")) {
            eprintln!("Error: berth has no {kind} objects yet");
        } else {
            eprintln!("unknown type: \"{kind}\": must be one of {TYPES}");
        }
        return Ok(ExitCode::from(1));
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let container_path = format!(
            "/containers/{}/json{}",
            escape(name),
            if args.size { "?size=1" } else { "" }
        );
        let image_path = format!(
            "/images/{}/json",
            form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace("%2F", "/")
                .replace("%3A", ":")
        );
        let try_container = kind.is_empty() || kind == "container";
        let try_image = kind.is_empty() || kind == "image";
        let mut result = None;
        let mut last_error = None;
        if try_container {
            match client.get_json::<Value>(&container_path).await {
                Ok(mut v) => {
                    // Templates see docker's typed struct: these pointers are nil, not absent
                    // (the JSON output is the daemon's, as docker prints it).
                    if let Some(map) = v.as_object_mut().filter(|_| args.format.is_some()) {
                        for key in ["SizeRw", "SizeRootFs"] {
                            map.entry(key).or_insert(Value::Null);
                        }
                    }
                    result = Some(v)
                }
                Err(err @ ClientError::Daemon { .. }) => last_error = Some(err),
                Err(err) => return Err(err.into()),
            }
        }
        if result.is_none() && try_image {
            match client.get_json::<Value>(&image_path).await {
                Ok(v) => result = Some(v),
                Err(err @ ClientError::Daemon { .. }) => last_error = Some(err),
                Err(err) => return Err(err.into()),
            }
        }
        match (result, last_error) {
            (Some(v), _) => found.push(v),
            (None, Some(err)) if !kind.is_empty() => errors.push(err.to_string()),
            (None, Some(ClientError::Daemon { status, .. })) if status != StatusCode::NOT_FOUND => {
                errors.push(format!("Error: {name}"))
            }
            (None, _) => errors.push(format!("Error: No such object: {name}")),
        }
    }
    print_found(&found, args.format.as_deref())?;
    for error in &errors {
        eprintln!("{error}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse_run(args: &[&str]) -> RunArgs {
        let mut argv = vec!["berth", "run"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Run(run) => run,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_flags_become_dockers_create_body() {
        let run = parse_run(&[
            "--name",
            "n1",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "-u",
            "1:2",
            "--entrypoint",
            "/bin/sh",
            "-h",
            "hn",
            "-l",
            "a=b",
            "-l",
            "c",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--pids-limit",
            "100",
            "--ulimit",
            "nofile=100:200",
            "--cap-add",
            "net_admin",
            "--read-only",
            "--tmpfs",
            "/run:size=1m",
            "-v",
            "/tmp:/data:ro",
            "-v",
            "/anon",
            "--init",
            "--stop-timeout",
            "5",
            "--restart",
            "on-failure:3",
            "--network",
            "none",
            "--device",
            "/dev/null:/dev/n2:r",
            "-it",
            "-a",
            "stdout",
            "busybox",
            "echo",
            "-n",
            "hi",
        ]);
        let plan = plan(&run.options, run.detach).unwrap();
        let body = serde_json::to_value(&plan.request).unwrap();
        assert_eq!(body["Cmd"], json!(["echo", "-n", "hi"]));
        assert_eq!(body["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(body["Env"], json!(["X=1"]));
        assert_eq!(body["Labels"], json!({"a": "b", "c": ""}));
        assert_eq!(body["Volumes"], json!({"/anon": {}}));
        assert_eq!(
            (
                body["AttachStdin"].clone(),
                body["AttachStdout"].clone(),
                body["AttachStderr"].clone()
            ),
            (json!(true), json!(true), json!(false))
        );
        assert_eq!(
            (body["OpenStdin"].clone(), body["StdinOnce"].clone()),
            (json!(true), json!(true))
        );
        let hc = &body["HostConfig"];
        assert_eq!(hc["Memory"], 64 << 20);
        assert_eq!(hc["MemorySwap"], -1);
        assert_eq!(hc["NanoCpus"], 1_500_000_000i64);
        assert_eq!(hc["PidsLimit"], 100);
        assert_eq!(
            hc["Ulimits"],
            json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
        );
        assert_eq!(hc["CapAdd"], json!(["CAP_NET_ADMIN"]));
        assert_eq!(hc["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(hc["Binds"], json!(["/tmp:/data:ro"]));
        assert_eq!(hc["Init"], json!(true));
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["NetworkMode"], "none");
        assert_eq!(body["NetworkingConfig"]["EndpointsConfig"], json!({}));
        assert_eq!(
            hc["Devices"],
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2", "CgroupPermissions": "r"}])
        );
        assert_eq!(plan.name.as_deref(), Some("n1"));
    }

    #[test]
    fn detached_runs_attach_nothing_and_defaults_match_docker() {
        let run = parse_run(&["-d", "busybox"]);
        let plan = plan(&run.options, run.detach).unwrap();
        let body = serde_json::to_value(&plan.request).unwrap();
        assert_eq!(body["AttachStdout"], false);
        assert_eq!(body["Cmd"], Value::Null);
        assert_eq!(body["HostConfig"]["NetworkMode"], "default");
        assert_eq!(body["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(body["HostConfig"]["MemorySwappiness"], -1);
        assert!(body["NetworkingConfig"]["EndpointsConfig"]["default"].is_object());
    }

    #[test]
    fn flag_errors_read_like_dockers() {
        let err = |args: &[&str]| {
            let run = parse_run(args);
            plan(&run.options, run.detach).err().unwrap()
        };
        assert_eq!(
            err(&["-m", "12x", "busybox"]),
            "invalid argument \"12x\" for \"-m, --memory\" flag: invalid suffix: 'x'"
        );
        assert_eq!(
            err(&["--rm", "--restart", "always", "busybox"]),
            "conflicting options: cannot specify both --restart and --rm"
        );
        assert_eq!(
            err(&["--pull", "sometimes", "busybox"]),
            "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\""
        );
        assert_eq!(err(&["--bogus", "busybox"]), "unknown flag: --bogus");
    }

    #[test]
    fn health_flags_become_dockers_healthcheck() {
        let run = parse_run(&[
            "--health-cmd",
            "true",
            "--health-interval",
            "1m30s",
            "--health-timeout",
            "500ms",
            "--health-retries",
            "3",
            "--health-start-period",
            "2s",
            "--health-start-interval",
            "1s",
            "busybox",
        ]);
        let body = serde_json::to_value(&plan(&run.options, false).unwrap().request).unwrap();
        assert_eq!(
            body["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64,
                "Timeout": 500_000_000, "StartPeriod": 2_000_000_000i64,
                "StartInterval": 1_000_000_000, "Retries": 3})
        );
        let none = parse_run(&["--no-healthcheck", "busybox"]);
        let body = serde_json::to_value(&plan(&none.options, false).unwrap().request).unwrap();
        assert_eq!(body["Healthcheck"], json!({"Test": ["NONE"]}));
        let plain = parse_run(&["busybox"]);
        let body = serde_json::to_value(&plan(&plain.options, false).unwrap().request).unwrap();
        assert!(body.get("Healthcheck").is_none_or(Value::is_null), "{body}");
        let err = |args: &[&str]| {
            let run = parse_run(args);
            plan(&run.options, run.detach).err().unwrap()
        };
        assert_eq!(
            err(&["--no-healthcheck", "--health-retries", "1", "busybox"]),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(
            err(&["--health-interval", "-1s", "busybox"]),
            "--health-interval cannot be negative"
        );
        assert_eq!(
            err(&["--health-timeout", "5", "busybox"]),
            "invalid argument \"5\" for \"--health-timeout\" flag: time: missing unit in duration \"5\""
        );
    }

    #[test]
    fn start_errors_map_to_126_and_127() {
        assert_eq!(
            start_error_code(
                "Error response from daemon: ... exec: \"x\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(start_error_code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(start_error_code("Conflict. The container name"), 125);
    }

    #[test]
    fn ps_rows_like_dockers_formatter() {
        let c = ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            command: "sh -c 'sleep 1000; echo done'".into(),
            status: "Up 3 seconds".into(),
            state: "running".into(),
            created: chrono::Utc::now().timestamp() - 120,
            ..Default::default()
        };
        let row = ps_row(&c, false);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Command"], "\"sh -c 'sleep 1000; …\"");
        assert_eq!(row["Names"], "web");
        assert_eq!(row["RunningFor"], "2 minutes ago");
        let full = ps_row(&c, true);
        assert_eq!(full["Command"], "\"sh -c 'sleep 1000; echo done'\"");
    }

    #[test]
    fn the_default_ps_table_is_what_the_template_renders() {
        let now = chrono::Utc::now().timestamp();
        let containers = [
            ContainerSummary {
                id: "0123456789abcdef0123".into(),
                names: vec!["/web".into()],
                image: "busybox".into(),
                command: "sh -c 'sleep 1000; echo done'".into(),
                status: "Up 3 seconds".into(),
                created: now - 120,
                size_rw: Some(12),
                ..Default::default()
            },
            ContainerSummary {
                id: "fedcba9876543210fedc".into(),
                names: vec!["/a-much-longer-name".into()],
                image: "sha256:aaaabbbbccccddddeeee".into(),
                command: "true".into(),
                status: "Exited (0) 2 minutes ago".into(),
                created: now - 7200,
                ..Default::default()
            },
        ];
        let header = serde_json::json!({
            "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
            "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "Names": "NAMES",
            "Size": "SIZE",
        });
        for (no_trunc, size) in [(false, false), (true, false), (false, true)] {
            let rows: Vec<Value> = containers.iter().map(|c| ps_row(c, no_trunc)).collect();
            let format = if size {
                format!("{PS_FORMAT}\t{{{{.Size}}}}")
            } else {
                PS_FORMAT.to_string()
            };
            assert_eq!(
                default_ps_table(&containers, no_trunc, size).unwrap(),
                render(&format, &header, &rows).unwrap(),
                "no_trunc {no_trunc}, size {size}"
            );
        }
    }

    #[test]
    fn log_timestamps() {
        assert_eq!(timestamp_value("1700000000"), "1700000000");
        assert_eq!(
            timestamp_value("2023-11-14T22:13:20Z"),
            "1700000000.000000000"
        );
        let relative: f64 = timestamp_value("10m").parse().unwrap();
        let now = chrono::Utc::now().timestamp() as f64;
        assert!((now - relative - 600.0).abs() < 5.0);
        assert_eq!(go_duration_seconds("1h30m"), Some(5400.0));
    }
}
