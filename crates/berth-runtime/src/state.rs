//! The on-disk record of a container under `<root>/<id>/`: `state.json` (written atomically),
//! the `exec.fifo` that holds the init until `start`, and a copy of the config the container
//! was created with (so `exec` and `delete` do not depend on the bundle staying unchanged).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The OCI runtime-spec version we report.
pub const OCI_VERSION: &str = "1.2.0";

/// Errors reading or writing container state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container id {0:?} is invalid (use [A-Za-z0-9_.-], not starting with '.')")]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("creating the state directory {0}")]
    CreateDir(PathBuf, #[source] std::io::Error),
    #[error("writing {0}")]
    Write(PathBuf, #[source] std::io::Error),
    #[error("reading {0}")]
    Read(PathBuf, #[source] std::io::Error),
    #[error("parsing {0}")]
    Parse(PathBuf, #[source] serde_json::Error),
    #[error("removing {0}")]
    Remove(PathBuf, #[source] std::io::Error),
}

/// Container status as the OCI runtime spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What we store about a container. The first fields are the OCI state; the rest is ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Field 22 of /proc/<pid>/stat when created: tells our init from a recycled pid.
    #[serde(default)]
    pub init_start_time: u64,
    /// RFC 3339 creation time (what `runc state` shows as "created").
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// The container's cgroup path (relative to each hierarchy root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_path: Option<String>,
}

impl State {
    /// The OCI state JSON (what hooks read on stdin and `state` prints).
    pub fn oci_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "bundle": self.bundle,
            "annotations": self.annotations,
        });
        if let Some(pid) = self.pid {
            value["pid"] = pid.into();
        }
        value
    }
}

/// Checks a container id the way runc does, so it is always a single safe path component.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// The state directory of one container.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
    pub id: String,
}

impl StateDir {
    /// Where container `id` lives under `root` (no I/O).
    pub fn new(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        Ok(StateDir {
            path: root.join(id),
            id: id.to_string(),
        })
    }

    /// Creates the directory (0700), failing if the container exists.
    pub fn create(&self) -> Result<(), StateError> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(parent) = self.path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(parent)
                .map_err(|e| StateError::CreateDir(parent.to_path_buf(), e))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(self.id.clone()))
            }
            Err(e) => Err(StateError::CreateDir(self.path.clone(), e)),
        }
    }

    pub fn state_file(&self) -> PathBuf {
        self.path.join("state.json")
    }
    pub fn fifo(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }
    pub fn config_file(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// Writes `state.json` atomically: temp file, fsync, rename.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let bytes =
            serde_json::to_vec(state).map_err(|e| StateError::Parse(self.state_file(), e))?;
        write_atomic(&self.state_file(), &bytes)
    }

    /// Reads `state.json`.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.state_file();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(self.id.clone()))
            }
            Err(e) => return Err(StateError::Read(path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| StateError::Parse(path, e))
    }

    /// Removes the whole directory; a missing directory is fine.
    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::Remove(self.path.clone(), e)),
        }
    }
}

/// Writes `bytes` to `path` through a temporary name and rename, so no reader sees half a
/// file. Not synced (as runc does not): runtime state describes processes, which a power
/// loss ends too, and lives on tmpfs (/run) where a sync buys nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| StateError::Write(path.to_path_buf(), e))
}

/// Field 22 (starttime) of /proc/<pid>/stat, or None when the process is gone.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); starttime is field 22.
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// True when `pid` still is the process recorded with `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    process_start_time(pid) == Some(start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_safe_components() {
        assert!(validate_id("abc-1_2.x").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", ".hidden"] {
            assert!(validate_id(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn save_then_load_and_create_twice_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path(), "c1").unwrap();
        dir.create().unwrap();
        assert!(matches!(dir.create(), Err(StateError::Exists(_))));
        let state = State {
            oci_version: OCI_VERSION.into(),
            id: "c1".into(),
            status: Status::Created,
            pid: Some(7),
            bundle: "/b".into(),
            annotations: HashMap::from([("k".into(), "v".into())]),
            init_start_time: 1,
            created: "now".into(),
            owner: String::new(),
            cgroup_path: None,
        };
        dir.save(&state).unwrap();
        let back = dir.load().unwrap();
        assert_eq!(back.pid, Some(7));
        let json = back.oci_json();
        assert_eq!(json["status"], "created");
        assert_eq!(json["annotations"]["k"], "v");
        dir.remove().unwrap();
        assert!(matches!(dir.load(), Err(StateError::NotFound(_))));
    }

    #[test]
    fn our_own_process_is_alive_and_a_bogus_start_time_is_not() {
        let me = std::process::id() as i32;
        let start = process_start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
    }
}
