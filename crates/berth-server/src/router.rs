//! Request paths: the optional `/vX.Y` prefix, canonical-path checks, query parsing, and the
//! table from (method, path) to a route. A path that is not canonical (empty, `.` or `..`
//! segments, a trailing slash) matches no route, so nothing downstream ever sees one.

use http::Method;
use percent_encoding::percent_decode_str;
use std::collections::HashMap;

/// A request path split into its API version (if any) and decoded segments.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedPath {
    pub version: Option<String>,
    pub segments: Vec<String>,
}

/// Splits `/v1.50/containers/json` into `Some("1.50")` and `["containers", "json"]`.
/// Returns None for a non-canonical path.
pub fn parse_path(raw: &str) -> Option<ParsedPath> {
    let rest = raw.strip_prefix('/')?;
    let mut parts: Vec<&str> = rest.split('/').collect();
    let mut version = None;
    if let Some(first) = parts.first() {
        if let Some(number) = first.strip_prefix('v') {
            // moby's route pattern for the prefix is `/v{version:[0-9.]+}`.
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                version = Some(number.to_string());
                parts.remove(0);
            }
        }
    }
    let mut segments = Vec::with_capacity(parts.len());
    for part in parts {
        let decoded = percent_decode_str(part).decode_utf8().ok()?;
        if decoded.is_empty() || decoded == "." || decoded == ".." || decoded.contains('/') {
            return None;
        }
        segments.push(decoded.into_owned());
    }
    Some(ParsedPath { version, segments })
}

