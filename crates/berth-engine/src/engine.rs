//! The engine: what berthd serves. Today it answers the system endpoints; the stores for
//! images, containers, networks and volumes hang off it as they land.

use crate::containers::{ContainerError, Containers};
use crate::events::EventBus;
use crate::host;
use crate::VERSION;
use berth_api::events::EventMessage;
use berth_api::models::system::{
    AddressPool, CommitInfo, ComponentVersion, DiskUsageSections, IndexInfo, PlatformName,
    PluginsInfo, RegistryConfig, RuntimeInfo, SwarmInfo, SystemDiskUsage, SystemInfo,
    SystemVersion,
};
use berth_api::{ApiError, ApiVersion, EventSubscription, SystemBackend};
use berth_cgroups::{Capabilities, CgroupSetup};
use berth_image::ImageStore;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// What the daemon was configured with that the engine reports or uses.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub debug: bool,
    pub labels: Vec<String>,
    pub live_restore: bool,
    pub log_driver: String,
    pub default_address_pools: Vec<AddressPool>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    /// Warnings found while starting (e.g. an unencrypted TCP listener), shown by `/info`.
    pub warnings: Vec<String>,
}

pub struct Engine {
    config: std::sync::RwLock<EngineConfig>,
    id: String,
    events: Arc<EventBus>,
    /// The host's cgroup layout, detected once at start; None when cgroupfs is missing.
    cgroups: Option<CgroupSetup>,
    images: Arc<ImageStore>,
    containers: Arc<Containers>,
}

impl Engine {
    /// Builds the engine and loads the container records (blocking: call it before
    /// serving, or from the blocking pool).
    pub fn new(
        config: EngineConfig,
        id: String,
        cgroups: Option<CgroupSetup>,
        images: ImageStore,
    ) -> Result<Engine, ContainerError> {
        let images = Arc::new(images);
        let events = Arc::new(EventBus::new());
        let containers = Containers::open(
            images.clone(),
            events.clone(),
            config.data_root.clone(),
            config.exec_root.clone(),
        )?;
        Ok(Engine {
            config: std::sync::RwLock::new(config),
            id,
            events,
            cgroups,
            images,
            containers: Arc::new(containers),
        })
    }

    /// The host's cgroup layout, if cgroupfs is mounted.
    pub(crate) fn cgroup_setup(&self) -> Option<&CgroupSetup> {
        self.cgroups.as_ref()
    }

    pub(crate) fn containers(&self) -> &Arc<Containers> {
        &self.containers
    }

