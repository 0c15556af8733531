//! Container operations: pause, unpause, top, diff, export, commit, update and
//! `container prune`, with docker/cli's output, messages and exit codes.

use crate::cli::{
    CommitArgs, ContainerPruneArgs, ContainersArgs, DiffArgs, ExportArgs, TopArgs, UpdateArgs,
};
use crate::commands::containers::{encode, escape, for_each};
use crate::opts;
use crate::output::{human_size_precision, print_aligned};
use berth_api::filters::Filters;
use berth_api::operations::{ContainerPruneReport, FilesystemChange, TopResponse, UpdateRequest};
use berth_client::{Client, ClientError, ResponseStream};
use http::Method;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Prints a daemon error and returns exit code 1 (a cobra `RunE` error); other errors
/// (connection, decoding) propagate.
fn daemon_failure(err: ClientError) -> anyhow::Result<ExitCode> {
    match err {
        err @ ClientError::Daemon { .. } => {
            eprintln!("{err}");
            Ok(ExitCode::from(1))
        }
        err => Err(err.into()),
    }
}

/// `pause` / `unpause`: every name is tried; names that worked are printed, errors follow.
pub async fn pause(
    client: &Client,
    args: ContainersArgs,
    action: &str,
) -> anyhow::Result<ExitCode> {
    for_each(&args.containers, |name| {
        let path = format!("/containers/{}/{action}", escape(&name));
        async move { client.send(Method::POST, &path, None).await.map(drop) }
    })
    .await
}

/// `top CONTAINER [ps OPTIONS]`: the daemon's titles and rows through Go's tabwriter
/// (minimum width 20, padding 3), as docker/cli prints them.
pub async fn top(client: &Client, args: TopArgs) -> anyhow::Result<ExitCode> {
    let (container, ps_args) = args.args.split_first().expect("clap requires a container");
    let query = if ps_args.is_empty() {
        String::new()
    } else {
        format!("?{}", encode(&[("ps_args", &ps_args.join(" "))]))
    };
    let top: TopResponse = match client
        .get_json(&format!("/containers/{}/top{query}", escape(container)))
        .await
    {
        Ok(top) => top,
        Err(err) => return daemon_failure(err),
    };
    let mut lines = vec![top.titles.join("\t")];
    lines.extend(top.processes.iter().map(|row| row.join("\t")));
    print_aligned(&lines, 20, 3)?;
    Ok(ExitCode::SUCCESS)
}

/// docker/cli's change kinds: 0 modified, 1 added, 2 deleted.
pub fn change_letter(kind: u8) -> &'static str {
    match kind {
        0 => "C",
        1 => "A",
        2 => "D",
        _ => "",
    }
}

