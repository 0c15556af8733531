//! The archive API behind `docker cp`: stat (`HEAD`), tar out (`GET`) and extract in (`PUT`)
//! a path of a container, running or not.
//!
//! Every path is resolved inside the container's root through the safe-path primitive
//! (`openat2(RESOLVE_IN_ROOT)`), so no symlink in the container, swapped in at any moment,
//! can make the daemon read or write outside it (CVE-2018-15664). The root of a running
//! container is `/proc/<pid>/root`: the container's own mount namespace, binds and volumes
//! included, opened as a directory fd without joining the namespace or changing its mount
//! table. A container that is not running gets its snapshot mounted on the bundle's rootfs for
//! the duration, under its operation lock; paths in its binds are served from their host
//! sources, and a directory walk above a bind descends into its source. Uploads are decompressed in-process (gzip, zstd,
//! xz, bzip2) by berth-snapshot's extractor, the same code that applies image layers; nothing
//! is run from the container and no NSS lookup is made (`copyUIDGID` parses the container's
//! passwd and group files), CVE-2019-14271 and CVE-2026-41567.

use super::{blocking, Containers, Status};
use crate::engine::Engine;
use crate::stream::ChannelWriter;
use berth_api::stats_archive::{ArchiveBackend, ArchiveDownload, ExtractOptions, PathStat};
use berth_api::{ApiError, RequestBody};
use berth_snapshot::apply::{ApplyError, ApplyOptions, Limits, Whiteouts};
use berth_sys::safe_path::{Root, SafePathError, Stat};
use rustix::fs::{FileType, OFlags};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Symlinks expanded while computing a stat's `linkTarget`, as the kernel's limit.
const MAX_LINKS: u32 = 40;
const COPY_BUFFER: usize = 256 * 1024;

/// A container's root directory, opened for one archive call. A stopped container's
/// snapshot stays mounted (and its operation lock held) until this is dropped.
pub(crate) struct ContainerRoot {
    root: Option<Root>,
    /// Where `root` is on the host (`/proc/<pid>/root` or the bundle's rootfs).
    path: PathBuf,
    running: bool,
    mounted: Option<PathBuf>,
    /// A stopped container's bind mounts (destination, host source), longest first: paths
    /// below a destination go to the source, as they would in the running container.
    binds: Vec<(PathBuf, PathBuf)>,
    _lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl ContainerRoot {
    fn root(&self) -> &Root {
        self.root.as_ref().expect("root is set until drop")
    }
}

impl Drop for ContainerRoot {
    fn drop(&mut self) {
        // Close the fd first so the unmount is not busy.
        self.root.take();
        if let Some(mountpoint) = self.mounted.take() {
            if let Err(err) = berth_snapshot::unmount(&mountpoint) {
                tracing::warn!(error = %err, "unmounting a stopped container's rootfs after cp");
            }
        }
    }
}

/// moby's `containerFileNotFound`.
fn file_not_found(path: &str, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Could not find the file {path} in container {name}"
    ))
}

fn is_errno(err: &SafePathError, errno: rustix::io::Errno) -> bool {
    err.raw_os_error() == Some(errno.raw_os_error())
}

