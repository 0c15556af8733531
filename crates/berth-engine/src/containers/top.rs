//! `GET /containers/{id}/top`: the host's `ps` with the client's arguments, keeping the
//! rows whose PID is in the container's cgroup (moby `daemon/top_unix.go`).

use super::pause::{cgroup_error, container_cgroup};
use super::store::Status;
use super::{ContainerError, Containers};
use berth_api::operations::TopResponse;
use berth_api::ApiError;
use std::process::Command;

/// moby `validatePSArgs`: only `pid=PID...` may rename a PID column.
fn validate_ps_args(ps_args: &str) -> Result<(), ApiError> {
    let words: Vec<&str> = ps_args.split_ascii_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        // `\s+([^\s]*)=\s*(PID[^\s]*)`: a key after whitespace, `=`, then PID...
        if i == 0 && !ps_args.starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let value = if value.is_empty() {
            words.get(i + 1).copied().unwrap_or("")
        } else {
            value
        };
        if value.starts_with("PID") && key != "pid" {
            return Err(ApiError::invalid(format!(
                "specifying \"{key}={value}\" is not allowed"
            )));
        }
    }
    Ok(())
}

/// moby `parsePSOutput`: the PID column is found in the header; a `-` PID (a thread line
/// of `-m`) belongs to the process above it; overhanging fields join the last column.
pub(crate) fn parse_ps_output(output: &str, pids: &[u32]) -> Result<TopResponse, ApiError> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::system("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    let mut previous_contained = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(field) = fields.get(pid_index) else {
            continue;
        };
        let keep = if *field == "-" {
            previous_contained
        } else {
            let pid: u32 = field
                .parse()
                .map_err(|e| ApiError::system(format!("Unexpected pid '{field}': {e}")))?;
            previous_contained = pids.contains(&pid);
            previous_contained
        };
        if keep {
            let last = titles.len() - 1;
            let mut row: Vec<String> = fields.iter().take(last).map(|f| f.to_string()).collect();
            row.push(fields.get(last..).map(|r| r.join(" ")).unwrap_or_default());
            processes.push(row);
        }
    }
    Ok(TopResponse { titles, processes })
}

impl Containers {
    /// Blocking: reads the cgroup and runs `ps`.
    pub(crate) fn top(&self, id: &str, ps_args: &str) -> Result<TopResponse, ApiError> {
        let ps_args = if ps_args.is_empty() { "-ef" } else { ps_args };
        validate_ps_args(ps_args)?;
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        match record.state.status {
            Status::Running => {}
            Status::Restarting => {
                return Err(ApiError::conflict(format!(
                    "Container {id} is restarting, wait until the container is running"
                )))
            }
            _ => return Err(ApiError::conflict(format!("Container {id} is not running"))),
        }
        let pids = container_cgroup(&record)?
            .processes()
            .map_err(|e| cgroup_error(&e))?;
        let args: Vec<&str> = ps_args.split(' ').collect();
        let pid_list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let first = Command::new("ps")
            .args(&args)
            .arg("-q")
            .arg(&pid_list)
            .output();
        let output = match first {
            Ok(out) if out.status.success() => out,
            // Some ps options (such as f) cannot be used with q: again without it.
            _ => {
                let out = Command::new("ps")
                    .args(&args)
                    .output()
                    .map_err(|e| ApiError::system(format!("ps: {e}")))?;
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let line = stderr.lines().next().unwrap_or("");
                    return Err(ApiError::system(if line.is_empty() {
                        format!("ps: {}", out.status)
                    } else {
                        format!("ps: {line}")
                    }));
                }
                out
            }
        };
        let top = parse_ps_output(&String::from_utf8_lossy(&output.stdout), &pids)?;
        self.publish("top", &record, &[]);
        Ok(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_container_rows_and_joins_overhanging_fields() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 10 1 0 10:00 ? 00:00:00 sleep 100\n\
                   root 11 1 0 10:00 ? 00:00:00 other thing\n";
        let top = parse_ps_output(out, &[10]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "10");
        assert_eq!(top.processes[0][7], "sleep 100");
    }

    #[test]
    fn thread_lines_follow_their_process() {
        let out = "PID TTY TIME CMD\n5 ? 0 sh\n- - 0 -\n6 ? 0 x\n- - 0 -\n";
        let top = parse_ps_output(out, &[5]).unwrap();
        assert_eq!(top.processes.len(), 2);
    }

    #[test]
    fn no_pid_column_and_renamed_pid_columns() {
        let err = parse_ps_output("USER CMD\n", &[]).unwrap_err();
        assert_eq!(err.message, "Couldn't find PID field in ps output");
        let err = validate_ps_args("-o pid,ppid= PID").unwrap_err();
        assert_eq!(err.message, "specifying \"pid,ppid=PID\" is not allowed");
        validate_ps_args("-o pid=PID").unwrap();
        validate_ps_args("aux").unwrap();
    }
}
