//! Attach and resize. An attach to a running container connects to its shim at once; an
//! attach to one that is not running waits in [`Sessions`] until the next start connects
//! it, after the shim has created the container and before it starts it, so no output is
//! lost (`docker run` attaches before it starts). The session then copies the shim's output
//! (already stdcopy frames without a TTY, raw with one) to the client and the client's
//! input to the process, watching for the detach keys.

use super::store::{ContainerRecord, Status};
use super::{blocking, logs, ContainerError, Containers};
use crate::engine::Engine;
use berth_api::attach::{AttachOptions, Hijack, Hijacked, SessionFuture};
use berth_api::{ApiError, LogsOptions};
use berth_shim::protocol::Streams;
use berth_shim::{AttachStream, ShimClient};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

/// Docker's default detach keys: ctrl-p, ctrl-q.
pub(crate) const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];
/// Input a client may send before the container starts; more waits in the socket.
const EARLY_INPUT_LIMIT: usize = 1 << 20;

/// Parses Docker's detach keys (`ctrl-p,ctrl-q`, `a`, `ctrl-@`, `DEL`), as moby/term's
/// `ToBytes`; `Err` carries the offending key.
pub(crate) fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    const CTRL: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";
    let mut codes = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let ctrl = key
            .strip_prefix("ctrl-")
            .filter(|rest| rest.len() == 1)
            .and_then(|rest| CTRL.iter().position(|c| *c == rest.as_bytes()[0]));
        match (ctrl, key) {
            (Some(code), _) => codes.push(code as u8),
            (None, "DEL") => codes.push(127),
            _ => return Err(key.to_string()),
        }
    }
    Ok(codes)
}

/// The detach keys of a request: the default when empty, Docker's 400 when malformed.
pub(crate) fn detach_keys_or_default(keys: &str) -> Result<Vec<u8>, ApiError> {
    if keys.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    parse_detach_keys(keys)
        .map_err(|_| ApiError::invalid(format!("Invalid detach keys ({keys}) provided")))
}

/// Watches a client's input for the detach sequence, holding back a partial match (moby's
/// escape proxy).
pub(crate) struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub(crate) fn new(keys: Vec<u8>) -> DetachScanner {
        DetachScanner { keys, matched: 0 }
    }

    /// Appends the bytes to forward to `out`; true once the whole sequence was typed.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

/// How a bridged session treats the client's input.
pub(crate) struct InputPlan {
    /// Forward input to the process (otherwise it is read and dropped).
    pub stdin: bool,
    /// On the client's half-close, close the process's stdin and keep the output flowing;
    /// otherwise the half-close ends the session (moby's `CloseStdin`).
    pub close_stdin: bool,
    /// Detach keys, applied with a TTY only (as moby does).
    pub detach: Option<Vec<u8>>,
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The process's output ended (it exited).
    Output,
    /// The client typed the detach keys.
    Detached,
    /// The client went away or ended its input.
    Client,
}

/// Input read from the client while the session waited for the container to start.
#[derive(Default)]
pub(crate) struct EarlyInput {
    pub bytes: Vec<u8>,
    pub eof: bool,
}

/// Copies between the client and an attached shim stream (`AttachStream::into_inner`)
/// until one side ends.
pub(crate) async fn bridge<C: AsyncRead + AsyncWrite + Unpin>(
    client: C,
    shim: std::os::unix::net::UnixStream,
    plan: InputPlan,
    early: EarlyInput,
) -> Ended {
    let shim = match shim
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(shim))
    {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "attach stream");
            return Ended::Client;
        }
    };
    let (mut shim_read, mut shim_write) = shim.into_split();
    let (mut client_read, mut client_write) = tokio::io::split(client);
    // The caller closes the client's side: an exec records its exit code first, since
    // the client inspects it as soon as the stream ends.
    let output = async {
        let _ = tokio::io::copy(&mut shim_read, &mut client_write).await;
        let _ = client_write.flush().await;
    };
    let input = async {
        let mut scanner = plan.detach.map(DetachScanner::new);
        let mut forward = Vec::with_capacity(4096);
        let mut buf = vec![0u8; 32 * 1024];
        let mut pending = early.bytes;
        let mut eof = early.eof;
        loop {
            if pending.is_empty() && !eof {
                match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
            if !pending.is_empty() {
                forward.clear();
                let detached = match &mut scanner {
                    Some(s) => s.feed(&pending, &mut forward),
                    None => {
                        forward.extend_from_slice(&pending);
                        false
                    }
                };
                pending.clear();
                if plan.stdin
                    && !forward.is_empty()
                    && shim_write.write_all(&forward).await.is_err()
                {
                    // The process is gone; the output side ends the session.
                    std::future::pending::<()>().await;
                }
                if detached {
                    return Ended::Detached;
                }
            }
            if eof {
                if !plan.stdin {
                    // Without stdin the client's input does not matter (moby never reads
                    // it); the output decides when the session ends.
                    std::future::pending::<()>().await;
                }
                if plan.close_stdin {
                    let _ = shim_write.shutdown().await;
                    std::future::pending::<()>().await;
                }
                return Ended::Client;
            }
        }
    };
    tokio::select! {
        () = output => Ended::Output,
        ended = input => ended,
    }
}

