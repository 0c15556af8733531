//! `translate`: a create request plus the image's config become an OCI runtime spec, following
//! moby `daemon/create.go` (merge with the image), `daemon/container.go` and
//! `daemon_unix.go` (validation and defaults) and `daemon/oci_linux.go` (the spec). Pure but for
//! reading the rootfs's passwd/group and stat-ing bind sources and devices; everything that
//! needs other objects (volumes, other containers' namespaces, per-container files) comes in
//! as data or goes back out in [`Translated`].

use super::mounts::{self, VolumeRequest};
use super::namespaces::{self, SharedNamespaces, Shm};
use super::platform::{DaemonDefaults, HostFacts};
use super::process;
use super::user::{self, ResolvedUser, UserError};
use super::{devices, resources, security};
use berth_api::models::container::{
    ContainerConfig, ContainerCreateRequest, HostConfig, RestartPolicy,
};
use berth_api::ApiError;
use berth_runtime::profile;
use oci_spec::runtime::{Mount, Spec};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The request is invalid; the text is Docker's message where Docker has one.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("building Docker's default seccomp profile")]
    Seccomp(#[source] profile::ProfileError),
    #[error("assembling the OCI spec")]
    Build(#[source] serde_json::Error),
    /// `--init` without an init binary (Docker's message names docker-init).
    #[error("exec: \"berth-init\": executable file not found in $PATH")]
    NoInit,
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> ApiError {
        match &e {
            SpecError::Invalid(m) => ApiError::invalid(m.clone()),
            SpecError::User(u) if u.is_invalid() => ApiError::invalid(u.to_string()),
            _ => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                ApiError::system(text)
            }
        }
    }
}

/// Per-container files the engine writes and the container sees bind-mounted (None: skip).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFiles {
    pub hosts: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

/// Everything `translate` reads.
pub struct TranslateInput<'a> {
    pub request: &'a ContainerCreateRequest,
    /// The image config's `config` section (same keys as a container's Config).
    pub image: &'a ContainerConfig,
    /// The new container's 64-hex ID.
    pub id: &'a str,
    /// The mounted root filesystem (overlay) the spec's `root.path` points at.
    pub rootfs: &'a Path,
    /// The rootfs's passwd and group when the caller has them already (a new container
    /// sees exactly its image's files); `None` reads them from `rootfs`, which must then be
    /// mounted.
    pub user_files: Option<&'a user::UserFiles>,
    pub files: &'a ContainerFiles,
    pub shared: &'a SharedNamespaces,
    pub defaults: &'a DaemonDefaults,
    pub host: &'a HostFacts,
}

/// The spec and what the caller must act on.
#[derive(Debug)]
pub struct Translated {
    pub spec: Spec,
    /// Docker's warnings for the create response.
    pub warnings: Vec<String>,
    /// The Config after merging with the image (what inspect shows as `Config`).
    pub config: ContainerConfig,
    /// `Path` and `Args` for inspect.
    pub path: String,
    pub args: Vec<String>,
    pub user: ResolvedUser,
    /// Named and anonymous volumes to create and mount at their targets.
    pub volumes: Vec<VolumeRequest>,
    /// `-v` sources to create as directories before start (Docker does).
    pub missing_bind_sources: Vec<PathBuf>,
    /// Run an init as PID 1 (`--init`).
    pub init: bool,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
}

