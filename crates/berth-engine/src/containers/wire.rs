//! Records as Docker's wire shapes: `GET /containers/{id}/json` and the `ps` rows, with
//! Docker's zero values, time formats and status texts.

use super::store::{ContainerRecord, Status};
use berth_api::models::container::{
    ContainerInspect, ContainerState, ContainerSummary, DriverData, NetworkSettings,
    SummaryHostConfig, SummaryNetworkSettings,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Go's zero time, as Docker shows times that never happened.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn or_zero(time: &str) -> String {
    if time.is_empty() {
        GO_ZERO_TIME.to_string()
    } else {
        time.to_string()
    }
}

fn parse_time(time: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Running as Docker counts it: a restarting container is still "running" (moby's
/// `SetRestarting`), so rm and stop treat it as up.
pub fn is_running(record: &ContainerRecord) -> bool {
    matches!(record.state.status, Status::Running | Status::Restarting)
}

/// moby `State.StateString`: the `State` of ps rows, inspect's `State.Status`, and what
/// the `status` filter matches.
pub fn state_string(record: &ContainerRecord, removing: bool) -> &'static str {
    match record.state.status {
        Status::Running if record.state.paused => "paused",
        Status::Running => "running",
        Status::Restarting => "restarting",
        _ if removing => "removing",
        Status::Dead => "dead",
        _ if record.state.started_at.is_empty() => "created",
        _ => "exited",
    }
}

pub fn inspect(record: &ContainerRecord, removing: bool) -> ContainerInspect {
    let s = &record.state;
    let state = ContainerState {
        status: state_string(record, removing).to_string(),
        running: is_running(record),
        restarting: s.status == Status::Restarting,
        paused: s.paused && s.status == Status::Running,
        dead: s.status == Status::Dead,
        oom_killed: s.oom_killed,
        pid: i64::from(s.pid),
        exit_code: s.exit_code,
        error: s.error.clone(),
        started_at: or_zero(&s.started_at),
        finished_at: or_zero(&s.finished_at),
        health: s.health.clone(),
    };
    let path = |p: &std::path::Path| p.display().to_string();
    ContainerInspect {
        id: record.id.clone(),
        created: record.created.clone(),
        path: record.path.clone(),
        args: record.args.clone(),
        state: Some(state),
        image: record.image_id.clone(),
        resolv_conf_path: path(&record.paths.resolv_conf),
        hostname_path: path(&record.paths.hostname),
        hosts_path: path(&record.paths.hosts),
        log_path: path(&record.paths.log),
        name: record.name.clone(),
        restart_count: record.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        host_config: Some({
            let mut host_config = record.host_config.clone();
            // Records from before restart policies were validated may hold "".
            if host_config.restart_policy.name.is_empty() {
                host_config.restart_policy.name = "no".into();
            }
            host_config
        }),
        graph_driver: DriverData {
            name: "overlay2".into(),
            data: None,
        },
        config: Some(record.config.clone()),
        network_settings: Some(NetworkSettings {
            networks: Some(BTreeMap::new()),
            ports: Some(BTreeMap::new()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    let minutes = d.num_minutes();
    // Go rounds here: int(d.Hours() + 0.5).
    let hours = (d.num_seconds() as f64 / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// moby `State.String`: the `Status` column of ps.
pub fn status_text(record: &ContainerRecord, removing: bool, now: DateTime<Utc>) -> String {
    let since = |t: &str| {
        parse_time(t)
            .map(|t| human_duration(now - t))
            .unwrap_or_default()
    };
    let s = &record.state;
    match s.status {
        Status::Running if s.paused => format!("Up {} (Paused)", since(&s.started_at)),
        Status::Running => match super::health::status_of(record) {
            "none" => format!("Up {}", since(&s.started_at)),
            "starting" => format!("Up {} (health: starting)", since(&s.started_at)),
            health => format!("Up {} ({health})", since(&s.started_at)),
        },
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        _ if removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        _ if s.started_at.is_empty() => "Created".into(),
        _ if s.finished_at.is_empty() => String::new(),
        _ => format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at)),
    }
}

pub fn summary(record: &ContainerRecord, removing: bool, now: DateTime<Utc>) -> ContainerSummary {
    let mut command = vec![record.path.clone()];
    command.extend(record.args.iter().cloned());
    let network_mode = match record.host_config.network_mode.as_str() {
        "" => "bridge".to_string(),
        other => other.to_string(),
    };
    ContainerSummary {
        id: record.id.clone(),
        names: vec![record.name.clone()],
        image: record.image_name.clone(),
        image_id: record.image_id.clone(),
        command: command.join(" "),
        created: parse_time(&record.created).map_or(0, |t| t.timestamp()),
        labels: Some(record.config.labels.clone().unwrap_or_default()),
        state: state_string(record, removing).to_string(),
        status: status_text(record, removing, now),
        host_config: SummaryHostConfig {
            network_mode,
            ..Default::default()
        },
        network_settings: Some(SummaryNetworkSettings {
            networks: Some(BTreeMap::new()),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn record(status: Status, started: &str, finished: &str, code: i64) -> ContainerRecord {
        let mut r = ContainerRecord::default();
        r.state.status = status;
        r.state.started_at = started.into();
        r.state.finished_at = finished.into();
        r.state.exit_code = code;
        r
    }

    #[test]
    fn states_and_status_texts_read_like_dockers() {
        let now = parse_time("2024-01-01T00:02:00Z").unwrap();
        let created = record(Status::Created, "", "", 0);
        assert_eq!(state_string(&created, false), "created");
        assert_eq!(status_text(&created, false, now), "Created");
        let up = record(Status::Running, "2024-01-01T00:01:57Z", "", 0);
        assert_eq!(state_string(&up, false), "running");
        assert_eq!(status_text(&up, false, now), "Up 3 seconds");
        let exited = record(
            Status::Exited,
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            3,
        );
        assert_eq!(state_string(&exited, false), "exited");
        assert_eq!(status_text(&exited, false, now), "Exited (3) 2 minutes ago");
        assert_eq!(state_string(&exited, true), "removing");
        assert_eq!(status_text(&exited, true, now), "Removal In Progress");
        let restarting = record(
            Status::Restarting,
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:01:58Z",
            1,
        );
        assert_eq!(state_string(&restarting, false), "restarting");
        assert_eq!(
            status_text(&restarting, false, now),
            "Restarting (1) 2 seconds ago"
        );
        let inspected = inspect(&restarting, false);
        let state = inspected.state.unwrap();
        assert!(state.running && state.restarting && !state.dead);
        // A start that failed leaves exit code 128 but no start time: still "created".
        let failed = record(Status::Exited, "", "", 128);
        assert_eq!(state_string(&failed, false), "created");
    }

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(
            human_duration(Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::seconds(3)), "3 seconds");
        assert_eq!(human_duration(Duration::seconds(70)), "About a minute");
        assert_eq!(human_duration(Duration::minutes(5)), "5 minutes");
        assert_eq!(human_duration(Duration::hours(5)), "5 hours");
    }
}
