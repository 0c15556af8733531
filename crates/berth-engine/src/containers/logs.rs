//! `GET /containers/{id}/logs`: the json-file log read back (rotated files first, oldest
//! first), cut to `tail` (lines of the files, as Docker counts them), filtered by stream and
//! `since`/`until`, optionally timestamped and prefixed with the entry's attributes
//! (`details`), and framed as Docker's stdcopy stream (or raw for a TTY). `follow` keeps
//! reading the live file until the container stops.
//!
//! Speed: files are streamed in 1 MiB reads; entries in the shim's key order are decoded by
//! hand straight into the output buffer (other shapes fall back to serde), and output goes
//! out in batches of about 1 MiB rather than a message per line.

use super::store::Watched;
use berth_api::timestamp::Timestamp;
use berth_api::LogsOptions;
use bytes::Bytes;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a follower looks for new lines; the shim appends whole lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Rotated files are `<log>.1` (newest) up to this many.
const MAX_ROTATED: u32 = 32;
const READ_SIZE: usize = 1 << 20;
/// Output is sent once a batch reaches this size.
const BATCH: usize = 1 << 20;

/// What the reader needs besides the options.
pub struct LogSource {
    pub path: PathBuf,
    pub tty: bool,
    /// Attributes for entries that carry none (the shim writes none).
    pub attrs: BTreeMap<String, String>,
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

/// The general shape of an entry, for lines the fast path does not take.
#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
    #[serde(default)]
    attrs: Option<BTreeMap<String, String>>,
}

/// Whether to go on after a line.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    /// Past `until`: nothing later can match.
    Done,
    /// The client went away.
    Closed,
}

/// Frames entries into batches and sends them.
struct Writer<'a> {
    options: &'a LogsOptions,
    tty: bool,
    attrs: &'a BTreeMap<String, String>,
    sender: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl Writer<'_> {
    fn flush(&mut self) -> Flow {
        if self.buf.is_empty() {
            return Flow::Continue;
        }
        let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH + 64 * 1024));
        match self.sender.blocking_send(Bytes::from(batch)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Closed,
        }
    }

    /// One line of a log file.
    fn line(&mut self, line: &[u8]) -> Flow {
        let start = self.buf.len();
        let header = if self.tty { 0 } else { 8 };
        self.buf.resize(start + header, 0);
        let flow = match fast_entry(line) {
            Some(fast) => self.entry(start, fast.stream, fast.time, None, |out| {
                unescape(fast.log, out)
            }),
            None => match serde_json::from_slice::<Entry>(line) {
                Ok(entry) => {
                    let stream = match entry.stream.as_str() {
                        "stdout" => 1,
                        "stderr" => 2,
                        _ => 0,
                    };
                    self.entry(start, stream, &entry.time, entry.attrs.as_ref(), |out| {
                        out.extend_from_slice(entry.log.as_bytes());
                        true
                    })
                }
                Err(_) => None,
            },
        };
        match flow {
            Some(Flow::Continue) if self.buf.len() >= BATCH => self.flush(),
            Some(flow) => flow,
            None => {
                self.buf.truncate(start);
                Flow::Continue
            }
        }
    }

    /// Writes one entry at `start` (its header reserved); None when it is left out.
    fn entry(
        &mut self,
        start: usize,
        stream: u8,
        time: &str,
        attrs: Option<&BTreeMap<String, String>>,
        write_log: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Option<Flow> {
        let o = self.options;
        let wanted = match stream {
            1 => o.stdout,
            2 => o.stderr,
            _ => false,
        };
        if !wanted {
            return None;
        }
        let needs_time = o.timestamps || o.since.is_some() || o.until.is_some();
        let parsed = if needs_time {
            Some(chrono::DateTime::parse_from_rfc3339(time).ok()?)
        } else {
            None
        };
        if let Some(t) = parsed {
            let at = Timestamp::from_datetime(t);
            if o.since.is_some_and(|since| at < since) {
                return None;
            }
            if o.until.is_some_and(|until| at > until) {
                return Some(Flow::Done);
            }
            if o.timestamps {
                let text = t
                    .with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                    .to_string();
                self.buf.extend_from_slice(text.as_bytes());
                self.buf.push(b' ');
            }
        }
        if o.details {
            // moby's attrsByteSlice: sorted `k=v` (query-escaped values), comma-separated.
            let mut first = true;
            for (k, v) in attrs.unwrap_or(self.attrs) {
                if !first {
                    self.buf.push(b',');
                }
                first = false;
                self.buf.extend_from_slice(k.as_bytes());
                self.buf.push(b'=');
                query_escape(v, &mut self.buf);
            }
            self.buf.push(b' ');
        }
        if !write_log(&mut self.buf) {
            return None;
        }
        if !self.tty {
            let len = (self.buf.len() - start - 8) as u32;
            self.buf[start] = stream;
            self.buf[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
        }
        Some(Flow::Continue)
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(value: &str, out: &mut Vec<u8>) {
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
}

/// An entry in the shim's exact shape: `{"log":"...","stream":"...","time":"..."}`.
struct FastEntry<'a> {
    /// Still JSON-escaped.
    log: &'a [u8],
    stream: u8,
    time: &'a str,
}

fn fast_entry(line: &[u8]) -> Option<FastEntry<'_>> {
    let rest = line.strip_prefix(b"{\"log\":\"")?;
    // The end of the string: the first quote not escaped.
    let mut i = 0;
    loop {
        let j = rest[i..].iter().position(|&b| b == b'"' || b == b'\\')? + i;
        if rest[j] == b'"' {
            i = j;
            break;
        }
        i = j + 2;
        if i > rest.len() {
            return None;
        }
    }
    let log = &rest[..i];
    let rest = rest[i..].strip_prefix(b"\",\"stream\":\"")?;
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b"stdout") {
        (1, r)
    } else if let Some(r) = rest.strip_prefix(b"stderr") {
        (2, r)
    } else {
        return None;
    };
    let rest = rest.strip_prefix(b"\",\"time\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    if &rest[end..] != b"\"}" {
        return None;
    }
    let time = std::str::from_utf8(&rest[..end]).ok()?;
    Some(FastEntry { log, stream, time })
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes.get(..4)?).ok()?;
    u32::from_str_radix(text, 16).ok()
}

