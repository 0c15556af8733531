//! The shim's answers to requests, and the end of a process: exit status, exit file,
//! runtime cleanup, waking waiters and ending attach streams.

use super::{chain, error, Attach, Phase, Server};
use crate::exitfile;
use crate::process::{PendingStdio, Proc};
use crate::protocol::{ErrorKind, ExitStatus, Request, Response, Status};
use crate::runtime::Launch;
use crate::timestamp::rfc3339_nano;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

impl Server {
    fn find(&self, id: &Option<String>) -> Result<usize, Response> {
        self.procs
            .iter()
            .position(|p| &p.exec_id == id)
            .ok_or_else(|| error(ErrorKind::NotFound, format!("no process {id:?}")))
    }

    /// Handles one request; `None` when the reply comes later (`wait`).
    pub(super) fn handle(&mut self, k: usize, req: Request) -> Option<Response> {
        let reply = match req {
            Request::State { id } => self
                .find(&id)
                .map(|i| Response::State(self.procs[i].state())),
            Request::Start => self.start_init(),
            Request::Signal { id, signal, all } => self.signal(&id, signal, all),
            Request::Resize { id, rows, cols } => self.find(&id).and_then(|i| {
                let master = self.procs[i].master.as_ref();
                let master =
                    master.ok_or_else(|| error(ErrorKind::InvalidArgument, "not a TTY process"))?;
                crate::console::resize(master, rows, cols)
                    .map(|()| Response::Done)
                    .map_err(|e| error(ErrorKind::Internal, chain(&e)))
            }),
            Request::Wait { id } => match self.find(&id) {
                Ok(i) => match &self.procs[i].exit {
                    Some(exit) => {
                        self.conns[k].delivers_exit = i == 0;
                        Ok(Response::Exited(exit.clone()))
                    }
                    None => {
                        self.conns[k].phase = Phase::Waiting(i);
                        return None;
                    }
                },
                Err(e) => Err(e),
            },
            Request::Attach { id, streams } => self.find(&id).and_then(|i| {
                if self.procs[i].exit.is_some() {
                    return Err(error(ErrorKind::Conflict, "the process has exited"));
                }
                self.conns[k].phase = Phase::Attached(Attach { proc: i, streams });
                Ok(Response::Attached {
                    tty: self.procs[i].tty,
                })
            }),
            Request::Exec {
                id,
                process,
                stdin,
                attach,
            } => self.exec(id, process, stdin).map(|pid| {
                if let Some(streams) = attach {
                    let proc = self.procs.len() - 1;
                    self.conns[k].phase = Phase::Attached(Attach { proc, streams });
                }
                Response::Started { pid }
            }),
            Request::Shutdown => {
                if self.procs[0].exit.is_none() {
                    Err(error(ErrorKind::Conflict, "the container is still running"))
                } else {
                    self.shutdown = true;
                    Ok(Response::Done)
                }
            }
        };
        if let Phase::Attached(a) = self.conns[k].phase {
            // Bytes that arrived behind the attach request are the first stdin bytes.
            let early = std::mem::take(&mut self.conns[k].inbuf);
            if a.streams.stdin && !early.is_empty() {
                self.procs[a.proc].stdin_buf.extend_from_slice(&early);
            }
        }
        Some(reply.unwrap_or_else(|e| e))
    }

    fn start_init(&mut self) -> Result<Response, Response> {
        let init = &self.procs[0];
        if init.status != Status::Created || init.reaped.is_some() {
            return Err(error(
                ErrorKind::Conflict,
                "the container is not in the created state",
            ));
        }
        self.runtime
            .start(&self.config.id)
            .map_err(|e| error(ErrorKind::Runtime, chain(&e)))?;
        self.procs[0].status = Status::Running;
        Ok(Response::Started {
            pid: self.procs[0].pid,
        })
    }

    fn signal(
        &mut self,
        id: &Option<String>,
        signal: i32,
        all: bool,
    ) -> Result<Response, Response> {
        let i = self.find(id)?;
        let p = &self.procs[i];
        if p.reaped.is_some() {
            return Err(error(ErrorKind::Conflict, "the process is not running"));
        }
        if all && i == 0 {
            self.runtime
                .kill(&self.config.id, signal, true)
                .map_err(|e| error(ErrorKind::Runtime, chain(&e)))?;
            return Ok(Response::Done);
        }
        let sig = Signal::try_from(signal).map_err(|_| {
            error(
                ErrorKind::InvalidArgument,
                format!("invalid signal {signal}"),
            )
        })?;
        // The pid cannot have been reused: the process is our child and not yet reaped.
        nix::sys::signal::kill(Pid::from_raw(p.pid as i32), sig)
            .map(|()| Response::Done)
            .map_err(|e| error(ErrorKind::Internal, format!("kill: {e}")))
    }

