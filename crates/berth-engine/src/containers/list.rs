//! `GET /containers/json`: moby's `daemon/list.go` (the filters, their order and messages,
//! newest first, `limit`), built from the in-memory records in one pass under the store's
//! lock (no filesystem or shim work per container unless `size` asks for it).

use super::store::ContainerRecord;
use super::{wire, Containers};
use berth_api::filters::Filters;
use berth_api::models::container::ContainerSummary;
use berth_api::{ApiError, ContainerListOptions};
use std::collections::{HashMap, HashSet};

/// The filters `docker ps` accepts (moby `acceptedPsFilterTags`).
const ACCEPTED: [&str; 15] = [
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
];

const STATES: [&str; 7] = [
    "paused",
    "restarting",
    "running",
    "dead",
    "created",
    "exited",
    "removing",
];
const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// moby's `filters.Args.Match`: an exact value, or the value as a regular expression.
/// Values are matched as literal substrings with optional `^`/`$` anchors, which covers
/// how clients use it (`name=^/web$`, `name=web`).
pub(crate) fn regex_match(filters: &Filters, key: &str, source: &str) -> bool {
    if !filters.contains(key) {
        return true;
    }
    filters.get(key).any(|pattern| {
        if pattern == source {
            return true;
        }
        let (start, rest) = match pattern.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let (end, literal) = match rest.strip_suffix('$') {
            Some(literal) => (true, literal),
            None => (false, rest),
        };
        match (start, end) {
            (true, true) => source == literal,
            (true, false) => source.starts_with(literal),
            (false, true) => source.ends_with(literal),
            (false, false) => source.contains(literal),
        }
    })
}

/// The checked filters, with the values resolved once.
struct Plan<'a> {
    filters: &'a Filters,
    all: bool,
    limit: i64,
    exited: Vec<i64>,
    /// `is-task`: Some(wanted) when given; no container here is a swarm task.
    is_task: Option<bool>,
    before: Option<String>,
    since: Option<String>,
    /// `ancestor`: image IDs of the named images; containers of those images or of
    /// images built on them match.
    ancestors: Option<HashSet<String>>,
}

enum Verdict {
    Include,
    Exclude,
    Stop,
}

