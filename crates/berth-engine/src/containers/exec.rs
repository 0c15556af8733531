//! Exec instances: created in memory (Docker forgets them on restart too), started through
//! the container's shim with an OCI process derived from the container's own spec (env,
//! capabilities, LSM profiles, rlimits, no_new_privileges) plus the exec's overrides, and
//! inspected. An exec's exit is recorded by a waiter thread before an attached client's
//! stream is closed, so the `docker exec` that inspects right after sees the exit code.

use super::attach::{bridge, detach_keys_or_default, parse_detach_keys, EarlyInput, InputPlan};
use super::{blocking, ContainerError, Containers};
use crate::container::names::generate_id;
use crate::container::security::all_capabilities;
use crate::container::user;
use crate::engine::Engine;
use berth_api::attach::{
    ExecConfig, ExecInspect, ExecProcessConfig, ExecStartConfig, Hijack, Hijacked, SessionFuture,
};
use berth_api::ApiError;
use berth_shim::protocol::Streams;
use berth_shim::ShimClient;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

pub(crate) type ExecTable = Mutex<HashMap<String, ExecEntry>>;

pub(crate) struct ExecEntry {
    container_id: String,
    config: ExecConfig,
    started: bool,
    running: bool,
    exit_code: Option<i64>,
    pid: u32,
    /// True once the exit is recorded.
    exited: watch::Sender<bool>,
}

fn no_such_exec(id: &str) -> ApiError {
    ApiError::not_found(format!("No such exec instance: {id}"))
}

fn not_running(id: &str) -> ApiError {
    ApiError::conflict(format!("Container {id} is not running"))
}

/// Docker's exit code for an exec the runtime could not start (moby's
/// `translateContainerdStartErr`): 127 not found, 126 cannot be invoked.
fn start_failure_code(message: &str) -> i64 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else {
        126
    }
}

/// `KEY=value` lists: later entries replace earlier ones with the same key, in place.
fn replace_or_append(env: &mut Vec<String>, extra: &[String]) {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for e in extra {
        match env.iter_mut().find(|x| key(x) == key(e)) {
            Some(slot) => *slot = e.clone(),
            None => env.push(e.clone()),
        }
    }
}

/// The exec's OCI process: the container's process with the exec's command, terminal,
/// environment, working directory, user and (privileged) capabilities.
pub(super) fn exec_process(
    spec_process: Value,
    config: &ExecConfig,
    rootfs: &std::path::Path,
    group_add: &[String],
    console: Option<[u32; 2]>,
) -> Result<Value, ApiError> {
    let mut process = spec_process;
    if !process.is_object() {
        return Err(ApiError::system("the container's spec has no process"));
    }
    process["args"] = Value::from(config.cmd.clone());
    process["terminal"] = Value::Bool(config.tty);
    let mut env: Vec<String> = process["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !config.user.is_empty() {
        let resolved = user::resolve(rootfs, &config.user, group_add).map_err(|err| {
            if err.is_invalid() {
                ApiError::invalid(err.to_string())
            } else {
                ApiError::system(err.to_string())
            }
        })?;
        process["user"] = serde_json::json!({
            "uid": resolved.uid,
            "gid": resolved.gid,
            "additionalGids": resolved.additional_gids,
        });
        if let Some(slot) = env.iter_mut().find(|e| e.starts_with("HOME=")) {
            *slot = format!("HOME={}", resolved.home);
        } else {
            env.push(format!("HOME={}", resolved.home));
        }
    }
    replace_or_append(&mut env, &config.env);
    process["env"] = Value::from(env);
    if !config.working_dir.is_empty() {
        process["cwd"] = Value::from(config.working_dir.clone());
    }
    if config.privileged {
        let all = Value::from(all_capabilities());
        process["capabilities"] = serde_json::json!({
            "bounding": all, "effective": all, "permitted": all,
        });
    }
    match console.filter(|[h, w]| *h > 0 || *w > 0) {
        Some([height, width]) => {
            process["consoleSize"] = serde_json::json!({"height": height, "width": width})
        }
        None => {
            if let Some(map) = process.as_object_mut() {
                map.remove("consoleSize");
            }
        }
    }
    Ok(process)
}

/// Reads the process of the container's spec from its bundle.
pub(super) fn spec_process(bundle: &std::path::Path) -> Result<Value, ApiError> {
    let path = bundle.join("config.json");
    let text =
        std::fs::read(&path).map_err(ContainerError::io(format!("reading {}", path.display())))?;
    let mut spec: Value = serde_json::from_slice(&text).map_err(ContainerError::from)?;
    Ok(spec["process"].take())
}

fn command_line(config: &ExecConfig) -> String {
    config.cmd.join(" ")
}

