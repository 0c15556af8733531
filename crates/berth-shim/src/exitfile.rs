//! The exit file: the container's [`ExitStatus`] as one JSON object, written atomically
//! (temp file, rename) when the container's init has exited and its output is drained, so a
//! berthd that restarts while the shim is gone still learns how the container ended. Not
//! synced: it lives in the exec root (tmpfs), and a power loss that could lose it ends the
//! container's story anyway (berthd then records it as exited with code 255).

use crate::protocol::ExitStatus;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The exit file's name inside the shim's state directory.
pub const EXIT_FILE: &str = "exit.json";

#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("writing exit file {0}")]
    Write(PathBuf, #[source] std::io::Error),
    #[error("reading exit file {0}")]
    Read(PathBuf, #[source] std::io::Error),
    #[error("decoding exit file {0}")]
    Decode(PathBuf, #[source] serde_json::Error),
}

/// Writes `status` to `<dir>/exit.json` atomically.
pub fn write(dir: &Path, status: &ExitStatus) -> Result<(), ExitFileError> {
    let path = dir.join(EXIT_FILE);
    let tmp = dir.join(".exit.json.tmp");
    let err = |e| ExitFileError::Write(path.clone(), e);
    let body = serde_json::to_vec(status).expect("ExitStatus serialises");
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(&body).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// Reads `<dir>/exit.json`; `Ok(None)` when the container has not exited (no file).
pub fn read(dir: &Path) -> Result<Option<ExitStatus>, ExitFileError> {
    let path = dir.join(EXIT_FILE);
    match std::fs::read(&path) {
        Ok(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ExitFileError::Decode(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ExitFileError::Read(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_absence() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let status = ExitStatus {
            pid: 42,
            exit_code: 143,
            signal: Some(15),
            oom_killed: false,
            finished_at: "2026-11-23T13:17:49.5Z".into(),
        };
        write(dir.path(), &status).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(status));
        assert!(!dir.path().join(".exit.json.tmp").exists());
    }
}
