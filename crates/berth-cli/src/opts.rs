//! Flag values parsed as docker/cli parses them (`opts/` and go-units): memory sizes,
//! `--cpus`, `--ulimit`, `--restart`, env and label files, `--device`, `--tmpfs`, `-v`.
//! Errors carry docker's wording; the caller adds the flag name.

use berth_api::models::container::{DeviceMapping, RestartPolicy, Ulimit};
use std::collections::BTreeMap;

/// go-units `RAMInBytes`: a number with an optional binary unit (k, m, g, t, p; an `i`
/// and `b` may follow), e.g. `64m`, `1.5g`, `512`.
pub fn ram_in_bytes(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{text}'");
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut chars = suffix.chars();
    let multiplier: f64 = match chars.next() {
        None => 1.0,
        Some('b') if suffix.len() == 1 => 1.0,
        Some(unit) => {
            let power = match unit {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(format!("invalid suffix: '{suffix}'")),
            };
            let rest: String = chars.collect();
            if !matches!(rest.as_str(), "" | "b" | "i" | "ib") {
                return Err(format!("invalid suffix: '{suffix}'"));
            }
            1024f64.powi(power)
        }
    };
    Ok((value * multiplier) as i64)
}

/// `--memory-swap`: a size, or `-1` for unlimited swap.
pub fn memory_swap(text: &str) -> Result<i64, String> {
    if text == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(text)
}

/// `--cpus`: a decimal number of CPUs, as nano-CPUs; more than nine decimals is too precise.
pub fn nano_cpus(text: &str) -> Result<i64, String> {
    let not_rational = || format!("failed to parse {text} as a rational number");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let whole_digits = whole.trim_start_matches(['-', '+']);
    let valid = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole_digits.is_empty() && fraction.is_empty()) || !valid(whole_digits) || !valid(fraction)
    {
        return Err(not_rational());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if whole_digits.is_empty() {
        0
    } else {
        whole_digits.parse().map_err(|_| not_rational())?
    };
    let fraction_nanos: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}")
            .parse()
            .map_err(|_| not_rational())?
    };
    let nanos = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(not_rational)?;
    Ok(if negative { -nanos } else { nanos })
}

const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// go-units `ParseUlimit`: `name=soft[:hard]`.
pub fn ulimit(text: &str) -> Result<Ulimit, String> {
    let (name, limits) = text
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {text}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parse = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (parse(soft)?, parse(hard)?),
        None => {
            let soft = parse(limits)?;
            (soft, soft)
        }
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--restart`: `no`, `always`, `unless-stopped`, `on-failure[:max-retries]` (the daemon
/// validates the name, as with docker).
pub fn restart_policy(text: &str) -> Result<RestartPolicy, String> {
    let (name, count) = text.split_once(':').unwrap_or((text, ""));
    if text.contains(':') && name.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let maximum_retry_count = if count.is_empty() {
        0
    } else {
        count.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
}

/// `-e`: `KEY=value` as given; a bare `KEY` takes the local value when set, else stays bare.
pub fn env_entry(text: &str) -> Result<String, String> {
    let (key, _) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(format!("invalid environment variable: {text}"));
    }
    if text.contains('=') {
        return Ok(text.to_string());
    }
    Ok(match std::env::var(key) {
        Ok(value) => format!("{key}={value}"),
        Err(_) => text.to_string(),
    })
}

/// docker/cli's key-value file: one `KEY=value` a line; blank lines and `#` comments are
/// skipped; a bare `KEY` takes `lookup(KEY)` or is dropped.
pub fn parse_kv_file(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    what: &str,
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = if number == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = match line.split_once('=') {
            Some((variable, value)) => (variable, Some(value)),
            None => (line, None),
        };
        if variable.is_empty() {
            return Err(format!(
                "invalid {what} file ({path}): no variable name on line '{line}'"
            ));
        }
        if variable.contains([' ', '\t', '\n', '\r', '\x0b', '\x0c']) {
            return Err(format!(
                "invalid {what} file ({path}): variable '{variable}' contains whitespaces"
            ));
        }
        match value {
            Some(value) => lines.push(format!("{variable}={value}")),
            None => {
                if let Some(value) = lookup(variable) {
                    lines.push(format!("{variable}={value}"));
                }
            }
        }
    }
    Ok(lines)
}

/// Reads `--env-file` files (in order), then appends `-e` values, as docker does.
pub fn read_env(files: &[String], flags: &[String]) -> Result<Vec<String>, String> {
    let mut env = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| io_message(path, &e))?;
        env.extend(parse_kv_file(
            path,
            &text,
            |k| std::env::var(k).ok(),
            "env",
        )?);
    }
    for entry in flags {
        env.push(env_entry(entry)?);
    }
    Ok(env)
}