impl Containers {
    /// Opens the container's root (blocking). See the module documentation.
    pub(crate) fn open_root(self: &Arc<Self>, id: &str) -> Result<ContainerRoot, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| super::ContainerError::NotFound(id.to_string()))?;
        if let Some(root) = Self::running_root(&record) {
            return Ok(root);
        }
        let lock = self.op_lock(id).blocking_lock_owned();
        let record = self
            .store
            .get(id)
            .ok_or_else(|| super::ContainerError::NotFound(id.to_string()))?;
        if let Some(root) = Self::running_root(&record) {
            return Ok(root);
        }
        let rootfs = record.paths.bundle.join("rootfs");
        let _ = berth_snapshot::unmount(&rootfs);
        let mounts = self
            .images
            .snapshotter()
            .mounts(id)
            .map_err(super::ContainerError::from)?;
        let mut mounted = None;
        if let Some(mount) = mounts.first() {
            mount.mount(&rootfs).map_err(super::ContainerError::from)?;
            mounted = Some(rootfs.clone());
        }
        let mut binds: Vec<(PathBuf, PathBuf)> =
            crate::container::mounts::plan(&record.host_config, &[])
                .map(|plan| plan.mounts)
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.typ().as_deref() == Some("bind"))
                .filter_map(|m| Some((m.destination().clone(), m.source().clone()?)))
                .collect();
        binds.sort_by_key(|(dest, _)| std::cmp::Reverse(dest.components().count()));
        let mut handle = ContainerRoot {
            root: None,
            path: rootfs.clone(),
            running: false,
            mounted,
            binds,
            _lock: Some(lock),
        };
        let root = Root::open(&rootfs).map_err(|e| {
            ApiError::system(format!("opening the container's root filesystem: {e}"))
        })?;
        // As moby's mountVolumes does for cp: a bind's mountpoint exists in the rootfs even
        // before the first start (which would create it), so a walk above it finds it.
        for (dest, source) in &handle.binds {
            if let Err(err) = create_mountpoint(&root, dest, source.is_dir()) {
                tracing::debug!(error = %err, dest = %dest.display(), "bind mountpoint for cp");
            }
        }
        handle.root = Some(root);
        Ok(handle)
    }

    fn running_root(record: &super::ContainerRecord) -> Option<ContainerRoot> {
        if record.state.status != Status::Running || record.state.pid == 0 {
            return None;
        }
        let path = PathBuf::from(format!("/proc/{}/root", record.state.pid));
        // The process may just have exited: then the stopped path applies.
        let root = Root::open(&path).ok()?;
        Some(ContainerRoot {
            root: Some(root),
            path,
            running: true,
            mounted: None,
            binds: Vec::new(),
            _lock: None,
        })
    }
}

fn create_mountpoint(root: &Root, dest: &Path, directory: bool) -> Result<(), SafePathError> {
    if directory {
        return root.mkdir_all(dest, 0o755);
    }
    match root.stat(dest, true) {
        Err(e) if e.is_not_found() => {
            if let Some(parent) = dest.parent() {
                root.mkdir_all(parent, 0o755)?;
            }
            root.create_file(dest, 0o644).map(drop)
        }
        other => other.map(drop),
    }
}

/// The root a path is served from: the container's, or a bind's source.
enum Placed<'a> {
    Container(&'a Root),
    Bind(Root),
}

impl std::ops::Deref for Placed<'_> {
    type Target = Root;
    fn deref(&self) -> &Root {
        match self {
            Placed::Container(root) => root,
            Placed::Bind(root) => root,
        }
    }
}

impl ContainerRoot {
    /// Where `path` is served from. For a stopped container whose path (its directory part
    /// resolved inside the rootfs) falls at or below a bind destination, that is the bind's
    /// host source (opened as a root of its own, so the rest of the path stays inside it).
    fn place(&self, path: &ContainerPath) -> Result<(Placed<'_>, ContainerPath), ApiError> {
        let root = self.root();
        if self.binds.is_empty() {
            return Ok((Placed::Container(root), path.clone()));
        }
        let mut dir = PathBuf::from("/");
        dir.extend(&path.dir);
        let resolved = resolve_in_scope(root, &dir).map_err(|e| ApiError::system(e.to_string()))?;
        let full = match &path.base {
            Some(base) => resolved.join(base),
            None => resolved.clone(),
        };
        for (dest, source) in &self.binds {
            let Ok(rest) = full.strip_prefix(dest) else {
                continue;
            };
            let bind = Root::open(source).map_err(|e| {
                ApiError::system(format!("opening bind source {}: {e}", source.display()))
            })?;
            let mut parts: Vec<OsString> = rest.iter().map(|c| c.to_os_string()).collect();
            let base = match &path.base {
                Some(_) if !parts.is_empty() => parts.pop(),
                _ => None,
            };
            return Ok((
                Placed::Bind(bind),
                ContainerPath {
                    dir: parts,
                    base,
                    name: path.name.clone(),
                },
            ));
        }
        Ok((Placed::Container(root), path.clone()))
    }
}

/// A container path split as moby's `ResolvePath` splits it: the directory part (every
/// symlink in it followed inside the root) and the last element (not followed), or no last
/// element when the path ends in `/` or `/.` (then the directory itself is meant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerPath {
    pub dir: Vec<OsString>,
    pub base: Option<OsString>,
    /// `filepath.Base` of the absolute path: the name the archive's entries start with.
    pub name: String,
}