/// Attach sessions waiting for their container's next start.
#[derive(Default)]
pub(crate) struct Sessions {
    pending: Mutex<HashMap<String, Vec<Pending>>>,
    pub(crate) execs: super::exec::ExecTable,
}

struct Pending {
    streams: Streams,
    deliver: oneshot::Sender<AttachStream>,
}

/// Where an attach gets its stream: now, or at the next start.
enum Source {
    Now(AttachStream),
    AtStart(oneshot::Receiver<AttachStream>),
}

fn shim_socket(record: &ContainerRecord) -> std::path::PathBuf {
    record.paths.shim_state.join("shim.sock")
}

/// Connects an attach to a live shim whose container is created or running.
fn attach_live(socket: &Path, streams: Streams) -> Option<AttachStream> {
    let mut client = ShimClient::connect(socket).ok()?;
    let state = client.state(None).ok()?;
    if state.status == berth_shim::protocol::Status::Stopped {
        return None;
    }
    client.attach(None, streams).ok()
}

impl Containers {
    /// The start path's hook: connects every waiting attach to the shim that has just
    /// created the container (not yet started), so they see all of its output.
    pub(crate) fn connect_pending_attaches(&self, id: &str, socket: &Path) {
        let mut pending = self
            .sessions
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for waiting in pending.remove(id).unwrap_or_default() {
            if waiting.deliver.is_closed() {
                continue;
            }
            match ShimClient::connect(socket).and_then(|c| c.attach(None, waiting.streams)) {
                Ok(stream) => {
                    let _ = waiting.deliver.send(stream);
                }
                Err(err) => tracing::warn!(container = %id, error = %err, "attach at start"),
            }
        }
    }

    /// Connects now when the shim is up, else queues for the next start. Both under the
    /// lock the start hook takes, so an attach racing a start is never lost.
    fn attach_source(&self, record: &ContainerRecord, streams: Streams) -> Source {
        let mut pending = self
            .sessions
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if record.state.status == Status::Running || shim_socket(record).exists() {
            if let Some(stream) = attach_live(&shim_socket(record), streams) {
                return Source::Now(stream);
            }
        }
        let store = &self.store;
        pending.retain(|id, list| {
            list.retain(|p| !p.deliver.is_closed());
            !list.is_empty() && store.get(id).is_some()
        });
        let (deliver, receiver) = oneshot::channel();
        pending
            .entry(record.id.clone())
            .or_default()
            .push(Pending { streams, deliver });
        Source::AtStart(receiver)
    }
}

/// Reads the client's input into `early` until `wait` resolves, so a client that sends its
/// input and half-closes before the container starts is served once it does.
async fn wait_reading<C: AsyncRead + Unpin, T>(
    client: &mut C,
    early: &mut EarlyInput,
    wait: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(wait);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let room = !early.eof && early.bytes.len() < EARLY_INPUT_LIMIT;
        tokio::select! {
            value = &mut wait => return value,
            read = client.read(&mut buf), if room => match read {
                Ok(0) | Err(_) => early.eof = true,
                Ok(n) => early.bytes.extend_from_slice(&buf[..n]),
            },
        }
    }
}

