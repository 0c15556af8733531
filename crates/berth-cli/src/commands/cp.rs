//! `cp`: docker/cli's copy between a container and the host. The path rules are those of
//! moby's `archive` package (`CopyInfo`, trailing `/` and `/.`, rebased entry names), done
//! here with the tar crate: archives of host paths never follow a symlink out of the source
//! unless `-L`, and extraction refuses entries that would land outside the destination.

use crate::cli::CpArgs;
use crate::commands::containers::{encode, escape};
use crate::output::human_size;
use berth_client::{Client, ClientError, ResponseStream};
use http::Method;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

// ---- Go's path/filepath for '/'-separated paths ----

/// Go's `filepath.Clean`.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`.
pub fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => clean(""),
    }
}

/// Go's `filepath.Base`.
pub fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return clean(b);
    }
    clean(&format!("{a}/{b}"))
}

fn has_trailing_separator(path: &str) -> bool {
    path.ends_with('/')
}

fn specifies_current_dir(path: &str) -> bool {
    base(path) == "."
}

fn asserts_directory(path: &str) -> bool {
    has_trailing_separator(path) || specifies_current_dir(path)
}

/// moby's `PreserveTrailingDotOrSeparator`.
pub fn preserve_trailing_dot_or_separator(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !has_trailing_separator(&out) {
            out.push('/');
        }
        out.push('.');
    }
    if !has_trailing_separator(&out) && has_trailing_separator(original) {
        out.push('/');
    }
    out
}

/// moby's `SplitPathDirEntry`: directory and base of the cleaned path, keeping a `.`.
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str("/.");
    }
    (dir(&cleaned), base(&cleaned))
}

/// moby's `GetRebaseName`.
pub fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_separator(path) && !has_trailing_separator(&resolved) {
        resolved.push('/');
    }
    let rebase = if base(path) != base(&resolved) {
        base(path)
    } else {
        String::new()
    };
    (resolved, rebase)
}

/// docker/cli's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an absolute path or
/// starts with `.` before the colon.
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') => (Some(container), path),
        _ => (None, arg),
    }
}

/// moby's `CopyInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    pub rebase_name: String,
}

fn absolute(path: &str) -> std::io::Result<String> {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", std::env::current_dir()?.display())
    };
    Ok(preserve_trailing_dot_or_separator(&clean(&joined), path))
}

fn eval_symlinks(path: &str) -> std::io::Result<String> {
    Ok(std::fs::canonicalize(path)?.to_string_lossy().into_owned())
}

/// moby's `ResolveHostSourcePath`: symlinks in the parent are resolved; the last element
/// only with `-L`.
pub fn resolve_host_source_path(path: &str, follow: bool) -> std::io::Result<(String, String)> {
    if follow {
        let resolved = eval_symlinks(path)?;
        return Ok(get_rebase_name(path, &resolved));
    }
    let split = path.rfind('/').map_or(0, |i| i + 1);
    let (dir_part, base_part) = path.split_at(split);
    let resolved_dir = eval_symlinks(if dir_part.is_empty() { "." } else { dir_part })?;
    let resolved_dir = resolved_dir.trim_end_matches('/');
    let resolved = format!("{resolved_dir}/{base_part}");
    let rebase = if has_trailing_separator(path) && base(path) != base(&resolved) {
        base(path)
    } else {
        String::new()
    };
    Ok((resolved, rebase))
}

/// moby's `CopyInfoSourcePath`.
pub fn copy_info_source_path(path: &str, follow: bool) -> std::io::Result<CopyInfo> {
    let (resolved, rebase_name) = resolve_host_source_path(path, follow)?;
    let meta = std::fs::symlink_metadata(&resolved)?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: meta.is_dir(),
        rebase_name,
    })
}

/// moby's `CopyInfoDestinationPath`: symlinks at the destination are followed (up to 10);
/// a missing destination needs an existing parent directory.
pub fn copy_info_destination_path(path: &str) -> Result<CopyInfo, String> {
    let original = path.to_string();
    let mut path = path.to_string();
    let mut stat = std::fs::symlink_metadata(&path);
    let mut hops = 0;
    while let Ok(meta) = &stat {
        if !meta.file_type().is_symlink() {
            break;
        }
        hops += 1;
        if hops > 11 {
            return Err(format!("too many symlinks in {original}"));
        }
        let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
        let target = target.to_string_lossy().into_owned();
        path = if target.starts_with('/') {
            target
        } else {
            join(&split_path_dir_entry(&path).0, &target)
        };
        stat = std::fs::symlink_metadata(&path);
    }
    match stat {
        Ok(meta) => Ok(CopyInfo {
            path,
            exists: true,
            is_dir: meta.is_dir(),
            rebase_name: String::new(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let parent = split_path_dir_entry(&path).0;
            match std::fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(CopyInfo {
                    path,
                    ..Default::default()
                }),
                Ok(_) => Err("not a directory".into()),
                Err(err) => Err(format!("stat {parent}: {}", os_message(&err))),
            }
        }
        Err(err) => Err(err.to_string()),
    }
}

fn os_message(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => err.to_string(),
    }
}

