//! Producing an OCI layer tar from a directory: a container's overlay upper directory (overlay
//! whiteouts become `.wh.<name>`, opaque directories `.wh..wh..opq`), or a plain tree.
//!
//! The walk reads only through the safe-path [`Root`] of the directory (a running container may
//! be changing it), never follows symlinks, and is deterministic: entries in byte order of their
//! names, a directory before its children, PAX records sorted. Hardlinked files (same inode)
//! after the first become hardlink entries. Sockets are skipped, as Docker skips them.

use crate::layered::{is_whiteout, OPAQUE_XATTR};
use berth_sys::safe_path::{Root, SafePathError, Stat};
use rustix::fs::FileType;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("reading {path} from the layer directory")]
    Read {
        path: PathBuf,
        source: SafePathError,
    },
    #[error("writing the tar entry for {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("finishing the tar stream")]
    Finish { source: io::Error },
}

type Result<T> = std::result::Result<T, DiffError>;

/// The tar produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diffed {
    /// `sha256:` of the tar stream: the layer's diffID.
    pub diff_id: String,
    /// Bytes written.
    pub size: u64,
}

/// Writes the OCI layer tar of an overlay upper directory (`Snapshotter::fs_dir` of a
/// container) to `out`.
pub fn write_layer(upper: &Root, out: impl Write) -> Result<Diffed> {
    write(upper, out, true, true)
}

/// [`write_layer`] for a caller that hashes the stream itself (a content-store writer
/// does): the result's `diff_id` is empty.
pub fn write_layer_unhashed(upper: &Root, out: impl Write) -> Result<Diffed> {
    write(upper, out, true, false)
}

/// Writes a plain directory tree as a tar (no whiteout conversion): the copy driver's transfer
/// format and a full export of one directory.
pub fn write_tree(root: &Root, out: impl Write) -> Result<Diffed> {
    write(root, out, false, true)
}

fn write(root: &Root, out: impl Write, overlay: bool, hash: bool) -> Result<Diffed> {
    let mut walker = Walker {
        root,
        overlay,
        builder: tar::Builder::new(Hashing {
            inner: out,
            hasher: hash.then(Sha256::new),
            bytes: 0,
        }),
        inodes: HashMap::new(),
    };
    walker.dir(Path::new(""))?;
    let hashing = walker
        .builder
        .into_inner()
        .map_err(|source| DiffError::Finish { source })?;
    Ok(Diffed {
        diff_id: hashing
            .hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize())))
            .unwrap_or_default(),
        size: hashing.bytes,
    })
}

struct Hashing<W> {
    inner: W,
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Walker<'a, W: Write> {
    root: &'a Root,
    overlay: bool,
    builder: tar::Builder<Hashing<W>>,
    /// First path written for each multiply-linked inode.
    inodes: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Walker<'_, W> {
    /// Writes the children of `dir` (iteratively by level would reorder; depth is bounded by
    /// the path length limits of whatever created the tree).
    fn dir(&mut self, dir: &Path) -> Result<()> {
        let read_err = |source| DiffError::Read {
            path: dir.to_owned(),
            source,
        };
        for entry in self.root.read_dir(dir).map_err(read_err)? {
            let path = dir.join(&entry.name);
            let stat = self
                .root
                .stat(&path, false)
                .map_err(|source| DiffError::Read {
                    path: path.clone(),
                    source,
                })?;
            let file_type = FileType::from_raw_mode(stat.st_mode);
            if self.overlay && is_whiteout(&stat) {
                let name = format!(".wh.{}", entry.name.to_string_lossy());
                self.marker(&dir.join(name))?;
                continue;
            }
            match file_type {
                FileType::Socket | FileType::Unknown => continue,
                FileType::Directory => {
                    self.entry(&path, &stat, EntryType::Directory, None)?;
                    if self.overlay && self.is_opaque(&path)? {
                        self.marker(&path.join(".wh..wh..opq"))?;
                    }
                    self.dir(&path)?;
                }
                FileType::Symlink => {
                    let target = self
                        .root
                        .read_link(&path)
                        .map_err(|source| DiffError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    self.entry(&path, &stat, EntryType::Symlink, Some(&target))?;
                }
                _ if stat.st_nlink > 1 && self.inodes.contains_key(&(stat.st_dev, stat.st_ino)) => {
                    let first = self.inodes[&(stat.st_dev, stat.st_ino)].clone();
                    self.entry(&path, &stat, EntryType::Link, Some(&first))?;
                }
                _ => {
                    if stat.st_nlink > 1 {
                        self.inodes.insert((stat.st_dev, stat.st_ino), path.clone());
                    }
                    let kind = match file_type {
                        FileType::CharacterDevice => EntryType::Char,
                        FileType::BlockDevice => EntryType::Block,
                        FileType::Fifo => EntryType::Fifo,
                        _ => EntryType::Regular,
                    };
                    self.entry(&path, &stat, kind, None)?;
                }
            }
        }
        Ok(())
    }

    fn is_opaque(&self, path: &Path) -> Result<bool> {
        let value = self
            .root
            .get_xattr(path, OsStr::new(OPAQUE_XATTR))
            .map_err(|source| DiffError::Read {
                path: path.to_owned(),
                source,
            })?;
        Ok(value.as_deref() == Some(b"y"))
    }

    /// A whiteout or opaque marker: an empty regular file with zero metadata.
    fn marker(&mut self, path: &Path) -> Result<()> {
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        self.append(path, header, Vec::new(), None, &[][..])
    }

    fn entry(
        &mut self,
        path: &Path,
        stat: &Stat,
        kind: EntryType,
        link: Option<&Path>,
    ) -> Result<()> {
        let write_err = |source| DiffError::Write {
            path: path.to_owned(),
            source,
        };
        let mut header = Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(u64::from(stat.st_uid));
        header.set_gid(u64::from(stat.st_gid));
        header.set_mtime(stat.st_mtime.max(0) as u64);
        header.set_size(0);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            header
                .set_device_major(rustix::fs::major(stat.st_rdev))
                .map_err(write_err)?;
            header
                .set_device_minor(rustix::fs::minor(stat.st_rdev))
                .map_err(write_err)?;
        }
        let pax = self.xattr_records(path)?;
        if kind == EntryType::Regular {
            header.set_size(stat.st_size as u64);
            let file = self
                .root
                .open_with(path, rustix::fs::OFlags::RDONLY, false)
                .map_err(|source| DiffError::Read {
                    path: path.to_owned(),
                    source,
                })?;
            let file = std::fs::File::from(file);
            return self.append(
                path,
                header,
                pax,
                None,
                io::Read::take(file, stat.st_size as u64),
            );
        }
        self.append(path, header, pax, link, &[][..])
    }

