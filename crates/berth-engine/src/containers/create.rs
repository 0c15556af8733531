//! `POST /containers/create`: name and ID, the container layer, the per-container files,
//! and the OCI bundle (config.json from `container::translate`).

use super::store::{ContainerRecord, ContainerStore, Paths};
use super::{now_rfc3339, ContainerError, Containers};
use crate::container::names;
use crate::container::user::UserFiles;
use crate::container::{
    translate, ContainerFiles, DaemonDefaults, HostFacts, SharedNamespaces, TranslateInput,
};
use berth_api::models::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse,
};
use berth_api::ApiError;
use berth_image::ImageError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

impl Containers {
    /// Creates a container (blocking).
    pub(crate) fn create(
        &self,
        name: Option<String>,
        mut request: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse, ApiError> {
        let host_config = request.host_config.get_or_insert_with(Default::default);
        super::restart::validate(&mut host_config.restart_policy, host_config.auto_remove)?;
        super::logs::validate_log_config(&host_config.log_config)?;
        super::lifecycle::runtime_choice(&host_config.runtime)?;
        let image_name = request.config.image.clone();
        let image = match self.images.inspect(&image_name) {
            Ok(image) => image,
            Err(ImageError::NotFound(_)) | Err(ImageError::InvalidReference(_)) => {
                return Err(ApiError::not_found(format!("No such image: {image_name}")))
            }
            Err(err) => return Err(ApiError::new(err.kind(), err.to_string())),
        };
        let image_config: ContainerConfig = if image.config.is_null() {
            ContainerConfig::default()
        } else {
            serde_json::from_value(image.config.clone()).map_err(ContainerError::from)?
        };
        let id = names::generate_id().map_err(|e| ApiError::system(e.to_string()))?;
        let generated = name.as_deref().is_none_or(str::is_empty);
        let name = self.choose_name(name, &id)?;
        let bundle = self.data_root.join("containers").join(&id);
        let result = self.build_bundle(&id, &bundle, &image.id, &request, &image_config);
        let (record, warnings) = match result {
            Ok(translated) => translated,
            Err(err) => {
                let _ = berth_snapshot::unmount(&bundle.join("rootfs"));
                let _ = self.images.remove_container_layer(&id);
                let _ = std::fs::remove_dir_all(&bundle);
                return Err(err);
            }
        };
        let mut record = ContainerRecord {
            name,
            image_name,
            image_id: image.id.to_string(),
            ..record
        };
        {
            let mut entries = self.store.lock();
            // Checked again under the lock: another create may have taken the name meanwhile.
            let taken = |entries: &std::collections::HashMap<String, super::store::Entry>,
                         name: &str| {
                entries
                    .values()
                    .find(|e| e.record.name == name)
                    .map(|e| e.record.id.clone())
            };
            if generated && taken(&entries, &record.name).is_some() {
                // A concurrent create drew the same random name: draw again, now under the
                // lock.
                record.name = names::generate_name(&id, |n| taken(&entries, n).is_some())
                    .map_err(|e| ApiError::system(e.to_string()))?;
            }
            if let Some(holder) = taken(&entries, &record.name) {
                let err = names::name_conflict(&record.name, &holder);
                drop(entries);
                let _ = self.images.remove_container_layer(&id);
                let _ = std::fs::remove_dir_all(&bundle);
                return Err(err);
            }
            ContainerStore::insert(&mut entries, &self.store, record.clone())?;
        }
        self.publish("create", &record, &[]);
        Ok(ContainerCreateResponse { id, warnings })
    }

    fn choose_name(&self, wanted: Option<String>, id: &str) -> Result<String, ApiError> {
        let entries = self.store.lock();
        let taken = |n: &str| entries.values().any(|e| e.record.name == n);
        match wanted.filter(|n| !n.is_empty()) {
            Some(wanted) => {
                let name = names::validate_name(&wanted)?;
                if let Some(holder) = entries.values().find(|e| e.record.name == name) {
                    return Err(names::name_conflict(&name, &holder.record.id));
                }
                Ok(name)
            }
            None => names::generate_name(id, taken).map_err(|e| ApiError::system(e.to_string())),
        }
    }

    /// The image's [`ImageFacts`], from the cache or read with the image's read-only view
    /// mounted on `mount_point` for the time of the reading.
    fn image_facts(
        &self,
        image_id: &berth_image::ImageId,
        mount_point: &Path,
    ) -> Result<Arc<ImageFacts>, ApiError> {
        let image_key = image_id.to_string();
        if let Some(facts) = cached_image_facts(&image_key) {
            return Ok(facts);
        }
        let view = self
            .images
            .image_mounts(image_id)
            .map_err(ContainerError::from)?;
        let facts = read_image_facts(view.as_ref().and_then(|m| m.first()), mount_point)?;
        remember_image_facts(image_key, facts.clone());
        Ok(Arc::new(facts))
    }

    /// Before a start whose layer would not mount: repairs what a crash took from it (its
    /// creation is not synced; see `Snapshotter::prepare_container`).
    pub(crate) fn repair_layer(&self, record: &ContainerRecord) -> Result<(), ApiError> {
        let image_id: berth_image::ImageId = record
            .image_id
            .parse()
            .map_err(|_| ApiError::system(format!("invalid image ID {}", record.image_id)))?;
        let rootfs = record.paths.bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(ContainerError::io("creating the bundle"))?;
        let facts = self.image_facts(&image_id, &rootfs)?;
        self.images
            .repair_container_layer(&image_id, &record.id, facts.missing_mount_points)
            .map_err(|e| ContainerError::from(e).into())
    }

    /// Makes the layer, the files and config.json; returns the record without its name.
    fn build_bundle(
        &self,
        id: &str,
        bundle: &Path,
        image_id: &berth_image::ImageId,
        request: &ContainerCreateRequest,
        image_config: &ContainerConfig,
    ) -> Result<(ContainerRecord, Vec<String>), ApiError> {
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(ContainerError::io("creating the bundle"))?;
        let etc = self.exec_root.join("etc").join(id);
        let paths = Paths {
            bundle: bundle.to_path_buf(),
            // The shim's socket lives in this directory and a UNIX socket path must fit in
            // 108 bytes, so the directory is named by the first 128 bits of the ID.
            shim_state: self.exec_root.join("shims").join(&id[..32.min(id.len())]),
            log: bundle.join(format!("{id}-json.log")),
            hostname: etc.join("hostname"),
            hosts: etc.join("hosts"),
            resolv_conf: etc.join("resolv.conf"),
            etc,
        };
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        // A new container sees exactly its image's passwd and group, and the image's mount
        // points, so only the image's first container has the image mounted here (read-only,
        // on the rootfs mount point): mounting costs little, but the unmount waits for an RCU
        // grace period.
        let facts = self.image_facts(image_id, &rootfs)?;
        let prepare_layer = || -> Result<(), ApiError> {
            self.images
                .rootfs_mounts(image_id, id, facts.missing_mount_points)
                .map(drop)
                .map_err(|e| ContainerError::from(e).into())
        };
        let user_files = &facts.user_files;
        let files = ContainerFiles {
            hosts: Some(paths.hosts.clone()),
            hostname: Some(paths.hostname.clone()),
            resolv_conf: Some(paths.resolv_conf.clone()),
        };
        let translated = translate(&TranslateInput {
            request,
            image: image_config,
            id,
            rootfs: &rootfs,
            user_files: Some(user_files),
            files: &files,
            shared: &SharedNamespaces::default(),
            defaults: &DaemonDefaults::for_host(),
            host: &HostFacts::detect(),
        })?;
        let spec = serde_json::to_vec_pretty(&translated.spec).map_err(ContainerError::from)?;
        let config_json = bundle.join("config.json");
        write_etc_files(&paths, &translated.config.hostname, &resolv)?;
        // The layer and config.json are made durable at the same time, so their fsyncs share
        // the filesystem's journal commits instead of queueing.
        std::thread::scope(|scope| {
            let layer = scope.spawn(prepare_layer);
            let written = write(&config_json, &spec);
            let prepared = layer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written.and(prepared)
        })?;
        save_seccomp_program(bundle, &translated.spec);
        let mut host_config = request.host_config.clone().unwrap_or_default();
        // Docker records the daemon's default driver; docker-py's `containers.run` reads
        // the output back only when the type is json-file.
        if host_config.log_config.kind.is_empty() {
            host_config.log_config.kind = "json-file".into();
        }
        let record = ContainerRecord {
            id: id.to_string(),
            created: now_rfc3339(),
            path: translated.path,
            args: translated.args,
            auto_remove: host_config.auto_remove,
            config: translated.config,
            host_config,
            stop_signal: translated.stop_signal,
            stop_timeout: translated.stop_timeout,
            paths,
            ..Default::default()
        };
        Ok((record, translated.warnings))
    }
}

/// Writes a file whole: temp name, fsync, rename, so a crash leaves the old or the new.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    write_all(&[(path, bytes)])
}

/// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written whole (temp
/// name, rename) but not synced, on the exec root's tmpfs: they are derived from the record,
/// and a start after a reboot or crash writes them again ([`restore_etc_files`]), as Docker
/// rewrites them at each start. On disk, each would cost a new inode per container.
fn write_etc_files(paths: &Paths, hostname: &str, resolv: &[u8]) -> Result<(), ApiError> {
    if !paths.etc.as_os_str().is_empty() {
        std::fs::create_dir_all(&paths.etc).map_err(ContainerError::io(format!(
            "creating {}",
            paths.etc.display()
        )))?;
    }
    let hostname = format!("{hostname}\n");
    let files: [(&Path, &[u8]); 3] = [
        (&paths.resolv_conf, resolv),
        (&paths.hosts, HOSTS.as_bytes()),
        (&paths.hostname, hostname.as_bytes()),
    ];
    for (path, bytes) in files {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(ContainerError::io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// Before a start: rewrites the /etc files when they are gone (the exec root is tmpfs) or a
/// crash left one empty (older records keep them, unsynced, in the bundle).
pub(crate) fn restore_etc_files(record: &ContainerRecord) -> Result<(), ApiError> {
    let paths = &record.paths;
    let intact = |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    if intact(&paths.hosts) && intact(&paths.hostname) {
        // resolv.conf may be legitimately empty (the host's is); it is rewritten only when
        // missing.
        if paths.resolv_conf.exists() {
            return Ok(());
        }
    }
    tracing::debug!(container = %record.id, "writing the container's /etc files again");
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    write_etc_files(paths, &record.config.hostname, &resolv)
}

/// What every container of an image starts from: the image's /etc/passwd and /etc/group,
/// and the mount points it lacks (given to the container's layer as an init layer).
#[derive(Clone)]
struct ImageFacts {
    user_files: UserFiles,
    missing_mount_points: berth_snapshot::init::MountPoints,
}

/// Reads the image's facts with its read-only view mounted on `rootfs` (no view: an image
/// without layers, which has nothing).
fn read_image_facts(
    view: Option<&berth_snapshot::Mount>,
    rootfs: &Path,
) -> Result<ImageFacts, ApiError> {
    let Some(view) = view else {
        return Ok(ImageFacts {
            user_files: UserFiles::default(),
            missing_mount_points: berth_snapshot::init::MountPoints::ALL,
        });
    };
    view.mount(rootfs).map_err(ContainerError::from)?;
    let user_files = UserFiles::read(rootfs);
    let missing = berth_snapshot::init::MountPoints::missing_in(rootfs);
    berth_snapshot::unmount(rootfs).map_err(ContainerError::from)?;
    Ok(ImageFacts {
        user_files: user_files.map_err(|e| ApiError::from(crate::container::SpecError::from(e)))?,
        missing_mount_points: missing.map_err(ContainerError::io(
            "reading the image's mount points".to_string(),
        ))?,
    })
}

/// [`ImageFacts`] by image ID: a new container's layer is empty, so it sees exactly its
/// image, and an image ID names its layers' content. Bounded: starts over when full.
fn image_facts() -> &'static Mutex<HashMap<String, Arc<ImageFacts>>> {
    static FACTS: OnceLock<Mutex<HashMap<String, Arc<ImageFacts>>>> = OnceLock::new();
    FACTS.get_or_init(Default::default)
}

const IMAGE_FACTS_LIMIT: usize = 256;

fn cached_image_facts(image: &str) -> Option<Arc<ImageFacts>> {
    let facts = image_facts().lock().unwrap_or_else(|e| e.into_inner());
    facts.get(image).cloned()
}

fn remember_image_facts(image: String, read: ImageFacts) {
    let mut facts = image_facts().lock().unwrap_or_else(|e| e.into_inner());
    if facts.len() >= IMAGE_FACTS_LIMIT {
        facts.clear();
    }
    facts.insert(image, Arc::new(read));
}

/// Puts the compiled seccomp filter next to config.json: compiling Docker's profile costs
/// the runtime milliseconds of CPU per container and exec, while berthd compiles each
/// distinct profile once. The runtime uses the file only when it matches the config's
/// profile, so a failure here only costs that time.
fn save_seccomp_program(bundle: &Path, spec: &oci_spec::runtime::Spec) {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return;
    };
    if let Err(err) = berth_runtime::seccomp::save_program(bundle, profile) {
        tracing::debug!(error = %berth_runtime::init::chain(&err), "no precompiled seccomp filter");
    }
}

/// Writes files whole: temp name, fsync, rename, so a crash leaves the old or the new. The
/// fsyncs run in parallel: concurrent fsyncs join one journal commit, where one after the
/// other each waits for its own.
fn write_all(files: &[(&Path, &[u8])]) -> Result<(), ApiError> {
    use std::io::Write;
    let mut written = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)
            .map_err(ContainerError::io(format!("writing {}", tmp.display())))?;
        file.write_all(bytes)
            .map_err(ContainerError::io(format!("writing {}", tmp.display())))?;
        written.push((file, tmp, *path));
    }
    std::thread::scope(|scope| {
        let syncs: Vec<_> = written
            .iter()
            .map(|(file, tmp, _)| (tmp, scope.spawn(move || file.sync_all())))
            .collect();
        for (tmp, sync) in syncs {
            let result = sync
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            result.map_err(ContainerError::io(format!("syncing {}", tmp.display())))?;
        }
        Ok::<(), ApiError>(())
    })?;
    for (_, tmp, path) in &written {
        std::fs::rename(tmp, path)
            .map_err(ContainerError::io(format!("writing {}", path.display())))?;
    }
    Ok(())
}
