//! The container's process: the request's Config merged with the image's (moby
//! `daemon/commit.go merge`), the command line (`getEntrypointAndArgs`), the working directory
//! and the environment (`CreateDaemonEnvironment`).

use super::spec::SpecError;
use berth_api::models::container::ContainerConfig;
use std::collections::BTreeMap;

/// Docker's default PATH for Linux containers (`oci.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What runs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub path: String,
    pub args: Vec<String>,
    pub cwd: String,
}

impl Command {
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.path.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// moby `merge(userConf, imageConf)`: the request wins; the image fills what it left empty.
pub fn merge(user: &ContainerConfig, image: &ContainerConfig) -> ContainerConfig {
    let mut c = user.clone();
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        let mine = c.exposed_ports.get_or_insert_with(BTreeMap::new);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    match (&mut c.env, &image.env) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for e in theirs {
                if !mine.iter().any(|m| env_key(m) == env_key(e)) {
                    mine.push(e.clone());
                }
            }
        }
        (Some(mine), _) if !mine.is_empty() => {}
        (_, theirs) => c.env = theirs.clone(),
    }
    if let Some(labels) = &image.labels {
        let mine = c.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in labels {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    // An explicit empty Entrypoint (`--entrypoint ""`) resets the image's and keeps no Cmd.
    if c.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if c.cmd.as_ref().is_none_or(Vec::is_empty) {
            c.cmd = image.cmd.clone();
            c.args_escaped = image.args_escaped;
        }
        if c.entrypoint.is_none() {
            c.entrypoint = image.entrypoint.clone();
        }
    }
    // moby `merge`: the image's settings fill what the request left zero.
    match (&mut c.healthcheck, &image.healthcheck) {
        (None, from_image) => c.healthcheck = from_image.clone(),
        (Some(mine), Some(theirs)) => {
            if mine.test.as_ref().is_none_or(Vec::is_empty) {
                mine.test = theirs.test.clone();
            }
            for (slot, value) in [
                (&mut mine.interval, theirs.interval),
                (&mut mine.timeout, theirs.timeout),
                (&mut mine.start_period, theirs.start_period),
                (&mut mine.start_interval, theirs.start_interval),
                (&mut mine.retries, theirs.retries),
            ] {
                if *slot == 0 {
                    *slot = value;
                }
            }
        }
        (Some(_), None) => {}
    }
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    if let Some(vols) = &image.volumes {
        let mine = c.volumes.get_or_insert_with(BTreeMap::new);
        for (k, v) in vols {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if c.stop_signal.is_empty() {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.on_build.as_ref().is_none_or(Vec::is_empty) {
        c.on_build = image.on_build.clone();
    }
    if c.shell.as_ref().is_none_or(Vec::is_empty) {
        c.shell = image.shell.clone();
    }
    c
}

/// The command line and working directory of the merged config.
pub fn command(c: &ContainerConfig) -> Result<Command, SpecError> {
    let entrypoint = c.entrypoint.clone().unwrap_or_default();
    let cmd = c.cmd.clone().unwrap_or_default();
    let (path, args) = match (entrypoint.split_first(), cmd.split_first()) {
        (Some((p, rest)), _) => (p.clone(), rest.iter().chain(cmd.iter()).cloned().collect()),
        (None, Some((p, rest))) => (p.clone(), rest.to_vec()),
        (None, None) => return Err(SpecError::Invalid("No command specified".into())),
    };
    let cwd = if c.working_dir.is_empty() {
        "/".to_string()
    } else if !c.working_dir.starts_with('/') {
        return Err(SpecError::Invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            c.working_dir
        )));
    } else {
        super::mounts::clean(&c.working_dir)
    };
    Ok(Command { path, args, cwd })
}

/// Signal names Go's `signal.ParseSignal` knows on Linux (without the SIG prefix).
const SIGNALS: [&str; 33] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
];

/// moby `signal.ParseSignal`: a number, a name with or without SIG, or RTMIN/RTMAX+-n.
fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = s.to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if SIGNALS.contains(&name) || name == "XFSZ" {
        return true;
    }
    let rt = |base: &str| {
        name.strip_prefix(base).is_some_and(|rest| {
            rest.is_empty()
                || (rest.len() > 1
                    && (rest.starts_with('+') || rest.starts_with('-'))
                    && rest[1..].parse::<u32>().is_ok_and(|n| n <= 30))
        })
    };
    rt("RTMIN") || rt("RTMAX")
}

