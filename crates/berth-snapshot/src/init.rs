//! Init layers: the mount points every container needs (`/proc`, `/sys`, `/dev`, and the
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` files its own copies are bound over)
//! that its image lacks, as one more read-only lower directory under the container's layer.
//!
//! Docker makes an init layer per container. Here one directory serves every container
//! that lacks the same set of mount points (at most 2^6 of them, usually one or two), so a
//! container's start creates nothing in its read-write layer for its mount points: no
//! inodes on the data root, no copy-up of `/etc`, and nothing of them in `diff` or `commit`.
//!
//! An entry goes into the set only where the image has nothing at that path and `/etc` (for
//! the files) is a real directory or absent: a lower directory never hides an image's own
//! file or symlink.

use berth_sys::safe_path::Root;
use rustix::fs::FileType;
use std::path::Path;

/// The entries, in the order of their bits; directories end with `/`.
const ENTRIES: [&str; 6] = [
    "proc/",
    "sys/",
    "dev/",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
];

/// Which of the mount points an image lacks (a bit per entry of [`ENTRIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountPoints(u8);

impl MountPoints {
    /// Every mount point: what an image without layers lacks.
    pub const ALL: MountPoints = MountPoints((1 << ENTRIES.len()) - 1);

    /// The mount points missing from the image whose root filesystem is mounted at
    /// `rootfs` (read through the safe-path primitive: nothing in the image is followed
    /// out of it).
    pub fn missing_in(rootfs: &Path) -> std::io::Result<MountPoints> {
        let root = Root::open(rootfs).map_err(std::io::Error::other)?;
        let kind = |path: &str| match root.stat(Path::new(path), false) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(_) => None,
        };
        let etc_usable = matches!(kind("/etc"), None | Some(FileType::Directory));
        let mut bits = 0u8;
        for (i, entry) in ENTRIES.iter().enumerate() {
            let path = format!("/{}", entry.trim_end_matches('/'));
            let under_etc = entry.starts_with("etc/");
            if kind(&path).is_none() && (!under_etc || etc_usable) {
                bits |= 1 << i;
            }
        }
        Ok(MountPoints(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The directory name of this set's init layer.
    pub fn name(self) -> String {
        format!("{:02x}", self.0)
    }

    pub fn from_name(name: &str) -> Option<MountPoints> {
        let bits = u8::from_str_radix(name, 16).ok()?;
        (bits & !MountPoints::ALL.0 == 0 && name.len() == 2).then_some(MountPoints(bits))
    }

    /// Creates the entries under `dir` (an empty directory): directories 0755, empty files
    /// 0644, owned by root, as Docker's init layer has them.
    pub(crate) fn populate(self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        for (i, entry) in ENTRIES.iter().enumerate() {
            if self.0 & (1 << i) == 0 {
                continue;
            }
            let path = dir.join(entry.trim_end_matches('/'));
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)?;
            }
            if entry.ends_with('/') {
                std::fs::DirBuilder::new().mode(0o755).create(&path)?;
            } else {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_image_lacks_and_never_under_a_symlinked_etc() {
        let image = tempfile::tempdir().unwrap();
        assert_eq!(
            MountPoints::missing_in(image.path()).unwrap(),
            MountPoints::ALL
        );
        std::fs::create_dir(image.path().join("proc")).unwrap();
        std::fs::create_dir(image.path().join("etc")).unwrap();
        std::fs::write(image.path().join("etc/hosts"), b"image's").unwrap();
        std::os::unix::fs::symlink("/nowhere", image.path().join("dev")).unwrap();
        let missing = MountPoints::missing_in(image.path()).unwrap();
        // sys, etc/hostname, etc/resolv.conf.
        assert_eq!(missing, MountPoints(0b110010));

        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("usr/etc", other.path().join("etc")).unwrap();
        assert_eq!(
            MountPoints::missing_in(other.path()).unwrap(),
            MountPoints(0b000111)
        );
    }

    #[test]
    fn names_round_trip_and_populate_makes_the_entries() {
        let set = MountPoints(0b101001);
        assert_eq!(MountPoints::from_name(&set.name()), Some(set));
        assert_eq!(MountPoints::from_name("ff"), None);
        assert_eq!(MountPoints::from_name("../x"), None);
        let dir = tempfile::tempdir().unwrap();
        set.populate(dir.path()).unwrap();
        assert!(dir.path().join("proc").is_dir());
        assert!(!dir.path().join("sys").exists());
        assert!(dir.path().join("etc/hosts").is_file());
        assert!(dir.path().join("etc/resolv.conf").is_file());
        assert!(!dir.path().join("etc/hostname").exists());
    }
}
