//! Applying an OCI layer tar (plain, gzip or zstd, detected by magic bytes and decompressed
//! in-process) to a directory, computing its diffID on the way.
//!
//! Every write goes through the safe-path [`Root`] of the target directory, so no entry name,
//! symlink or hardlink can reach outside it (SECURITY.md 2.3, 5.A). Entry names are cleaned
//! lexically first (`../x` is `x`, as containerd does); parent directories are then resolved
//! through the merged view of the lower layers (see `layered`), so a symlink such as
//! `lib -> usr/lib` in a lower layer is followed, inside the root, instead of being shadowed.
//!
//! Two whiteout modes: [`Whiteouts::Overlay`] (the target is one overlayfs layer: `.wh.x`
//! becomes a 0:0 char device, `.wh..wh..opq` the `trusted.overlay.opaque` xattr) and
//! [`Whiteouts::Delete`] (the target holds the whole filesystem, as for the copy driver and
//! import: whiteouts delete). Hardlink targets must be in the same layer, as with containerd and
//! moby (the OCI spec does not record links to files outside the changeset).

use crate::layered::{self, LayeredError, Layers, OPAQUE_XATTR};
use crate::stream::Measured;
pub use crate::stream::{decompress, StreamError};
use berth_sys::safe_path::{NodeKind, Root, SafePathError, Timespec};
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tar::EntryType;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const PAX_XATTR: &str = "SCHILY.xattr.";
const COPY_BUFFER: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("reading the layer stream")]
    Read { source: io::Error },
    #[error("opening the layer stream")]
    Stream(#[from] StreamError),
    #[error("the layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("entry name of {len} bytes exceeds the limit of {limit}")]
    PathTooLong { len: usize, limit: usize },
    #[error("the layer expands beyond the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("invalid archive: whiteout {path:?} names no entry of its directory")]
    InvalidWhiteout { path: PathBuf },
    #[error("sparse entry {path:?} is not supported")]
    Sparse { path: PathBuf },
    #[error("entry {path:?} has unsupported type {kind:?}")]
    UnsupportedType { path: PathBuf, kind: u8 },
    #[error("hardlink {path:?}: target {target:?} is not in this layer")]
    HardlinkTarget { path: PathBuf, target: PathBuf },
    #[error("resolving the parent directory of {path:?}")]
    Parent { path: PathBuf, source: LayeredError },
    #[error("writing entry {path:?}")]
    Entry {
        path: PathBuf,
        source: SafePathError,
    },
    /// `noOverwriteDirNonDir` of the archive API refused to replace an entry (moby's message).
    #[error("{0}")]
    Overwrite(String),
    #[error("writing the content of {path:?}")]
    Content { path: PathBuf, source: io::Error },
}

type Result<T> = std::result::Result<T, ApplyError>;

/// Bounds on one layer (SECURITY.md 4.7, 5.A10). Exceeding one fails the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    /// Bytes of an entry's name or link target, before cleaning.
    pub max_path_len: usize,
    /// Uncompressed bytes of the whole tar stream, including anything after end-of-archive.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_path_len: 4096,
            max_bytes: 64 << 30,
        }
    }
}

/// How whiteout entries are applied; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    Overlay,
    Delete,
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub limits: Limits,
    pub whiteouts: Whiteouts,
    /// Apply the uid/gid of entries (needs root).
    pub same_owner: bool,
    /// Create char and block devices (needs root outside a user namespace); skipped otherwise.
    pub devices: bool,
    /// Compute the diffID. A caller that already hashes the stream it passes in (on another
    /// thread, say) turns this off and gets an empty [`Applied::diff_id`].
    pub hash: bool,
    /// Every entry gets this owner instead of the header's (`copyUIDGID` of the archive API).
    pub chown: Option<(u32, u32)>,
    /// Refuse to replace a directory with a non-directory or the reverse (the archive API's
    /// `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
}

impl ApplyOptions {
    /// Options for the running process: owners and devices only when privileged.
    pub fn new(whiteouts: Whiteouts, limits: Limits) -> ApplyOptions {
        let root = rustix::process::geteuid().is_root();
        ApplyOptions {
            limits,
            whiteouts,
            same_owner: root,
            devices: root && !in_user_namespace(),
            hash: true,
            chown: None,
            no_overwrite_dir_non_dir: false,
        }
    }
}

/// The result of applying a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `sha256:<hex>` of the uncompressed tar stream (empty when not asked to hash).
    pub diff_id: String,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    pub entries: u64,
}