/// Decodes a JSON string body into `out`; false when it is not valid JSON.
fn unescape(mut s: &[u8], out: &mut Vec<u8>) -> bool {
    while let Some(i) = s.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&s[..i]);
        let Some(&kind) = s.get(i + 1) else {
            return false;
        };
        s = &s[i + 2..];
        let byte = match kind {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'u' => {
                let Some(first) = hex4(s) else {
                    return false;
                };
                s = &s[4..];
                let mut code = first;
                if (0xD800..0xDC00).contains(&first) && s.starts_with(b"\\u") {
                    if let Some(second) = hex4(&s[2..]).filter(|v| (0xDC00..0xE000).contains(v)) {
                        code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        s = &s[6..];
                    }
                }
                let c = char::from_u32(code).unwrap_or('\u{FFFD}');
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                continue;
            }
            _ => return false,
        };
        out.push(byte);
    }
    out.extend_from_slice(s);
    true
}

/// Feeds every complete line of `file` (up to `limit` bytes) to `each`, skipping the
/// first `skip` lines.
fn stream_lines(
    mut file: std::fs::File,
    limit: u64,
    skip: &mut u64,
    mut each: impl FnMut(&[u8]) -> Flow,
) -> Flow {
    let mut buf = vec![0u8; READ_SIZE];
    let mut held = 0usize;
    let mut left = limit;
    loop {
        if held == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let room = (buf.len() - held).min(left.min(usize::MAX as u64) as usize);
        if room == 0 {
            return Flow::Continue;
        }
        let n = match file.read(&mut buf[held..held + room]) {
            Ok(0) | Err(_) => return Flow::Continue,
            Ok(n) => n,
        };
        left -= n as u64;
        let filled = held + n;
        let mut at = 0;
        while let Some(nl) = buf[at..filled].iter().position(|&b| b == b'\n') {
            let line = &buf[at..at + nl];
            at += nl + 1;
            if *skip > 0 {
                *skip -= 1;
                continue;
            }
            let flow = each(line);
            if flow != Flow::Continue {
                return flow;
            }
        }
        buf.copy_within(at..filled, 0);
        held = filled - at;
    }
}

fn count_lines(path: &Path, limit: u64) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; READ_SIZE];
    let mut left = limit;
    let mut lines = 0u64;
    while left > 0 {
        let room = buf.len().min(left.min(usize::MAX as u64) as usize);
        match file.read(&mut buf[..room]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                left -= n as u64;
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
    }
    lines
}

/// The length of the live file's complete lines.
fn complete_length(path: &Path) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return 0;
    };
    // Find the last newline, reading back from the end.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let n = (end - from) as usize;
        if file.seek(SeekFrom::Start(from)).is_err() || file.read_exact(&mut buf[..n]).is_err() {
            return 0;
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return from + i as u64 + 1;
        }
        end = from;
    }
    0
}