/// Labels from `--label-file` files and `-l` flags (`key` alone means an empty value).
pub fn read_labels(files: &[String], flags: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut entries = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| io_message(path, &e))?;
        entries.extend(parse_kv_file(
            path,
            &text,
            |_| Some(String::new()),
            "label",
        )?);
    }
    entries.extend(flags.iter().cloned());
    Ok(entries
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (entry, String::new()),
        })
        .collect())
}

/// Go's `open PATH: no such file or directory` wording for a file error.
pub fn io_message(path: &str, err: &std::io::Error) -> String {
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    };
    format!("open {path}: {reason}")
}

fn valid_device_mode(mode: &str) -> bool {
    !mode.is_empty() && mode.len() <= 3 && mode.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) && {
        let mut seen = mode.chars().collect::<Vec<_>>();
        seen.sort_unstable();
        seen.dedup();
        seen.len() == mode.len()
    }
}

/// `--device`: `host[:container][:permissions]`.
pub fn device(text: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let mut permissions = "rwm".to_string();
    let mut destination = "";
    match parts.len() {
        1 => {}
        2 => {
            if valid_device_mode(parts[1]) {
                permissions = parts[1].to_string();
            } else {
                destination = parts[1];
            }
        }
        3 => {
            if !valid_device_mode(parts[2]) {
                return Err(format!("bad mode specified: {}", parts[2]));
            }
            permissions = parts[2].to_string();
            destination = parts[1];
        }
        _ => return Err(format!("bad format for path: {text}")),
    }
    let source = parts[0];
    Ok(DeviceMapping {
        path_on_host: source.to_string(),
        path_in_container: if destination.is_empty() {
            source.to_string()
        } else {
            destination.to_string()
        },
        cgroup_permissions: permissions,
    })
}

/// `--sysctl`: `key=value` for the namespaced sysctls docker allows (IPC `kernel.*` keys,
/// `fs.mqueue.*`, `net.*`).
pub fn sysctl(text: &str) -> Result<(String, String), String> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{text}' is not allowed");
    let (key, value) = text.split_once('=').ok_or_else(not_allowed)?;
    if IPC.contains(&key) || key.starts_with("net.") || key.starts_with("fs.mqueue.") {
        Ok((key.to_string(), value.to_string()))
    } else {
        Err(not_allowed())
    }
}

/// `--tmpfs`: `path[:options]`.
pub fn tmpfs(text: &str) -> (String, String) {
    match text.split_once(':') {
        Some((path, options)) => (path.to_string(), options.to_string()),
        None => (text.to_string(), String::new()),
    }
}

/// `-v`: a bare container path is an anonymous volume (Config.Volumes); anything else is a
/// bind or named volume (HostConfig.Binds), with a relative host path made absolute.
pub enum VolumeSpec {
    Anonymous(String),
    Bind(String),
}

pub fn volume(text: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [""] | [] => Err(format!(
            "invalid spec: {text}: empty section between colons"
        )),
        [path] => Ok(VolumeSpec::Anonymous(path.to_string())),
        [source, rest @ ..] => {
            if rest.iter().any(|p| p.is_empty()) || source.is_empty() {
                return Err(format!(
                    "invalid spec: {text}: empty section between colons"
                ));
            }
            if rest.len() > 2 {
                return Err(format!("invalid volume specification: '{text}'"));
            }
            let source = if source.starts_with('.') {
                let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
                clean_path(&cwd.join(source))
            } else {
                source.to_string()
            };
            let mut spec = source;
            for part in rest {
                spec.push(':');
                spec.push_str(part);
            }
            Ok(VolumeSpec::Bind(spec))
        }
    }
}