impl Containers {
    fn exec_event(&self, container_id: &str, action: &str, extra: &[(&str, String)]) {
        if let Some(record) = self.store.get(container_id) {
            self.publish(action, &record, extra);
        }
    }

    /// Records an exit and wakes whoever waits for it.
    fn exec_exited(&self, exec_id: &str, code: i64) {
        let mut table = self
            .sessions
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.get_mut(exec_id) {
            entry.running = false;
            entry.exit_code = Some(code);
            entry.exited.send_replace(true);
        }
    }

    /// Waits on a thread of its own (execs may run as long as the container) for the
    /// exec's exit, records it and publishes `exec_die`.
    fn watch_exec(self: &Arc<Self>, exec_id: String, container_id: String, socket: PathBuf) {
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("exec-monitor".into())
            .spawn(move || {
                let status = ShimClient::connect(&socket).and_then(|mut c| c.wait(Some(&exec_id)));
                // A shim that went away took the exec with it: Docker reports such an exec
                // as ended with no more to say; 137 is what a killed process reports.
                let code = status.map_or(137, |s| i64::from(s.exit_code));
                this.exec_exited(&exec_id, code);
                let attributes = [("execID", exec_id.clone()), ("exitCode", code.to_string())];
                this.exec_event(&container_id, "exec_die", &attributes);
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "no thread for an exec monitor");
        }
    }

    /// Forgets the execs of containers that no longer exist.
    fn prune_execs(&self, table: &mut HashMap<String, ExecEntry>) {
        table.retain(|_, e| self.store.get(&e.container_id).is_some());
    }
}

/// What a start needs once the checks are done.
struct Prepared {
    exec_id: String,
    container_id: String,
    config: ExecConfig,
    process: Value,
    socket: PathBuf,
}