/// Produces the log stream into `sender` (blocking; ends when the client goes away).
pub fn produce(mut source: LogSource, options: LogsOptions, sender: mpsc::Sender<Bytes>) {
    let mut writer = Writer {
        options: &options,
        tty: source.tty,
        attrs: &source.attrs,
        sender,
        buf: Vec::with_capacity(BATCH + 64 * 1024),
    };
    let live_end = complete_length(&source.path);
    // Oldest first: the highest-numbered rotated file, down to .1, then the live file.
    let mut files: Vec<(PathBuf, u64)> = (1..=MAX_ROTATED)
        .rev()
        .map(|i| rotated(&source.path, i))
        .filter(|p| p.exists())
        .map(|p| (p, u64::MAX))
        .collect();
    files.push((source.path.clone(), live_end));
    let mut skip = match options.tail {
        None => 0,
        Some(tail) => {
            let total: u64 = files.iter().map(|(p, limit)| count_lines(p, *limit)).sum();
            total.saturating_sub(tail as u64)
        }
    };
    // Open files stay readable after the container (and its log) is removed: once they are
    // open the request may be answered (docker-py removes a container before reading).
    let opened: Vec<(std::fs::File, u64)> = files
        .iter()
        .filter_map(|(path, limit)| Some((std::fs::File::open(path).ok()?, *limit)))
        .collect();
    if let Some(read) = source.read.take() {
        let _ = read.send(());
    }
    for (file, limit) in opened {
        match stream_lines(file, limit, &mut skip, |line| writer.line(line)) {
            Flow::Continue => {}
            Flow::Done => {
                writer.flush();
                return;
            }
            Flow::Closed => return,
        }
    }
    if writer.flush() == Flow::Closed || !options.follow {
        return;
    }
    let mut offset = live_end;
    loop {
        // Read the state before the file, so lines written just before the exit are seen.
        let running = source.watch.borrow().running && !source.watch.borrow().removed;
        let (text, end) = read_from(&source.path, offset);
        offset = end;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match writer.line(line) {
                Flow::Continue => {}
                Flow::Done => {
                    writer.flush();
                    return;
                }
                Flow::Closed => return,
            }
        }
        if writer.flush() == Flow::Closed || !running || writer.sender.is_closed() {
            return;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Complete lines after `offset`; a file shorter than the offset was rotated, so it is
/// read from the start.
fn read_from(path: &Path, offset: u64) -> (Vec<u8>, u64) {
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
    text.truncate(complete);
    (text, start + complete as u64)
}

/// The json-file options Docker accepts (`daemon/logger/jsonfilelog`).
const LOG_OPTS: [&str; 8] = [
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Checks `--log-opt`s at create with Docker's messages; only json-file is served.
pub fn validate_log_config(
    config: &berth_api::models::container::LogConfig,
) -> Result<(), berth_api::ApiError> {
    use berth_api::ApiError;
    if !matches!(config.kind.as_str(), "" | "json-file") {
        return Err(ApiError::invalid(format!(
            "logger: no log driver named '{}' is registered",
            config.kind
        )));
    }
    let opts = config.config.clone().unwrap_or_default();
    for key in opts.keys() {
        if !LOG_OPTS.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown log opt '{key}' for json-file log driver"
            )));
        }
    }
    if let Some(size) = opts.get("max-size") {
        berth_shim::logfile::parse_size(size).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    if let Some(files) = opts.get("max-file") {
        match files.parse::<i64>() {
            Ok(n) if n >= 1 => {}
            Ok(_) => return Err(ApiError::invalid("max-file cannot be less than 1")),
            Err(_) => {
                return Err(ApiError::invalid(format!(
                    "strconv.Atoi: parsing \"{files}\": invalid syntax"
                )))
            }
        }
    }
    Ok(())
}

/// The shim's log settings from the container's `--log-opt`s (defaults otherwise).
pub fn shim_log_config(
    path: PathBuf,
    config: &berth_api::models::container::LogConfig,
) -> berth_shim::logfile::LogConfig {
    let mut log = berth_shim::logfile::LogConfig::new(path);
    let opts = config.config.clone().unwrap_or_default();
    if let Some(Ok(size)) = opts
        .get("max-size")
        .map(|s| berth_shim::logfile::parse_size(s))
    {
        log.max_size = size;
    }
    if let Some(Ok(files)) = opts.get("max-file").map(|f| f.parse::<u32>()) {
        log.max_files = files.max(1);
    }
    log
}