/// Go's `filepath.Clean` for an absolute path: no `.`, `..` resolved lexically.
fn clean_path(path: &std::path::Path) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Docker's capability names carry `CAP_`; `ALL` stays as is.
pub fn capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// moby/term `ToBytes`: `ctrl-<x>` and single characters separated by commas.
pub fn detach_keys(text: &str) -> Result<Vec<u8>, String> {
    let mut keys = Vec::new();
    for key in text.split(',') {
        let key = key.trim();
        if let Some(rest) = key.strip_prefix("ctrl-") {
            let c = match rest.as_bytes() {
                [c] => *c,
                _ => return Err(format!("Unknown character: '{key}'")),
            };
            let code = match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(format!("Unknown character: '{key}'")),
            };
            keys.push(code);
        } else if key.len() == 1 {
            keys.push(key.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{key}'"));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_like_go_units() {
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("64M"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("512"), Ok(512));
        assert_eq!(ram_in_bytes("512b"), Ok(512));
        assert_eq!(ram_in_bytes("10 kb"), Ok(10240));
        assert_eq!(ram_in_bytes("12x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(ram_in_bytes("m"), Err("invalid size: 'm'".into()));
        assert_eq!(ram_in_bytes(""), Err("invalid size: ''".into()));
        assert_eq!(memory_swap("-1"), Ok(-1));
        assert_eq!(memory_swap("128m"), Ok(128 << 20));
    }

    #[test]
    fn cpus_as_nano_cpus() {
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(nano_cpus("0.000000001"), Ok(1));
        assert_eq!(nano_cpus(".5"), Ok(500_000_000));
        assert_eq!(
            nano_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert_eq!(
            nano_cpus("abc"),
            Err("failed to parse abc as a rational number".into())
        );
    }

    #[test]
    fn ulimits() {
        let u = ulimit("nofile=100:200").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 100, 200));
        let u = ulimit("nproc=5").unwrap();
        assert_eq!((u.soft, u.hard), (5, 5));
        assert_eq!(ulimit("core=-1").unwrap().hard, -1);
        assert_eq!(
            ulimit("nofile=5:2").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 5 > 2"
        );
        assert_eq!(ulimit("bogus=1").unwrap_err(), "invalid ulimit type: bogus");
        assert_eq!(
            ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert!(ulimit("nofile=x").is_err());
    }

    #[test]
    fn restart_policies() {
        let p = restart_policy("on-failure:3").unwrap();
        assert_eq!((p.name.as_str(), p.maximum_retry_count), ("on-failure", 3));
        assert_eq!(restart_policy("always").unwrap().name, "always");
        assert_eq!(restart_policy("no").unwrap().maximum_retry_count, 0);
        assert_eq!(
            restart_policy("on-failure:x").unwrap_err(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert_eq!(
            restart_policy(":3").unwrap_err(),
            "invalid restart policy format: no policy provided before colon"
        );
    }

    #[test]
    fn env_files_as_docker_reads_them() {
        let text = "\u{feff}A=1\n# comment\n\n  B= 2 \nHOME\nNOPE\n";
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(
            parse_kv_file("f", text, lookup, "env").unwrap(),
            vec!["A=1", "B= 2 ", "HOME=/root"]
        );
        assert_eq!(
            parse_kv_file("envf", "B =2\n", lookup, "env").unwrap_err(),
            "invalid env file (envf): variable 'B ' contains whitespaces"
        );
        assert!(parse_kv_file("f", "=x\n", lookup, "env").is_err());
        assert_eq!(env_entry("A=b=c"), Ok("A=b=c".into()));
        assert_eq!(
            env_entry("BERTH_SURELY_UNSET_VARIABLE"),
            Ok("BERTH_SURELY_UNSET_VARIABLE".into())
        );
        assert_eq!(
            env_entry("=x"),
            Err("invalid environment variable: =x".into())
        );
    }

    #[test]
    fn devices_tmpfs_volumes_caps_keys() {
        let d = device("/dev/null:/dev/n2:r").unwrap();
        assert_eq!(
            (
                d.path_on_host.as_str(),
                d.path_in_container.as_str(),
                d.cgroup_permissions.as_str()
            ),
            ("/dev/null", "/dev/n2", "r")
        );
        let d = device("/dev/fuse").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        assert_eq!(device("/dev/a:rw").unwrap().cgroup_permissions, "rw");
        assert_eq!(
            device("a:b:c:d").unwrap_err(),
            "bad format for path: a:b:c:d"
        );
        assert_eq!(tmpfs("/run:size=1m"), ("/run".into(), "size=1m".into()));
        assert_eq!(tmpfs("/t"), ("/t".into(), String::new()));
        assert!(matches!(volume("/anon"), Ok(VolumeSpec::Anonymous(p)) if p == "/anon"));
        assert!(matches!(volume("/tmp:/d:ro"), Ok(VolumeSpec::Bind(p)) if p == "/tmp:/d:ro"));
        assert!(volume("/a::ro").is_err());
        assert_eq!(
            clean_path(std::path::Path::new("/a/./b/../c")),
            "/a/c".to_string()
        );
        assert_eq!(
            sysctl("net.ipv4.ip_forward=1"),
            Ok(("net.ipv4.ip_forward".into(), "1".into()))
        );
        assert_eq!(sysctl("kernel.sem=1 2 3 4").unwrap().0, "kernel.sem");
        assert_eq!(sysctl("a.b=1"), Err("sysctl 'a.b=1' is not allowed".into()));
        assert_eq!(capability("net_admin"), "CAP_NET_ADMIN");
        assert_eq!(capability("ALL"), "ALL");
        assert_eq!(detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(detach_keys("ctrl-a,x"), Ok(vec![1, b'x']));
        assert!(detach_keys("ctrl-").is_err());
    }
}