/// Writes the container's log (Docker's `logs=1` on attach) to the client.
async fn replay_logs<C: AsyncWrite + Unpin>(
    client: &mut C,
    record: &ContainerRecord,
    watch: tokio::sync::watch::Receiver<super::store::Watched>,
    options: LogsOptions,
) -> std::io::Result<()> {
    let source = logs::LogSource {
        path: record.paths.log.clone(),
        tty: record.config.tty,
        attrs: logs::log_attributes(&record.config, &record.host_config.log_config),
        watch,
        read: None,
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
    tokio::task::spawn_blocking(move || logs::produce(source, options, sender));
    while let Some(chunk) = receiver.recv().await {
        client.write_all(&chunk).await?;
    }
    client.flush().await
}

impl Engine {
    pub(crate) async fn attach(
        &self,
        name: &str,
        options: AttachOptions,
    ) -> Result<Hijack, ApiError> {
        let detach_keys = detach_keys_or_default(&options.detach_keys)?;
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ContainerError::NotFound(name.to_string()))?;
        if record.state.paused && record.state.status == Status::Running {
            return Err(ApiError::conflict(format!(
                "container {name} is paused, unpause the container before attach."
            )));
        }
        let watch = containers
            .store
            .subscribe(&id)
            .ok_or_else(|| ContainerError::NotFound(name.to_string()))?;
        let tty = record.config.tty;
        // moby drops stdin when the container was created without it.
        let stdin = options.stdin && record.config.open_stdin;
        let streams = Streams {
            stdin,
            stdout: options.stdout,
            stderr: options.stderr,
            close_stdin_on_eof: record.config.stdin_once && !tty,
        };
        let source = if options.stream {
            let worker = containers.clone();
            let attached = record.clone();
            Some(blocking(move || Ok(worker.attach_source(&attached, streams))).await?)
        } else {
            None
        };
        containers.publish("attach", &record, &[]);
        let plan = InputPlan {
            stdin,
            close_stdin: record.config.stdin_once && !tty,
            detach: tty.then_some(detach_keys),
        };
        let logs = options.logs.then_some(LogsOptions {
            stdout: options.stdout,
            stderr: options.stderr,
            ..LogsOptions::default()
        });
        let session = move |mut client: Hijacked| -> SessionFuture {
            Box::pin(async move {
                if let Some(options) = logs {
                    if replay_logs(&mut client, &record, watch.clone(), options)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                let mut early = EarlyInput::default();
                let stream = match source {
                    None => None,
                    Some(Source::Now(stream)) => Some(stream),
                    Some(Source::AtStart(receiver)) => {
                        let mut removed = watch.clone();
                        let gone = async move {
                            while removed.changed().await.is_ok() {
                                if removed.borrow().removed {
                                    break;
                                }
                            }
                        };
                        let wait = async {
                            tokio::select! {
                                stream = receiver => stream.ok(),
                                () = gone => None,
                            }
                        };
                        wait_reading(&mut client, &mut early, wait).await
                    }
                };
                if let Some(stream) = stream {
                    if bridge(&mut client, stream.into_inner(), plan, early).await
                        == Ended::Detached
                    {
                        if let Some(record) = containers.store.get(&record.id) {
                            containers.publish("detach", &record, &[]);
                        }
                    }
                }
                let _ = client.shutdown().await;
            })
        };
        Ok(Hijack {
            tty,
            session: Box::new(session),
        })
    }

    pub(crate) async fn resize(&self, name: &str, height: u32, width: u32) -> Result<(), ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let record = containers
            .store
            .get(&id)
            .ok_or_else(|| ContainerError::NotFound(name.to_string()))?;
        if record.state.status != Status::Running {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                record.id
            )));
        }
        let (rows, cols) = (height as u16, width as u16);
        blocking(move || {
            let mut client =
                ShimClient::connect(&shim_socket(&record)).map_err(ContainerError::from)?;
            resize_result(client.resize(None, rows, cols))
        })
        .await?;
        if let Some(record) = containers.store.get(&id) {
            let size = [("height", height.to_string()), ("width", width.to_string())];
            containers.publish("resize", &record, &size);
        }
        Ok(())
    }
}

/// A resize of a process without a TTY is not an error to the client (Docker ignores it).
pub(crate) fn resize_result(result: Result<(), berth_shim::ClientError>) -> Result<(), ApiError> {
    match result {
        Ok(()) => Ok(()),
        Err(berth_shim::ClientError::Shim {
            kind: berth_shim::protocol::ErrorKind::InvalidArgument,
            ..
        }) => Ok(()),
        Err(err) => Err(ContainerError::from(err).into()),
    }
}