/// The attributes json-file attaches to every entry (moby `ExtraAttributes`): the labels
/// named by `labels`, the environment variables named by `env`.
pub fn log_attributes(
    config: &berth_api::models::container::ContainerConfig,
    log: &berth_api::models::container::LogConfig,
) -> BTreeMap<String, String> {
    let opts = log.config.clone().unwrap_or_default();
    let mut attrs = BTreeMap::new();
    let names = |key: &str| -> Vec<String> {
        opts.get(key)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let labels = config.labels.clone().unwrap_or_default();
    for key in names("labels") {
        if let Some(value) = labels.get(&key) {
            attrs.insert(key, value.clone());
        }
    }
    let env: Vec<(String, String)> = config
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for key in names("env") {
        if let Some((_, value)) = env.iter().find(|(k, _)| *k == key) {
            attrs.insert(key, value.clone());
        }
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(lines: &[&str], options: LogsOptions, tty: bool) -> Vec<u8> {
        let (sender, mut receiver) = mpsc::channel(16);
        let attrs = BTreeMap::new();
        let mut writer = Writer {
            options: &options,
            tty,
            attrs: &attrs,
            sender,
            buf: Vec::new(),
        };
        for line in lines {
            writer.line(line.as_bytes());
        }
        writer.flush();
        drop(writer);
        let mut out = Vec::new();
        while let Ok(bytes) = receiver.try_recv() {
            out.extend_from_slice(&bytes);
        }
        out
    }

    fn both() -> LogsOptions {
        LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    }

    const LINE: &str = r#"{"log":"hi\n","stream":"stderr","time":"2024-01-02T03:04:05.5Z"}"#;

    #[test]
    fn frames_carry_the_stream_and_big_endian_length() {
        assert_eq!(render(&[LINE], both(), false), b"\x02\0\0\0\0\0\0\x03hi\n");
        let stamped = LogsOptions {
            timestamps: true,
            ..both()
        };
        assert_eq!(
            render(&[LINE], stamped, true),
            b"2024-01-02T03:04:05.500000000Z hi\n"
        );
    }

    #[test]
    fn escapes_decode_as_json_does() {
        let line = r#"{"log":"a\"b\\c\u003cd\u00e9\ud83d\ude00\t\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}"#;
        let out = render(&[line], both(), true);
        assert_eq!(String::from_utf8(out).unwrap(), "a\"b\\c<dé😀\t\n");
    }

    #[test]
    fn other_shapes_fall_back_to_serde_and_details_show_attrs() {
        let line = r#"{"log":"x\n","stream":"stdout","attrs":{"b":"2 3","a":"1"},"time":"2024-01-02T03:04:05Z"}"#;
        let details = LogsOptions {
            details: true,
            ..both()
        };
        assert_eq!(render(&[line], details.clone(), true), b"a=1,b=2+3 x\n");
        assert_eq!(render(&[LINE], details, true), b" hi\n");
    }

    #[test]
    fn since_and_until_bound_the_entries() {
        let at = |s: &str| {
            format!(r#"{{"log":"{s}\n","stream":"stdout","time":"2024-01-02T03:04:0{s}Z"}}"#)
        };
        let lines = [at("1"), at("2"), at("3"), at("4")];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let t = |s: i64| Timestamp {
            seconds: 1_704_164_640 + s,
            nanos: 0,
        };
        let options = LogsOptions {
            since: Some(t(2)),
            until: Some(t(3)),
            ..both()
        };
        assert_eq!(render(&refs, options, true), b"2\n3\n");
    }

    #[test]
    fn streams_are_filtered() {
        let stdout_only = LogsOptions {
            stdout: true,
            ..Default::default()
        };
        assert!(render(&[LINE], stdout_only, false).is_empty());
    }

    #[test]
    fn tail_counts_lines_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let entry = |s: &str| {
            format!(
                "{{\"log\":\"{s}\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"}}\n"
            )
        };
        std::fs::write(rotated(&path, 1), entry("a") + &entry("b")).unwrap();
        // The live file ends with half an entry, which is left for a follower.
        std::fs::write(&path, entry("c") + "{\"log\":\"d").unwrap();
        let (_keep, watch) = watch::channel(Watched::default());
        let source = |tail| {
            let (sender, mut receiver) = mpsc::channel(16);
            produce(
                LogSource {
                    path: path.clone(),
                    tty: true,
                    attrs: BTreeMap::new(),
                    watch: watch.clone(),
                    read: None,
                },
                LogsOptions { tail, ..both() },
                sender,
            );
            let mut out = Vec::new();
            while let Ok(bytes) = receiver.try_recv() {
                out.extend_from_slice(&bytes);
            }
            String::from_utf8(out).unwrap()
        };
        assert_eq!(source(None), "a\nb\nc\n");
        assert_eq!(source(Some(2)), "b\nc\n");
        assert_eq!(source(Some(0)), "");
    }
}