impl ContainerPath {
    /// moby: `PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)`, then split.
    pub fn parse(path: &str) -> ContainerPath {
        let mut components: Vec<OsString> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    components.pop();
                }
                other => components.push(OsString::from(other)),
            }
        }
        let trailing_dot = path == "." || path.ends_with("/.");
        let trailing_sep = path.ends_with('/');
        if trailing_dot || trailing_sep || components.is_empty() {
            let name = if trailing_dot {
                ".".to_string()
            } else {
                components
                    .last()
                    .map_or_else(|| "/".to_string(), |c| c.to_string_lossy().into_owned())
            };
            return ContainerPath {
                dir: components,
                base: None,
                name,
            };
        }
        let base = components.pop();
        let name = base
            .as_ref()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        ContainerPath {
            dir: components,
            base,
            name,
        }
    }

    /// The path inside the root, and whether its last component is followed.
    fn target(&self) -> (PathBuf, bool) {
        let mut path = PathBuf::from("/");
        path.extend(&self.dir);
        match &self.base {
            Some(base) => (path.join(base), false),
            None => (path, true),
        }
    }
}

/// Go's `os.FileMode` bits for a Unix mode.
pub(crate) fn go_file_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut mode = st_mode & 0o777;
    mode |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => DIR,
        FileType::Symlink => SYMLINK,
        FileType::BlockDevice => DEVICE,
        FileType::CharacterDevice => DEVICE | CHAR_DEVICE,
        FileType::Fifo => NAMED_PIPE,
        FileType::Socket => SOCKET,
        _ => 0,
    };
    for (bit, flag) in [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)] {
        if st_mode & bit != 0 {
            mode |= flag;
        }
    }
    mode
}

fn mtime_rfc3339(st: &Stat) -> String {
    chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The in-root absolute path `path` resolves to, every symlink followed inside the root
/// (moby `FollowSymlinkInScope`): only for the informational `linkTarget`; nothing is opened
/// by this string.
fn resolve_in_scope(root: &Root, path: &Path) -> Result<PathBuf, SafePathError> {
    let mut pending: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_owned()),
            std::path::Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .rev()
        .collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(part);
        let current: PathBuf = std::iter::once(OsString::from("/"))
            .chain(resolved.iter().cloned())
            .collect();
        let st = match root.stat(&current, false) {
            Ok(st) => st,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            break;
        }
        let target = root.read_link(&current)?;
        resolved.pop();
        if target.is_absolute() {
            resolved.clear();
        }
        for c in target.components().rev() {
            match c {
                std::path::Component::Normal(n) => pending.push(n.to_owned()),
                std::path::Component::ParentDir => pending.push(OsString::from("..")),
                _ => {}
            }
        }
    }
    Ok(std::iter::once(OsString::from("/"))
        .chain(resolved)
        .collect())
}

/// moby `StatPath`.
fn stat_path(root: &Root, path: &ContainerPath) -> Result<(PathStat, Stat), SafePathError> {
    let (target, follow) = path.target();
    let st = root.stat(&target, follow)?;
    let mut link_target = String::new();
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        link_target = resolve_in_scope(root, &target)?
            .to_string_lossy()
            .into_owned();
    }
    Ok((
        PathStat {
            name: path.name.clone(),
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime: mtime_rfc3339(&st),
            link_target,
        },
        st,
    ))
}

fn stat_error(err: SafePathError, path: &str, name: &str) -> ApiError {
    if err.is_not_found() || is_errno(&err, rustix::io::Errno::NOTDIR) {
        file_not_found(path, name)
    } else {
        ApiError::system(err.to_string())
    }
}

/// Writes a tar of one object (and, for a directory, everything under it) read through
/// `root`. Entries start with `prefix` (moby's rebase); an empty prefix means the root
/// directory itself, whose own entry is left out.
struct TarWriter<W: Write> {
    out: W,
    buffer: Vec<u8>,
    /// (dev, ino) of files with several links, to their first entry name.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// A stopped container's binds below the walked directory: entry name -> host source.
    /// The walk continues in the source there, as it would see the running container.
    binds: HashMap<Vec<u8>, PathBuf>,
}

impl<W: Write> TarWriter<W> {
    fn new(out: W) -> Self {
        TarWriter {
            out,
            buffer: Vec::new(),
            links: HashMap::new(),
            binds: HashMap::new(),
        }
    }