impl berth_api::attach::StreamBackend for Engine {
    async fn attach_container(
        &self,
        name: &str,
        options: AttachOptions,
    ) -> Result<Hijack, ApiError> {
        self.attach(name, options).await
    }

    async fn resize_container(&self, name: &str, height: u32, width: u32) -> Result<(), ApiError> {
        self.resize(name, height, width).await
    }

    async fn create_exec(
        &self,
        name: &str,
        config: berth_api::attach::ExecConfig,
    ) -> Result<String, ApiError> {
        Engine::create_exec(self, name, config).await
    }

    async fn start_exec(
        &self,
        id: &str,
        config: berth_api::attach::ExecStartConfig,
    ) -> Result<Option<Hijack>, ApiError> {
        Engine::start_exec(self, id, config).await
    }

    async fn inspect_exec(&self, id: &str) -> Result<berth_api::attach::ExecInspect, ApiError> {
        Engine::inspect_exec(self, id).await
    }

    async fn resize_exec(&self, id: &str, height: u32, width: u32) -> Result<(), ApiError> {
        Engine::resize_exec(self, id, height, width).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_moby_parses_them() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,DEL").unwrap(),
            vec![b'a', 0, 127]
        );
        assert_eq!(parse_detach_keys("ctrl-\\,ctrl-_").unwrap(), vec![28, 31]);
        assert_eq!(parse_detach_keys("ctrl-P").unwrap_err(), "ctrl-P");
        assert_eq!(parse_detach_keys("ab").unwrap_err(), "ab");
        assert_eq!(parse_detach_keys("").unwrap_err(), "");
        let err = detach_keys_or_default("ctrl-1").unwrap_err();
        assert_eq!(err.message, "Invalid detach keys (ctrl-1) provided");
        assert_eq!(detach_keys_or_default("").unwrap(), DEFAULT_DETACH_KEYS);
    }

    #[test]
    fn scanner_holds_back_a_partial_match_and_detaches_across_reads() {
        let mut s = DetachScanner::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!s.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        out.clear();
        assert!(!s.feed(b"c", &mut out));
        assert_eq!(out, b"\x10c", "a broken sequence is forwarded");
        out.clear();
        assert!(!s.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        out.clear();
        assert!(s.feed(b"\x11rest", &mut out));
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn bridge_forwards_input_and_ends_with_output() {
        let (shim_end, stream) = std::os::unix::net::UnixStream::pair().unwrap();
        let (client, mut peer) = tokio::io::duplex(1024);
        let shim = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut shim_end = shim_end;
            let mut got = Vec::new();
            shim_end.read_to_end(&mut got).unwrap();
            shim_end.write_all(b"\x01\0\0\0\0\0\0\x02ok").unwrap();
            got
        });
        let plan = InputPlan {
            stdin: true,
            close_stdin: true,
            detach: None,
        };
        let early = EarlyInput {
            bytes: b"early ".to_vec(),
            eof: false,
        };
        let task = tokio::spawn(async move {
            let mut client = client;
            let ended = bridge(&mut client, stream, plan, early).await;
            client.shutdown().await.unwrap();
            ended
        });
        peer.write_all(b"input").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut out = Vec::new();
        peer.read_to_end(&mut out).await.unwrap();
        assert_eq!(task.await.unwrap(), Ended::Output);
        assert_eq!(shim.join().unwrap(), b"early input");
        assert_eq!(out, b"\x01\0\0\0\0\0\0\x02ok");
    }

    #[tokio::test]
    async fn bridge_detaches_on_the_keys_with_a_tty() {
        let (shim_end, stream) = std::os::unix::net::UnixStream::pair().unwrap();
        let (client, mut peer) = tokio::io::duplex(1024);
        let plan = InputPlan {
            stdin: true,
            close_stdin: false,
            detach: Some(DEFAULT_DETACH_KEYS.to_vec()),
        };
        let task = tokio::spawn(bridge(client, stream, plan, EarlyInput::default()));
        peer.write_all(b"ls\n\x10\x11").await.unwrap();
        assert_eq!(task.await.unwrap(), Ended::Detached);
        drop(shim_end);
    }
}