/// moby `verifyContainerSettings` checks on the Config: the stop signal and healthcheck.
pub fn check_config(c: &ContainerConfig) -> Result<(), SpecError> {
    if !c.stop_signal.is_empty() && !valid_signal(&c.stop_signal) {
        return Err(SpecError::Invalid(format!(
            "Invalid signal: {}",
            c.stop_signal
        )));
    }
    crate::containers::health::on_failure(c).map_err(SpecError::Invalid)?;
    let Some(h) = &c.healthcheck else {
        return Ok(());
    };
    const MIN: i64 = 1_000_000; // containertypes.MinimumDuration, 1ms
    for (name, d) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if d != 0 && d < MIN {
            return Err(SpecError::Invalid(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if h.retries < 0 {
        return Err(SpecError::Invalid(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    Ok(())
}

/// PATH, HOSTNAME and (with a TTY) TERM, then the config's Env replacing or adding by key; a
/// bare `KEY` removes a default (moby `ReplaceOrAppendEnvValues`).
pub fn environment(c: &ContainerConfig, _cmd: &Command) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", c.hostname),
    ];
    if c.tty {
        env.push("TERM=xterm".into());
    }
    for e in c.env.iter().flatten() {
        let key = env_key(e);
        let pos = env.iter().position(|d| env_key(d) == key);
        match (e.contains('='), pos) {
            (true, Some(i)) => env[i] = e.clone(),
            (true, None) => env.push(e.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::container::HealthConfig;

    // moby TestParseSignal-style cases and verifyContainerSettings' healthcheck checks.
    #[test]
    fn stop_signal_and_healthcheck_checks() {
        let with_signal = |s: &str| ContainerConfig {
            stop_signal: s.into(),
            ..Default::default()
        };
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1", "SIGUSR1"] {
            assert!(check_config(&with_signal(ok)).is_ok(), "{ok}");
        }
        for bad in ["SIGFOO", "0", "65", "RTMIN+", "TERMX"] {
            assert_eq!(
                check_config(&with_signal(bad)).unwrap_err().to_string(),
                format!("Invalid signal: {bad}")
            );
        }
        let with_health = |h: HealthConfig| ContainerConfig {
            healthcheck: Some(h),
            ..Default::default()
        };
        let e = check_config(&with_health(HealthConfig {
            interval: 10,
            ..Default::default()
        }));
        assert_eq!(
            e.unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let e = check_config(&with_health(HealthConfig {
            retries: -1,
            ..Default::default()
        }));
        assert_eq!(
            e.unwrap_err().to_string(),
            "Retries in Healthcheck cannot be negative"
        );
        assert!(check_config(&with_health(HealthConfig {
            interval: 5_000_000_000,
            retries: 3,
            ..Default::default()
        }))
        .is_ok());
    }

    fn cfg(entry: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ContainerConfig {
            entrypoint: entry.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    // moby TestMerge and the entrypoint/cmd rules of `docker run`.
    #[test]
    fn entrypoint_overrides_the_images_cmd() {
        let image = cfg(Some(&["/entry"]), Some(&["default-arg"]));
        let run = |user: ContainerConfig| command(&merge(&user, &image)).map(|c| c.argv());
        assert_eq!(run(cfg(None, None)).unwrap(), ["/entry", "default-arg"]);
        assert_eq!(run(cfg(None, Some(&["x"]))).unwrap(), ["/entry", "x"]);
        assert_eq!(run(cfg(Some(&["/other"]), None)).unwrap(), ["/other"]);
        assert_eq!(
            run(cfg(Some(&["/sh", "-c"]), Some(&["echo"]))).unwrap(),
            ["/sh", "-c", "echo"]
        );
        // `--entrypoint ""`: no entrypoint, and the image's cmd is used as the command.
        assert_eq!(run(cfg(Some(&[]), None)).unwrap(), ["default-arg"]);
        let empty = ContainerConfig::default();
        assert_eq!(
            command(&merge(&cfg(None, None), &empty))
                .unwrap_err()
                .to_string(),
            "No command specified"
        );
    }

    #[test]
    fn env_user_workdir_and_labels_merge() {
        let image = ContainerConfig {
            env: Some(vec!["PATH=/img".into(), "A=1".into()]),
            user: "nobody".into(),
            working_dir: "/srv".into(),
            labels: Some([("l".to_string(), "img".to_string())].into()),
            stop_signal: "SIGQUIT".into(),
            ..Default::default()
        };
        let user = ContainerConfig {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            labels: Some([("l".to_string(), "mine".to_string())].into()),
            ..Default::default()
        };
        let m = merge(&user, &image);
        assert_eq!(m.env.clone().unwrap(), ["A=2", "B=3", "PATH=/img"]);
        assert_eq!(
            (m.user.as_str(), m.working_dir.as_str()),
            ("nobody", "/srv")
        );
        assert_eq!(m.labels.as_ref().unwrap()["l"], "mine");
        assert_eq!(m.stop_signal, "SIGQUIT");
    }

    // moby TestCreateDaemonEnvironment / ReplaceOrAppendEnvValues.
    #[test]
    fn environment_defaults_and_overrides() {
        let mut c = cfg(None, Some(&["x"]));
        c.hostname = "abc".into();
        c.tty = true;
        c.env = Some(vec!["FOO=bar".into(), "PATH=/bin".into(), "TERM".into()]);
        let cmd = command(&c).unwrap();
        assert_eq!(
            environment(&c, &cmd),
            ["PATH=/bin", "HOSTNAME=abc", "FOO=bar"]
        );
        c.tty = false;
        c.env = None;
        assert_eq!(
            environment(&c, &cmd),
            [format!("PATH={DEFAULT_PATH}"), "HOSTNAME=abc".into()]
        );
    }

    #[test]
    fn working_dir_must_be_absolute_and_is_cleaned() {
        let mut c = cfg(None, Some(&["x"]));
        c.working_dir = "rel".into();
        assert_eq!(
            command(&c).unwrap_err().to_string(),
            "the working directory 'rel' is invalid, it needs to be an absolute path"
        );
        c.working_dir = "/a/../b/./c/".into();
        assert_eq!(command(&c).unwrap().cwd, "/b/c");
        c.working_dir = String::new();
        assert_eq!(command(&c).unwrap().cwd, "/");
    }
}
