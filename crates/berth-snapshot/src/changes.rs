//! A container's filesystem changes (`docker diff`) from its overlay upper directory,
//! following moby's `archive.OverlayChanges`: a whiteout or an opaque directory is a
//! deletion, an entry that also exists in a lower layer is a modification (directories
//! only when their size, mode or mtime differ), anything else an addition; the parent of an
//! addition or deletion is listed as modified once. Order: a depth-first walk in byte order
//! of the names, as Go's `filepath.Walk`.
//!
//! One departure, because Berth has no separate init layer: the files the runtime creates
//! as mount points (`ignored`, e.g. `/etc/hosts`) are left out, and a directory that also
//! exists below counts as modified for a different mode or owner, not for its size or
//! mtime (which the mount points change); its changed children list it anyway.
//!
//! The upper directory is read through the safe-path [`Root`] (a running container may be
//! changing it); lower layers are image layers and only stat'ed inside their own roots.

use crate::layered::{is_whiteout, OPAQUE_XATTR};
use berth_sys::safe_path::{Root, SafePathError};
use rustix::fs::FileType;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// moby's change kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute inside the container (`/tmp/x`).
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {path} from the container layer")]
pub struct ChangesError {
    path: PathBuf,
    source: SafePathError,
}

/// The changes of the upper directory `upper` over `lowers` (top first).
pub fn changes(
    upper: &Root,
    lowers: &[Root],
    ignored: &[&str],
) -> Result<Vec<Change>, ChangesError> {
    let mut walk = Walk {
        upper,
        lowers,
        ignored,
        out: Vec::new(),
        changed_dirs: HashSet::new(),
    };
    walk.dir(Path::new(""))?;
    Ok(walk.out)
}

struct Walk<'a> {
    upper: &'a Root,
    lowers: &'a [Root],
    ignored: &'a [&'a str],
    out: Vec<Change>,
    changed_dirs: HashSet<String>,
}

fn absolute(rel: &Path) -> String {
    format!("/{}", rel.to_string_lossy())
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path) -> Result<(), ChangesError> {
        let err = |path: &Path| {
            let path = path.to_owned();
            move |source| ChangesError { path, source }
        };
        let entries = match self.upper.read_dir(dir) {
            Ok(entries) => entries,
            // Removed while we walk: nothing to report below it.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
                return Ok(())
            }
            Err(e) => return Err(err(dir)(e)),
        };
        for entry in entries {
            let rel = dir.join(&entry.name);
            if self.ignored.contains(&absolute(&rel).as_str()) {
                continue;
            }
            let stat = match self.upper.stat(&rel, false) {
                Ok(stat) => stat,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
                    continue
                }
                Err(e) => return Err(err(&rel)(e)),
            };
            let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
            let path = absolute(&rel);
            let deleted = is_whiteout(&stat) || (is_dir && self.opaque(&rel));
            let kind = if deleted {
                Some(ChangeKind::Deleted)
            } else {
                self.added_or_modified(&rel, &stat, is_dir)
            };
            if let Some(kind) = kind {
                if is_dir {
                    self.changed_dirs.insert(path.clone());
                }
                if kind != ChangeKind::Modified {
                    let parent = absolute(dir);
                    let parent = if dir.as_os_str().is_empty() {
                        "/".to_string()
                    } else {
                        parent
                    };
                    if parent != "/" && self.changed_dirs.insert(parent.clone()) {
                        self.out.push(Change {
                            path: parent,
                            kind: ChangeKind::Modified,
                        });
                    }
                }
                self.out.push(Change { path, kind });
            }
            if is_dir {
                self.dir(&rel)?;
            }
        }
        Ok(())
    }

    fn opaque(&self, rel: &Path) -> bool {
        matches!(self.upper.get_xattr(rel, OsStr::new(OPAQUE_XATTR)), Ok(Some(v)) if v == b"y")
    }

    /// None: an unchanged directory (present below with the same mode and owner).
    fn added_or_modified(
        &self,
        rel: &Path,
        stat: &berth_sys::safe_path::Stat,
        is_dir: bool,
    ) -> Option<ChangeKind> {
        for lower in self.lowers {
            // os.Stat in moby: symlinks followed (inside the layer).
            let Ok(below) = lower.stat(rel, true) else {
                continue;
            };
            let below_dir = FileType::from_raw_mode(below.st_mode) == FileType::Directory;
            if is_dir
                && below_dir
                && below.st_mode == stat.st_mode
                && below.st_uid == stat.st_uid
                && below.st_gid == stat.st_gid
            {
                return None;
            }
            return Some(ChangeKind::Modified);
        }
        Some(ChangeKind::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(changes: &[Change]) -> Vec<(String, u8)> {
        changes
            .iter()
            .map(|c| (c.path.clone(), c.kind as u8))
            .collect()
    }

    #[test]
    fn added_modified_and_deleted() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("etc")).unwrap();
        std::fs::write(lower.path().join("etc/passwd"), "root").unwrap();
        std::fs::write(lower.path().join("etc/group"), "root").unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/passwd"), "root\nnew").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.path().join("etc/group"),
            FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        std::fs::create_dir_all(upper.path().join("tmp")).unwrap();
        std::fs::write(upper.path().join("tmp/x"), "x").unwrap();
        std::fs::write(upper.path().join("etc/hosts"), "").unwrap();
        let upper_root = Root::open(upper.path()).unwrap();
        let lower_root = Root::open(lower.path()).unwrap();
        let found = changes(&upper_root, &[lower_root], &["/etc/hosts"]).unwrap();
        assert_eq!(
            kinds(&found),
            [
                ("/etc".to_string(), 0),
                ("/etc/group".to_string(), 2),
                ("/etc/passwd".to_string(), 0),
                ("/tmp".to_string(), 1),
                ("/tmp/x".to_string(), 1),
            ]
        );
    }
}
