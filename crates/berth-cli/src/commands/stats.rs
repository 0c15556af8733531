//! `stats`: one `GET /containers/{id}/stats` stream per container, the numbers computed as
//! docker/cli computes them (`stats_helpers.go`), the table redrawn in place every half
//! second as docker's, or printed once with `--no-stream`.

use crate::cli::StatsArgs;
use crate::commands::containers::{encode, escape};
use crate::commands::system::binary_size;
use crate::format::render;
use crate::output::{human_size, short_id};
use berth_client::{Client, ClientError, ResponseStream};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STATS_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// docker/cli's `StatsEntry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsEntry {
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percentage: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percentage: f64,
    pub network_rx: f64,
    pub network_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids_current: u64,
    pub is_invalid: bool,
}

/// One tracked container: its latest numbers and its last error.
#[derive(Debug, Default)]
struct Tracked {
    entry: StatsEntry,
    error: Option<String>,
    first_seen: bool,
}

type Shared = Arc<Mutex<Vec<Tracked>>>;

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_u64().unwrap_or(0)
}

/// docker/cli's `calculateCPUPercentUnix`.
pub fn cpu_percent_unix(stats: &Value) -> f64 {
    let cpu = &stats["cpu_stats"];
    let pre = &stats["precpu_stats"];
    let cpu_delta = u64_at(cpu, &["cpu_usage", "total_usage"]) as f64
        - u64_at(pre, &["cpu_usage", "total_usage"]) as f64;
    let system_delta =
        u64_at(cpu, &["system_cpu_usage"]) as f64 - u64_at(pre, &["system_cpu_usage"]) as f64;
    let mut online = u64_at(cpu, &["online_cpus"]) as f64;
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// docker/cli's `calculateMemUsageUnixNoCache`: usage minus `total_inactive_file` (cgroup
/// v1) or `inactive_file` (v2), when smaller than the usage.
pub fn memory_usage_no_cache(memory: &Value) -> f64 {
    let usage = u64_at(memory, &["usage"]);
    let stats = &memory["stats"];
    if let Some(v1) = stats["total_inactive_file"].as_u64() {
        if v1 < usage {
            return (usage - v1) as f64;
        }
    }
    let v2 = stats["inactive_file"].as_u64().unwrap_or(0);
    if v2 < usage {
        return (usage - v2) as f64;
    }
    usage as f64
}

/// docker/cli's `calculateBlockIO`: bytes by operation, read and write.
pub fn block_io(stats: &Value) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    if let Some(entries) = stats["blkio_stats"]["io_service_bytes_recursive"].as_array() {
        for entry in entries {
            let value = entry["value"].as_u64().unwrap_or(0);
            match entry["op"].as_str().and_then(|op| op.chars().next()) {
                Some('r' | 'R') => read += value,
                Some('w' | 'W') => write += value,
                _ => {}
            }
        }
    }
    (read, write)
}

/// docker/cli's `calculateNetwork`: the sums over every interface.
pub fn network_io(stats: &Value) -> (f64, f64) {
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(networks) = stats["networks"].as_object() {
        for n in networks.values() {
            rx += n["rx_bytes"].as_u64().unwrap_or(0) as f64;
            tx += n["tx_bytes"].as_u64().unwrap_or(0) as f64;
        }
    }
    (rx, tx)
}

/// One decoded stats document as docker/cli's entry (Linux daemons).
pub fn entry_from(stats: &Value) -> StatsEntry {
    let memory = memory_usage_no_cache(&stats["memory_stats"]);
    let limit = u64_at(stats, &["memory_stats", "limit"]) as f64;
    let (rx, tx) = network_io(stats);
    let (read, write) = block_io(stats);
    StatsEntry {
        container: String::new(),
        name: stats["name"].as_str().unwrap_or_default().to_string(),
        id: stats["id"].as_str().unwrap_or_default().to_string(),
        cpu_percentage: cpu_percent_unix(stats),
        memory,
        memory_limit: limit,
        memory_percentage: if limit != 0.0 {
            memory / limit * 100.0
        } else {
            0.0
        },
        network_rx: rx,
        network_tx: tx,
        block_read: read as f64,
        block_write: write as f64,
        pids_current: u64_at(stats, &["pids_stats", "current"]),
        is_invalid: false,
    }
}

fn percentage(value: f64) -> String {
    format!("{value:.2}%")
}

/// The template fields of docker/cli's `statsContext`.
pub fn row(entry: &StatsEntry, trunc: bool) -> Value {
    let invalid = entry.is_invalid;
    let dash = |text: String| if invalid { "--".to_string() } else { text };
    json!({
        "Container": entry.container,
        "Name": if entry.name.len() > 1 { entry.name[1..].to_string() } else { "--".to_string() },
        "ID": if trunc { short_id(&entry.id) } else { entry.id.clone() },
        "CPUPerc": dash(percentage(entry.cpu_percentage)),
        "MemUsage": if invalid {
            "-- / --".to_string()
        } else {
            format!("{} / {}", binary_size(entry.memory), binary_size(entry.memory_limit))
        },
        "MemPerc": dash(percentage(entry.memory_percentage)),
        "NetIO": dash(format!("{} / {}", human_size(entry.network_rx), human_size(entry.network_tx))),
        "BlockIO": dash(format!("{} / {}", human_size(entry.block_read), human_size(entry.block_write))),
        "PIDs": dash(entry.pids_current.to_string()),
    })
}