/// Query parameters. For a repeated key the first value counts, as with Go's `Form.Get`.
#[derive(Debug, Default, Clone)]
pub struct Query {
    values: HashMap<String, Vec<String>>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            values
                .entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Query { values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of a repeated key (`changes=...&changes=...`), as Go's `r.Form[key]`.
    pub fn get_all(&self, key: &str) -> &[String] {
        self.values.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn get_or_empty(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    /// Docker's boolean query values: empty, `0`, `no`, `false` and `none` are false.
    pub fn bool(&self, key: &str) -> bool {
        let value = self.get_or_empty(key).trim().to_ascii_lowercase();
        !matches!(value.as_str(), "" | "0" | "no" | "false" | "none")
    }
}

/// Every endpoint the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping {
        head: bool,
    },
    Version,
    Info,
    Events,
    SystemDf,
    /// Swarm-mode endpoints, answered as a Docker outside a swarm answers them.
    Swarm(SwarmRoute),
    PluginList,
    PluginInspect(String),
    PluginUnsupported,
    ImageList,
    ImageCreate,
    ImageLoad,
    ImageSaveMany,
    ImagePrune,
    ImageSave(String),
    ImageInspect(String),
    ImageHistory(String),
    ImageTag(String),
    ImageDelete(String),
    ContainerCreate,
    ContainerList,
    ContainerPrune,
    Commit,
    /// A container action: `POST /containers/{id}/start` etc.
    Container(String, ContainerAction),
    /// `/exec/{id}/start`, `/exec/{id}/resize`, `/exec/{id}/json`.
    Exec(String, ExecAction),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecAction {
    Start,
    Resize,
    Inspect,
}

/// What a `/containers/{id}/...` route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    Start,
    Wait,
    Kill,
    Stop,
    Restart,
    Rename,
    Remove,
    Inspect,
    Logs,
    Attach,
    Resize,
    ExecCreate,
    Pause,
    Unpause,
    Top,
    Update,
    Changes,
    Export,
    Stats,
    ArchiveGet,
    ArchiveHead,
    /// Needs the request body; routed in `serve::handle`.
    ArchivePut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwarmRoute {
    Init,
    Join,
    Leave,
    /// Calls that need a manager: inspect, update, unlock key, nodes, services, tasks...
    NeedsManager,
    /// Calls that need membership: unlock.
    NeedsMembership,
}

const SWARM_OBJECTS: [&str; 5] = ["nodes", "services", "tasks", "secrets", "configs"];

/// Finds the route for a method and decoded segments.
pub fn route(method: &Method, segments: &[String]) -> Option<Route> {
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let route = match (method.as_str(), parts.as_slice()) {
        ("GET", ["_ping"]) => Route::Ping { head: false },
        ("HEAD", ["_ping"]) => Route::Ping { head: true },
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        ("GET", ["events"]) => Route::Events,
        ("GET", ["system", "df"]) => Route::SystemDf,
        ("POST", ["swarm", "init"]) => Route::Swarm(SwarmRoute::Init),
        ("POST", ["swarm", "join"]) => Route::Swarm(SwarmRoute::Join),
        ("POST", ["swarm", "leave"]) => Route::Swarm(SwarmRoute::Leave),
        ("POST", ["swarm", "unlock"]) => Route::Swarm(SwarmRoute::NeedsMembership),
        ("GET", ["swarm"]) | ("GET", ["swarm", "unlockkey"]) | ("POST", ["swarm", "update"]) => {
            Route::Swarm(SwarmRoute::NeedsManager)
        }
        (_, [object, ..])
            if SWARM_OBJECTS.contains(object) && (get || post || method == Method::DELETE) =>
        {
            Route::Swarm(SwarmRoute::NeedsManager)
        }
        ("GET", ["images", "json"]) => Route::ImageList,
        ("POST", ["images", "create"]) => Route::ImageCreate,
        ("POST", ["images", "load"]) => Route::ImageLoad,
        ("GET", ["images", "get"]) => Route::ImageSaveMany,
        ("POST", ["images", "prune"]) => Route::ImagePrune,
        (_, ["images", rest @ ..]) if !rest.is_empty() => return image_route(method, rest),
        ("POST", ["containers", "create"]) => Route::ContainerCreate,
        ("GET", ["containers", "json"]) => Route::ContainerList,
        ("POST", ["containers", "prune"]) => Route::ContainerPrune,
        ("POST", ["commit"]) => Route::Commit,
        (_, ["containers", id, rest @ ..]) => return container_route(method, id, rest),
        ("POST", ["exec", id, "start"]) => Route::Exec(id.to_string(), ExecAction::Start),
        ("POST", ["exec", id, "resize"]) => Route::Exec(id.to_string(), ExecAction::Resize),
        ("GET", ["exec", id, "json"]) => Route::Exec(id.to_string(), ExecAction::Inspect),
        ("GET", ["plugins"]) => Route::PluginList,
        ("GET", ["plugins", name, "json"]) => Route::PluginInspect(name.to_string()),
        (_, ["plugins", ..]) if get || post || method == Method::DELETE => Route::PluginUnsupported,
        _ => return None,
    };
    Some(route)
}

fn container_route(method: &Method, id: &str, rest: &[&str]) -> Option<Route> {
    let action = match (method.as_str(), rest) {
        ("POST", ["start"]) => ContainerAction::Start,
        ("POST", ["wait"]) => ContainerAction::Wait,
        ("POST", ["kill"]) => ContainerAction::Kill,
        ("POST", ["stop"]) => ContainerAction::Stop,
        ("POST", ["restart"]) => ContainerAction::Restart,
        ("POST", ["rename"]) => ContainerAction::Rename,
        ("DELETE", []) => ContainerAction::Remove,
        ("GET", ["json"]) => ContainerAction::Inspect,
        ("GET", ["logs"]) => ContainerAction::Logs,
        ("POST", ["attach"]) => ContainerAction::Attach,
        ("POST", ["resize"]) => ContainerAction::Resize,
        ("POST", ["exec"]) => ContainerAction::ExecCreate,
        ("POST", ["pause"]) => ContainerAction::Pause,
        ("POST", ["unpause"]) => ContainerAction::Unpause,
        ("GET", ["top"]) => ContainerAction::Top,
        ("POST", ["update"]) => ContainerAction::Update,
        ("GET", ["changes"]) => ContainerAction::Changes,
        ("GET", ["export"]) => ContainerAction::Export,
        ("GET", ["stats"]) => ContainerAction::Stats,
        ("GET", ["archive"]) => ContainerAction::ArchiveGet,
        ("HEAD", ["archive"]) => ContainerAction::ArchiveHead,
        ("PUT", ["archive"]) => ContainerAction::ArchivePut,
        _ => return None,
    };
    Some(Route::Container(id.to_string(), action))
}

/// Image routes whose name may hold `/` (moby's `/images/{name:.*}/json`): the name is
/// every segment between `images` and the action.
fn image_route(method: &Method, rest: &[&str]) -> Option<Route> {
    let whole = || rest.join("/");
    let (last, name) = rest.split_last()?;
    let named = || name.join("/");
    let route = match (method.as_str(), *last) {
        ("GET", "json") if !name.is_empty() => Route::ImageInspect(named()),
        ("GET", "history") if !name.is_empty() => Route::ImageHistory(named()),
        ("GET", "get") if !name.is_empty() => Route::ImageSave(named()),
        ("POST", "tag") if !name.is_empty() => Route::ImageTag(named()),
        ("DELETE", _) => Route::ImageDelete(whole()),
        _ => return None,
    };
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix() {
        let p = parse_path("/v1.50/_ping").unwrap();
        assert_eq!(p.version.as_deref(), Some("1.50"));
        assert_eq!(p.segments, vec!["_ping"]);
        let p = parse_path("/_ping").unwrap();
        assert_eq!(p.version, None);
        let p = parse_path("/vfoo/_ping").unwrap();
        assert_eq!(p.version, None, "not a version prefix: a path segment");
        assert_eq!(p.segments, vec!["vfoo", "_ping"]);
    }

    #[test]
    fn non_canonical_paths_match_nothing() {
        for path in [
            "//v1.47/containers/create",
            "/v1.47/containers/create/",
            "/containers%2Fcreate",
            "/v1.47/../containers/create",
            "/v1.47/%2e%2e/info",
            "/v1.47/./info",
            "",
        ] {
            assert_eq!(parse_path(path), None, "{path}");
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        let segments = vec!["info".to_string()];
        assert_eq!(route(&Method::GET, &segments), Some(Route::Info));
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(route(&lower, &segments), None);
        assert_eq!(route(&Method::POST, &segments), None);
    }

    #[test]
    fn image_names_may_hold_slashes() {
        let seg = |p: &str| parse_path(p).unwrap().segments;
        assert_eq!(
            route(
                &Method::GET,
                &seg("/v1.50/images/localhost:5000/a/b:1/json")
            ),
            Some(Route::ImageInspect("localhost:5000/a/b:1".into()))
        );
        assert_eq!(
            route(&Method::DELETE, &seg("/images/busybox%40sha256%3Aabc")),
            Some(Route::ImageDelete("busybox@sha256:abc".into()))
        );
        assert_eq!(
            route(&Method::POST, &seg("/images/x/y/tag")),
            Some(Route::ImageTag("x/y".into()))
        );
        assert_eq!(
            route(&Method::GET, &seg("/images/json")),
            Some(Route::ImageList)
        );
        assert_eq!(route(&Method::GET, &seg("/images/x/nope")), None);
    }

    #[test]
    fn attach_exec_and_resize_routes() {
        let seg = |p: &str| parse_path(p).unwrap().segments;
        let container = |a| Some(Route::Container("c1".into(), a));
        let exec = |a| Some(Route::Exec("e1".into(), a));
        let post = Method::POST;
        assert_eq!(
            route(&post, &seg("/containers/c1/attach")),
            container(ContainerAction::Attach)
        );
        assert_eq!(
            route(&post, &seg("/containers/c1/resize")),
            container(ContainerAction::Resize)
        );
        assert_eq!(
            route(&post, &seg("/containers/c1/exec")),
            container(ContainerAction::ExecCreate)
        );
        assert_eq!(
            route(&post, &seg("/exec/e1/start")),
            exec(ExecAction::Start)
        );
        assert_eq!(
            route(&post, &seg("/exec/e1/resize")),
            exec(ExecAction::Resize)
        );
        assert_eq!(
            route(&Method::GET, &seg("/exec/e1/json")),
            exec(ExecAction::Inspect)
        );
        assert_eq!(route(&Method::GET, &seg("/exec/e1/start")), None);
    }

    #[test]
    fn operation_routes() {
        let seg = |p: &str| parse_path(p).unwrap().segments;
        let container = |a| Some(Route::Container("c1".into(), a));
        let (get, post) = (Method::GET, Method::POST);
        for (method, path, action) in [
            (&post, "/containers/c1/pause", ContainerAction::Pause),
            (&post, "/containers/c1/unpause", ContainerAction::Unpause),
            (&get, "/containers/c1/top", ContainerAction::Top),
            (&post, "/containers/c1/update", ContainerAction::Update),
            (&get, "/containers/c1/changes", ContainerAction::Changes),
            (&get, "/containers/c1/export", ContainerAction::Export),
        ] {
            assert_eq!(route(method, &seg(path)), container(action), "{path}");
        }
        assert_eq!(
            route(&post, &seg("/v1.47/containers/prune")),
            Some(Route::ContainerPrune)
        );
        assert_eq!(route(&post, &seg("/commit")), Some(Route::Commit));
        assert_eq!(route(&get, &seg("/commit")), None);
        assert_eq!(route(&get, &seg("/containers/c1/pause")), None);
    }

    #[test]
    fn query_booleans_like_docker() {
        let q = Query::parse(Some("a=1&b=false&c=none&d=True&e="));
        assert!(q.bool("a"));
        assert!(!q.bool("b"));
        assert!(!q.bool("c"));
        assert!(q.bool("d"));
        assert!(!q.bool("e"));
        assert!(!q.bool("missing"));
    }

    #[test]
    fn query_decodes_and_keeps_the_first_value() {
        let q = Query::parse(Some("filters=%7B%22type%22%3A%5B%22x%22%5D%7D&k=1&k=2"));
        assert_eq!(q.get("filters"), Some(r#"{"type":["x"]}"#));
        assert_eq!(q.get("k"), Some("1"));
        assert_eq!(q.get_all("k"), ["1", "2"]);
        assert!(q.get_all("missing").is_empty());
    }
}