/// What `PrepareArchiveCopy` decides: the directory to extract into, and the entry-name
/// prefix to replace (old, new), if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Prepared {
    pub dst_dir: String,
    pub rebase: Option<(String, String)>,
}

/// moby's `PrepareArchiveCopy`, without touching the archive.
pub fn prepare_archive_copy(src: &CopyInfo, dst: &CopyInfo) -> Result<Prepared, String> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    let rebased = |dst_dir: String| Prepared {
        dst_dir,
        rebase: Some((src_base.clone(), dst_base.clone())),
    };
    if dst.exists && dst.is_dir {
        return Ok(Prepared {
            dst_dir: dst.path.clone(),
            rebase: None,
        });
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".into());
    }
    if dst.exists || src.is_dir {
        return Ok(rebased(dst_dir));
    }
    if asserts_directory(&dst.path) {
        return Err("no such directory".into());
    }
    Ok(rebased(dst_dir))
}

/// moby's `RebaseArchiveEntries` for one name (`/` as the old base means none).
pub fn rebase_name(name: &str, old: &str, new: &str) -> String {
    let old = if old == "/" { "" } else { old };
    name.replacen(old, new, 1)
}

// ---- archives ----

/// Counts bytes passing through (the size docker reports).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// moby's `TarResourceRebase`: the source's base entry and, for a directory, everything
/// below it, named relative to the source's parent; symlinks are archived as links.
pub fn tar_resource(
    src: &CopyInfo,
    rebase: Option<&(String, String)>,
    out: impl Write,
) -> std::io::Result<()> {
    let (source_dir, source_base) = split_path_dir_entry(&src.path);
    let mut names: Vec<(String, std::path::PathBuf)> = Vec::new();
    let root = Path::new(&source_dir).join(&source_base);
    let first = if source_base == "." {
        ".".to_string()
    } else {
        source_base.clone()
    };
    walk(&root, &first, &mut names)?;
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut seen: std::collections::HashMap<(u64, u64), String> = Default::default();
    for (mut name, path) in names {
        // The rebase TarWithOptions does for a rebase name, then PrepareArchiveCopy's.
        if !src.rebase_name.is_empty() {
            name = name.replacen(&source_base, &src.rebase_name, 1);
        }
        if let Some((old, new)) = rebase {
            name = rebase_name(&name, old, new);
        }
        let name = name.strip_prefix("./").map(str::to_string).unwrap_or(name);
        let meta = std::fs::symlink_metadata(&path)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_mtime(meta.mtime().max(0) as u64);
        let kind = meta.file_type();
        if kind.is_dir() {
            let dir_name = if name.ends_with('/') {
                name
            } else {
                format!("{name}/")
            };
            header.set_size(0);
            builder.append_data(&mut header, dir_name, std::io::empty())?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            header.set_size(0);
            builder.append_link(&mut header, name, target)?;
        } else if kind.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = seen.get(&(meta.dev(), meta.ino())) {
                    header.set_entry_type(tar::EntryType::Link);
                    header.set_size(0);
                    builder.append_link(&mut header, name, first)?;
                    continue;
                }
                seen.insert((meta.dev(), meta.ino()), name.clone());
            }
            let file = std::fs::File::open(&path)?;
            builder.append_data(&mut header, name, file)?;
        } else {
            // Devices, FIFOs and sockets: the header alone.
            header.set_size(0);
            builder.append_data(&mut header, name, std::io::empty())?;
        }
    }
    builder.into_inner()?.flush()
}

fn walk(
    path: &Path,
    name: &str,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    out.push((name.to_string(), path.to_path_buf()));
    if meta.is_dir() {
        let mut children: Vec<_> = std::fs::read_dir(path)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|e| e.file_name())
            .collect();
        children.sort();
        for child in children {
            let child_name = child.to_string_lossy();
            let joined = if name == "." {
                child_name.to_string()
            } else {
                format!("{name}/{child_name}")
            };
            walk(&path.join(&child), &joined, out)?;
        }
    }
    Ok(())
}