    /// Picks up containers that were running when the daemon last stopped: a monitor per
    /// container reattaches to its shim, or records the exit the shim left behind. Call it
    /// from inside the runtime, once.
    pub fn restore_containers(&self) {
        self.containers.restore();
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The bus, for blocking work that publishes when it finishes.
    pub(crate) fn events_handle(&self) -> Arc<EventBus> {
        self.events.clone()
    }

    pub(crate) fn image_store(&self) -> &Arc<ImageStore> {
        &self.images
    }

    pub fn config(&self) -> EngineConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies a reloaded configuration (SIGHUP) and publishes Docker's `reload` event with
    /// the daemon's settings as attributes.
    pub fn reload(&self, config: EngineConfig) {
        let attributes = HashMap::from([
            ("debug".to_string(), config.debug.to_string()),
            (
                "labels".to_string(),
                format!("[{}]", config.labels.join(" ")),
            ),
            ("live-restore".to_string(), config.live_restore.to_string()),
            ("name".to_string(), host::hostname()),
        ]);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.events
            .publish(EventMessage::new("daemon", "reload", &self.id, attributes));
    }

    fn registry_config(config: &EngineConfig) -> RegistryConfig {
        let mut insecure = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
        insecure.extend(config.insecure_registries.iter().cloned());
        let docker_io = IndexInfo {
            name: "docker.io".into(),
            mirrors: config.registry_mirrors.clone(),
            secure: true,
            official: true,
        };
        RegistryConfig {
            insecure_registry_cidrs: insecure,
            index_configs: BTreeMap::from([("docker.io".to_string(), docker_io)]),
            mirrors: config.registry_mirrors.clone(),
            ..Default::default()
        }
    }

    fn runtimes() -> BTreeMap<String, RuntimeInfo> {
        let mut runtimes = BTreeMap::from([(
            "berth".to_string(),
            RuntimeInfo {
                path: "berth-runtime".into(),
                runtime_args: None,
            },
        )]);
        for external in ["runc", "crun"] {
            if host::on_path(external).is_some() {
                runtimes.insert(
                    external.into(),
                    RuntimeInfo {
                        path: external.into(),
                        runtime_args: None,
                    },
                );
            }
        }
        runtimes
    }

    fn warnings(config: &EngineConfig, support: &Capabilities) -> Vec<String> {
        let mut warnings = config.warnings.clone();
        if !support.swap_limit {
            warnings.push("WARNING: No swap limit support".into());
        }
        if !host::bridge_nf_iptables() {
            warnings.push("WARNING: bridge-nf-call-iptables is disabled".into());
        }
        if !host::bridge_nf_ip6tables() {
            warnings.push("WARNING: bridge-nf-call-ip6tables is disabled".into());
        }
        warnings
    }
}

impl SystemBackend for Engine {
    fn version(&self) -> SystemVersion {
        let kernel = host::kernel_version();
        let details = BTreeMap::from([
            ("ApiVersion".to_string(), ApiVersion::MAX.to_string()),
            ("Arch".to_string(), host::go_arch().to_string()),
            (
                "BuildTime".to_string(),
                env!("BERTH_BUILD_TIME").to_string(),
            ),
            ("Experimental".to_string(), "false".to_string()),
            (
                "GitCommit".to_string(),
                env!("BERTH_GIT_COMMIT").to_string(),
            ),
            (
                "GoVersion".to_string(),
                env!("BERTH_RUSTC_VERSION").to_string(),
            ),
            ("KernelVersion".to_string(), kernel.clone()),
            ("MinAPIVersion".to_string(), ApiVersion::MIN.to_string()),
            ("Os".to_string(), "linux".to_string()),
        ]);
        SystemVersion {
            platform: PlatformName {
                name: "Berth Engine".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: VERSION.into(),
                details: Some(details),
            }],
            version: VERSION.into(),
            api_version: ApiVersion::MAX.to_string(),
            min_api_version: ApiVersion::MIN.to_string(),
            git_commit: env!("BERTH_GIT_COMMIT").into(),
            go_version: env!("BERTH_RUSTC_VERSION").into(),
            os: "linux".into(),
            arch: host::go_arch().into(),
            kernel_version: kernel,
            experimental: false,
            build_time: env!("BERTH_BUILD_TIME").into(),
        }
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        let config = self.config();
        let support = self
            .cgroups
            .as_ref()
            .map(CgroupSetup::capabilities)
            .unwrap_or_default();
        let (operating_system, os_version) = host::operating_system();
        let mut security_options = Vec::new();
        if host::seccomp_supported() {
            security_options.push("name=seccomp,profile=builtin".to_string());
        }
        if support.cgroup_version == "2" {
            security_options.push("name=cgroupns".to_string());
        }
        let driver = self.images.driver_name().to_string();
        Ok(SystemInfo {
            id: self.id.clone(),
            driver,
            driver_status: vec![
                [
                    "Backing Filesystem".into(),
                    self.images.backing_filesystem(),
                ],
                ["Supports d_type".into(), "true".into()],
            ],
            images: self.images.count() as u64,
            docker_root_dir: config.data_root.display().to_string(),
            plugins: PluginsInfo {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "none".into()],
                authorization: None,
                log: vec!["json-file".into()],
            },
            memory_limit: support.memory_limit,
            swap_limit: support.swap_limit,
            cpu_cfs_period: support.cpu_cfs_period,
            cpu_cfs_quota: support.cpu_cfs_quota,
            cpu_shares: support.cpu_shares,
            cpu_set: support.cpuset,
            pids_limit: support.pids_limit,
            oom_kill_disable: support.oom_kill_disable,
            ipv4_forwarding: host::ipv4_forwarding(),
            bridge_nf_iptables: host::bridge_nf_iptables(),
            bridge_nf_ip6tables: host::bridge_nf_ip6tables(),
            debug: config.debug,
            n_fd: host::open_fds(),
            n_goroutines: host::threads(),
            system_time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
            logging_driver: config.log_driver.clone(),
            cgroup_driver: support.cgroup_driver.into(),
            cgroup_version: support.cgroup_version.into(),
            n_events_listener: self.events.listeners() as u64,
            kernel_version: host::kernel_version(),
            operating_system,
            os_version,
            os_type: "linux".into(),
            architecture: host::machine(),
            ncpu: host::cpu_count(),
            mem_total: host::mem_total(),
            index_server_address: "https://index.docker.io/v1/".into(),
            registry_config: Self::registry_config(&config),
            name: host::hostname(),
            labels: config.labels.clone(),
            server_version: VERSION.into(),
            runtimes: Self::runtimes(),
            default_runtime: "berth".into(),
            swarm: SwarmInfo {
                local_node_state: "inactive".into(),
                ..Default::default()
            },
            live_restore_enabled: config.live_restore,
            isolation: String::new(),
            containerd_commit: CommitInfo::default(),
            runc_commit: CommitInfo::default(),
            init_commit: CommitInfo::default(),
            security_options,
            default_address_pools: config.default_address_pools.clone(),
            warnings: Self::warnings(&config, &support),
            ..Default::default()
        })
    }

    async fn disk_usage(&self, sections: DiskUsageSections) -> Result<SystemDiskUsage, ApiError> {
        let mut usage = SystemDiskUsage::default();
        if sections.images {
            let (images, layers_size) = self.image_disk_usage().await?;
            usage.images = images;
            usage.layers_size = layers_size;
        }
        if sections.containers {
            usage.containers = self.container_disk_usage().await?;
        }
        Ok(usage)
    }

    fn subscribe_events(&self) -> EventSubscription {
        self.events.subscribe()
    }
}
