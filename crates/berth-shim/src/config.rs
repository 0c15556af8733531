//! The shim's command line: what berthd passes when it spawns a shim, as a typed
//! [`ShimConfig`] that renders to and parses from arguments.

use crate::logfile::{parse_size, LogConfig, DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE};
use std::path::PathBuf;

/// Which OCI runtime creates the container: berth-runtime linked into the shim (no exec
/// between the shim and the container init), or a runc-compatible binary (runc, crun,
/// berth-runc) that the shim runs as a command. On the command line: `--runtime builtin` or
/// `--runtime /abs/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    Builtin,
    External(PathBuf),
}

impl From<PathBuf> for RuntimeChoice {
    fn from(binary: PathBuf) -> RuntimeChoice {
        RuntimeChoice::External(binary)
    }
}

const BUILTIN: &str = "builtin";

/// Everything a shim needs to run one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimConfig {
    /// The container id, as the runtime knows it.
    pub id: String,
    /// The OCI bundle (holds config.json).
    pub bundle: PathBuf,
    /// A 0700 directory for the shim's socket, exit file and runtime files.
    pub state_dir: PathBuf,
    /// The protocol socket; must be inside a 0700 directory. Default `<state_dir>/shim.sock`.
    pub socket: PathBuf,
    /// The OCI runtime.
    pub runtime: RuntimeChoice,
    /// The runtime's state root (`--root`); `None` for its default (for the built-in runtime,
    /// `<state_dir>/runtime`).
    pub runtime_root: Option<PathBuf>,
    /// The json-file log; `None` disables logging (Docker's `--log-driver none`).
    pub log: Option<LogConfig>,
    /// Give the container a stdin pipe (Docker's OpenStdin); otherwise /dev/null.
    pub stdin: bool,
    /// Besides uid 0, the uid allowed to connect: the daemon's, by default the uid the shim
    /// runs as (berthd's own).
    pub daemon_uid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing value for {0}")]
    MissingValue(String),
    #[error("unknown argument {0:?}")]
    Unknown(String),
    #[error("missing required argument {0}")]
    Missing(&'static str),
    #[error("invalid value for {0}")]
    Invalid(&'static str),
    #[error("{0} must be an absolute path (the shim runs in /)")]
    Relative(&'static str),
    #[error("invalid log size")]
    Size(#[source] crate::logfile::LogError),
}

impl ShimConfig {
    /// A configuration with the defaults: socket in the state dir, bounded log at
    /// `<state_dir>/container.log`, no stdin, root and our own uid may connect.
    pub fn new(
        id: &str,
        bundle: PathBuf,
        state_dir: PathBuf,
        runtime: impl Into<RuntimeChoice>,
    ) -> ShimConfig {
        ShimConfig {
            id: id.to_string(),
            socket: state_dir.join("shim.sock"),
            log: Some(LogConfig::new(state_dir.join("container.log"))),
            bundle,
            state_dir,
            runtime: runtime.into(),
            runtime_root: None,
            stdin: false,
            daemon_uid: rustix::process::geteuid().as_raw(),
        }
    }

    /// The arguments that [`ShimConfig::parse`] reads back.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        let mut push = |k: &str, v: std::ffi::OsString| {
            args.push(k.into());
            args.push(v);
        };
        push("--id", self.id.clone().into());
        push("--bundle", self.bundle.clone().into());
        push("--state-dir", self.state_dir.clone().into());
        push("--socket", self.socket.clone().into());
        match &self.runtime {
            RuntimeChoice::Builtin => push("--runtime", BUILTIN.into()),
            RuntimeChoice::External(binary) => push("--runtime", binary.clone().into()),
        }
        if let Some(root) = &self.runtime_root {
            push("--runtime-root", root.clone().into());
        }
        match &self.log {
            Some(log) => {
                push("--log-path", log.path.clone().into());
                let size = log.max_size.map_or("-1".to_string(), |s| s.to_string());
                push("--log-max-size", size.into());
                push("--log-max-file", log.max_files.to_string().into());
            }
            None => args.push("--no-log".into()),
        }
        if self.stdin {
            args.push("--stdin".into());
        }
        args.push("--daemon-uid".into());
        args.push(self.daemon_uid.to_string().into());
        args
    }

    /// Parses the arguments after the subcommand.
    pub fn parse(
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> Result<ShimConfig, ConfigError> {
        let mut it = args.into_iter();
        let (mut id, mut bundle, mut state, mut socket, mut runtime) =
            (None, None, None, None, None);
        let mut runtime_root = None;
        let (mut log_path, mut max_size, mut max_files, mut no_log) =
            (None, Some(DEFAULT_MAX_SIZE), DEFAULT_MAX_FILES, false);
        let (mut stdin, mut daemon_uid) = (false, rustix::process::geteuid().as_raw());
        while let Some(arg) = it.next() {
            let key = arg.to_string_lossy().into_owned();
            let mut value = || {
                it.next()
                    .ok_or_else(|| ConfigError::MissingValue(key.clone()))
            };
            match key.as_str() {
                "--id" => id = Some(value()?.to_string_lossy().into_owned()),
                "--bundle" => bundle = Some(PathBuf::from(value()?)),
                "--state-dir" => state = Some(PathBuf::from(value()?)),
                "--socket" => socket = Some(PathBuf::from(value()?)),
                "--runtime" => {
                    let value = value()?;
                    runtime = Some(if value == BUILTIN {
                        RuntimeChoice::Builtin
                    } else {
                        RuntimeChoice::External(PathBuf::from(value))
                    })
                }
                "--runtime-root" => runtime_root = Some(PathBuf::from(value()?)),
                "--log-path" => log_path = Some(PathBuf::from(value()?)),
                "--log-max-size" => {
                    max_size = parse_size(&value()?.to_string_lossy()).map_err(ConfigError::Size)?
                }
                "--log-max-file" => {
                    max_files = value()?
                        .to_string_lossy()
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or(ConfigError::Invalid("--log-max-file"))?
                }
                "--no-log" => no_log = true,
                "--stdin" => stdin = true,
                "--daemon-uid" => {
                    daemon_uid = value()?
                        .to_string_lossy()
                        .parse()
                        .map_err(|_| ConfigError::Invalid("--daemon-uid"))?
                }
                _ => return Err(ConfigError::Unknown(key)),
            }
        }
        let state_dir: PathBuf = state.ok_or(ConfigError::Missing("--state-dir"))?;
        let log = (!no_log).then(|| LogConfig {
            path: log_path.unwrap_or_else(|| state_dir.join("container.log")),
            max_size,
            max_files,
        });
        let config = ShimConfig {
            id: id.ok_or(ConfigError::Missing("--id"))?,
            bundle: bundle.ok_or(ConfigError::Missing("--bundle"))?,
            socket: socket.unwrap_or_else(|| state_dir.join("shim.sock")),
            state_dir,
            runtime: runtime.ok_or(ConfigError::Missing("--runtime"))?,
            runtime_root,
            log,
            stdin,
            daemon_uid,
        };
        config.check_absolute()?;
        Ok(config)
    }

    fn check_absolute(&self) -> Result<(), ConfigError> {
        let log = self.log.as_ref().map(|l| l.path.as_path());
        let paths = [
            ("--bundle", Some(self.bundle.as_path())),
            ("--state-dir", Some(self.state_dir.as_path())),
            ("--socket", Some(self.socket.as_path())),
            ("--log-path", log),
        ];
        for (name, path) in paths {
            if path.is_some_and(|p| !p.is_absolute()) {
                return Err(ConfigError::Relative(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let mut c = ShimConfig::new(
            "c1",
            "/b".into(),
            "/run/s".into(),
            PathBuf::from("/usr/sbin/runc"),
        );
        c.runtime_root = Some("/tmp/r".into());
        c.stdin = true;
        c.daemon_uid = 7;
        assert_eq!(ShimConfig::parse(c.to_args()).unwrap(), c);
        c.log = None;
        assert_eq!(ShimConfig::parse(c.to_args()).unwrap(), c);
        c.runtime = RuntimeChoice::Builtin;
        assert_eq!(ShimConfig::parse(c.to_args()).unwrap(), c);
        let mut rel = c.clone();
        rel.bundle = "bundle".into();
        let err = ShimConfig::parse(rel.to_args()).unwrap_err();
        assert!(matches!(err, ConfigError::Relative("--bundle")), "{err}");
        let err = ShimConfig::parse(["--bogus".into()]).unwrap_err();
        assert!(matches!(err, ConfigError::Unknown(_)));
    }
}