    /// The entry named `name` is a bind's destination: archive the bind's source under
    /// that name (a directory as the root of its own walk, a file through its parent).
    fn bind_entry(&mut self, source: &Path, name: &[u8]) -> io::Result<()> {
        let opened = |dir: &Path| {
            Root::open(dir).map_err(|e| {
                io::Error::other(format!("opening bind source {}: {e}", source.display()))
            })
        };
        if source.is_dir() {
            let bind = opened(source)?;
            let st = bind
                .stat(Path::new("/"), true)
                .map_err(|e| io::Error::other(e.to_string()))?;
            return self.directory(&bind, Path::new("/"), name, &st);
        }
        let (Some(parent), Some(base)) = (source.parent(), source.file_name()) else {
            return Ok(());
        };
        self.entry(&opened(parent)?, Path::new(base), name)
    }

    fn header(&self, st: &Stat, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(size);
        h
    }

    /// Writes a header, with GNU long-name/long-link records when a name does not fit.
    fn write_header(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long_record(tar::EntryType::GNULongName, name)?;
        }
        if let Some(link) = link {
            if link.len() > 100 {
                self.long_record(tar::EntryType::GNULongLink, link)?;
            }
            let shown = &link[..link.len().min(100)];
            h.as_old_mut().linkname[..shown.len()].copy_from_slice(shown);
        }
        let shown = &name[..name.len().min(100)];
        h.as_old_mut().name = [0; 100];
        h.as_old_mut().name[..shown.len()].copy_from_slice(shown);
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }

    fn long_record(&mut self, kind: tar::EntryType, value: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(value.len() as u64 + 1);
        let marker = b"././@LongLink";
        h.as_old_mut().name[..marker.len()].copy_from_slice(marker);
        h.set_cksum();
        self.out.write_all(h.as_bytes())?;
        self.out.write_all(value)?;
        self.out.write_all(&[0])?;
        self.pad(value.len() as u64 + 1)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest = (512 - size % 512) % 512;
        self.out.write_all(&[0u8; 512][..rest as usize])
    }

    /// One regular file's header and content; the size comes from the open fd, and content
    /// that changes meanwhile is cut or zero-filled to it.
    fn file(&mut self, name: &[u8], mut file: File, st: &Stat) -> io::Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let h = self.header(st, tar::EntryType::Link, 0);
                return self.write_header(h, name, Some(&first));
            }
            self.links.insert(key, name.to_vec());
        }
        let size = st.st_size.max(0) as u64;
        let h = self.header(st, tar::EntryType::Regular, size);
        self.write_header(h, name, None)?;
        if self.buffer.is_empty() {
            self.buffer = vec![0; COPY_BUFFER];
        }
        let mut left = size;
        while left > 0 {
            let want = (left as usize).min(self.buffer.len());
            let n = match file.read(&mut self.buffer[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.out.write_all(&self.buffer[..n])?;
            left -= n as u64;
        }
        while left > 0 {
            let n = (left as usize).min(COPY_BUFFER);
            self.buffer[..n].fill(0);
            self.out.write_all(&self.buffer[..n])?;
            left -= n as u64;
        }
        self.pad(size)
    }

    /// The entry at `path` inside `root` (not followed), named `name`; directories recurse.
    fn entry(&mut self, root: &Root, path: &Path, name: &[u8]) -> io::Result<()> {
        if let Some(source) = self.binds.remove(name) {
            return self.bind_entry(&source, name);
        }
        let st = match root.stat(path, false) {
            Ok(st) => st,
            // Removed (or swapped) while we walk: leave it out, as tar does.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => self.directory(root, path, name, &st),
            FileType::RegularFile => {
                let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW;
                match root.open_with(path, flags, false) {
                    Ok(fd) => {
                        let file = File::from(fd);
                        let st = rustix::fs::fstat(&file)?;
                        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                            return Ok(()); // Swapped for something else meanwhile.
                        }
                        self.file(name, file, &st)
                    }
                    Err(e) if e.is_not_found() || is_errno(&e, rustix::io::Errno::LOOP) => Ok(()),
                    Err(e) => Err(io::Error::other(e.to_string())),
                }
            }
            FileType::Symlink => {
                let target = match root.read_link(path) {
                    Ok(t) => t,
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e) => return Err(io::Error::other(e.to_string())),
                };
                let h = self.header(&st, tar::EntryType::Symlink, 0);
                self.write_header(h, name, Some(target.as_os_str().as_bytes()))
            }
            FileType::Fifo => {
                let h = self.header(&st, tar::EntryType::Fifo, 0);
                self.write_header(h, name, None)
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice) => {
                let entry = if kind == FileType::CharacterDevice {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = self.header(&st, entry, 0);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.write_header(h, name, None)
            }
            _ => Ok(()), // Sockets are not archived (Go's tar skips them too).
        }
    }

    fn directory(&mut self, root: &Root, path: &Path, name: &[u8], st: &Stat) -> io::Result<()> {
        if !name.is_empty() {
            let mut dir_name = name.to_vec();
            if !dir_name.ends_with(b"/") {
                dir_name.push(b'/');
            }
            let h = self.header(st, tar::EntryType::Directory, 0);
            self.write_header(h, &dir_name, None)?;
        }
        let children = match root.read_dir(path) {
            Ok(c) => c,
            Err(e) if e.is_not_found() || is_errno(&e, rustix::io::Errno::NOTDIR) => return Ok(()),
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        for child in children {
            let mut child_name = name.to_vec();
            if !child_name.is_empty() && !child_name.ends_with(b"/") {
                child_name.push(b'/');
            }
            child_name.extend_from_slice(child.name.as_bytes());
            self.entry(root, &path.join(&child.name), &child_name)?;
        }
        Ok(())
    }
}