/// docker's `Untar` with `NoLchown` and `NoOverwriteDirNonDir`: entries are rebased, kept
/// inside `dst_dir` (no `..`, no symlinked parents, no symlink pointing out), and an
/// existing directory is never replaced by a file or the other way round.
pub fn untar(input: impl Read, dst_dir: &str, rebases: &[(String, String)]) -> Result<(), String> {
    let dest = Path::new(dst_dir);
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = rebases
            .iter()
            .fold(raw, |name, (old, new)| rebase_name(&name, old, new));
        let relative = clean(&format!("/{name}"));
        if relative == "/" {
            continue;
        }
        let target = format!("{}{relative}", dst_dir.trim_end_matches('/'));
        // Every existing parent below dest must be a real directory.
        let mut walk_path = dest.to_path_buf();
        let parts: Vec<&str> = relative.trim_start_matches('/').split('/').collect();
        for part in &parts[..parts.len() - 1] {
            walk_path.push(part);
            if let Ok(meta) = std::fs::symlink_metadata(&walk_path) {
                if !meta.is_dir() {
                    return Err(format!("{:?} is outside of {dst_dir:?}", target));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(|e| e.to_string())?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let resolved = join(&dir(&target), &link);
            let inside = resolved == clean(dst_dir)
                || resolved.starts_with(&format!("{}/", clean(dst_dir).trim_end_matches('/')));
            if !link.starts_with('/') && !inside {
                return Err(format!("invalid symlink {resolved:?} -> {link:?}"));
            }
        }
        if let Ok(existing) = std::fs::symlink_metadata(&target) {
            let is_dir_entry = kind.is_dir();
            if existing.is_dir() && !is_dir_entry {
                return Err(format!(
                    "cannot overwrite directory {target:?} with non-directory {name:?}"
                ));
            }
            if !existing.is_dir() && is_dir_entry {
                return Err(format!(
                    "cannot overwrite non-directory {target:?} with directory {name:?}"
                ));
            }
            if !existing.is_dir() {
                std::fs::remove_file(&target).map_err(|e| e.to_string())?;
            }
        }
        if let Some(parent) = Path::new(&target).parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        entry.set_unpack_xattrs(false);
        entry.unpack(&target).map_err(|e| e.to_string())?;
    }
    Ok(())
}

// ---- the command ----

/// The `X-Docker-Container-Path-Stat` header: base64 of `{name,size,mode,mtime,linkTarget}`.
pub fn path_stat(headers: &http::HeaderMap) -> Option<Value> {
    let value = headers.get("X-Docker-Container-Path-Stat")?.to_str().ok()?;
    serde_json::from_slice(&base64_decode(value)?).ok()
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Go's `os.ModeDir` and `os.ModeSymlink` bits of the stat's mode.
const GO_MODE_DIR: u64 = 1 << 31;
const GO_MODE_SYMLINK: u64 = 1 << 27;
const GO_MODE_DEVICE: u64 = 1 << 26;
const GO_MODE_IRREGULAR: u64 = 1 << 19;

async fn stat_path(client: &Client, container: &str, path: &str) -> Result<Value, ClientError> {
    let response = client
        .send(
            Method::HEAD,
            &format!(
                "/containers/{}/archive?{}",
                escape(container),
                encode(&[("path", path)])
            ),
            None,
        )
        .await?;
    Ok(path_stat(response.headers()).unwrap_or(Value::Null))
}

fn failure(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{message}");
    Ok(ExitCode::from(1))
}

pub async fn cp(client: &Client, args: CpArgs) -> anyhow::Result<ExitCode> {
    if args.source.is_empty() {
        return failure("source can not be empty");
    }
    if args.destination.is_empty() {
        return failure("destination can not be empty");
    }
    // As docker: no progress line unless stdout is a terminal or -q says otherwise.
    let quiet = args.quiet || !std::io::stdout().is_terminal();
    let (src_container, src_path) = split_cp_arg(&args.source);
    let (dst_container, dst_path) = split_cp_arg(&args.destination);
    match (src_container, dst_container) {
        (Some(c), None) => copy_from(client, c, src_path, dst_path, &args, quiet).await,
        (None, Some(c)) => copy_to(client, c, src_path, dst_path, &args, quiet).await,
        (Some(_), Some(_)) => failure("copying between containers is not supported"),
        (None, None) => failure("must specify at least one container source"),
    }
}

fn body_reader(stream: ResponseStream) -> impl tokio::io::AsyncRead + Send + Unpin {
    let chunks = futures_util::stream::unfold(stream, |mut s| async move {
        match s.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), s)),
            Ok(None) => None,
            Err(err) => Some((Err(std::io::Error::other(err.to_string())), s)),
        }
    });
    tokio_util::io::StreamReader::new(Box::pin(chunks))
}