/// Applies a layer stream to `top`, one overlay layer whose lowers (top first) are `lowers`.
pub fn apply_layer(
    top: &Root,
    lowers: &[Root],
    reader: impl Read,
    options: &ApplyOptions,
) -> Result<Applied> {
    let mut measured = Measured::new(decompress(reader)?, options.limits.max_bytes, options.hash);
    let mut state = State {
        layers: Layers { top, lowers },
        options,
        unpacked: HashSet::new(),
        opaque_done: HashSet::new(),
        dir_times: Vec::new(),
        resolved: HashMap::new(),
        entries: 0,
        buffer: Vec::new(),
    };
    let result = state.apply_entries(&mut measured);
    let result = result.and_then(|()| {
        // Hash what follows end-of-archive (padding, or junk) in bounded memory: the diffID
        // covers the whole stream, and the byte limit still applies.
        io::copy(&mut measured, &mut io::sink())
            .map(drop)
            .map_err(|source| ApplyError::Read { source })
    });
    if measured.exceeded {
        return Err(ApplyError::TooLarge {
            limit: options.limits.max_bytes,
        });
    }
    result?;
    state.set_dir_times()?;
    Ok(Applied {
        diff_id: measured
            .hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize())))
            .unwrap_or_default(),
        size: measured.bytes,
        entries: state.entries,
    })
}

/// Applies a layer to a directory holding the whole filesystem (copy driver, import): whiteouts
/// delete inside the root.
pub fn apply_to_dir(root: &Root, reader: impl Read, limits: Limits) -> Result<Applied> {
    apply_layer(
        root,
        &[],
        reader,
        &ApplyOptions::new(Whiteouts::Delete, limits),
    )
}

struct State<'a> {
    layers: Layers<'a>,
    options: &'a ApplyOptions,
    /// Paths (in the top layer) written by this layer: whiteouts never remove them.
    unpacked: HashSet<PathBuf>,
    opaque_done: HashSet<PathBuf>,
    /// Directory mtimes, applied last so that creating children does not change them.
    dir_times: Vec<(PathBuf, i64)>,
    entries: u64,
    /// Parent directories already resolved (entries of one directory are usually adjacent).
    /// Cleared whenever this layer removes something or adds a symlink, which can change how
    /// a path resolves.
    resolved: HashMap<Vec<OsString>, PathBuf>,
    /// Reused for file content (allocated on the first regular file).
    buffer: Vec<u8>,
}