impl Containers {
    fn plan<'a>(&self, options: &'a ContainerListOptions) -> Result<Plan<'a>, ApiError> {
        let filters = &options.filters;
        filters.validate(&ACCEPTED)?;
        let mut all = options.all;
        for value in filters.get("status") {
            if !STATES.contains(&value) {
                return Err(ApiError::invalid(format!(
                    "invalid filter 'status={value}'"
                )));
            }
            all = true;
        }
        for value in filters.get("health") {
            if !HEALTH.contains(&value) {
                return Err(ApiError::invalid(format!(
                    "Unrecognised filter value for health: {value}"
                )));
            }
        }
        let exited = filters
            .get("exited")
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::invalid(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let is_task = if filters.contains("is-task") {
            if filters.exact_match("is-task", "true") {
                Some(true)
            } else if filters.exact_match("is-task", "false") {
                Some(false)
            } else {
                let values: Vec<&str> = filters.get("is-task").collect();
                return Err(ApiError::invalid(format!(
                    "Invalid filter 'is-task=[{}]'",
                    values.join(" ")
                )));
            }
        } else {
            None
        };
        // The last value wins, as moby's WalkValues leaves it.
        let mut before = None;
        for value in filters.get("before") {
            before = Some(self.store.resolve(value)?);
        }
        let mut since = None;
        for value in filters.get("since") {
            since = Some(self.store.resolve(value)?);
        }
        let ancestors = filters.contains("ancestor").then(|| {
            filters
                .get("ancestor")
                .filter_map(|name| self.images.inspect(name).ok())
                .map(|image| image.id.to_string())
                .collect()
        });
        Ok(Plan {
            filters,
            all,
            limit: options.limit,
            exited,
            is_task,
            before,
            since,
            ancestors,
        })
    }

    /// Whether `image_id` is one of `wanted` or built on one (its parent chain), cached.
    fn descends_from(
        &self,
        image_id: &str,
        wanted: &HashSet<String>,
        cache: &mut HashMap<String, bool>,
    ) -> bool {
        if let Some(known) = cache.get(image_id) {
            return *known;
        }
        let mut current = image_id.to_string();
        let mut found = false;
        // Bounded: a parent chain longer than this is not an image store's.
        for _ in 0..256 {
            if wanted.contains(&current) {
                found = true;
                break;
            }
            match self.images.inspect(&current) {
                Ok(image) if !image.parent.is_empty() => current = image.parent,
                _ => break,
            }
        }
        cache.insert(image_id.to_string(), found);
        found
    }

    pub(crate) fn list(
        &self,
        options: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        let mut plan = self.plan(options)?;
        let removing: HashSet<String> = self
            .removing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = chrono::Utc::now();
        let mut ancestry = HashMap::new();
        let mut rows = Vec::new();
        {
            let entries = self.store.lock();
            let mut records: Vec<&ContainerRecord> = entries.values().map(|e| &e.record).collect();
            // Newest first, as moby's view lists them.
            records.sort_unstable_by(|a, b| b.created.cmp(&a.created));
            for record in records {
                let removing = removing.contains(&record.id);
                match self.verdict(&mut plan, record, removing, rows.len(), &mut ancestry) {
                    Verdict::Include => rows.push(wire::summary(record, removing, now)),
                    Verdict::Exclude => {}
                    Verdict::Stop => break,
                }
            }
        }
        if options.size {
            self.fill_sizes(&mut rows);
        }
        Ok(rows)
    }

    /// moby's `includeContainerInList`, in its order.
    fn verdict(
        &self,
        plan: &mut Plan<'_>,
        record: &ContainerRecord,
        removing: bool,
        included: usize,
        ancestry: &mut HashMap<String, bool>,
    ) -> Verdict {
        let f = plan.filters;
        let running = wire::is_running(record);
        if !running && !plan.all && plan.limit <= 0 {
            return Verdict::Exclude;
        }
        if let Some(before) = &plan.before {
            if *before == record.id {
                plan.before = None;
            }
            return Verdict::Exclude;
        }
        if plan.since.as_deref() == Some(record.id.as_str()) {
            return Verdict::Stop;
        }
        let labels: HashMap<String, String> = match &record.config.labels {
            Some(labels) if f.contains("label") => labels.clone().into_iter().collect(),
            _ => HashMap::new(),
        };
        if !f.match_kv_list("label", &labels) {
            return Verdict::Exclude;
        }
        let bare = record.name.trim_start_matches('/');
        if !regex_match(f, "name", &record.name) && !regex_match(f, "name", bare) {
            return Verdict::Exclude;
        }
        if !regex_match(f, "id", &record.id) {
            return Verdict::Exclude;
        }
        if plan.is_task == Some(true) {
            return Verdict::Exclude;
        }
        let isolation = match record.host_config.isolation.as_str() {
            "" => "default".to_string(),
            other => other.to_ascii_lowercase(),
        };
        if !regex_match(f, "isolation", &isolation) {
            return Verdict::Exclude;
        }
        if plan.limit > 0 && included as i64 == plan.limit {
            return Verdict::Stop;
        }
        if !plan.exited.is_empty()
            && (running
                || record.state.started_at.is_empty()
                || !plan.exited.contains(&record.state.exit_code))
        {
            return Verdict::Exclude;
        }
        if !regex_match(f, "status", wire::state_string(record, removing)) {
            return Verdict::Exclude;
        }
        if f.contains("health") && !f.exact_match("health", super::health::status_of(record)) {
            return Verdict::Exclude;
        }
        if f.contains("volume") {
            let mounted = bind_paths(record);
            if !f.get("volume").any(|v| {
                mounted
                    .iter()
                    .any(|(source, dest)| v == source || v == dest)
            }) {
                return Verdict::Exclude;
            }
        }
        if let Some(wanted) = &plan.ancestors {
            if wanted.is_empty() || !self.descends_from(&record.image_id, wanted, ancestry) {
                return Verdict::Exclude;
            }
        }
        if f.contains("network") {
            let network = network_name(record);
            if !f.get("network").any(|v| v == network) {
                return Verdict::Exclude;
            }
        }
        // No container publishes or exposes ports yet.
        if f.contains("publish") || f.contains("expose") {
            return Verdict::Exclude;
        }
        Verdict::Include
    }

    /// SizeRw (the container layer's own files) and SizeRootFs (that plus the image).
    fn fill_sizes(&self, rows: &mut [ContainerSummary]) {
        let mut image_sizes: HashMap<String, i64> = HashMap::new();
        for row in rows {
            let rw = self.layer_size(&row.id);
            let image = *image_sizes
                .entry(row.image_id.clone())
                .or_insert_with(|| self.image_size(&row.image_id));
            row.size_rw = Some(rw);
            row.size_root_fs = Some(rw + image);
        }
    }

    fn layer_size(&self, id: &str) -> i64 {
        self.cached_layer_size(id)
    }

    fn image_size(&self, image_id: &str) -> i64 {
        self.images.inspect(image_id).map_or(0, |i| i.size as i64)
    }

    /// (SizeRw, SizeRootFs) of one container (blocking).
    pub(crate) fn sizes(&self, record: &ContainerRecord) -> (i64, i64) {
        let rw = self.layer_size(&record.id);
        (rw, rw + self.image_size(&record.image_id))
    }
}