/// Tars the object `path` names (moby `archivePath` with `TarResourceRebaseOpts`). `binds`
/// are a stopped container's (destination, source), for a directory walk to descend into.
fn write_archive(
    root: &Root,
    path: &ContainerPath,
    st: &Stat,
    binds: &[(PathBuf, PathBuf)],
    out: impl Write,
) -> io::Result<()> {
    let mut writer = TarWriter::new(io::BufWriter::with_capacity(COPY_BUFFER, out));
    let (target, follow) = path.target();
    let prefix: &[u8] = if path.name == "/" {
        b""
    } else {
        path.name.as_bytes()
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if !binds.is_empty() {
            let walked =
                resolve_in_scope(root, &target).map_err(|e| io::Error::other(e.to_string()))?;
            for (dest, source) in binds {
                let Ok(below) = dest.strip_prefix(&walked) else {
                    continue;
                };
                if below.as_os_str().is_empty() {
                    continue;
                }
                let mut name = prefix.to_vec();
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(below.as_os_str().as_bytes());
                writer.binds.insert(name, source.clone());
            }
        }
        // Pin the directory (followed inside the root if it was swapped meanwhile) and walk
        // below it: the walk cannot leave it.
        let dir = root
            .sub_root(&target)
            .map_err(|e| io::Error::other(e.to_string()))?;
        writer.directory(&dir, Path::new("/"), prefix, st)?;
    } else if follow {
        let parent = target.parent().unwrap_or(Path::new("/"));
        let dir = root
            .sub_root(parent)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let base = target.file_name().unwrap_or(OsStr::new("."));
        writer.entry(&dir, Path::new(base), prefix)?;
    } else {
        writer.entry(root, &target, prefix)?;
    }
    // Two zero blocks end the archive.
    writer.out.write_all(&[0u8; 1024])?;
    writer.out.flush()
}

/// What an extraction needs from the container record.
struct ExtractTarget {
    user: String,
    readonly_rootfs: bool,
}