impl Engine {
    pub(crate) async fn create_exec(
        &self,
        name: &str,
        config: ExecConfig,
    ) -> Result<String, ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ContainerError::NotFound(name.to_string()))?;
        if record.state.status != super::Status::Running {
            return Err(not_running(&record.id));
        }
        if record.state.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        if !config.detach_keys.is_empty() && parse_detach_keys(&config.detach_keys).is_err() {
            return Err(ApiError::system(format!(
                "Invalid escape keys ({}) provided",
                config.detach_keys
            )));
        }
        if !config.user.is_empty() {
            let rootfs = record.paths.bundle.join("rootfs");
            let spec = config.user.clone();
            let groups = record.host_config.group_add.clone().unwrap_or_default();
            blocking(move || {
                user::resolve(&rootfs, &spec, &groups)
                    .map(|_| ())
                    .map_err(|err| match err.is_invalid() {
                        true => ApiError::invalid(err.to_string()),
                        false => ApiError::system(err.to_string()),
                    })
            })
            .await?;
        }
        let exec_id = generate_id()?;
        let action = format!("exec_create: {}", command_line(&config));
        {
            let mut table = containers
                .sessions
                .execs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            containers.prune_execs(&mut table);
            let (exited, _) = watch::channel(false);
            table.insert(
                exec_id.clone(),
                ExecEntry {
                    container_id: record.id.clone(),
                    config,
                    started: false,
                    running: false,
                    exit_code: None,
                    pid: 0,
                    exited,
                },
            );
        }
        containers.publish(&action, &record, &[("execID", exec_id.clone())]);
        Ok(exec_id)
    }

    /// Checks and marks the exec started (Docker's 404/409s), and builds its process.
    async fn prepare_exec(
        &self,
        exec_id: &str,
        start: &ExecStartConfig,
    ) -> Result<Prepared, ApiError> {
        let containers = self.containers().clone();
        let (config, container_id) = {
            let mut table = containers
                .sessions
                .execs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let entry = table
                .get_mut(exec_id)
                .ok_or_else(|| no_such_exec(exec_id))?;
            if entry.exit_code.is_some() {
                return Err(ApiError::conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            if entry.started {
                return Err(ApiError::conflict(format!(
                    "Error: Exec command {exec_id} is already running"
                )));
            }
            (entry.config.clone(), entry.container_id.clone())
        };
        let record = containers
            .store
            .get(&container_id)
            .ok_or_else(|| no_such_exec(exec_id))?;
        if record.state.status != super::Status::Running {
            return Err(not_running(&record.id));
        }
        if record.state.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        let console = start.console_size.or(config.console_size);
        let bundle = record.paths.bundle.clone();
        let groups = record.host_config.group_add.clone().unwrap_or_default();
        let for_process = config.clone();
        let process = blocking(move || {
            let rootfs = bundle.join("rootfs");
            exec_process(
                spec_process(&bundle)?,
                &for_process,
                &rootfs,
                &groups,
                console,
            )
        })
        .await?;
        {
            let mut table = containers
                .sessions
                .execs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let entry = table
                .get_mut(exec_id)
                .ok_or_else(|| no_such_exec(exec_id))?;
            if entry.started {
                return Err(ApiError::conflict(format!(
                    "Error: Exec command {exec_id} is already running"
                )));
            }
            entry.started = true;
        }
        Ok(Prepared {
            exec_id: exec_id.to_string(),
            socket: record.paths.shim_state.join("shim.sock"),
            container_id,
            config,
            process,
        })
    }

    pub(crate) async fn start_exec(
        &self,
        exec_id: &str,
        start: ExecStartConfig,
    ) -> Result<Option<Hijack>, ApiError> {
        let containers = self.containers().clone();
        let prepared = self.prepare_exec(exec_id, &start).await?;
        let Prepared {
            exec_id,
            container_id,
            config,
            process,
            socket,
        } = prepared;
        let started_event = format!("exec_start: {}", command_line(&config));
        if start.detach {
            let (id, path) = (exec_id.clone(), socket.clone());
            let result = blocking(move || {
                let mut client = ShimClient::connect(&path).map_err(ContainerError::from)?;
                client
                    .exec(&id, process, false)
                    .map_err(|e| ApiError::system(runtime_message(e)))
            })
            .await;
            let pid = match result {
                Ok(pid) => pid,
                Err(err) => {
                    containers.exec_exited(&exec_id, start_failure_code(&err.message));
                    return Err(err);
                }
            };
            containers.exec_running(&exec_id, pid);
            containers.exec_event(
                &container_id,
                &started_event,
                &[("execID", exec_id.clone())],
            );
            containers.watch_exec(exec_id, container_id, socket);
            return Ok(None);
        }
        let tty = config.tty;
        let detach = match config.detach_keys.as_str() {
            "" => None,
            keys => Some(keys.to_string()),
        };
        let session = move |mut client: Hijacked| -> SessionFuture {
            Box::pin(async move {
                let streams = Streams {
                    stdin: config.attach_stdin,
                    stdout: config.attach_stdout,
                    stderr: config.attach_stderr,
                    close_stdin_on_eof: !tty,
                };
                let (id, path) = (exec_id.clone(), socket.clone());
                let result = blocking(move || {
                    let client = ShimClient::connect(&path).map_err(ContainerError::from)?;
                    client
                        .exec_attached(&id, process, streams)
                        .map_err(|e| ApiError::system(runtime_message(e)))
                })
                .await;
                let (pid, stream) = match result {
                    Ok(started) => started,
                    Err(err) => {
                        containers.exec_exited(&exec_id, start_failure_code(&err.message));
                        // moby writes the error into the stream, as stdout.
                        let text = format!("{}\r\n", err.message).into_bytes();
                        let _ = client.write_all(&stdout_bytes(text, tty)).await;
                        let _ = client.shutdown().await;
                        return;
                    }
                };
                let mut exited = containers.exec_running(&exec_id, pid);
                containers.exec_event(
                    &container_id,
                    &started_event,
                    &[("execID", exec_id.clone())],
                );
                containers.watch_exec(exec_id, container_id, socket);
                let keys = detach
                    .as_deref()
                    .map_or_else(|| detach_keys_or_default(""), detach_keys_or_default)
                    .unwrap_or_default();
                let plan = InputPlan {
                    stdin: config.attach_stdin,
                    // moby's exec: CloseStdin, which a TTY turns into ending the session.
                    close_stdin: !tty,
                    detach: tty.then_some(keys),
                };
                let ended = bridge(
                    &mut client,
                    stream.into_inner(),
                    plan,
                    EarlyInput::default(),
                )
                .await;
                if ended == super::attach::Ended::Output {
                    // The client inspects the exit code as soon as the stream ends.
                    if let Some(exited) = exited.as_mut() {
                        let _ = exited.wait_for(|done| *done).await;
                    }
                }
                let _ = client.shutdown().await;
            })
        };
        Ok(Some(Hijack {
            tty,
            session: Box::new(session),
        }))
    }

    pub(crate) async fn inspect_exec(&self, exec_id: &str) -> Result<ExecInspect, ApiError> {
        let containers = self.containers();
        let table = containers
            .sessions
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = table.get(exec_id).ok_or_else(|| no_such_exec(exec_id))?;
        if containers.store.get(&entry.container_id).is_none() {
            return Err(no_such_exec(exec_id));
        }
        let c = &entry.config;
        Ok(ExecInspect {
            id: exec_id.to_string(),
            running: entry.running,
            exit_code: entry.exit_code,
            process_config: ExecProcessConfig {
                tty: c.tty,
                entrypoint: c.cmd.first().cloned().unwrap_or_default(),
                arguments: c.cmd.iter().skip(1).cloned().collect(),
                privileged: Some(c.privileged),
                user: c.user.clone(),
            },
            open_stdin: c.attach_stdin,
            open_stderr: c.attach_stderr,
            open_stdout: c.attach_stdout,
            can_remove: false,
            container_id: entry.container_id.clone(),
            detach_keys: c.detach_keys.clone(),
            pid: entry.pid,
        })
    }

    pub(crate) async fn resize_exec(
        &self,
        exec_id: &str,
        height: u32,
        width: u32,
    ) -> Result<(), ApiError> {
        let containers = self.containers().clone();
        // The CLI resizes right after it starts an attached exec, which may still be
        // starting: wait for it a little, as moby does.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let container_id = loop {
            let starting = {
                let table = containers
                    .sessions
                    .execs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let entry = table.get(exec_id).ok_or_else(|| no_such_exec(exec_id))?;
                if entry.running {
                    break entry.container_id.clone();
                }
                entry.started && entry.exit_code.is_none()
            };
            if !starting || tokio::time::Instant::now() >= deadline {
                return Err(ApiError::conflict(format!("Exec {exec_id} is not running")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        let record = containers
            .store
            .get(&container_id)
            .ok_or_else(|| no_such_exec(exec_id))?;
        let id = exec_id.to_string();
        let (rows, cols) = (height as u16, width as u16);
        blocking(move || {
            let socket = record.paths.shim_state.join("shim.sock");
            let mut client = ShimClient::connect(&socket).map_err(ContainerError::from)?;
            super::attach::resize_result(client.resize(Some(&id), rows, cols))
        })
        .await
    }
}

impl Containers {
    /// Marks an exec running; returns a receiver that turns true once its exit is recorded.
    fn exec_running(&self, exec_id: &str, pid: u32) -> Option<watch::Receiver<bool>> {
        let mut table = self
            .sessions
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = table.get_mut(exec_id)?;
        entry.running = true;
        entry.pid = pid;
        Some(entry.exited.subscribe())
    }
}

/// The runtime's message as Docker words it (`OCI runtime exec failed: ...: unknown`).
fn runtime_message(err: berth_shim::ClientError) -> String {
    match err {
        berth_shim::ClientError::Shim {
            kind: berth_shim::protocol::ErrorKind::Runtime,
            message,
        } => format!("OCI runtime exec failed: {message}: unknown"),
        other => ContainerError::from(other).to_string(),
    }
}

/// Bytes as stdout: raw with a TTY, one stdcopy frame without.
fn stdout_bytes(text: Vec<u8>, tty: bool) -> Vec<u8> {
    if tty {
        return text;
    }
    let mut framed = vec![1, 0, 0, 0];
    framed.extend_from_slice(&(text.len() as u32).to_be_bytes());
    framed.extend_from_slice(&text);
    framed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_get_dockers_exit_codes() {
        let missing = r#"OCI runtime exec failed: exec failed: unable to start container process: exec: "x": executable file not found in $PATH: unknown"#;
        assert_eq!(start_failure_code(missing), 127);
        assert_eq!(start_failure_code("exec: \"/etc\": permission denied"), 126);
    }

    #[test]
    fn exec_process_overrides_the_containers() {
        let spec = serde_json::json!({
            "args": ["sh"], "cwd": "/", "terminal": false,
            "env": ["PATH=/bin", "HOSTNAME=c", "A=1"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_CHOWN"]},
            "noNewPrivileges": true,
        });
        let config = ExecConfig {
            cmd: vec!["echo".into(), "x".into()],
            env: vec!["A=2".into(), "B=3".into()],
            working_dir: "/tmp".into(),
            tty: true,
            privileged: true,
            ..ExecConfig::default()
        };
        let p = exec_process(
            spec,
            &config,
            std::path::Path::new("/nonexistent"),
            &[],
            Some([24, 80]),
        )
        .unwrap();
        assert_eq!(p["args"], serde_json::json!(["echo", "x"]));
        assert_eq!(
            p["env"],
            serde_json::json!(["PATH=/bin", "HOSTNAME=c", "A=2", "TERM=xterm", "B=3"])
        );
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(p["terminal"], true);
        assert_eq!(p["noNewPrivileges"], true, "kept from the container");
        assert!(p["capabilities"]["effective"].as_array().unwrap().len() > 30);
        assert_eq!(
            p["consoleSize"],
            serde_json::json!({"height": 24, "width": 80})
        );
        assert_eq!(stdout_bytes(b"e".to_vec(), false), b"\x01\0\0\0\0\0\0\x01e");
    }
}
