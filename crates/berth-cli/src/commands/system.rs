//! `version`, `info`, `system events` and `system df`.

use crate::cli::{DfArgs, EventsArgs, FormatArgs, Global};
use crate::format::{add_go_names, print_one};
use crate::output::{ansic, human_size_precision, print_aligned};
use berth_api::events::EventMessage;
use berth_api::filters::Filters;
use berth_api::models::system::{SystemDiskUsage, SystemInfo, SystemVersion};
use berth_api::timestamp::Timestamp;
use berth_api::ApiVersion;
use berth_client::Client;
use serde_json::Value;
use std::process::ExitCode;

pub async fn version(global: &Global, args: FormatArgs) -> anyhow::Result<ExitCode> {
    let connected = crate::connect(global).await;
    let server = match &connected {
        Ok(client) => Some(client.get_json::<SystemVersion>("/version").await),
        Err(_) => None,
    };
    let negotiated = connected.as_ref().map_or(ApiVersion::MAX, Client::version);
    let client_section = serde_json::json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": negotiated.to_string(),
        "DefaultAPIVersion": ApiVersion::MAX.to_string(),
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": crate::output::go_arch(),
        "BuildTime": "",
        "Context": "default",
    });
    let server_ok = matches!(server, Some(Ok(_)));
    if let Some(format) = &args.format {
        let server_value = match &server {
            Some(Ok(v)) => serde_json::to_value(v)?,
            _ => Value::Null,
        };
        let mut doc = serde_json::json!({"Client": client_section, "Server": server_value});
        if format != "json" {
            // Docker's Go structs call these APIVersion; their JSON tags say ApiVersion.
            add_go_names(&mut doc, &[("ApiVersion", "APIVersion")]);
        }
        print_one(format, &doc)?;
    } else {
        let downgraded = if negotiated < ApiVersion::MAX {
            format!(" (downgraded from {})", ApiVersion::MAX)
        } else {
            String::new()
        };
        let mut lines = vec![
            "Client:".to_string(),
            format!(" Version:\t{}", env!("CARGO_PKG_VERSION")),
            format!(" API version:\t{negotiated}{downgraded}"),
            format!(" OS/Arch:\tlinux/{}", std::env::consts::ARCH),
        ];
        if let Some(Ok(v)) = &server {
            lines.push(String::new());
            lines.push(format!("Server: {}", v.platform.name));
            for component in &v.components {
                lines.push(format!(" {}:", component.name));
                let detail = |key: &str| {
                    component
                        .details
                        .as_ref()
                        .and_then(|d| d.get(key))
                        .cloned()
                        .unwrap_or_default()
                };
                lines.push(format!("  Version:\t{}", component.version));
                lines.push(format!(
                    "  API version:\t{} (minimum version {})",
                    detail("ApiVersion"),
                    detail("MinAPIVersion")
                ));
                lines.push(format!("  Rust version:\t{}", detail("GoVersion")));
                lines.push(format!("  Git commit:\t{}", detail("GitCommit")));
                lines.push(format!("  Built:\t{}", ansic(&detail("BuildTime"))));
                lines.push(format!("  OS/Arch:\t{}/{}", detail("Os"), detail("Arch")));
                lines.push(format!("  Experimental:\t{}", detail("Experimental")));
            }
        }
        print_aligned(&lines, 20, 1)?;
    }
    match (connected, server) {
        (Err(err), _) => Err(err),
        (_, Some(Err(err))) => Err(err.into()),
        _ if server_ok => Ok(ExitCode::SUCCESS),
        _ => Ok(ExitCode::from(1)),
    }
}

