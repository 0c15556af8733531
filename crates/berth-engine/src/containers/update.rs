//! `POST /containers/{id}/update` (moby `daemon/update.go` and `Container.UpdateContainer`):
//! validated as at create, merged into the record's HostConfig (zero fields stay as they
//! are), written live to the cgroup when the container runs, then persisted.

use super::pause::{cgroup_error, container_cgroup};
use super::store::Status;
use super::{restart, ContainerError, Containers};
use crate::container::{resources, HostFacts};
use berth_api::models::container::Resources;
use berth_api::operations::{UpdateRequest, UpdateResponse};
use berth_api::ApiError;
use berth_cgroups::Limit;

fn cannot_update(id: &str, message: impl std::fmt::Display) -> String {
    format!("Cannot update container {id}: {message}")
}

/// moby `UpdateContainer`: the NanoCpus/period/quota conflicts with what is already set,
/// then each non-zero field replaces the current one.
fn merge(current: &mut Resources, update: &Resources) -> Result<(), &'static str> {
    if update.nano_cpus > 0 && current.cpu_period > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        );
    }
    if update.nano_cpus > 0 && current.cpu_quota > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        );
    }
    if update.cpu_period > 0 && current.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        );
    }
    if update.cpu_quota > 0 && current.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        );
    }
    if update.blkio_weight != 0 {
        current.blkio_weight = update.blkio_weight;
    }
    if update.cpu_shares != 0 {
        current.cpu_shares = update.cpu_shares;
    }
    if update.nano_cpus != 0 {
        current.nano_cpus = update.nano_cpus;
    }
    if update.cpu_period != 0 {
        current.cpu_period = update.cpu_period;
    }
    if update.cpu_quota != 0 {
        current.cpu_quota = update.cpu_quota;
    }
    if !update.cpuset_cpus.is_empty() {
        current.cpuset_cpus = update.cpuset_cpus.clone();
    }
    if !update.cpuset_mems.is_empty() {
        current.cpuset_mems = update.cpuset_mems.clone();
    }
    if update.memory != 0 {
        // A memory limit above the memory+swap limit already set needs a new swap limit.
        if current.memory_swap > 0 && update.memory > current.memory_swap && update.memory_swap == 0
        {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
        }
        current.memory = update.memory;
    }
    if update.memory_swap != 0 {
        current.memory_swap = update.memory_swap;
    }
    if update.memory_reservation != 0 {
        current.memory_reservation = update.memory_reservation;
    }
    if update.pids_limit.is_some() {
        current.pids_limit = update.pids_limit;
    }
    Ok(())
}

/// The cgroup writes for the changed fields (with the merged values they imply).
fn cgroup_changes(
    update: &Resources,
    merged: &Resources,
    swap_limit: bool,
) -> berth_cgroups::Resources {
    let mut out = berth_cgroups::Resources::default();
    if update.memory != 0 {
        out.memory.limit = Some(Limit::from_i64(update.memory));
    }
    if swap_limit && (update.memory_swap != 0 || (update.memory != 0 && merged.memory_swap != 0)) {
        out.memory.swap = Some(Limit::from_i64(merged.memory_swap));
    }
    if update.memory_reservation != 0 {
        out.memory.reservation = Some(Limit::from_i64(update.memory_reservation));
    }
    if update.cpu_shares != 0 {
        out.cpu.shares = Some(update.cpu_shares.clamp(2, 262_144) as u64);
    }
    if update.nano_cpus > 0 {
        out.cpu.period = Some(100_000);
        out.cpu.quota = Some(Limit::Value(
            (update.nano_cpus * 100_000 / 1_000_000_000) as u64,
        ));
    }
    if update.cpu_period > 0 {
        out.cpu.period = Some(update.cpu_period as u64);
    }
    if update.cpu_quota != 0 {
        out.cpu.quota = Some(Limit::from_i64(update.cpu_quota));
    }
    if !update.cpuset_cpus.is_empty() {
        out.cpu.cpus = Some(update.cpuset_cpus.clone());
    }
    if !update.cpuset_mems.is_empty() {
        out.cpu.mems = Some(update.cpuset_mems.clone());
    }
    if let Some(pids) = update.pids_limit {
        // 0 and -1 both mean unlimited (moby `PidsLimit` update semantics).
        out.pids_limit = Some(if pids <= 0 {
            Limit::Unlimited
        } else {
            Limit::Value(pids as u64)
        });
    }
    if update.blkio_weight != 0 {
        out.blkio_weight = Some(update.blkio_weight);
    }
    out
}