    /// `SCHILY.xattr.*` records for the entry, without overlay's own attributes.
    fn xattr_records(&self, path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
        let read_err = |source| DiffError::Read {
            path: path.to_owned(),
            source,
        };
        let mut records = Vec::new();
        let mut names = self.root.list_xattrs(path).map_err(read_err)?;
        names.sort();
        for name in names {
            let bytes = name.as_bytes();
            if bytes.starts_with(b"trusted.overlay.") || bytes.starts_with(b"user.overlay.") {
                continue;
            }
            if let Some(value) = self.root.get_xattr(path, &name).map_err(read_err)? {
                records.push((format!("SCHILY.xattr.{}", name.to_string_lossy()), value));
            }
        }
        Ok(records)
    }

    /// Appends one entry, preceded by a PAX header when it has records or a name or link
    /// target too long for the ustar fields.
    fn append(
        &mut self,
        path: &Path,
        mut header: Header,
        mut pax: Vec<(String, Vec<u8>)>,
        link: Option<&Path>,
        data: impl io::Read,
    ) -> Result<()> {
        let write_err = |source| DiffError::Write {
            path: path.to_owned(),
            source,
        };
        let mut name = path.as_os_str().as_bytes().to_vec();
        if header.entry_type() == EntryType::Directory {
            name.push(b'/');
        }
        set_field(&mut header.as_old_mut().name, &name, "path", &mut pax);
        if let Some(link) = link {
            set_field(
                &mut header.as_old_mut().linkname,
                link.as_os_str().as_bytes(),
                "linkpath",
                &mut pax,
            );
        }
        if !pax.is_empty() {
            let mut data = Vec::new();
            for (key, value) in &pax {
                data.extend(pax_record(key, value));
            }
            let mut pax_header = Header::new_ustar();
            pax_header.set_entry_type(EntryType::XHeader);
            pax_header.set_size(data.len() as u64);
            pax_header.set_mode(0o644);
            let pax_name = b"PaxHeaders.0/entry";
            pax_header.as_old_mut().name[..pax_name.len()].copy_from_slice(pax_name);
            pax_header.set_cksum();
            self.builder
                .append(&pax_header, &data[..])
                .map_err(write_err)?;
        }
        header.set_cksum();
        self.builder.append(&header, data).map_err(write_err)
    }
}

/// Fills a fixed ustar field, or (when too long) a truncated field plus a PAX record.
fn set_field(field: &mut [u8], value: &[u8], pax_key: &str, pax: &mut Vec<(String, Vec<u8>)>) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    if value.len() > field.len() {
        pax.push((pax_key.to_owned(), value.to_vec()));
    }
}

/// One PAX record: `"<len> <key>=<value>\n"`, where len counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record("path", b"a"), b"9 path=a\n");
        let long = vec![b'x'; 95];
        let record = pax_record("path", &long);
        assert_eq!(record.len(), 105);
        assert!(record.starts_with(b"105 path="));
    }
}