fn header() -> Value {
    json!({
        "Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

fn with<T>(shared: &Shared, container: &str, f: impl FnOnce(&mut Tracked) -> T) -> Option<T> {
    let mut list = shared.lock().unwrap_or_else(|e| e.into_inner());
    list.iter_mut()
        .find(|t| t.entry.container == container)
        .map(f)
}

/// Adds `container` unless already tracked; true when added.
fn add(shared: &Shared, container: &str) -> bool {
    let mut list = shared.lock().unwrap_or_else(|e| e.into_inner());
    if list.iter().any(|t| t.entry.container == container) {
        return false;
    }
    list.push(Tracked {
        entry: StatsEntry {
            container: container.to_string(),
            ..Default::default()
        },
        ..Default::default()
    });
    true
}

fn remove(shared: &Shared, container: &str) {
    let mut list = shared.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|t| t.entry.container != container);
}

/// docker/cli's `collect`: reads the stream; two seconds without a sample resets the row to
/// `--`. Returns after the first sample when not streaming.
async fn collect(client: Client, shared: Shared, container: String, stream: bool) {
    let path = format!(
        "/containers/{}/stats?{}",
        escape(&container),
        encode(&[("stream", if stream { "1" } else { "0" })])
    );
    let mark_seen = |error: Option<String>, reset: bool| {
        with(&shared, &container, |t| {
            if reset {
                let keep = t.entry.container.clone();
                t.entry = StatsEntry {
                    container: keep,
                    name: std::mem::take(&mut t.entry.name),
                    id: std::mem::take(&mut t.entry.id),
                    ..Default::default()
                };
            }
            if error.is_some() {
                t.entry.is_invalid = true;
            }
            t.error = error;
            t.first_seen = true;
        });
    };
    let response = match client.send(http::Method::GET, &path, None).await {
        Ok(r) => r,
        Err(err) => {
            mark_seen(Some(err.to_string()), false);
            return;
        }
    };
    let mut lines = ResponseStream::new(response);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
            Err(_) => mark_seen(Some("timeout waiting for stats".into()), true),
            Ok(Ok(Some(line))) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(&line) {
                    Ok(v) => {
                        let mut entry = entry_from(&v);
                        with(&shared, &container, |t| {
                            entry.container = t.entry.container.clone();
                            t.entry = entry;
                            t.error = None;
                            t.first_seen = true;
                        });
                    }
                    Err(err) => mark_seen(Some(err.to_string()), false),
                }
                if !stream {
                    return;
                }
            }
            Ok(Ok(None)) => {
                mark_seen(Some("EOF".into()), false);
                return;
            }
            Ok(Err(err @ ClientError::Daemon { .. })) | Ok(Err(err)) => {
                mark_seen(Some(err.to_string()), false);
                return;
            }
        }
    }
}

fn start(client: &Client, shared: &Shared, container: &str, stream: bool) {
    if add(shared, container) {
        tokio::spawn(collect(
            client.clone(),
            shared.clone(),
            container.to_string(),
            stream,
        ));
    }
}