/// Rewrites the limits in the bundle's OCI spec (temp, fsync, rename), so the next start
/// of the container gets them: the spec is made once, at create.
fn patch_spec(
    bundle: &std::path::Path,
    merged: &Resources,
    host: &HostFacts,
) -> Result<(), ApiError> {
    let path = bundle.join("config.json");
    let bytes =
        std::fs::read(&path).map_err(ContainerError::io(format!("reading {}", path.display())))?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(ContainerError::from)?;
    let planned = resources::plan(merged, host)?.resources;
    let Some(current) = spec["linux"]["resources"].as_object_mut() else {
        return Ok(());
    };
    if let Some(weight) = planned.get("blockIO").and_then(|b| b.get("weight")) {
        current
            .entry("blockIO")
            .or_insert_with(|| serde_json::json!({}))["weight"] = weight.clone();
    }
    for key in ["memory", "cpu", "pids"] {
        match planned.get(key) {
            Some(value) => {
                current.insert(key.to_string(), value.clone());
            }
            None => {
                current.remove(key);
            }
        }
    }
    let bytes = serde_json::to_vec(&spec).map_err(ContainerError::from)?;
    super::create::write(&path, &bytes)
}

impl Containers {
    /// Blocking; under the container's lock (taken by the caller).
    pub(crate) fn update_resources(
        &self,
        id: &str,
        update: UpdateRequest,
    ) -> Result<UpdateResponse, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let host = HostFacts::detect();
        let plan = resources::plan(&update.resources, &host)?;
        if self.is_removing(id) || record.state.status == Status::Dead {
            return Err(ApiError::invalid(cannot_update(
                id,
                "container is marked for removal and cannot be \"update\"",
            )));
        }
        let mut merged = record.host_config.clone();
        merge(&mut merged.resources, &update.resources)
            .map_err(|m| ApiError::conflict(cannot_update(id, m)))?;
        let mut policy = update.restart_policy.clone();
        if !policy.name.is_empty() {
            let none = policy.name == "no";
            if record.auto_remove && !none {
                return Err(ApiError::conflict(cannot_update(
                    id,
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                )));
            }
            restart::validate(&mut policy, record.auto_remove)?;
            merged.restart_policy = policy;
        }
        if record.state.status == Status::Running {
            let changes = cgroup_changes(&update.resources, &merged.resources, host.swap_limit);
            if changes != berth_cgroups::Resources::default() {
                container_cgroup(&record)?
                    .update(&changes)
                    .map_err(|e| ApiError::system(cannot_update(id, cgroup_error(&e).message)))?;
            }
        }
        patch_spec(&record.paths.bundle, &merged.resources, &host)?;
        let record = self.store.update(id, |r| {
            r.host_config = merged;
            r.clone()
        })?;
        self.publish("update", &record, &[]);
        Ok(UpdateResponse {
            warnings: plan.warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nano_cpus_conflict_with_a_quota_already_set() {
        let mut current = Resources {
            cpu_quota: 50_000,
            ..Default::default()
        };
        let update = Resources {
            nano_cpus: 1_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            merge(&mut current, &update).unwrap_err(),
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
        );
    }

    #[test]
    fn zero_fields_stay_and_swap_follows_memory() {
        let mut current = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            cpu_shares: 512,
            ..Default::default()
        };
        let update = Resources {
            memory: 100 << 20,
            ..Default::default()
        };
        merge(&mut current, &update).unwrap();
        assert_eq!(current.memory, 100 << 20);
        assert_eq!(current.cpu_shares, 512);
        let writes = cgroup_changes(&update, &current, true);
        assert_eq!(writes.memory.limit, Some(Limit::Value(100 << 20)));
        assert_eq!(writes.memory.swap, Some(Limit::Value(128 << 20)));
        assert_eq!(writes.cpu.shares, None);
        let too_big = Resources {
            memory: 200 << 20,
            ..Default::default()
        };
        assert!(merge(&mut current, &too_big).is_err());
    }
}