pub async fn info(client: &Client, args: FormatArgs) -> anyhow::Result<ExitCode> {
    let info: SystemInfo = client.get_json("/info").await?;
    if let Some(format) = &args.format {
        print_one(format, &serde_json::to_value(&info)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for line in info_lines(&info) {
        println!("{line}");
    }
    for warning in &info.warnings {
        eprintln!("{warning}");
    }
    Ok(ExitCode::SUCCESS)
}

fn info_lines(info: &SystemInfo) -> Vec<String> {
    let yes_no = |b: bool| b.to_string();
    let mut lines = vec![
        "Server:".to_string(),
        format!(" Containers: {}", info.containers),
        format!("  Running: {}", info.containers_running),
        format!("  Paused: {}", info.containers_paused),
        format!("  Stopped: {}", info.containers_stopped),
        format!(" Images: {}", info.images),
        format!(" Server Version: {}", info.server_version),
        format!(" Storage Driver: {}", info.driver),
    ];
    lines.extend(
        info.driver_status
            .iter()
            .map(|[k, v]| format!("  {k}: {v}")),
    );
    lines.push(format!(" Logging Driver: {}", info.logging_driver));
    lines.push(format!(" Cgroup Driver: {}", info.cgroup_driver));
    lines.push(format!(" Cgroup Version: {}", info.cgroup_version));
    lines.push(" Plugins:".into());
    lines.push(format!("  Volume: {}", info.plugins.volume.join(" ")));
    lines.push(format!("  Network: {}", info.plugins.network.join(" ")));
    lines.push(format!("  Log: {}", info.plugins.log.join(" ")));
    lines.push(format!(" Swarm: {}", info.swarm.local_node_state));
    let runtimes: Vec<&str> = info.runtimes.keys().map(String::as_str).collect();
    lines.push(format!(" Runtimes: {}", runtimes.join(" ")));
    lines.push(format!(" Default Runtime: {}", info.default_runtime));
    if !info.security_options.is_empty() {
        lines.push(" Security Options:".into());
        for option in &info.security_options {
            for (i, part) in option.split(',').enumerate() {
                let (key, value) = part.split_once('=').unwrap_or(("", part));
                match (i, key) {
                    (0, "name") => lines.push(format!("  {value}")),
                    _ => lines.push(format!("   {}: {value}", capitalise(key))),
                }
            }
        }
    }
    lines.push(format!(" Kernel Version: {}", info.kernel_version));
    lines.push(format!(" Operating System: {}", info.operating_system));
    lines.push(format!(" OSType: {}", info.os_type));
    lines.push(format!(" Architecture: {}", info.architecture));
    lines.push(format!(" CPUs: {}", info.ncpu));
    lines.push(format!(
        " Total Memory: {}",
        binary_size(info.mem_total as f64)
    ));
    lines.push(format!(" Name: {}", info.name));
    lines.push(format!(" ID: {}", info.id));
    lines.push(format!(" Berth Root Dir: {}", info.docker_root_dir));
    lines.push(format!(" Debug Mode: {}", yes_no(info.debug)));
    if !info.labels.is_empty() {
        lines.push(" Labels:".into());
        lines.extend(info.labels.iter().map(|l| format!("  {l}")));
    }
    lines.push(format!(
        " Experimental: {}",
        yes_no(info.experimental_build)
    ));
    lines.push(" Insecure Registries:".into());
    lines.extend(
        info.registry_config
            .insecure_registry_cidrs
            .iter()
            .map(|c| format!("  {c}")),
    );
    if !info.registry_config.mirrors.is_empty() {
        lines.push(" Registry Mirrors:".into());
        lines.extend(
            info.registry_config
                .mirrors
                .iter()
                .map(|m| format!("  {m}")),
        );
    }
    lines.push(format!(
        " Live Restore Enabled: {}",
        yes_no(info.live_restore_enabled)
    ));
    lines
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// Docker's `units.BytesSize`: binary units with two decimals (`23.54GiB`).
pub(crate) fn binary_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", crate::output::go_format_g(size, 4), UNITS[unit])
}

/// The query string for `GET /events` from the CLI's flags; times are converted the way the
/// docker CLI converts them (durations and dates become `SECONDS.NANOSECONDS`).
fn events_query(args: &EventsArgs) -> anyhow::Result<String> {
    let now = Timestamp::now();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(value) = value {
            query.append_pair(key, &Timestamp::parse(value, now)?.to_wire());
        }
    }
    let mut filters = Filters::default();
    for pair in &args.filter {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        filters.add(key, value);
    }
    if !filters.is_empty() {
        query.append_pair("filters", &filters.to_json());
    }
    Ok(query.finish())
}

pub async fn events(client: &Client, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let template = args
        .format
        .as_deref()
        .map(|f| {
            berth_template::Format::parse(f)
                .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))
        })
        .transpose()?;
    let query = events_query(&args)?;
    let mut stream = client.stream(&format!("/events?{query}")).await?;
    while let Some(line) = stream.next_line().await? {
        if line.is_empty() {
            continue;
        }
        let event: EventMessage = serde_json::from_slice(&line)?;
        match &template {
            Some(template) => {
                let mut row: Value = serde_json::from_slice(&line)?;
                if !matches!(template, berth_template::Format::Json(_)) {
                    add_go_names(&mut row, EVENT_GO_NAMES);
                }
                print!("{}", template.render_rows(&Value::Null, &[row])?);
            }
            None => println!("{}", pretty_event(&event)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Go field names of `events.Message` whose JSON tags differ.
const EVENT_GO_NAMES: &[(&str, &str)] = &[
    ("scope", "Scope"),
    ("time", "Time"),
    ("timeNano", "TimeNano"),
    ("status", "Status"),
    ("id", "ID"),
    ("from", "From"),
];

/// The docker CLI's default event line: local time with nine fractional digits, type,
/// action, actor ID, and the attributes sorted by key.
fn pretty_event(event: &EventMessage) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(event.time_nano)
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%dT%H:%M:%S%.9f%:z")
        .to_string()
        .replace("+00:00", "Z");
    let mut line = format!("{time} {} {} {}", event.kind, event.action, event.actor.id);
    if !event.actor.attributes.is_empty() {
        let mut attributes: Vec<_> = event.actor.attributes.iter().collect();
        attributes.sort();
        let joined: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", joined.join(", ")));
    }
    line
}

const DF_DEFAULT_FORMAT: &str =
    "table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}";

pub async fn df(client: &Client, args: DfArgs) -> anyhow::Result<ExitCode> {
    // Older daemons send null for empty sections.
    let mut raw: Value = client.get_json("/system/df").await?;
    for key in ["Images", "Containers", "Volumes", "BuildCache"] {
        if raw[key].is_null() {
            raw[key] = Value::Array(Vec::new());
        }
    }
    let usage: SystemDiskUsage = serde_json::from_value(raw)?;
    let sum = |rows: &[Value], key: &str, only: &dyn Fn(&Value) -> bool| -> f64 {
        rows.iter()
            .filter(|r| only(r))
            .filter_map(|r| r.get(key).and_then(Value::as_f64))
            .filter(|v| *v > 0.0)
            .sum()
    };
    let int = |r: &Value, key: &str| r.get(key).and_then(Value::as_i64).unwrap_or(0);
    // docker/cli's df: images count as active when a container uses them; what active
    // images hold alone is not reclaimable.
    let images_total = usage.layers_size as f64;
    let images_used = sum(&usage.images, "Size", &|r| int(r, "Containers") > 0)
        - sum(&usage.images, "SharedSize", &|r| int(r, "Containers") > 0);
    let containers_total = sum(&usage.containers, "SizeRw", &|_| true);
    let containers_used = sum(&usage.containers, "SizeRw", &|r| r["State"] == "running");
    let volumes_total = sum(&usage.volumes, "Size", &|_| true);
    let volumes_used = sum(&usage.volumes, "Size", &|r| int(r, "RefCount") > 0);
    let reclaimable = |total: f64, used: f64| {
        let free = (total - used).max(0.0);
        if total > 0.0 {
            format!(
                "{} ({}%)",
                human_size_precision(free, 4),
                (free * 100.0 / total) as i64
            )
        } else {
            human_size_precision(free, 4)
        }
    };
    let row = |kind: &str, count: usize, active: usize, total: f64, used: f64| {
        serde_json::json!({
            "Type": kind,
            "TotalCount": count.to_string(),
            "Active": active.to_string(),
            "Size": human_size_precision(total, 4),
            "Reclaimable": reclaimable(total, used),
        })
    };
    let active =
        |rows: &[Value], test: &dyn Fn(&Value) -> bool| rows.iter().filter(|r| test(r)).count();
    let rows = [
        row(
            "Images",
            usage.images.len(),
            active(&usage.images, &|r| int(r, "Containers") > 0),
            images_total,
            images_used,
        ),
        row(
            "Containers",
            usage.containers.len(),
            active(&usage.containers, &|r| r["State"] == "running"),
            containers_total,
            containers_used,
        ),
        row(
            "Local Volumes",
            usage.volumes.len(),
            active(&usage.volumes, &|r| int(r, "RefCount") > 0),
            volumes_total,
            volumes_used,
        ),
        row("Build Cache", usage.build_cache.len(), 0, 0.0, 0.0),
    ];
    let header = serde_json::json!({
        "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
    });
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") => DF_DEFAULT_FORMAT,
        Some(format) => format,
    };
    if args.verbose {
        return df_verbose(&usage, args.format.as_deref());
    }
    print!("{}", crate::format::render(format, &header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// `system df -v`: docker/cli's four tables (images, containers, volumes, build cache), or
/// a template over `{Images, Containers, Volumes, BuildCache}`.
fn df_verbose(usage: &SystemDiskUsage, format: Option<&str>) -> anyhow::Result<ExitCode> {
    use crate::output::{human_duration_since, human_size, short_id};
    let table = matches!(format, None | Some("") | Some("table"));
    let count = |v: &Value, key: &str| match v.get(key).and_then(Value::as_i64) {
        Some(-1) => "N/A".to_string(),
        Some(n) => n.to_string(),
        None => "0".to_string(),
    };
    let images: Vec<Value> = usage
        .images
        .iter()
        .map(|i| {
            let tags: Vec<&str> = i["RepoTags"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let (mut repo, mut tag) = ("<none>".to_string(), "<none>".to_string());
            if let Some(first) = tags.first().filter(|t| **t != "<none>:<none>") {
                if let Ok(named) = berth_types::reference::parse_named_with_default_tag(first) {
                    repo = named.familiar_name();
                    tag = named.tag().unwrap_or("latest").to_string();
                }
            }
            let size = i["Size"].as_i64().unwrap_or(0);
            let shared = i["SharedSize"].as_i64().unwrap_or(0);
            let (shared_text, unique_text) = if shared == -1 {
                ("N/A".to_string(), "N/A".to_string())
            } else {
                (
                    human_size_precision(shared as f64, 4),
                    human_size_precision((size - shared) as f64, 4),
                )
            };
            let id = i["Id"].as_str().unwrap_or_default();
            serde_json::json!({
                "Repository": repo, "Tag": tag,
                "ID": if table { short_id(id) } else { id.to_string() },
                "CreatedSince": human_duration_since(i["Created"].as_i64().unwrap_or(0)),
                "Size": human_size(size as f64), "SharedSize": shared_text,
                "UniqueSize": unique_text, "Containers": count(i, "Containers"),
            })
        })
        .collect();
    let containers: Vec<Value> = usage
        .containers
        .iter()
        .filter_map(|c| {
            let mut summary: berth_api::models::container::ContainerSummary =
                serde_json::from_value(c.clone()).ok()?;
            // docker/cli does not show the virtual size here.
            summary.size_root_fs = None;
            summary.size_rw = Some(summary.size_rw.unwrap_or(0));
            Some(crate::commands::containers::ps_row(&summary, !table))
        })
        .collect();
    let volumes: Vec<Value> = usage
        .volumes
        .iter()
        .map(|v| {
            let size = match v["UsageData"]["Size"].as_i64() {
                Some(-1) => "N/A".to_string(),
                Some(n) => human_size(n as f64),
                None => "N/A".to_string(),
            };
            serde_json::json!({
                "Name": v["Name"], "Links": count(&v["UsageData"], "RefCount"), "Size": size,
            })
        })
        .collect();
    if !table {
        let doc = serde_json::json!({
            "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": [],
        });
        print_one(format.unwrap_or_default(), &doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    let render = crate::format::render;
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&render(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &serde_json::json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
            "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE",
            "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}),
        &images,
    )?);
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&render(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &serde_json::json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
            "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
            "Status": "STATUS", "Names": "NAMES"}),
        &containers,
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&render(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &serde_json::json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}),
        &volumes,
    )?);
    out.push_str("\nBuild cache usage: 0B\n\n");
    out.push_str(&render(
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        &serde_json::json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
            "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE",
            "Shared": "SHARED"}),
        &[],
    )?);
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn event_line_sorts_attributes() {
        let attributes = HashMap::from([
            ("name".to_string(), "web".to_string()),
            ("image".to_string(), "busybox".to_string()),
        ]);
        let event = EventMessage::new("container", "start", "abc", attributes);
        let line = pretty_event(&event);
        assert!(
            line.ends_with(" container start abc (image=busybox, name=web)"),
            "{line}"
        );
    }

    #[test]
    fn events_query_converts_times_and_filters() {
        let args = EventsArgs {
            filter: vec!["type=container".into()],
            format: None,
            since: Some("1700000000".into()),
            until: Some("2023-11-14T22:13:20Z".into()),
        };
        let query = events_query(&args).unwrap();
        assert!(query.contains("since=1700000000.000000000"), "{query}");
        assert!(query.contains("until=1700000000.000000000"), "{query}");
        assert!(query.contains("filters=%7B%22type%22"), "{query}");
        let bad = EventsArgs {
            filter: vec!["novalue".into()],
            format: None,
            since: None,
            until: None,
        };
        assert!(events_query(&bad).is_err());
    }
}