/// Waits until every tracked container has its first sample or error.
async fn wait_first(shared: &Shared) {
    loop {
        let done = shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|t| t.first_seen);
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Follows container events when no names were given: start adds a container (create too
/// with `--all`), die removes it (unless `--all`).
async fn follow_events(client: Client, shared: Shared, all: bool, stream: bool) {
    let filters = r#"{"type":{"container":true}}"#;
    let Ok(mut events) = client
        .stream(&format!("/events?{}", encode(&[("filters", filters)])))
        .await
    else {
        return;
    };
    while let Ok(Some(line)) = events.next_line().await {
        let Ok(event) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        let id = short_id(event["id"].as_str().unwrap_or_default());
        match event["Action"].as_str().unwrap_or_default() {
            "create" if all => start(&client, &shared, &id, stream),
            "start" => start(&client, &shared, &id, stream),
            "die" if !all => remove(&shared, &id),
            _ => {}
        }
    }
}

fn snapshot(shared: &Shared, trunc: bool) -> Vec<Value> {
    shared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|t| row(&t.entry, trunc))
        .collect()
}

/// Redraws in place: cursor home, each line cleared to its end, the rest of the screen
/// cleared (fewer containers than before leave nothing behind).
fn redraw(table: &str) -> String {
    let mut screen = String::from("\x1b[H");
    for line in table.lines() {
        screen.push_str(line);
        screen.push_str("\x1b[K\n");
    }
    screen.push_str("\x1b[J");
    screen
}

pub async fn stats(client: &Client, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let shared: Shared = Arc::default();
    let stream = !args.no_stream;
    let show_all = args.containers.is_empty();
    let format = match args.format.as_deref() {
        None | Some("") | Some("table") => STATS_FORMAT.to_string(),
        Some(f) => f.to_string(),
    };
    // A bad template fails before anything is fetched.
    render(&format, &header(), &[])?;
    if show_all {
        if stream {
            tokio::spawn(follow_events(
                client.clone(),
                shared.clone(),
                args.all,
                stream,
            ));
        }
        let query = if args.all { "?all=1" } else { "" };
        let list: Vec<Value> = client.get_json(&format!("/containers/json{query}")).await?;
        for c in &list {
            start(
                client,
                &shared,
                &short_id(c["Id"].as_str().unwrap_or_default()),
                stream,
            );
        }
        wait_first(&shared).await;
    } else {
        for name in &args.containers {
            start(client, &shared, name, stream);
        }
        wait_first(&shared).await;
        let errors: Vec<String> = shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|t| t.error.clone())
            .collect();
        if !errors.is_empty() {
            eprintln!("{}", errors.join("\n"));
            return Ok(ExitCode::from(1));
        }
    }
    let trunc = !args.no_trunc;
    if !stream {
        let rows = snapshot(&shared, trunc);
        if !rows.is_empty() || format.starts_with("table") {
            print!("{}", render(&format, &header(), &rows)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticker.tick().await;
        let rows = snapshot(&shared, trunc);
        let table = render(&format, &header(), &rows)?;
        let mut out = std::io::stdout().lock();
        out.write_all(redraw(&table).as_bytes())?;
        out.flush()?;
        if rows.is_empty() && !show_all {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_as_docker_computes_it() {
        let stats = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 400_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 200_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
        });
        // 0.2 s of CPU over 2 s of system time on 2 CPUs: 20%.
        assert!((cpu_percent_unix(&stats) - 20.0).abs() < 1e-9);
        // Without online_cpus the per-CPU list counts.
        let stats = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300u64, "percpu_usage": [1, 2, 3, 4]}, "system_cpu_usage": 1000u64},
            "precpu_stats": {"cpu_usage": {"total_usage": 200u64}, "system_cpu_usage": 800u64},
        });
        assert!((cpu_percent_unix(&stats) - 200.0).abs() < 1e-9);
        // The first sample (no previous one) is 0.
        let stats = json!({"cpu_stats": {"cpu_usage": {"total_usage": 5u64}, "system_cpu_usage": 10u64}, "precpu_stats": {}});
        assert_eq!(cpu_percent_unix(&stats), 0.0);
        let stats = json!({"cpu_stats": {"cpu_usage": {"total_usage": 5u64}}, "precpu_stats": {"cpu_usage": {"total_usage": 9u64}}});
        assert_eq!(cpu_percent_unix(&stats), 0.0);
    }

    #[test]
    fn memory_minus_inactive_file_for_v1_and_v2() {
        let v1 = json!({"usage": 10_000u64, "stats": {"total_inactive_file": 4_000u64, "inactive_file": 1u64}});
        assert_eq!(memory_usage_no_cache(&v1), 6_000.0);
        let v2 = json!({"usage": 10_000u64, "stats": {"inactive_file": 3_000u64}});
        assert_eq!(memory_usage_no_cache(&v2), 7_000.0);
        let bigger = json!({"usage": 10u64, "stats": {"inactive_file": 30u64}});
        assert_eq!(memory_usage_no_cache(&bigger), 10.0);
    }

    #[test]
    fn rows_read_like_dockers() {
        let stats = json!({
            "name": "/web", "id": "0123456789abcdef0123",
            "memory_stats": {"usage": 2_097_152u64, "limit": 1_073_741_824u64, "stats": {"inactive_file": 1_048_576u64}},
            "pids_stats": {"current": 3},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 1_000_000},
                {"major": 8, "minor": 0, "op": "Total", "value": 1_004_096}]},
        });
        let row = row(&entry_from(&stats), true);
        assert_eq!(row["Name"], "web");
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["CPUPerc"], "0.00%");
        assert_eq!(row["MemUsage"], "1MiB / 1GiB");
        assert_eq!(row["MemPerc"], "0.10%");
        assert_eq!(row["NetIO"], "0B / 0B");
        assert_eq!(row["BlockIO"], "4.1kB / 1MB");
        assert_eq!(row["PIDs"], "3");
        let invalid = StatsEntry {
            is_invalid: true,
            ..Default::default()
        };
        let row = super::row(&invalid, true);
        assert_eq!(
            (
                row["Name"].as_str(),
                row["MemUsage"].as_str(),
                row["PIDs"].as_str()
            ),
            (Some("--"), Some("-- / --"), Some("--"))
        );
    }

    #[test]
    fn redraw_clears_lines_and_the_rest() {
        assert_eq!(redraw("a\nb\n"), "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
    }
}