/// moby `checkHostConfig`-style checks that need nothing else.
fn check_host_config(hc: &HostConfig, config: &ContainerConfig) -> Result<(), SpecError> {
    if hc.uts_mode == "host" && !config.hostname.is_empty() {
        return Err(SpecError::Invalid(
            "conflicting options: hostname and the UTS mode".into(),
        ));
    }
    check_restart_policy(&hc.restart_policy)?;
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return Err(SpecError::Invalid(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    if hc.shm_size < 0 {
        return Err(SpecError::Invalid("SHM size can not be less than 0".into()));
    }
    resources::check_oom_score_adj(hc.oom_score_adj)
}

/// moby `ValidateRestartPolicy` (an empty name accepts any count, for old clients).
pub fn check_restart_policy(p: &RestartPolicy) -> Result<(), SpecError> {
    let count = p.maximum_retry_count;
    let msg = match p.name.as_str() {
        "" => return Ok(()),
        "always" | "unless-stopped" | "no" if count < 0 => {
            "maximum retry count can only be used with 'on-failure' and cannot be negative".into()
        }
        "always" | "unless-stopped" | "no" if count > 0 => {
            "maximum retry count can only be used with 'on-failure'".into()
        }
        "on-failure" if count < 0 => "maximum retry count cannot be negative".into(),
        "always" | "unless-stopped" | "no" | "on-failure" => return Ok(()),
        other => format!(
            "unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ),
    };
    Err(SpecError::Invalid(format!("invalid restart policy: {msg}")))
}

/// Translates a create request. See the module docs for what it reads.
pub fn translate(input: &TranslateInput<'_>) -> Result<Translated, SpecError> {
    let hc = input.request.host_config.clone().unwrap_or_default();
    let mut config = process::merge(&input.request.config, input.image);
    check_host_config(&hc, &input.request.config)?;
    process::check_config(&config)?;
    let command = process::command(&config)?;
    let ns = namespaces::plan(&hc, input.shared, input.host.cgroup_v2)?;
    if config.hostname.is_empty() {
        config.hostname = if ns.host_net {
            input.host.hostname.clone()
        } else {
            input.id[..12.min(input.id.len())].to_string()
        };
    }
    let group_add = hc.group_add.as_deref().unwrap_or(&[]);
    let user = match input.user_files {
        Some(files) => user::resolve_in(files, &config.user, group_add)?,
        None => user::resolve(input.rootfs, &config.user, group_add)?,
    };
    let sec = security::parse_security_opts(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let caps = security::capabilities(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        hc.privileged,
    )?;
    let process = process_json(input, &hc, &config, &command, &user, &caps, &sec)?;
    let mut wanted: Vec<String> = config
        .volumes
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    wanted.dedup();
    let mount_plan = mounts::plan(&hc, &wanted)?;
    let (linux, warnings) = linux_json(input, &hc, &ns, &caps, &sec, &mount_plan)?;
    let shm_size = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        input.defaults.shm_size
    };
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": input.rootfs, "readonly": hc.readonly_rootfs},
        "process": process,
        "mounts": all_mounts(input, &hc, &ns.shm, shm_size, &mount_plan.mounts),
        "linux": linux,
        "annotations": hc.annotations.clone().unwrap_or_default(),
    });
    let init = hc.init.unwrap_or(input.defaults.init);
    if init {
        with_init(&mut spec, input.defaults.init_path.as_deref())?;
    }
    if !ns.host_uts {
        spec["hostname"] = config.hostname.clone().into();
        if !config.domainname.is_empty() {
            spec["domainname"] = config.domainname.clone().into();
        }
    }
    let spec: Spec = serde_json::from_value(spec).map_err(SpecError::Build)?;
    let stop_signal = match config.stop_signal.as_str() {
        "" => "SIGTERM".to_string(),
        s => s.to_string(),
    };
    Ok(Translated {
        spec,
        warnings,
        path: command.path.clone(),
        args: command.args.clone(),
        stop_timeout: config.stop_timeout,
        config,
        user,
        volumes: mount_plan.volumes,
        missing_bind_sources: mount_plan.missing_bind_sources,
        init,
        stop_signal,
    })
}

/// Where Docker mounts its init in the container (moby `inContainerInitPath`).
pub const IN_CONTAINER_INIT_PATH: &str = "/sbin/docker-init";

/// `--init` (moby `WithCommonOptions`): the init binary bind-mounted read-only at
/// `/sbin/docker-init`, run as `/sbin/docker-init -- <entrypoint and command>`.
fn with_init(spec: &mut Value, init_path: Option<&Path>) -> Result<(), SpecError> {
    let path = init_path.ok_or(SpecError::NoInit)?;
    let mut args = vec![Value::from(IN_CONTAINER_INIT_PATH), Value::from("--")];
    if let Some(Value::Array(command)) = spec["process"].get("args") {
        args.extend(command.iter().cloned());
    }
    spec["process"]["args"] = Value::Array(args);
    if let Some(Value::Array(list)) = spec.get_mut("mounts") {
        list.push(json!({
            "destination": IN_CONTAINER_INIT_PATH,
            "type": "bind",
            "source": path,
            "options": ["bind", "ro"],
        }));
    }
    Ok(())
}

/// The OCI `process` section (moby `WithUser`, `WithCapabilities`, `WithRlimits`, ...).
fn process_json(
    input: &TranslateInput<'_>,
    hc: &HostConfig,
    config: &ContainerConfig,
    command: &process::Command,
    user: &ResolvedUser,
    caps: &[String],
    sec: &security::SecurityOpts,
) -> Result<Value, SpecError> {
    let rlimits = resources::rlimits(
        hc.resources.ulimits.as_deref().unwrap_or(&[]),
        &input.defaults.ulimits,
    )?;
    let mut env = process::environment(config, command);
    // runc sets HOME from passwd when the environment lacks it; Docker containers rely on
    // that, so the spec carries it for every runtime.
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let mut process = json!({
        "terminal": config.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": command.argv(),
        "env": env,
        "cwd": command.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "noNewPrivileges": sec.no_new_privileges.unwrap_or(input.defaults.no_new_privileges),
        "oomScoreAdj": hc.oom_score_adj,
    });
    if config.tty && hc.console_size != [0, 0] {
        process["consoleSize"] = json!({"height": hc.console_size[0], "width": hc.console_size[1]});
    }
    Ok(process)
}

/// The OCI `linux` section and the warnings the resource checks gave.
fn linux_json(
    input: &TranslateInput<'_>,
    hc: &HostConfig,
    ns: &namespaces::NamespacePlan,
    caps: &[String],
    sec: &security::SecurityOpts,
    mount_plan: &mounts::MountPlan,
) -> Result<(Value, Vec<String>), SpecError> {
    let seccomp = security::seccomp(
        sec.seccomp.as_deref(),
        input.defaults.seccomp_profile.as_deref(),
        hc.privileged,
        caps,
        input.host,
    )?;
    let sysctls = namespaces::sysctls(&hc.sysctls.clone().unwrap_or_default(), ns)?;
    let device_plan = devices::plan(
        hc.privileged,
        hc.resources.devices.as_deref().unwrap_or(&[]),
        hc.resources.device_cgroup_rules.as_deref().unwrap_or(&[]),
    )?;
    let res = resources::plan(&hc.resources, input.host)?;
    let (masked, readonly) = protected_paths(hc);
    let mut linux = json!({
        "namespaces": ns.namespaces,
        "resources": res.resources,
        "devices": device_plan.devices,
        "cgroupsPath": cgroups_path(hc, input),
        "sysctl": sysctls,
        "maskedPaths": masked,
        "readonlyPaths": readonly,
    });
    linux["resources"]["devices"] =
        serde_json::to_value(&device_plan.rules).map_err(SpecError::Build)?;
    if let Some(s) = &seccomp {
        linux["seccomp"] = serde_json::to_value(s).map_err(SpecError::Build)?;
    }
    if let Some(p) = &mount_plan.rootfs_propagation {
        linux["rootfsPropagation"] = p.clone().into();
    }
    Ok((linux, res.warnings))
}

/// `<CgroupParent or the daemon's>/<id>` (Docker's cgroupfs layout).
fn cgroups_path(hc: &HostConfig, input: &TranslateInput<'_>) -> String {
    let parent = if hc.resources.cgroup_parent.is_empty() {
        input.defaults.cgroup_parent.as_str()
    } else {
        hc.resources.cgroup_parent.as_str()
    };
    format!("{}/{}", parent.trim_end_matches('/'), input.id)
}

/// Masked and read-only paths: Docker's lists, the container's own if given, none when
/// privileged (unless given).
fn protected_paths(hc: &HostConfig) -> (Vec<String>, Vec<String>) {
    let masked = match (&hc.masked_paths, hc.privileged) {
        (Some(l), _) => l.clone(),
        (None, true) => Vec::new(),
        (None, false) => profile::masked_paths(),
    };
    let readonly = match (&hc.readonly_paths, hc.privileged) {
        (Some(l), _) => l.clone(),
        (None, true) => Vec::new(),
        (None, false) => profile::DEFAULT_READONLY_PATHS.map(String::from).to_vec(),
    };
    (masked, readonly)
}

/// moby `WithMounts`: Docker's default mounts not overridden by the container's, then the
/// per-container files, /dev/shm and the user's mounts (parents first).
fn all_mounts(
    input: &TranslateInput<'_>,
    hc: &HostConfig,
    shm: &Shm,
    shm_size: i64,
    user_mounts: &[Mount],
) -> Vec<Mount> {
    let mut own: Vec<Mount> = Vec::new();
    let ro = hc.readonly_rootfs;
    let file_mounts = [
        ("/etc/resolv.conf", &input.files.resolv_conf),
        ("/etc/hostname", &input.files.hostname),
        ("/etc/hosts", &input.files.hosts),
    ];
    for (dest, src) in file_mounts {
        if let Some(src) = src {
            let mut opts = vec!["rbind".to_string()];
            if ro {
                opts.push("ro".into());
            }
            opts.push("rprivate".into());
            own.push(mounts::oci_mount(
                dest,
                "bind",
                &src.display().to_string(),
                opts,
            ));
        }
    }
    if let Shm::Bind(src) = shm {
        let opts = vec!["rbind".to_string(), "rprivate".to_string()];
        own.push(mounts::oci_mount(
            "/dev/shm",
            "bind",
            &src.display().to_string(),
            opts,
        ));
    }
    own.retain(|m| {
        !user_mounts
            .iter()
            .any(|u| u.destination() == m.destination())
    });
    own.extend(user_mounts.iter().cloned());
    own.sort_by_key(|m| m.destination().components().count());
    let taken = |d: &Path| own.iter().any(|m| m.destination() == d);
    let dev_overridden = taken(Path::new("/dev"));
    let mut out: Vec<Mount> = Vec::new();
    for mut m in profile::default_mounts(shm_size as u64) {
        let dest = m.destination().display().to_string();
        if taken(m.destination()) || (dev_overridden && dest.starts_with("/dev/")) {
            continue;
        }
        if dest == "/dev/shm" && *shm != Shm::Tmpfs {
            continue;
        }
        let mut opts = m.options().clone().unwrap_or_default();
        let exempt = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"];
        if ro && !exempt.contains(&dest.as_str()) && !opts.iter().any(|o| o == "ro") {
            opts.push("ro".into());
        }
        // After the read-only rule, as moby: privileged /sys stays writable even then.
        if hc.privileged && (dest == "/sys" || dest == "/sys/fs/cgroup") {
            opts.retain(|o| o != "ro");
        }
        m.set_options(Some(opts));
        out.push(m);
    }
    out.extend(own);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // moby api/types/container TestValidateRestartPolicy.
    #[test]
    fn restart_policies_follow_validate_restart_policy() {
        let p = |name: &str, count: i64| {
            check_restart_policy(&RestartPolicy {
                name: name.into(),
                maximum_retry_count: count,
            })
            .map_err(|e| e.to_string())
        };
        for ok in [
            ("", 0),
            ("", 123),
            ("", -123),
            ("always", 0),
            ("no", 0),
            ("on-failure", 123),
        ] {
            assert!(p(ok.0, ok.1).is_ok(), "{ok:?}");
        }
        let only = "invalid restart policy: maximum retry count can only be used with 'on-failure'";
        for name in ["always", "unless-stopped", "no"] {
            assert_eq!(p(name, 123).unwrap_err(), only);
            assert_eq!(
                p(name, -123).unwrap_err(),
                format!("{only} and cannot be negative")
            );
        }
        assert_eq!(
            p("on-failure", -123).unwrap_err(),
            "invalid restart policy: maximum retry count cannot be negative"
        );
        assert_eq!(
            p("unknown", 0).unwrap_err(),
            "invalid restart policy: unknown policy 'unknown'; use one of 'no', 'always', \
             'on-failure', or 'unless-stopped'"
        );
    }

    #[test]
    fn auto_remove_conflicts_with_a_restart_policy() {
        let hc = HostConfig {
            auto_remove: true,
            restart_policy: RestartPolicy {
                name: "always".into(),
                maximum_retry_count: 0,
            },
            ..Default::default()
        };
        let err = check_host_config(&hc, &ContainerConfig::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "can't create 'AutoRemove' container with restart policy"
        );
    }
}