/// `diff`: `{{.Type}} {{.Path}}` per change.
pub async fn diff(client: &Client, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let changes: Option<Vec<FilesystemChange>> = match client
        .get_json(&format!("/containers/{}/changes", escape(&args.container)))
        .await
    {
        Ok(changes) => changes,
        Err(err) => return daemon_failure(err),
    };
    let mut out = std::io::stdout().lock();
    for change in changes.unwrap_or_default() {
        writeln!(out, "{} {}", change_letter(change.kind), change.path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// docker/cli's `ValidateOutputPath`: the parent must exist, and an existing path must be
/// a directory or a regular file.
pub fn validate_output_path(path: &str) -> Result<(), String> {
    let clean = crate::commands::cp::clean(path);
    let dir = crate::commands::cp::dir(&clean);
    if !dir.is_empty() && dir != "." && !std::path::Path::new(&dir).exists() {
        return Err(format!(
            "invalid output path: stat {dir}: no such file or directory"
        ));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_block_device() || kind.is_char_device() {
            return Err(format!(
                "invalid output path: {path:?} must be a directory or a regular file: got a device"
            ));
        }
        if !(kind.is_dir() || kind.is_file()) {
            return Err(format!(
                "invalid output path: {path:?} must be a directory or a regular file: got an irregular file"
            ));
        }
    }
    Ok(())
}

/// docker/cli's `CopyToFile`: a temporary file beside `path`, renamed over it at the end.
async fn copy_to_file(mut stream: ResponseStream, path: &str) -> anyhow::Result<()> {
    let target = std::path::Path::new(path);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let temp = dir.join(format!(".docker_temp_{}", std::process::id()));
    let result = async {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        while let Some(chunk) = stream.next_chunk().await? {
            file.write_all(&chunk)?;
        }
        file.flush()?;
        drop(file);
        std::fs::rename(&temp, target)?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `export [-o FILE] CONTAINER`.
pub async fn export(client: &Client, args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        eprintln!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return Ok(ExitCode::from(1));
    }
    if let Some(path) = &args.output {
        if let Err(message) = validate_output_path(path) {
            eprintln!("failed to export container: {message}");
            return Ok(ExitCode::from(1));
        }
    }
    let response = match client
        .send(
            Method::GET,
            &format!("/containers/{}/export", escape(&args.container)),
            None,
        )
        .await
    {
        Ok(r) => r,
        Err(err) => return daemon_failure(err),
    };
    let mut stream = ResponseStream::new(response);
    match &args.output {
        Some(path) => copy_to_file(stream, path).await?,
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = stream.next_chunk().await? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: prints the new image ID.
pub async fn commit(client: &Client, args: CommitArgs) -> anyhow::Result<ExitCode> {
    let (mut repo, mut tag) = (String::new(), String::new());
    if let Some(reference) = &args.reference {
        match berth_types::reference::parse_named_with_default_tag(reference) {
            Ok(named) => {
                repo = named.familiar_name();
                tag = named.tag().unwrap_or("latest").to_string();
            }
            Err(err) => {
                eprintln!("{err}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    let mut pairs: Vec<(&str, &str)> = vec![
        ("container", &args.container),
        ("repo", &repo),
        ("tag", &tag),
        ("comment", args.message.as_deref().unwrap_or_default()),
        ("author", args.author.as_deref().unwrap_or_default()),
    ];
    for change in &args.change {
        pairs.push(("changes", change));
    }
    if !args.pause {
        pairs.push(("pause", "0"));
    }
    let created: Value = match client
        .call_json(Method::POST, &format!("/commit?{}", encode(&pairs)), None)
        .await
    {
        Ok(v) => v,
        Err(err) => return daemon_failure(err),
    };
    println!("{}", created["Id"].as_str().unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// The body of `update` from its flags, as docker/cli builds `container.UpdateConfig`.
pub fn update_request(args: &UpdateArgs) -> Result<UpdateRequest, String> {
    let flag = |name: &str, value: &str, err: String| {
        format!("invalid argument \"{value}\" for \"{name}\" flag: {err}")
    };
    let given = args.blkio_weight.is_some()
        || args.cpu_period.is_some()
        || args.cpu_quota.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
        || args.cpu_shares.is_some()
        || args.memory.is_some()
        || args.memory_reservation.is_some()
        || args.memory_swap.is_some()
        || args.restart.is_some()
        || args.pids_limit.is_some()
        || args.cpus.is_some();
    if !given {
        return Err("you must provide one or more flags when using this command".into());
    }
    let size = |name: &str, value: &Option<String>| -> Result<i64, String> {
        match value {
            Some(v) => opts::ram_in_bytes(v).map_err(|e| flag(name, v, e)),
            None => Ok(0),
        }
    };
    let mut request = UpdateRequest::default();
    let resources = &mut request.resources;
    resources.blkio_weight = args.blkio_weight.unwrap_or(0);
    resources.cpu_period = args.cpu_period.unwrap_or(0);
    resources.cpu_quota = args.cpu_quota.unwrap_or(0);
    resources.cpuset_cpus = args.cpuset_cpus.clone().unwrap_or_default();
    resources.cpuset_mems = args.cpuset_mems.clone().unwrap_or_default();
    resources.cpu_shares = args.cpu_shares.unwrap_or(0);
    resources.memory = size("-m, --memory", &args.memory)?;
    resources.memory_reservation = size("--memory-reservation", &args.memory_reservation)?;
    resources.memory_swap = match &args.memory_swap {
        Some(v) => opts::memory_swap(v).map_err(|e| flag("--memory-swap", v, e))?,
        None => 0,
    };
    resources.nano_cpus = match &args.cpus {
        Some(v) => opts::nano_cpus(v).map_err(|e| flag("--cpus", v, e))?,
        None => 0,
    };
    resources.pids_limit = args.pids_limit.filter(|&p| p != 0);
    if let Some(restart) = args.restart.as_deref().filter(|r| !r.is_empty()) {
        request.restart_policy = opts::restart_policy(restart)?;
    }
    Ok(request)
}

/// `update [OPTIONS] CONTAINER...`: prints each updated name, then the daemon's warnings.
pub async fn update(client: &Client, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let request = match update_request(&args) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("{message}");
            return Ok(ExitCode::from(1));
        }
    };
    let body = serde_json::to_value(&request)?;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &args.containers {
        match client
            .call_json::<Value>(
                Method::POST,
                &format!("/containers/{}/update", escape(name)),
                Some(&body),
            )
            .await
        {
            Ok(v) => {
                println!("{name}");
                if let Some(list) = v["Warnings"].as_array() {
                    warnings.extend(list.iter().filter_map(Value::as_str).map(String::from));
                }
            }
            Err(err @ ClientError::Daemon { .. }) => errors.push(err.to_string()),
            Err(err) => return Err(err.into()),
        }
    }
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
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

/// docker/cli's confirmation prompt (on stdout): true only for `y` or `Y`.
pub fn confirm(message: &str) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    write!(out, "{message} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// `container prune [-f] [--filter]`.
pub async fn prune(client: &Client, args: ContainerPruneArgs) -> anyhow::Result<ExitCode> {
    let mut filters = Filters::default();
    for pair in &args.filter {
        let Some((key, value)) = pair.split_once('=') else {
            eprintln!("invalid argument \"{pair}\" for \"--filter\" flag: bad format of filter (expected name=value)");
            return Ok(ExitCode::from(125));
        };
        filters.add(key, value);
    }
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(ExitCode::SUCCESS);
    }
    let query = if filters.is_empty() {
        String::new()
    } else {
        format!("?{}", encode(&[("filters", &filters.to_json())]))
    };
    let report: ContainerPruneReport = match client
        .call_json(Method::POST, &format!("/containers/prune{query}"), None)
        .await
    {
        Ok(r) => r,
        Err(err) => return daemon_failure(err),
    };
    let deleted = report.containers_deleted.unwrap_or_default();
    let mut reclaimed = 0;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
        reclaimed = report.space_reclaimed;
    }
    println!(
        "Total reclaimed space: {}",
        human_size_precision(reclaimed as f64, 4)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse_update(args: &[&str]) -> UpdateArgs {
        let mut argv = vec!["berth", "update"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Update(update) => update,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_flags_become_dockers_update_config() {
        let args = parse_update(&[
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:2",
            "--cpuset-cpus",
            "0",
            "c1",
        ]);
        let body = serde_json::to_value(update_request(&args).unwrap()).unwrap();
        assert_eq!(body["Memory"], 64 << 20);
        assert_eq!(body["MemorySwap"], -1);
        assert_eq!(body["NanoCpus"], 500_000_000);
        assert_eq!(body["PidsLimit"], 50);
        assert_eq!(body["CpusetCpus"], "0");
        assert_eq!(
            body["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
        );
        let none = parse_update(&["c1"]);
        assert_eq!(
            update_request(&none).unwrap_err(),
            "you must provide one or more flags when using this command"
        );
    }

    #[test]
    fn change_kinds_are_dockers_letters() {
        assert_eq!([0, 1, 2].map(change_letter), ["C", "A", "D"]);
    }
}