    /// Starts an exec process; returns its pid.
    fn exec(
        &mut self,
        id: String,
        process: serde_json::Value,
        stdin: bool,
    ) -> Result<u32, Response> {
        let init = &self.procs[0];
        if init.status != Status::Running || init.reaped.is_some() {
            return Err(error(ErrorKind::Conflict, "the container is not running"));
        }
        if self
            .procs
            .iter()
            .any(|p| p.exec_id.as_deref() == Some(id.as_str()))
        {
            return Err(error(
                ErrorKind::Conflict,
                format!("exec id {id} is in use"),
            ));
        }
        if !process.is_object() {
            return Err(error(
                ErrorKind::InvalidArgument,
                "process must be a JSON object",
            ));
        }
        let tty = process["terminal"].as_bool().unwrap_or(false);
        self.exec_seq += 1;
        let dir = &self.config.state_dir;
        let spec = dir.join(format!("exec-{}.json", self.exec_seq));
        let pid_file = dir.join(format!("exec-{}.pid", self.exec_seq));
        let internal = |e: &dyn std::error::Error| error(ErrorKind::Internal, chain(e));
        let console = dir.join(format!("console-{}.sock", self.exec_seq));
        let pending = PendingStdio::new(tty, stdin, &console).map_err(|e| internal(&e))?;
        let (child, our_in, out, console) = pending.split();
        let launch = Launch {
            pid_file: &pid_file,
            console_socket: console.as_ref().map(|c| c.path()),
            stdio: child,
        };
        let result = self.runtime.exec(&self.config.id, &process, &spec, launch);
        let _ = std::fs::remove_file(&pid_file);
        let pid = result.map_err(|e| error(ErrorKind::Runtime, chain(&e)))?;
        let proc = Proc::from_parts(our_in, out, console, Some(id), pid, Status::Running)
            .map_err(|e| internal(&e))?;
        self.procs.push(proc);
        Ok(pid)
    }

    /// Records how process `i` ended; for the init also the exit file and the runtime's
    /// state. Then answers its waiters and ends its attach streams.
    pub(super) fn finish(&mut self, i: usize) {
        let p = &mut self.procs[i];
        let (exit_code, signal, at) = p.reaped.expect("finish only after reaping");
        let status = ExitStatus {
            pid: p.pid,
            exit_code,
            signal,
            oom_killed: i == 0 && self.oom_killed(),
            finished_at: rfc3339_nano(at),
        };
        if i == 0 {
            if let Err(e) = exitfile::write(&self.config.state_dir, &status) {
                eprintln!("berth-shim: {}", chain(&e));
            }
            if let Err(e) = self.runtime.delete(&self.config.id) {
                eprintln!("berth-shim: {}", chain(&e));
            }
        }
        let p = &mut self.procs[i];
        p.status = Status::Stopped;
        p.stdin = None;
        p.stdin_buf.clear();
        p.exit = Some(status.clone());
        for k in 0..self.conns.len() {
            match self.conns[k].phase {
                Phase::Waiting(w) if w == i => {
                    self.conns[k].phase = Phase::Requests;
                    self.conns[k].delivers_exit = i == 0;
                    self.respond(k, Response::Exited(status.clone()));
                    self.process_frames(k);
                }
                Phase::Attached(a) if a.proc == i => {
                    self.conns[k].close_after_flush = true;
                    self.flush_conn(k);
                }
                _ => {}
            }
        }
    }

    /// Whether the kernel OOM killer struck in the container's cgroup. Only known when the
    /// bundle names an absolute cgroupfs path; without one the flag is false. Read before
    /// the runtime deletes the cgroup.
    fn oom_killed(&self) -> bool {
        let Some(path) = &self.cgroup else {
            return false;
        };
        berth_cgroups::CgroupSetup::detect()
            .ok()
            .and_then(|setup| berth_cgroups::Cgroup::open(&setup, path).ok())
            .and_then(|cgroup| cgroup.oom_kill_count().ok())
            .is_some_and(|n| n > 0)
    }
}
