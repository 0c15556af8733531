//! The shim itself: a single-threaded poll loop over the protocol socket, the SIGCHLD
//! signalfd, the processes' outputs and stdin, and the client connections.
//!
//! Life of a shim: [`Server::start`] detaches (setsid), becomes child subreaper, binds the
//! socket and creates the container (its init waits for `start`). [`Server::run`] then
//! serves until the container's init has exited, its output is drained, the exit file is
//! written and the runtime's state deleted, and then either a client has been sent the
//! init's exit status by `wait`, or a client has asked for `shutdown`. Until then the shim
//! stays, so a restarted berthd can collect the status.

mod requests;

use crate::config::RuntimeChoice;
use crate::config::ShimConfig;
use crate::logfile::{JsonFileLog, Stream};
use crate::process::{PendingStdio, Proc, ProcessError};
use crate::protocol::{
    encode, split_frame, ErrorKind, Hello, Request, Response, Status, Streams, Welcome, MAX_FRAME,
    PROTOCOL_VERSION,
};
use crate::runtime::{BuiltinRuntime, ExternalRuntime, Launch, Runtime, RuntimeError};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustix::event::{PollFd, PollFlags};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::SystemTime;

/// An attacher more than this far behind on output is disconnected: the container and its
/// log must never wait for a slow client.
const MAX_ATTACH_BACKLOG: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("directory {0} must be a directory owned by us with mode 0700")]
    NotPrivate(std::path::PathBuf),
    #[error("preparing state directory {0}")]
    StateDir(std::path::PathBuf, #[source] std::io::Error),
    #[error("becoming child subreaper")]
    Subreaper(#[source] nix::Error),
    #[error("setting up the SIGCHLD signalfd")]
    Signals(#[source] nix::Error),
    #[error("binding socket {0}")]
    Bind(std::path::PathBuf, #[source] std::io::Error),
    #[error("reading the bundle's config.json")]
    Bundle(#[source] std::io::Error),
    #[error("opening the container log")]
    Log(#[from] crate::logfile::LogError),
    #[error("setting up the container's stdio")]
    Stdio(#[from] ProcessError),
    #[error("creating the container")]
    Create(#[source] RuntimeError),
    #[error("waiting for events")]
    Poll(#[source] std::io::Error),
}

/// Where a connection is in the protocol.
#[derive(Clone, Copy)]
enum Phase {
    Hello,
    Requests,
    /// Waiting for process `usize` to finish.
    Waiting(usize),
    Attached(Attach),
}

#[derive(Clone, Copy)]
struct Attach {
    proc: usize,
    streams: Streams,
}

struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    phase: Phase,
    read_eof: bool,
    close_after_flush: bool,
    dead: bool,
    /// The init's exit status is queued in `outbuf` as a `wait` reply.
    delivers_exit: bool,
    /// SO_PEERCRED named a uid that may not talk to us: the hello is answered with an
    /// error and the connection closed.
    refused: bool,
}

#[derive(Clone, Copy)]
enum Tag {
    Listener,
    Signals,
    Out(usize, usize),
    Stdin(usize),
    Conn(usize),
}

pub struct Server {
    config: ShimConfig,
    runtime: Box<dyn Runtime>,
    listener: UnixListener,
    signals: SignalFd,
    /// `procs[0]` is the container's init; execs follow in start order.
    procs: Vec<Proc>,
    conns: Vec<Conn>,
    log: Option<JsonFileLog>,
    cgroup: Option<berth_cgroups::CgroupPath>,
    buf: Vec<u8>,
    exec_seq: u32,
    shutdown: bool,
    collected: bool,
}

/// Creates `dir` with mode 0700 if missing, and insists it is ours and private.
fn private_dir(dir: &Path) -> Result<(), ServerError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| ServerError::StateDir(dir.to_path_buf(), e))?;
    }
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| ServerError::StateDir(dir.to_path_buf(), e))?;
    if !meta.is_dir()
        || meta.uid() != rustix::process::geteuid().as_raw()
        || meta.mode() & 0o077 != 0
    {
        return Err(ServerError::NotPrivate(dir.to_path_buf()));
    }
    Ok(())
}

/// What the shim needs from the bundle's config.json: TTY or not, and the cgroup path
/// (for the OOM flag; only a cgroupfs-style absolute `linux.cgroupsPath` is understood).
fn read_bundle(bundle: &Path) -> Result<(bool, Option<berth_cgroups::CgroupPath>), ServerError> {
    let text = std::fs::read(bundle.join("config.json")).map_err(ServerError::Bundle)?;
    let spec: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        ServerError::Bundle(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?;
    let tty = spec["process"]["terminal"].as_bool().unwrap_or(false);
    let cgroup = spec["linux"]["cgroupsPath"]
        .as_str()
        .filter(|p| p.starts_with('/'))
        .and_then(|p| berth_cgroups::CgroupPath::parse(p).ok());
    Ok((tty, cgroup))
}

/// The error and its sources, as one line for a reply.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error {
        kind,
        message: message.into(),
    }
}

impl Server {
    /// Detaches, binds the socket and creates the container with the runtime named in
    /// `config`. Returns once the container exists (not yet started).
    pub fn start(config: ShimConfig) -> Result<Server, ServerError> {
        let runtime: Box<dyn Runtime> = match &config.runtime {
            RuntimeChoice::Builtin => Box::new(BuiltinRuntime::new(
                config
                    .runtime_root
                    .clone()
                    .unwrap_or_else(|| config.state_dir.join("runtime")),
            )),
            RuntimeChoice::External(binary) => Box::new(ExternalRuntime {
                binary: binary.clone(),
                root: config.runtime_root.clone(),
                log: config.state_dir.join("runtime.log"),
            }),
        };
        Server::start_with(config, runtime)
    }

    /// [`Server::start`] with any [`Runtime`].
    pub fn start_with(
        config: ShimConfig,
        runtime: Box<dyn Runtime>,
    ) -> Result<Server, ServerError> {
        // A new session: berthd's process group and terminal signals never reach us.
        let _ = rustix::process::setsid();
        // Do not pin whatever mount berthd ran in (all configured paths are absolute).
        let _ = std::env::set_current_dir("/");
        nix::sys::prctl::set_child_subreaper(true).map_err(ServerError::Subreaper)?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().map_err(ServerError::Signals)?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(ServerError::Signals)?;

        private_dir(&config.state_dir)?;
        let socket_dir = config.socket.parent().unwrap_or(Path::new("/"));
        private_dir(socket_dir)?;
        let bind_err = |e| ServerError::Bind(config.socket.clone(), e);
        let listener = UnixListener::bind(&config.socket).map_err(bind_err)?;
        std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true))
            .map_err(bind_err)?;

        let mut server = Server {
            log: None,
            cgroup: None,
            procs: Vec::new(),
            conns: Vec::new(),
            buf: vec![0; 32 * 1024],
            exec_seq: 0,
            shutdown: false,
            collected: false,
            runtime,
            listener,
            signals,
            config,
        };
        if let Err(e) = server.create() {
            let _ = std::fs::remove_file(&server.config.socket);
            return Err(e);
        }
        Ok(server)
    }

    fn create(&mut self) -> Result<(), ServerError> {
        let (tty, cgroup) = read_bundle(&self.config.bundle)?;
        self.cgroup = cgroup;
        if let Some(log) = &self.config.log {
            self.log = Some(JsonFileLog::open(log.clone())?);
        }
        let dir = &self.config.state_dir;
        let pending = PendingStdio::new(tty, self.config.stdin, &dir.join("console.sock"))?;
        let (child, stdin, out, console) = pending.split();
        let pid_file = dir.join("init.pid");
        let launch = Launch {
            pid_file: &pid_file,
            console_socket: console.as_ref().map(|c| c.path()),
            stdio: child,
        };
        let pid = self
            .runtime
            .create(&self.config.id, &self.config.bundle, launch)
            .map_err(ServerError::Create)?;
        let init = Proc::from_parts(stdin, out, console, None, pid, Status::Created);
        match init {
            Ok(init) => self.procs.push(init),
            Err(e) => {
                let _ = self.runtime.delete(&self.config.id);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The init's pid.
    pub fn pid(&self) -> u32 {
        self.procs[0].pid
    }

    /// Serves until the rule in the module doc says the shim may go; removes the socket.
    pub fn run(mut self) -> Result<(), ServerError> {
        let mut tags: Vec<Tag> = Vec::new();
        let mut ready: Vec<(Tag, PollFlags)> = Vec::new();
        while !(self.procs[0].exit.is_some() && (self.shutdown || self.collected)) {
            self.poll_once(&mut tags, &mut ready)?;
            for (tag, revents) in ready.drain(..) {
                self.dispatch(tag, revents);
            }
            self.after_events();
        }
        for k in 0..self.conns.len() {
            self.flush_conn(k);
        }
        let _ = std::fs::remove_file(&self.config.socket);
        Ok(())
    }

    fn poll_once(
        &mut self,
        tags: &mut Vec<Tag>,
        ready: &mut Vec<(Tag, PollFlags)>,
    ) -> Result<(), ServerError> {
        tags.clear();
        let mut fds = Vec::with_capacity(8 + self.conns.len());
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        tags.push(Tag::Listener);
        fds.push(PollFd::new(&self.signals, PollFlags::IN));
        tags.push(Tag::Signals);
        for (i, p) in self.procs.iter().enumerate() {
            for (j, out) in p.out.iter().enumerate() {
                if let Some(out) = out {
                    fds.push(PollFd::new(&out.fd, PollFlags::IN));
                    tags.push(Tag::Out(i, j));
                }
            }
            if let (Some(fd), false) = (&p.stdin, p.stdin_buf.is_empty()) {
                fds.push(PollFd::new(fd, PollFlags::OUT));
                tags.push(Tag::Stdin(i));
            }
        }
        for (k, c) in self.conns.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if !c.read_eof && self.wants_read(c) {
                flags |= PollFlags::IN;
            }
            if !c.outbuf.is_empty() {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.stream, flags));
            tags.push(Tag::Conn(k));
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(ServerError::Poll(e.into())),
        }
        for (fd, tag) in fds.iter().zip(tags.iter()) {
            let revents = fd.revents();
            if !revents.is_empty() {
                ready.push((*tag, revents));
            }
        }
        Ok(())
    }

    fn wants_read(&self, c: &Conn) -> bool {
        match c.phase {
            Phase::Attached(a) if a.streams.stdin => self.procs[a.proc].stdin_room() > 0,
            _ => !c.close_after_flush,
        }
    }

    fn dispatch(&mut self, tag: Tag, revents: PollFlags) {
        match tag {
            Tag::Listener => self.accept(),
            Tag::Signals => self.reap(),
            Tag::Out(i, j) => self.on_output(i, j),
            Tag::Stdin(i) => self.procs[i].flush_stdin(),
            Tag::Conn(k) => {
                // Hang-up after end of input: the peer is gone both ways. (poll reports
                // HUP even when not asked, so leaving it would spin.)
                if revents.intersects(PollFlags::HUP | PollFlags::ERR) && self.conns[k].read_eof {
                    self.conns[k].dead = true;
                    return;
                }
                if revents.contains(PollFlags::OUT) {
                    self.flush_conn(k);
                }
                if revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                    self.read_conn(k);
                }
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let uid = rustix::net::sockopt::socket_peercred(&stream).map(|c| c.uid.as_raw());
            let allowed = matches!(uid, Ok(u) if u == 0 || u == self.config.daemon_uid);
            let _ = stream.set_nonblocking(true);
            self.conns.push(Conn {
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                phase: Phase::Hello,
                read_eof: false,
                close_after_flush: false,
                dead: false,
                delivers_exit: false,
                refused: !allowed,
            });
        }
    }

    /// Reaps every exited child: ours (init, execs) and orphans re-parented to us.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.signals.read_signal() {}
        loop {
            let (pid, code, signal) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code, None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, 128 + sig as i32, Some(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let now = SystemTime::now();
            if let Some(p) = self
                .procs
                .iter_mut()
                .find(|p| p.pid == pid.as_raw() as u32 && p.reaped.is_none())
            {
                p.reaped = Some((code, signal, now));
            }
        }
    }

    fn on_output(&mut self, i: usize, j: usize) {
        let Server {
            procs,
            conns,
            log,
            buf,
            ..
        } = self;
        let proc = &mut procs[i];
        let Some(out) = proc.out[j].as_mut() else {
            return;
        };
        let stream = if j == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        let n = match rustix::io::read(&out.fd, &mut buf[..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => return,
            // EIO: the pty's last slave closed, which is its end of file.
            Err(_) => 0,
        };
        let now = SystemTime::now();
        let log = log.as_mut().filter(|_| i == 0);
        if n == 0 {
            if let Some(log) = log {
                out.splitter
                    .finish(|line, done| log.write_entry(stream, line, done, now));
            }
            proc.out[j] = None;
            return;
        }
        let data = &buf[..n];
        if let Some(log) = log {
            out.splitter
                .feed(data, |line, done| log.write_entry(stream, line, done, now));
        }
        for c in conns.iter_mut().filter(|c| !c.dead) {
            let Phase::Attached(a) = c.phase else {
                continue;
            };
            if a.proc != i
                || !(if j == 0 {
                    a.streams.stdout
                } else {
                    a.streams.stderr
                })
            {
                continue;
            }
            if !proc.tty {
                c.outbuf.extend_from_slice(&[j as u8 + 1, 0, 0, 0]);
                c.outbuf.extend_from_slice(&(n as u32).to_be_bytes());
            }
            c.outbuf.extend_from_slice(data);
            if c.outbuf.len() > MAX_ATTACH_BACKLOG {
                c.dead = true;
            }
        }
    }

    fn read_conn(&mut self, k: usize) {
        if let Phase::Attached(a) = self.conns[k].phase {
            return self.read_stdin(k, a);
        }
        let c = &mut self.conns[k];
        let start = c.inbuf.len();
        c.inbuf.resize(start + 4096, 0);
        match c.stream.read(&mut c.inbuf[start..]) {
            Ok(0) => {
                c.inbuf.truncate(start);
                c.read_eof = true;
                c.close_after_flush = true;
                if c.outbuf.is_empty() || matches!(c.phase, Phase::Waiting(_)) {
                    c.dead = true;
                }
            }
            Ok(n) => c.inbuf.truncate(start + n),
            Err(e) => {
                c.inbuf.truncate(start);
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    c.dead = true;
                }
            }
        }
        if c.inbuf.len() > MAX_FRAME as usize + 4 {
            c.dead = true;
        }
        self.process_frames(k);
    }

    /// Bytes from an attached client go to the process's stdin; the client's half-close
    /// closes stdin when the attach asked for it.
    fn read_stdin(&mut self, k: usize, a: Attach) {
        let s = a.streams;
        let room = self.procs[a.proc].stdin_room().min(self.buf.len());
        let c = &mut self.conns[k];
        let limit = if s.stdin { room.max(1) } else { self.buf.len() };
        match c.stream.read(&mut self.buf[..limit]) {
            Ok(0) => {
                c.read_eof = true;
                if s.stdin && s.close_stdin_on_eof {
                    let p = &mut self.procs[a.proc];
                    p.close_stdin_when_drained = true;
                    p.flush_stdin();
                }
            }
            Ok(n) if s.stdin => {
                let p = &mut self.procs[a.proc];
                p.stdin_buf.extend_from_slice(&self.buf[..n]);
                p.flush_stdin();
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => c.dead = true,
        }
    }

    fn process_frames(&mut self, k: usize) {
        loop {
            let c = &mut self.conns[k];
            if c.dead || !matches!(c.phase, Phase::Hello | Phase::Requests) {
                return;
            }
            let (body, used) = match split_frame(&c.inbuf) {
                Ok(Some((body, used))) => (body.to_vec(), used),
                Ok(None) => return,
                Err(_) => {
                    c.dead = true;
                    return;
                }
            };
            c.inbuf.drain(..used);
            let reply = if matches!(c.phase, Phase::Hello) {
                self.hello(k, &body)
            } else {
                match serde_json::from_slice::<Request>(&body) {
                    Ok(req) => self.handle(k, req),
                    Err(e) => Some(error(ErrorKind::InvalidArgument, e.to_string())),
                }
            };
            if let Some(reply) = reply {
                self.respond(k, reply);
            }
        }
    }

    fn hello(&mut self, k: usize, body: &[u8]) -> Option<Response> {
        let c = &mut self.conns[k];
        if c.refused {
            c.close_after_flush = true;
            let msg = "permission denied: only root or the daemon's uid may connect";
            return Some(error(ErrorKind::PermissionDenied, msg));
        }
        match serde_json::from_slice::<Hello>(body) {
            Ok(h) if h.protocol == PROTOCOL_VERSION => {
                c.phase = Phase::Requests;
                Some(Response::Welcome(Welcome {
                    protocol: PROTOCOL_VERSION,
                    container_id: self.config.id.clone(),
                    shim_pid: std::process::id(),
                }))
            }
            Ok(h) => {
                c.close_after_flush = true;
                let msg = format!(
                    "protocol {} not supported; this shim speaks {PROTOCOL_VERSION}",
                    h.protocol
                );
                Some(error(ErrorKind::Unsupported, msg))
            }
            Err(e) => {
                c.close_after_flush = true;
                Some(error(
                    ErrorKind::InvalidArgument,
                    format!("expected hello: {e}"),
                ))
            }
        }
    }

    fn respond(&mut self, k: usize, reply: Response) {
        if encode(&reply, &mut self.conns[k].outbuf).is_err() {
            self.conns[k].dead = true;
            return;
        }
        self.flush_conn(k);
    }

    fn flush_conn(&mut self, k: usize) {
        let c = &mut self.conns[k];
        while !c.outbuf.is_empty() && !c.dead {
            match c.stream.write(&c.outbuf) {
                Ok(n) => {
                    c.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => c.dead = true,
            }
        }
        if c.outbuf.is_empty() {
            if c.delivers_exit {
                c.delivers_exit = false;
                self.collected = true;
            }
            if c.close_after_flush {
                c.dead = true;
            }
        }
    }

    /// Finishes processes that are reaped and drained, and forgets closed connections.
    fn after_events(&mut self) {
        for i in 0..self.procs.len() {
            if self.procs[i].drained() && self.procs[i].exit.is_none() {
                self.finish(i);
            }
        }
        self.conns.retain(|c| !c.dead);
        self.forget_finished_execs();
    }

    /// Forgets the oldest finished execs beyond the last [`KEPT_FINISHED_EXECS`] that no
    /// connection still uses, so periodic execs (health probes) do not grow the table (and
    /// each poll's walk over it) without bound. Indices held by connections are shifted.
    fn forget_finished_execs(&mut self) {
        let finished = |p: &Proc| p.exec_id.is_some() && p.exit.is_some();
        let mut excess = self
            .procs
            .iter()
            .filter(|p| finished(p))
            .count()
            .saturating_sub(KEPT_FINISHED_EXECS);
        let mut i = 1;
        while excess > 0 && i < self.procs.len() {
            let used = self.conns.iter().any(|c| match c.phase {
                Phase::Waiting(w) => w == i,
                Phase::Attached(a) => a.proc == i,
                _ => false,
            });
            if !finished(&self.procs[i]) || used {
                i += 1;
                continue;
            }
            self.procs.remove(i);
            excess -= 1;
            for c in &mut self.conns {
                match &mut c.phase {
                    Phase::Waiting(w) if *w > i => *w -= 1,
                    Phase::Attached(a) if a.proc > i => a.proc -= 1,
                    _ => {}
                }
            }
        }
    }
}

/// Finished execs remembered for late `wait`/`state` requests.
const KEPT_FINISHED_EXECS: usize = 32;
