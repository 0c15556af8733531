//! `POST /containers/create`: name and ID, the container layer, the per-container files,
//! and the OCI bundle (config.json from `container::translate`).

use super::store::{ContainerRecord, ContainerStore, Paths};
use super::{now_rfc3339, ContainerError, Containers};
use crate::container::names;
use crate::container::{
    translate, ContainerFiles, DaemonDefaults, HostFacts, SharedNamespaces, TranslateInput,
};
use berth_api::models::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse,
};
use berth_api::ApiError;
use berth_image::ImageError;
use std::path::Path;

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
        let paths = Paths {
            bundle: bundle.to_path_buf(),
            // The shim's socket lives in this directory and a UNIX socket path must fit in
            // 108 bytes, so the directory is named by the first 128 bits of the ID.
            shim_state: self.exec_root.join("shims").join(&id[..32.min(id.len())]),
            log: bundle.join(format!("{id}-json.log")),
            hostname: bundle.join("hostname"),
            hosts: bundle.join("hosts"),
            resolv_conf: bundle.join("resolv.conf"),
        };
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        write(&paths.resolv_conf, &resolv)?;
        write(&paths.hosts, HOSTS.as_bytes())?;
        let mounts = self
            .images
            .rootfs_mounts(image_id, id)
            .map_err(ContainerError::from)?;
        let mount = mounts
            .first()
            .ok_or_else(|| ApiError::system("the image store returned no rootfs mount"))?;
        mount.mount(&rootfs).map_err(ContainerError::from)?;
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
            files: &files,
            shared: &SharedNamespaces::default(),
            defaults: &DaemonDefaults::for_host(),
            host: &HostFacts::detect(),
        });
        berth_snapshot::unmount(&rootfs).map_err(ContainerError::from)?;
        let translated = translated?;
        write(
            &paths.hostname,
            format!("{}\n", translated.config.hostname).as_bytes(),
        )?;
        let spec = serde_json::to_vec_pretty(&translated.spec).map_err(ContainerError::from)?;
        write(&bundle.join("config.json"), &spec)?;
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
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)
        .map_err(ContainerError::io(format!("writing {}", tmp.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(ContainerError::io(format!("writing {}", path.display())))?;
    Ok(())
}
