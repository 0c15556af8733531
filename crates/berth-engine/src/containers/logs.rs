//! `GET /containers/{id}/logs`: the json-file log read back (rotated files first), filtered
//! by stream, cut to `tail`, optionally timestamped, and framed as Docker's stdcopy stream
//! (or raw for a TTY). `follow` keeps reading the live file until the container stops.

use super::store::Watched;
use berth_api::LogsOptions;
use bytes::Bytes;
use serde::Deserialize;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a follower looks for new lines; the shim appends whole lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Rotated files are `<log>.1` (newest) up to this many.
const MAX_ROTATED: u32 = 32;

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// What the reader needs besides the options.
pub struct LogSource {
    pub path: PathBuf,
    pub tty: bool,
    pub watch: watch::Receiver<Watched>,
    /// Told once what was logged so far has been read, so a container removed right after
    /// the request (docker-py's `containers.run` removes before it reads) still has its
    /// output served.
    pub read: Option<tokio::sync::oneshot::Sender<()>>,
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(format!(".{i}"));
    PathBuf::from(p)
}

/// Frames one entry as Docker sends it.
fn frame(entry: &Entry, options: &LogsOptions, tty: bool) -> Option<Bytes> {
    let stream = match entry.stream.as_str() {
        "stdout" if options.stdout => 1u8,
        "stderr" if options.stderr => 2u8,
        _ => return None,
    };
    let mut payload = Vec::with_capacity(entry.log.len() + 40);
    if options.timestamps {
        let time = chrono::DateTime::parse_from_rfc3339(&entry.time)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                    .to_string()
            })
            .unwrap_or_else(|_| entry.time.clone());
        payload.extend_from_slice(time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(entry.log.as_bytes());
    if tty {
        return Some(Bytes::from(payload));
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Some(Bytes::from(out))
}

fn parse_lines(reader: impl BufRead, out: &mut Vec<Entry>) {
    for line in reader.lines().map_while(Result::ok) {
        if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
            out.push(entry);
        }
    }
}

/// Reads everything logged so far; returns the entries and the live file's length.
fn read_existing(path: &Path) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    for i in (1..=MAX_ROTATED).rev() {
        if let Ok(file) = std::fs::File::open(rotated(path, i)) {
            parse_lines(BufReader::new(file), &mut entries);
        }
    }
    let mut end = 0;
    if let Ok(mut file) = std::fs::File::open(path) {
        let mut text = Vec::new();
        if file.read_to_end(&mut text).is_ok() {
            // Only complete lines: a follower picks up the rest later.
            let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            end = complete as u64;
            parse_lines(&text[..complete], &mut entries);
        }
    }
    (entries, end)
}

/// Produces the log stream into `sender` (blocking; ends when the client goes away).
pub fn produce(mut source: LogSource, options: LogsOptions, sender: mpsc::Sender<Bytes>) {
    let (entries, mut offset) = read_existing(&source.path);
    if let Some(read) = source.read.take() {
        let _ = read.send(());
    }
    let wanted: Vec<&Entry> = entries
        .iter()
        .filter(|e| frame(e, &options, source.tty).is_some())
        .collect();
    let skip = options
        .tail
        .map_or(0, |tail| wanted.len().saturating_sub(tail));
    for entry in wanted.into_iter().skip(skip) {
        if let Some(bytes) = frame(entry, &options, source.tty) {
            if sender.blocking_send(bytes).is_err() {
                return;
            }
        }
    }
    if !options.follow {
        return;
    }
    loop {
        // Read the state before the file, so lines written just before the exit are seen.
        let running = source.watch.borrow().running && !source.watch.borrow().removed;
        let (entries, end) = read_from(&source.path, offset);
        offset = end;
        for entry in &entries {
            if let Some(bytes) = frame(entry, &options, source.tty) {
                if sender.blocking_send(bytes).is_err() {
                    return;
                }
            }
        }
        if !running || sender.is_closed() {
            return;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Complete lines after `offset`; a file shorter than the offset was rotated, so it is
/// read from the start.
fn read_from(path: &Path, offset: u64) -> (Vec<Entry>, u64) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return (Vec::new(), offset);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return (Vec::new(), offset);
    }
    let mut text = Vec::new();
    if file.read_to_end(&mut text).is_err() {
        return (Vec::new(), offset);
    }
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut entries = Vec::new();
    parse_lines(&text[..complete], &mut entries);
    (entries, start + complete as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_big_endian_length() {
        let entry = Entry {
            log: "hi\n".into(),
            stream: "stderr".into(),
            time: "2024-01-02T03:04:05.5Z".into(),
        };
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let bytes = frame(&entry, &options, false).unwrap();
        assert_eq!(&bytes[..], b"\x02\0\0\0\0\0\0\x03hi\n");
        let stamped = LogsOptions {
            timestamps: true,
            ..options
        };
        let bytes = frame(&entry, &stamped, true).unwrap();
        assert_eq!(&bytes[..], b"2024-01-02T03:04:05.500000000Z hi\n");
    }
}