/// The network a container is attached to: its network mode, `bridge` by default.
pub(crate) fn network_name(record: &ContainerRecord) -> &str {
    match record.host_config.network_mode.as_str() {
        "" | "default" => "bridge",
        other => other,
    }
}

/// (source, destination) of each bind (`src:dst[:options]`).
fn bind_paths(record: &ContainerRecord) -> Vec<(String, String)> {
    record
        .host_config
        .binds
        .iter()
        .flatten()
        .filter_map(|bind| {
            let mut parts = bind.splitn(3, ':');
            let source = parts.next()?;
            let dest = parts.next()?;
            Some((source.to_string(), dest.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::store::Status;
    use super::super::testing::containers;
    use super::*;

    fn record(name: &str, created: u32, status: Status, exit_code: i64) -> ContainerRecord {
        let mut r = ContainerRecord {
            id: format!("{name:a<64}"),
            name: format!("/{name}"),
            created: format!("2024-01-01T00:00:{created:02}Z"),
            ..Default::default()
        };
        r.state.status = status;
        r.state.exit_code = exit_code;
        if status != Status::Created {
            r.state.started_at = "2024-01-01T00:01:00Z".into();
            r.state.finished_at = "2024-01-01T00:02:00Z".into();
        }
        r
    }

    fn names(
        containers: &Containers,
        all: bool,
        limit: i64,
        pairs: &[(&str, &str)],
    ) -> Vec<String> {
        let options = ContainerListOptions {
            all,
            limit,
            filters: Filters::from_pairs(pairs.iter().copied()),
            ..Default::default()
        };
        containers
            .list(&options)
            .expect("list")
            .into_iter()
            .map(|row| row.names[0].trim_start_matches('/').to_string())
            .collect()
    }

    #[test]
    fn filters_and_limits_follow_mobys_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut labelled = record("b", 2, Status::Exited, 3);
        labelled.config.labels = Some([("app".to_string(), "db".to_string())].into());
        let c = containers(
            dir.path(),
            vec![
                record("a", 1, Status::Exited, 0),
                labelled,
                record("c", 3, Status::Created, 0),
                record("d", 4, Status::Running, 0),
                record("e", 5, Status::Restarting, 1),
            ],
        );
        assert_eq!(
            names(&c, false, 0, &[]),
            ["e", "d"],
            "running and restarting"
        );
        assert_eq!(names(&c, true, 0, &[]), ["e", "d", "c", "b", "a"]);
        assert_eq!(
            names(&c, false, 2, &[]),
            ["e", "d"],
            "a limit lists stopped ones too"
        );
        assert_eq!(names(&c, false, 0, &[("status", "exited")]), ["b", "a"]);
        assert_eq!(names(&c, true, 0, &[("status", "restarting")]), ["e"]);
        assert_eq!(names(&c, true, 0, &[("status", "created")]), ["c"]);
        assert_eq!(names(&c, true, 0, &[("exited", "3")]), ["b"]);
        assert_eq!(
            names(&c, true, 0, &[("exited", "0")]),
            ["a"],
            "not the created one"
        );
        assert_eq!(names(&c, true, 0, &[("label", "app=db")]), ["b"]);
        assert_eq!(names(&c, true, 0, &[("before", "c")]), ["b", "a"]);
        assert_eq!(names(&c, true, 0, &[("since", "c")]), ["e", "d"]);
        assert_eq!(names(&c, true, 0, &[("name", "^/d$")]), ["d"]);
        assert_eq!(names(&c, true, 0, &[("is-task", "false")]).len(), 5);
        assert!(names(&c, true, 0, &[("is-task", "true")]).is_empty());
        assert_eq!(names(&c, true, 0, &[("network", "bridge")]).len(), 5);
        assert!(names(&c, true, 0, &[("publish", "80")]).is_empty());
        assert!(names(&c, true, 0, &[("ancestor", "nothere")]).is_empty());
    }

    #[test]
    fn bad_filters_get_dockers_messages() {
        let dir = tempfile::tempdir().unwrap();
        let c = containers(dir.path(), vec![record("a", 1, Status::Exited, 0)]);
        let error = |pairs: &[(&str, &str)]| {
            let options = ContainerListOptions {
                filters: Filters::from_pairs(pairs.iter().copied()),
                ..Default::default()
            };
            c.list(&options).unwrap_err().message
        };
        assert_eq!(error(&[("bogus", "1")]), "invalid filter 'bogus'");
        assert_eq!(error(&[("status", "up")]), "invalid filter 'status=up'");
        assert_eq!(
            error(&[("health", "ok")]),
            "Unrecognised filter value for health: ok"
        );
        assert_eq!(
            error(&[("exited", "x")]),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            error(&[("is-task", "maybe")]),
            "Invalid filter 'is-task=[maybe]'"
        );
        assert_eq!(error(&[("since", "nothere")]), "No such container: nothere");
    }

    #[test]
    fn regex_values_match_like_mobys_for_literals_and_anchors() {
        let f = Filters::from_pairs([("name", "web")]);
        assert!(regex_match(&f, "name", "/my-web-1"));
        assert!(!regex_match(&f, "name", "/db"));
        let f = Filters::from_pairs([("name", "^/web$")]);
        assert!(regex_match(&f, "name", "/web"));
        assert!(!regex_match(&f, "name", "/web2"));
        let f = Filters::from_pairs([("status", "exited")]);
        assert!(regex_match(&f, "status", "exited"));
        assert!(!regex_match(&f, "status", "running"));
        assert!(regex_match(&Filters::default(), "status", "anything"));
    }

    #[test]
    fn binds_split_into_source_and_destination() {
        let mut r = ContainerRecord::default();
        r.host_config.binds = Some(vec!["/tmp/a:/data:ro".into(), "/b:/c".into()]);
        assert_eq!(
            bind_paths(&r),
            vec![
                ("/tmp/a".to_string(), "/data".to_string()),
                ("/b".to_string(), "/c".to_string())
            ]
        );
        assert_eq!(network_name(&r), "bridge");
    }
}
