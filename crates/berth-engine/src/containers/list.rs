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
        // No health checks run here yet, so every container's health is "none".
        if f.contains("health") && !f.exact_match("health", "none") {
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
        self.images
            .snapshotter()
            .usage(id)
            .map_or(0, |u| u.size as i64)
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
    use super::*;

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