fn extract(
    handle: &ContainerRoot,
    target: &ExtractTarget,
    path: &str,
    name: &str,
    options: &ExtractOptions,
    body: impl Read,
) -> Result<(), ApiError> {
    let (root, dest) = handle.place(&ContainerPath::parse(path))?;
    let mut dest_path = PathBuf::from("/");
    dest_path.extend(&dest.dir);
    if let Some(base) = &dest.base {
        dest_path.push(base);
    }
    // The destination itself is followed (extracting "to a symlink to a directory" works),
    // then pinned by fd: later swaps in the container cannot move it.
    let dir = root.sub_root(&dest_path).map_err(|e| {
        if is_errno(&e, rustix::io::Errno::NOTDIR) {
            ApiError::invalid("extraction point is not a directory")
        } else {
            stat_error(e, path, name)
        }
    })?;
    let read_only = rustix::fs::fstatvfs(dir.as_fd())
        .map(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
        .unwrap_or(false);
    let on_bind = matches!(root, Placed::Bind(_));
    if read_only || (!handle.running && !on_bind && target.readonly_rootfs) {
        return Err(ApiError::new(
            berth_types::ErrorKind::Forbidden,
            "container rootfs is marked read-only",
        ));
    }
    let mut apply = ApplyOptions::new(Whiteouts::Delete, Limits::default());
    apply.hash = false;
    apply.no_overwrite_dir_non_dir = options.no_overwrite_dir_non_dir;
    if options.copy_uid_gid && !target.user.is_empty() {
        let user = crate::container::user::resolve(&handle.path, &target.user, &[])
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        apply.chown = Some((user.uid, user.gid));
    }
    berth_snapshot::apply::apply_layer(&dir, &[], body, &apply).map_err(|e| match e {
        ApplyError::Overwrite(message) => ApiError::invalid(message),
        other => ApiError::system(error_chain(&other)),
    })?;
    Ok(())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

impl ArchiveBackend for Engine {
    async fn stat_container_path(&self, name: &str, path: &str) -> Result<PathStat, ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let (path, name) = (path.to_string(), name.to_string());
        blocking(move || {
            let handle = containers.open_root(&id)?;
            let (root, parsed) = handle.place(&ContainerPath::parse(&path))?;
            stat_path(&root, &parsed)
                .map(|(stat, _)| stat)
                .map_err(|e| stat_error(e, &path, &name))
        })
        .await
    }

    async fn container_archive(&self, name: &str, path: &str) -> Result<ArchiveDownload, ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let (path, name) = (path.to_string(), name.to_string());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let handle = match containers.open_root(&id) {
                Ok(handle) => handle,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let prepared = handle
                .place(&ContainerPath::parse(&path))
                .and_then(|(root, parsed)| {
                    let (stat, st) =
                        stat_path(&root, &parsed).map_err(|e| stat_error(e, &path, &name))?;
                    Ok((root, parsed, stat, st))
                });
            let (root, parsed, stat, st) = match prepared {
                Ok(p) => p,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let (writer, body) = ChannelWriter::channel();
            if ready_tx.send(Ok(ArchiveDownload { stat, body })).is_err() {
                return;
            }
            if let Some(record) = containers.store.get(&id) {
                containers.publish("archive-path", &record, &[]);
            }
            let binds = match root {
                Placed::Container(_) => handle.binds.as_slice(),
                Placed::Bind(_) => &[],
            };
            if let Err(err) = write_archive(&root, &parsed, &st, binds, writer) {
                tracing::debug!(error = %err, "container archive ended early");
            }
        });
        ready_rx
            .await
            .map_err(|_| ApiError::system("container archive task failed"))?
    }

    async fn extract_to_container(
        &self,
        name: &str,
        path: &str,
        options: ExtractOptions,
        body: RequestBody,
    ) -> Result<(), ApiError> {
        let containers = self.containers().clone();
        let id = containers.store.resolve(name)?;
        let (path, name) = (path.to_string(), name.to_string());
        let reader = crate::stream::LargeChunks::spawn(body);
        blocking(move || {
            let record = containers
                .store
                .get(&id)
                .ok_or_else(|| super::ContainerError::NotFound(id.clone()))?;
            let target = ExtractTarget {
                user: record.config.user.clone(),
                readonly_rootfs: record.host_config.readonly_rootfs,
            };
            let handle = containers.open_root(&id)?;
            extract(&handle, &target, &path, &name, &options, reader)?;
            drop(handle);
            containers.publish("extract-to-dir", &record, &[]);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> (Vec<String>, Option<String>, String) {
        let p = ContainerPath::parse(path);
        (
            p.dir
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect(),
            p.base.map(|b| b.to_string_lossy().into_owned()),
            p.name,
        )
    }

    #[test]
    fn paths_split_as_moby_resolve_path() {
        assert_eq!(
            parsed("/a/b"),
            (vec!["a".into()], Some("b".into()), "b".into())
        );
        assert_eq!(
            parsed("a/b/"),
            (vec!["a".into(), "b".into()], None, "b".into())
        );
        assert_eq!(
            parsed("/a/b/."),
            (vec!["a".into(), "b".into()], None, ".".into())
        );
        assert_eq!(parsed("/"), (vec![], None, "/".into()));
        assert_eq!(
            parsed("../../../../etc/passwd"),
            (vec!["etc".into()], Some("passwd".into()), "passwd".into())
        );
        assert_eq!(parsed("/a/../.."), (vec![], None, "/".into()));
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o020666), (1 << 26) | (1 << 21) | 0o666);
    }
}
