//! The container's files: `GET /containers/{id}/changes` from its overlay upper directory,
//! and `GET /containers/{id}/export`, a tar of the merged root filesystem (the live mount
//! when running, else a read-only overlay of the snapshot made for the export).

use super::store::{ContainerRecord, Status};
use super::{ContainerError, Containers};
use berth_api::operations::FilesystemChange;
use berth_api::ApiError;
use berth_snapshot::Mount;
use berth_sys::safe_path::Root;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What Docker's init layer holds: mount points the runtime creates in the rootfs, which
/// `docker diff` does not list.
const MOUNT_POINTS: [&str; 9] = [
    "/dev/pts",
    "/dev/shm",
    "/proc",
    "/sys",
    "/.dockerenv",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/dev/console",
];

/// A read-only view of a stopped container's rootfs, unmounted and removed on drop.
struct ReadOnlyRootfs {
    target: PathBuf,
}

impl Drop for ReadOnlyRootfs {
    fn drop(&mut self) {
        let _ = berth_snapshot::unmount(&self.target);
        let _ = std::fs::remove_dir(&self.target);
    }
}

/// The snapshot's mount made read-only: the upper directory becomes the top lower layer.
fn read_only(mount: &Mount) -> Mount {
    let mut out = mount.clone();
    if out.fs_type == "overlay" {
        let upper = mount.option("upperdir").unwrap_or_default().to_string();
        let lowers = mount.option("lowerdir").unwrap_or_default().to_string();
        out.options.retain(|o| {
            !(o.starts_with("upperdir=") || o.starts_with("workdir=") || o.starts_with("lowerdir="))
        });
        out.options.push(format!("lowerdir={upper}:{lowers}"));
    } else {
        for option in &mut out.options {
            if option == "rw" {
                *option = "ro".into();
            }
        }
    }
    out
}

impl Containers {
    /// Blocking.
    pub(crate) fn changes(&self, id: &str) -> Result<Vec<FilesystemChange>, ApiError> {
        let snapshots = self.images.snapshotter();
        let upper = Root::open(&snapshots.fs_dir(id))
            .map_err(|e| ApiError::system(format!("opening the container layer: {e}")))?;
        let mounts = snapshots.mounts(id).map_err(ContainerError::from)?;
        let lowers = mounts
            .first()
            .map(Mount::lowerdirs)
            .unwrap_or_default()
            .iter()
            .map(|dir| Root::open(dir))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::system(format!("opening an image layer: {e}")))?;
        let found = berth_snapshot::changes::changes(&upper, &lowers, &MOUNT_POINTS)
            .map_err(|e| super::pause::cgroup_error(&e))?;
        Ok(found
            .into_iter()
            .map(|c| FilesystemChange {
                path: c.path,
                kind: c.kind as u8,
            })
            .collect())
    }

    /// Blocking: writes the tar of the merged root filesystem to `out`. A stopped
    /// container's snapshot is mounted read-only for the time of the export.
    pub(crate) fn export(
        &self,
        record: &ContainerRecord,
        out: impl std::io::Write,
    ) -> Result<(), ApiError> {
        static EXPORTS: AtomicU64 = AtomicU64::new(0);
        let live = record.paths.bundle.join("rootfs");
        let _view;
        let root_dir: &Path = if record.state.status == Status::Running {
            &live
        } else {
            let mounts = self
                .images
                .snapshotter()
                .mounts(&record.id)
                .map_err(ContainerError::from)?;
            let mount = mounts
                .first()
                .ok_or_else(|| ApiError::system("the container has no root filesystem"))?;
            let target = record.paths.bundle.join(format!(
                "export-{}",
                EXPORTS.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&target)
                .map_err(ContainerError::io(format!("creating {}", target.display())))?;
            _view = ReadOnlyRootfs {
                target: target.clone(),
            };
            read_only(mount)
                .mount(&target)
                .map_err(ContainerError::from)?;
            &_view.target
        };
        let root = Root::open(root_dir)
            .map_err(|e| ApiError::system(format!("opening the root filesystem: {e}")))?;
        berth_snapshot::diff::write_tree(&root, out).map_err(|e| super::pause::cgroup_error(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_overlay_puts_the_upper_on_top() {
        let mount = Mount {
            fs_type: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "index=off".into(),
                "lowerdir=/l/a:/l/b".into(),
                "upperdir=/c/fs".into(),
                "workdir=/c/work".into(),
            ],
        };
        let ro = read_only(&mount);
        assert_eq!(ro.options, ["index=off", "lowerdir=/c/fs:/l/a:/l/b"]);
    }
}