/// The parts of a tar header an entry's application needs, read before its data.
struct Header {
    kind: EntryType,
    raw_path: Vec<u8>,
    link: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    major: u32,
    minor: u32,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl State<'_> {
    fn apply_entries<R: Read>(&mut self, measured: &mut Measured<R>) -> Result<()> {
        let mut archive = tar::Archive::new(measured);
        let read_err = |source| ApplyError::Read { source };
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let header = self.read_header(&mut entry)?;
            self.apply_entry(header, &mut entry)?;
        }
        Ok(())
    }

    fn read_header<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<Header> {
        self.entries += 1;
        let limits = &self.options.limits;
        if self.entries > limits.max_entries {
            return Err(ApplyError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw_path = entry.path_bytes().into_owned();
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let longest = raw_path.len().max(link.as_ref().map_or(0, Vec::len));
        if longest > limits.max_path_len {
            return Err(ApplyError::PathTooLong {
                len: longest,
                limit: limits.max_path_len,
            });
        }
        let path_for_errors = PathBuf::from(OsStr::from_bytes(&raw_path));
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry
            .pax_extensions()
            .map_err(|source| ApplyError::Read { source })?
        {
            for extension in extensions {
                let extension = extension.map_err(|source| ApplyError::Read { source })?;
                let key = extension.key_bytes();
                if key.starts_with(b"GNU.sparse.") {
                    return Err(ApplyError::Sparse {
                        path: path_for_errors,
                    });
                }
                if let Some(name) = key.strip_prefix(PAX_XATTR.as_bytes()) {
                    // Overlay's own xattrs would let a layer forge whiteouts, opaque dirs or
                    // redirects: drop them (SECURITY.md 5.A7).
                    if !(name.starts_with(b"trusted.overlay.")
                        || name.starts_with(b"user.overlay."))
                    {
                        xattrs.push((
                            OsStr::from_bytes(name).to_owned(),
                            extension.value_bytes().to_vec(),
                        ));
                    }
                }
            }
        }
        let h = entry.header();
        let old = h.as_old();
        // An empty numeric field reads as 0, as Go's archive/tar (and so Docker) reads it.
        let num = |field: &[u8], r: io::Result<u64>| match r {
            Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            other => other.map_err(|source| ApplyError::Read { source }),
        };
        let kind = h.entry_type();
        let is_device = matches!(kind, EntryType::Char | EntryType::Block);
        // Only device entries carry meaningful (and reliably numeric) device fields.
        let device = |r: io::Result<Option<u32>>| match is_device {
            true => r
                .map(Option::unwrap_or_default)
                .map_err(|source| ApplyError::Read { source }),
            false => Ok(0),
        };
        Ok(Header {
            kind,
            mode: num(&old.mode, h.mode().map(u64::from))? as u32 & 0o7777,
            uid: num(&old.uid, h.uid())? as u32,
            gid: num(&old.gid, h.gid())? as u32,
            mtime: num(&old.mtime, h.mtime())?.min(i64::MAX as u64) as i64,
            major: device(h.device_major())?,
            minor: device(h.device_minor())?,
            raw_path,
            link,
            xattrs,
        })
    }

    fn apply_entry<R: Read>(&mut self, header: Header, data: &mut R) -> Result<()> {
        let display = PathBuf::from(OsStr::from_bytes(&header.raw_path));
        match header.kind {
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => return Ok(()),
            EntryType::GNUSparse => return Err(ApplyError::Sparse { path: display }),
            _ => {}
        }
        let components = clean(&header.raw_path);
        let Some((name, parent)) = components.split_last() else {
            return Ok(()); // The root itself: its metadata belongs to the lower layers.
        };
        if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parent, name, &header, &display);
        }
        let dir = self.resolve_dir(parent, &display)?;
        let path = dir.join(name);
        self.create(&header, &path, data)?;
        self.set_metadata(&header, &path)?;
        self.unpacked.insert(path);
        Ok(())
    }

    fn resolve_dir(&mut self, components: &[OsString], display: &Path) -> Result<PathBuf> {
        if let Some(path) = self.resolved.get(components) {
            return Ok(path.clone());
        }
        let path = self
            .layers
            .resolve_dir(components)
            .map_err(|source| ApplyError::Parent {
                path: display.to_owned(),
                source,
            })?;
        self.resolved.insert(components.to_vec(), path.clone());
        Ok(path)
    }

    /// Creates the entry's inode at `path` (symlink-free, in the top layer).
    fn create<R: Read>(&mut self, header: &Header, path: &Path, data: &mut R) -> Result<()> {
        let root = self.layers.top;
        let fs_err = |source| ApplyError::Entry {
            path: path.to_owned(),
            source,
        };
        let is_dir = header.kind == EntryType::Directory;
        let mut replaced_whiteout = false;
        // Replace whatever is there, except that a directory merges into a directory.
        match root.stat(path, false) {
            Ok(st) if is_dir && rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {
                return Ok(())
            }
            Ok(st) => {
                let existing_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
                if self.options.no_overwrite_dir_non_dir && existing_dir != is_dir {
                    let shown = Path::new("/").join(path);
                    return Err(ApplyError::Overwrite(if existing_dir {
                        format!("cannot overwrite directory {shown:?} with non-directory {shown:?}")
                    } else {
                        format!("cannot overwrite non-directory {shown:?} with directory {shown:?}")
                    }));
                }
                replaced_whiteout = layered::is_whiteout(&st);
                root.remove_all(path).map_err(fs_err)?;
                self.resolved.clear();
            }
            Err(e) if layered::is_absent(&e) => {}
            Err(e) => return Err(fs_err(e)),
        }
        if header.kind == EntryType::Symlink {
            self.resolved.clear();
        }
        match header.kind {
            EntryType::Directory => {
                root.mkdir(path, 0o700).map_err(fs_err)?;
                if replaced_whiteout && self.options.whiteouts == Whiteouts::Overlay {
                    // This layer deleted the lower directory first: keep its content hidden.
                    root.set_xattr(path, OsStr::new(OPAQUE_XATTR), b"y")
                        .map_err(fs_err)?;
                }
                Ok(())
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut file = root.create_file(path, 0o600).map_err(fs_err)?;
                self.copy_content(data, &mut file)
                    .map_err(|source| ApplyError::Content {
                        path: path.to_owned(),
                        source,
                    })
            }
            EntryType::Symlink => {
                let target = header.link.as_deref().unwrap_or_default();
                root.symlink(path, Path::new(OsStr::from_bytes(target)))
                    .map_err(fs_err)
            }
            EntryType::Link => self.hardlink(header, path),
            EntryType::Char | EntryType::Block if !self.options.devices => {
                tracing::warn!(path = %path.display(), "skipping device node: not privileged to create it");
                Ok(())
            }
            EntryType::Char => root
                .mknod(path, NodeKind::Char, 0o600, header.major, header.minor)
                .map_err(fs_err),
            EntryType::Block => root
                .mknod(path, NodeKind::Block, 0o600, header.major, header.minor)
                .map_err(fs_err),
            EntryType::Fifo => root
                .mknod(path, NodeKind::Fifo, 0o600, 0, 0)
                .map_err(fs_err),
            other => Err(ApplyError::UnsupportedType {
                path: path.to_owned(),
                kind: other.as_byte(),
            }),
        }
    }

    /// Copies an entry's data in large writes (`io::copy` would use 8 KiB ones: a syscall
    /// and a page-cache walk per 8 KiB of a big file).
    fn copy_content<R: Read>(&mut self, data: &mut R, file: &mut std::fs::File) -> io::Result<()> {
        if self.buffer.is_empty() {
            self.buffer = vec![0u8; COPY_BUFFER];
        }
        loop {
            let n = match data.read(&mut self.buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&self.buffer[..n])?;
        }
    }

    fn hardlink(&mut self, header: &Header, path: &Path) -> Result<()> {
        let target = clean(header.link.as_deref().unwrap_or_default());
        let not_here = || ApplyError::HardlinkTarget {
            path: path.to_owned(),
            target: PathBuf::from(OsStr::from_bytes(
                header.link.as_deref().unwrap_or_default(),
            )),
        };
        let Some((name, parent)) = target.split_last() else {
            return Err(not_here());
        };
        let target = self.resolve_dir(parent, path)?.join(name);
        match self.layers.top.stat(&target, false) {
            Ok(_) => {}
            Err(e) if layered::is_absent(&e) => return Err(not_here()),
            Err(source) => {
                return Err(ApplyError::Entry {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        self.layers
            .top
            .hardlink(path, &target)
            .map_err(|source| ApplyError::Entry {
                path: path.to_owned(),
                source,
            })
    }

    /// Owner, xattrs, mode (after chown, which clears setuid) and times, on the entry itself.
    fn set_metadata(&mut self, header: &Header, path: &Path) -> Result<()> {
        let root = self.layers.top;
        let fs_err = |source| ApplyError::Entry {
            path: path.to_owned(),
            source,
        };
        if matches!(header.kind, EntryType::Char | EntryType::Block) && !self.options.devices {
            return Ok(());
        }
        if let Some((uid, gid)) = self.options.chown {
            root.set_owner(path, uid, gid).map_err(fs_err)?;
        } else if self.options.same_owner {
            root.set_owner(path, header.uid, header.gid)
                .map_err(fs_err)?;
        }
        for (name, value) in &header.xattrs {
            match root.set_xattr(path, name, value) {
                Ok(()) => {}
                // user.* is refused on symlinks and nodes; some filesystems lack xattrs.
                Err(e) if matches!(e.raw_os_error(), Some(code) if code == libc_eperm() || code == libc_enotsup()) =>
                {
                    tracing::warn!(path = %path.display(), xattr = ?name, "ignoring xattr the filesystem refuses");
                }
                Err(e) => return Err(fs_err(e)),
            }
        }
        root.set_mode(path, header.mode).map_err(fs_err)?;
        if header.kind == EntryType::Directory {
            self.dir_times.push((path.to_owned(), header.mtime));
            return Ok(());
        }
        let t = Timespec {
            tv_sec: header.mtime,
            tv_nsec: 0,
        };
        root.set_times(path, t, t).map_err(fs_err)
    }

    fn whiteout(
        &mut self,
        parent: &[OsString],
        name: &OsStr,
        header: &Header,
        display: &Path,
    ) -> Result<()> {
        let root = self.layers.top;
        if name == WHITEOUT_OPAQUE {
            let dir = self.resolve_dir(parent, display)?;
            let fs_err = |source| ApplyError::Entry {
                path: dir.clone(),
                source,
            };
            return match self.options.whiteouts {
                Whiteouts::Overlay => root
                    .set_xattr(&dir, OsStr::new(OPAQUE_XATTR), b"y")
                    .map_err(fs_err),
                Whiteouts::Delete => {
                    if self.opaque_done.insert(dir.clone()) {
                        self.resolved.clear();
                        self.remove_lower_content(&dir)?;
                    }
                    Ok(())
                }
            };
        }
        if name.as_bytes().starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            return Ok(()); // AUFS bookkeeping (`.wh..wh.plnk` etc.): nothing to apply.
        }
        let target = OsStr::from_bytes(&name.as_bytes()[WHITEOUT_PREFIX.len()..]);
        if matches!(target.as_bytes(), b"" | b"." | b"..") {
            return Err(ApplyError::InvalidWhiteout {
                path: display.to_owned(),
            });
        }
        let path = self.resolve_dir(parent, display)?.join(target);
        if self.unpacked.contains(&path) {
            return Ok(()); // Added by this same layer: a whiteout only hides lower layers.
        }
        let fs_err = |source| ApplyError::Entry {
            path: path.clone(),
            source,
        };
        root.remove_all(&path).map_err(fs_err)?;
        self.resolved.clear();
        if self.options.whiteouts == Whiteouts::Overlay {
            root.mknod(&path, NodeKind::Char, 0o600, 0, 0)
                .map_err(fs_err)?;
            if self.options.same_owner {
                root.set_owner(&path, header.uid, header.gid)
                    .map_err(fs_err)?;
            }
        }
        Ok(())
    }

    /// Opaque directory in delete mode: removes everything below `dir` that this layer did not
    /// write, descending into directories this layer wrote (they may still hold lower content).
    fn remove_lower_content(&self, dir: &Path) -> Result<()> {
        let root = self.layers.top;
        let fs_err = |source| ApplyError::Entry {
            path: dir.to_owned(),
            source,
        };
        let mut pending = vec![dir.to_owned()];
        while let Some(dir) = pending.pop() {
            for child in root.read_dir(&dir).map_err(fs_err)? {
                let path = dir.join(&child.name);
                if !self.unpacked.contains(&path) {
                    root.remove_all(&path).map_err(fs_err)?;
                } else if child.file_type.is_dir() {
                    pending.push(path);
                }
            }
        }
        Ok(())
    }

    fn set_dir_times(&self) -> Result<()> {
        for (path, mtime) in self.dir_times.iter().rev() {
            let t = Timespec {
                tv_sec: *mtime,
                tv_nsec: 0,
            };
            match self.layers.top.set_times(path, t, t) {
                Ok(()) => {}
                Err(e) if layered::is_absent(&e) => {} // Removed again later in the layer.
                Err(source) => {
                    return Err(ApplyError::Entry {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// Cleans a tar name lexically, as if rooted at `/`: `.` and empty parts vanish and `..` cannot
/// climb above the root (`../../x` is `x`).
pub(crate) fn clean(raw: &[u8]) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            name => out.push(OsStr::from_bytes(name).to_owned()),
        }
    }
    out
}

fn libc_eperm() -> i32 {
    rustix::io::Errno::PERM.raw_os_error()
}

fn libc_enotsup() -> i32 {
    rustix::io::Errno::OPNOTSUPP.raw_os_error()
}

/// True inside a user namespace that does not map the full id range (device nodes are refused).
fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &str) -> Vec<String> {
        clean(raw.as_bytes())
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn names_are_cleaned_inside_the_root() {
        assert_eq!(names("../victim/x"), ["victim", "x"]);
        assert_eq!(names("/../victim/x"), ["victim", "x"]);
        assert_eq!(names("../../pwned"), ["pwned"]);
        assert_eq!(names("a/./b//c/"), ["a", "b", "c"]);
        assert_eq!(names("a/b/../../../c"), ["c"]);
        assert!(names("..").is_empty());
        assert!(names("./").is_empty());
    }

    #[test]
    fn compression_is_detected_by_magic() {
        use std::io::Write;
        let plain = b"plain tar bytes".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        let xz = xz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&plain).unwrap();
        let bz = bz.finish().unwrap();
        for input in [plain.clone(), gz, zst, xz, bz] {
            let mut out = Vec::new();
            decompress(&input[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, plain);
        }
        let mut broken = Vec::new();
        let xz = [0xfd, b'7', b'z', b'X', b'Z', 0x00, 1, 2];
        assert!(decompress(&xz[..])
            .unwrap()
            .read_to_end(&mut broken)
            .is_err());
    }
}