async fn copy_from(
    client: &Client,
    container: &str,
    src_path: &str,
    dst_path: &str,
    args: &CpArgs,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let dst_path = if dst_path == "-" {
        dst_path.to_string()
    } else {
        absolute(dst_path)?
    };
    if let Err(message) = crate::commands::ops::validate_output_path(&dst_path) {
        return failure(message);
    }
    let mut src_path = src_path.to_string();
    let mut rebase = String::new();
    if args.follow_link {
        if let Ok(stat) = stat_path(client, container, &src_path).await {
            let mode = stat["mode"].as_u64().unwrap_or(0);
            if mode & GO_MODE_SYMLINK != 0 {
                let mut target = stat["linkTarget"].as_str().unwrap_or_default().to_string();
                if !target.starts_with('/') {
                    target = join(&split_path_dir_entry(&src_path).0, &target);
                }
                let (resolved, name) = get_rebase_name(&src_path, &target);
                src_path = resolved;
                rebase = name;
            }
        }
    }
    let response = match client
        .send(
            Method::GET,
            &format!(
                "/containers/{}/archive?{}",
                escape(container),
                encode(&[("path", &src_path)])
            ),
            None,
        )
        .await
    {
        Ok(r) => r,
        Err(err @ ClientError::Daemon { .. }) => return failure(err),
        Err(err) => return Err(err.into()),
    };
    let stat = path_stat(response.headers()).unwrap_or(Value::Null);
    let stream = ResponseStream::new(response);
    if dst_path == "-" {
        let mut reader = body_reader(stream);
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut reader, &mut out).await?;
        tokio::io::AsyncWriteExt::flush(&mut out).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let src_info = CopyInfo {
        path: src_path.clone(),
        exists: true,
        is_dir: stat["mode"].as_u64().unwrap_or(0) & GO_MODE_DIR != 0,
        rebase_name: rebase,
    };
    let count = Arc::new(AtomicU64::new(0));
    let reader = body_reader(stream);
    let counter = count.clone();
    let target = dst_path.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut input = Counting {
            inner: tokio_util::io::SyncIoBridge::new(reader),
            count: counter,
        };
        let dst_info = copy_info_destination_path(&target)?;
        // A followed link's entries are renamed first (copyFromContainer), then as
        // PrepareArchiveCopy says.
        let mut rebases = Vec::new();
        if !src_info.rebase_name.is_empty() {
            let (_, src_base) = split_path_dir_entry(&src_info.path);
            rebases.push((src_base, src_info.rebase_name.clone()));
        }
        let prepared = prepare_archive_copy(&src_info, &dst_info)?;
        rebases.extend(prepared.rebase);
        untar(&mut input, &prepared.dst_dir, &rebases)?;
        // The rest of the stream (the end-of-archive padding) counts, as docker counts it.
        std::io::copy(&mut input, &mut std::io::sink()).map_err(|e| e.to_string())?;
        Ok(())
    })
    .await?;
    if let Err(message) = result {
        return failure(message);
    }
    if !quiet {
        eprintln!(
            "Successfully copied {} to {dst_path}",
            human_size(count.load(Ordering::Relaxed) as f64)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn copy_to(
    client: &Client,
    container: &str,
    src_path: &str,
    dst_path: &str,
    args: &CpArgs,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let mut dst_info = CopyInfo {
        path: dst_path.to_string(),
        ..Default::default()
    };
    if let Ok(mut stat) = stat_path(client, container, dst_path).await {
        let mut ok = true;
        if stat["mode"].as_u64().unwrap_or(0) & GO_MODE_SYMLINK != 0 {
            let mut target = stat["linkTarget"].as_str().unwrap_or_default().to_string();
            if !target.starts_with('/') {
                target = join(&split_path_dir_entry(dst_path).0, &target);
            }
            dst_info.path = target.clone();
            match stat_path(client, container, &target).await {
                Ok(s) => stat = s,
                Err(_) => ok = false,
            }
        }
        if ok && !stat.is_null() {
            let mode = stat["mode"].as_u64().unwrap_or(0);
            if mode & GO_MODE_DEVICE != 0 || mode & GO_MODE_IRREGULAR != 0 {
                let what = if mode & GO_MODE_DEVICE != 0 {
                    "got a device"
                } else {
                    "got an irregular file"
                };
                return failure(format!(
                    "destination \"{container}:{dst_path}\" must be a directory or a regular file: {what}"
                ));
            }
            dst_info.exists = true;
            dst_info.is_dir = mode & GO_MODE_DIR != 0;
        }
    }
    let flag = |b: bool| if b { "true" } else { "false" };
    let count = Arc::new(AtomicU64::new(0));
    let (resolved_dst, body): (String, Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>) =
        if src_path == "-" {
            if !dst_info.is_dir {
                return failure(format!(
                    "destination \"{container}:{dst_path}\" must be a directory"
                ));
            }
            (dst_info.path.clone(), Box::new(tokio::io::stdin()))
        } else {
            let src = absolute(src_path)?;
            let src_info = match copy_info_source_path(&src, args.follow_link) {
                Ok(info) => info,
                Err(err) => return failure(format!("lstat {src}: {}", os_message(&err))),
            };
            let prepared = match prepare_archive_copy(&src_info, &dst_info) {
                Ok(p) => p,
                Err(message) => return failure(message),
            };
            let (reader, writer) = tokio::io::duplex(1 << 16);
            let counter = count.clone();
            tokio::task::spawn_blocking(move || {
                let writer = CountingWriter {
                    inner: tokio_util::io::SyncIoBridge::new(writer),
                    count: counter,
                };
                if let Err(err) = tar_resource(&src_info, prepared.rebase.as_ref(), writer) {
                    eprintln!("{err}");
                }
            });
            (prepared.dst_dir, Box::new(reader))
        };
    let path = format!(
        "/containers/{}/archive?{}",
        escape(container),
        encode(&[
            ("path", &resolved_dst),
            ("noOverwriteDirNonDir", "true"),
            ("copyUIDGID", flag(args.archive)),
        ])
    );
    match client
        .send_stream(Method::PUT, &path, "application/x-tar", body)
        .await
    {
        Ok(response) => {
            let mut rest = ResponseStream::new(response);
            while rest.next_chunk().await?.is_some() {}
        }
        Err(err @ ClientError::Daemon { .. }) => return failure(err),
        Err(err) => return Err(err.into()),
    }
    if !quiet {
        eprintln!(
            "Successfully copied {} to {container}:{}",
            human_size(count.load(Ordering::Relaxed) as f64),
            dst_info.path
        );
    }
    Ok(ExitCode::SUCCESS)
}

struct CountingWriter<W> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_functions() {
        assert_eq!(clean("/a/b/../c/./"), "/a/c");
        assert_eq!(clean("a//b"), "a/b");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/.."), "/");
        assert_eq!(dir("/a/b"), "/a");
        assert_eq!(dir("b"), ".");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(base("/a/."), ".");
    }

    #[test]
    fn trailing_dot_and_separator_survive_cleaning() {
        assert_eq!(
            preserve_trailing_dot_or_separator("/a/b", "a/b/."),
            "/a/b/."
        );
        assert_eq!(preserve_trailing_dot_or_separator("/a/b", "a/b/"), "/a/b/");
        assert_eq!(preserve_trailing_dot_or_separator("/", "/"), "/");
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
    }

    #[test]
    fn cp_arguments_split_as_docker() {
        assert_eq!(split_cp_arg("c1:/etc"), (Some("c1"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("plain"), (None, "plain"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: String::new(),
        }
    }

    #[test]
    fn prepare_archive_copy_follows_mobys_cases() {
        let file = info("/src/f", true, false);
        let dir = info("/src/d", true, true);
        // Into an existing directory: extracted as is.
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst", true, true)),
            Ok(Prepared {
                dst_dir: "/dst".into(),
                rebase: None
            })
        );
        // Over an existing file: renamed to the destination's name.
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst/g", true, false)),
            Ok(Prepared {
                dst_dir: "/dst".into(),
                rebase: Some(("f".into(), "g".into()))
            })
        );
        assert_eq!(
            prepare_archive_copy(&dir, &info("/dst/g", true, false)),
            Err("cannot copy directory".into())
        );
        // A new directory takes the destination's name.
        assert_eq!(
            prepare_archive_copy(&dir, &info("/dst/new", false, false)),
            Ok(Prepared {
                dst_dir: "/dst".into(),
                rebase: Some(("d".into(), "new".into()))
            })
        );
        // A file to a missing path asserted to be a directory.
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst/new/", false, false)),
            Err("no such directory".into())
        );
        // The contents of a directory (`d/.`) keep their names below the target.
        let contents = info("/src/d/.", true, true);
        assert_eq!(
            prepare_archive_copy(&contents, &info("/dst/new", false, false)),
            Ok(Prepared {
                dst_dir: "/dst".into(),
                rebase: Some((".".into(), "new".into()))
            })
        );
        assert_eq!(rebase_name("./x", ".", "new"), "new/x");
        assert_eq!(rebase_name("d/x", "d", "new"), "new/x");
    }

    #[test]
    fn rebase_names_for_followed_links() {
        assert_eq!(
            get_rebase_name("/a/link", "/a/target"),
            ("/a/target".into(), "link".into())
        );
        assert_eq!(
            get_rebase_name("/a/link/.", "/a/target"),
            ("/a/target/.".into(), String::new())
        );
        assert_eq!(
            get_rebase_name("/a/x", "/b/x"),
            ("/b/x".into(), String::new())
        );
    }

    #[test]
    fn host_sources_do_not_follow_a_final_symlink_without_l() {
        let dir = tempfile_dir();
        let target = format!("{dir}/target");
        std::fs::write(&target, b"data").unwrap();
        let link = format!("{dir}/link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let plain = copy_info_source_path(&link, false).unwrap();
        assert!(plain.path.ends_with("/link") && !plain.is_dir && plain.rebase_name.is_empty());
        let followed = copy_info_source_path(&link, true).unwrap();
        assert!(followed.path.ends_with("/target"), "{followed:?}");
        assert_eq!(followed.rebase_name, "link");
        // The archive of the link holds the link itself.
        let mut tar_bytes = Vec::new();
        tar_resource(&plain, None, &mut tar_bytes).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert!(entry.header().entry_type().is_symlink());
        assert_eq!(entry.path().unwrap().to_str(), Some("link"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extraction_refuses_escapes_and_dir_file_swaps() {
        let dir = tempfile_dir();
        let build = |entries: &[(&str, tar::EntryType, &str)]| {
            let mut builder = tar::Builder::new(Vec::new());
            for (name, kind, link) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(*kind);
                h.set_mode(0o755);
                h.set_size(0);
                if kind.is_symlink() {
                    builder.append_link(&mut h, name, link).unwrap();
                } else {
                    builder.append_data(&mut h, name, std::io::empty()).unwrap();
                }
            }
            builder.into_inner().unwrap()
        };
        let escape = build(&[("evil", tar::EntryType::Symlink, "../../../etc")]);
        assert!(untar(&escape[..], &dir, &[])
            .unwrap_err()
            .contains("invalid symlink"));
        let through = build(&[
            ("l", tar::EntryType::Symlink, "/"),
            ("l/x", tar::EntryType::Regular, ""),
        ]);
        assert!(untar(&through[..], &dir, &[]).is_err());
        std::fs::create_dir(format!("{dir}/d")).unwrap();
        let swap = build(&[("d", tar::EntryType::Regular, "")]);
        assert!(untar(&swap[..], &dir, &[])
            .unwrap_err()
            .contains("cannot overwrite directory"));
        let fine = build(&[
            ("n/", tar::EntryType::Directory, ""),
            ("n/f", tar::EntryType::Regular, ""),
        ]);
        untar(&fine[..], &dir, &[("n".into(), "m".into())]).unwrap();
        assert!(Path::new(&format!("{dir}/m/f")).is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> String {
        let dir = std::env::temp_dir().join(format!(
            "berth-cp-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir(&dir).unwrap();
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn path_stat_header_decodes() {
        let mut headers = http::HeaderMap::new();
        // base64 of {"name":"f","size":3,"mode":2147484141,"mtime":"x","linkTarget":""}
        let json = r#"{"name":"f","size":3,"mode":2147484141}"#;
        let encoded = encode_for_test(json.as_bytes());
        headers.insert("X-Docker-Container-Path-Stat", encoded.parse().unwrap());
        let stat = path_stat(&headers).unwrap();
        assert_eq!(stat["name"], "f");
        assert!(stat["mode"].as_u64().unwrap() & GO_MODE_DIR != 0);
    }

    fn encode_for_test(data: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
