//! Container bodies: `POST /containers/create` (request and response), `GET
//! /containers/{id}/json` and the `GET /containers/json` rows, with moby's JSON names.
//!
//! Decoding is lenient as Go's is: a missing key takes its zero value and `null` is accepted
//! wherever Go has a slice, map or pointer (those are `Option`s here, so `null` round-trips).
//! Encoding follows moby's struct tags: keys tagged `omitempty` are left out when empty, every
//! other key is always written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `map[string]string`; Go writes `null` for a nil map.
pub type StringMap = Option<BTreeMap<String, String>>;
/// `[]string`; Go writes `null` for a nil slice.
pub type StringList = Option<Vec<String>>;

/// Go's `struct{}`, written as `{}` (ExposedPorts and Volumes values).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmptyObject {}

/// Go accepts `null` for a slice; ours stays a plain `Vec` where Docker never writes `null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}
fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}
fn is_empty_str(s: &str) -> bool {
    s.is_empty()
}
fn is_empty_map<K, V>(m: &Option<BTreeMap<K, V>>) -> bool {
    m.as_ref().is_none_or(BTreeMap::is_empty)
}
fn is_empty_list<T>(l: &Option<Vec<T>>) -> bool {
    l.as_ref().is_none_or(Vec::is_empty)
}

/// `HEALTHCHECK` settings (moby `container.HealthConfig`; every field is omitempty;
/// docker-py sends unset durations as null).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "is_empty_list")]
    pub test: StringList,
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub interval: i64,
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub timeout: i64,
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub start_period: i64,
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub start_interval: i64,
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub retries: i64,
}

/// The portable part of a container's configuration (moby `container.Config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: StringList,
    pub cmd: StringList,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    pub working_dir: String,
    pub entrypoint: StringList,
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    /// Deprecated since API 1.44 (moved to the endpoint settings); still accepted.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub mac_address: String,
    pub on_build: StringList,
    pub labels: StringMap,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "is_empty_list")]
    pub shell: StringList,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: StringMap,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// "", "no", "always", "unless-stopped" or "on-failure".
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortBinding {
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// "80/tcp" -> bindings; an exposed port without bindings is `null`.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeviceRequest {
    pub driver: String,
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: StringList,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: StringMap,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// Resource limits (moby `container.Resources`), flattened into [`HostConfig`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Resources {
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: StringList,
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Removed from the kernel; accepted and ignored as Docker does since API 1.42.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_zero_i64")]
    pub kernel_memory_tcp: i64,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(skip_serializing_if = "is_empty_str")]
    pub propagation: String,
    #[serde(skip_serializing_if = "is_false")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub create_mountpoint: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeDriver {
    #[serde(skip_serializing_if = "is_empty_str")]
    pub name: String,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub options: StringMap,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub labels: StringMap,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub subpath: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriver>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageOptions {
    #[serde(skip_serializing_if = "is_empty_str")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub size_bytes: i64,
    /// A Go `os.FileMode`: the permission bits as a number.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub mode: u64,
    #[serde(skip_serializing_if = "is_empty_list")]
    pub options: Option<Vec<Vec<String>>>,
}

/// `HostConfig.Mounts` entry (moby `mount.Mount`; every field is omitempty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type", skip_serializing_if = "is_empty_str")]
    pub kind: String,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub source: String,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_options: Option<serde_json::Value>,
}

/// The non-portable part of a container's configuration (moby `container.HostConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: StringList,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<PortMap>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: StringList,
    #[serde(skip_serializing_if = "is_empty_list")]
    pub mounts: Option<Vec<Mount>>,
    pub console_size: [u32; 2],
    #[serde(skip_serializing_if = "is_empty_map")]
    pub annotations: StringMap,
    pub cap_add: StringList,
    pub cap_drop: StringList,
    pub cgroupns_mode: String,
    pub dns: StringList,
    pub dns_options: StringList,
    pub dns_search: StringList,
    pub extra_hosts: StringList,
    pub group_add: StringList,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: StringList,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: StringList,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub storage_opt: StringMap,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub tmpfs: StringMap,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub sysctls: StringMap,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub runtime: String,
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    pub masked_paths: StringList,
    pub readonly_paths: StringList,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "is_empty_str")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "is_empty_str")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "is_empty_list")]
    pub link_local_ips: StringList,
}

/// One network endpoint (moby `network.EndpointSettings`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: StringList,
    pub aliases: StringList,
    pub mac_address: String,
    pub driver_opts: StringMap,
    pub gw_priority: i64,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames")]
    pub dns_names: StringList,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointSettings>>>,
}

/// `POST /containers/create` body: the Config keys at the top level, plus two sections.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

mod inspect;
pub use inspect::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_body_decodes_to_zero_values_and_null_lists_are_accepted() {
        let req: ContainerCreateRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(req, ContainerCreateRequest::default());
        let req: ContainerCreateRequest = serde_json::from_value(json!({
            "Image": "busybox", "Env": null, "Cmd": null, "Labels": null, "Volumes": null,
            "HostConfig": {"Binds": null, "Ulimits": null, "PortBindings": null,
                           "Memory": 1024, "ConsoleSize": [24, 80]},
            "NetworkingConfig": null
        }))
        .unwrap();
        let hc = req.host_config.unwrap();
        assert_eq!(hc.resources.memory, 1024);
        assert_eq!(hc.console_size, [24, 80]);
        assert_eq!(req.config.image, "busybox");
    }

    #[test]
    fn omitempty_keys_are_left_out_and_the_others_always_written() {
        let v = serde_json::to_value(ContainerConfig::default()).unwrap();
        let obj = v.as_object().unwrap();
        for key in [
            "Hostname",
            "Env",
            "Cmd",
            "Entrypoint",
            "OnBuild",
            "Labels",
            "Volumes",
        ] {
            assert!(obj.contains_key(key), "{key} is always written");
        }
        for key in [
            "ExposedPorts",
            "Healthcheck",
            "ArgsEscaped",
            "StopSignal",
            "StopTimeout",
        ] {
            assert!(!obj.contains_key(key), "{key} is omitempty");
        }
        let v = serde_json::to_value(HostConfig::default()).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj["ConsoleSize"], json!([0, 0]));
        assert_eq!(obj["MemorySwappiness"], json!(null));
        assert_eq!(obj["PidsLimit"], json!(null));
        for key in [
            "Tmpfs",
            "Sysctls",
            "Mounts",
            "Init",
            "Runtime",
            "KernelMemory",
        ] {
            assert!(!obj.contains_key(key), "{key} is omitempty");
        }
        assert!(obj.contains_key("CpuShares") && obj.contains_key("MaskedPaths"));
    }

    #[test]
    fn create_response_accepts_null_warnings() {
        let r: ContainerCreateResponse =
            serde_json::from_str(r#"{"Id":"abc","Warnings":null}"#).unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"Id":"abc","Warnings":[]}"#
        );
    }
}
