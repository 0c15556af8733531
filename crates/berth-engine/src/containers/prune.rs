//! `POST /containers/prune` (moby `ContainersPrune`): every container that is not running,
//! created before `until`, with the `label` filters and none of the `label!` ones.

use super::store::Status;
use super::Containers;
use berth_api::filters::Filters;
use berth_api::operations::ContainerPruneReport;
use berth_api::timestamp::Timestamp;
use berth_api::ApiError;
use std::collections::HashMap;
use std::sync::Arc;

impl Containers {
    pub(crate) async fn prune(
        self: &Arc<Self>,
        filters: Filters,
    ) -> Result<ContainerPruneReport, ApiError> {
        let until = match filters.get("until").next() {
            None => None,
            Some(value) => Some(
                Timestamp::parse(value, Timestamp::now())
                    .map_err(|err| ApiError::invalid(err.to_string()))?
                    .unix_nanos(),
            ),
        };
        let candidates: Vec<_> = self
            .store
            .all()
            .into_iter()
            .filter(|r| !matches!(r.state.status, Status::Running | Status::Restarting))
            .filter(|r| {
                until.is_none_or(|until| {
                    chrono::DateTime::parse_from_rfc3339(&r.created)
                        .ok()
                        .and_then(|t| t.timestamp_nanos_opt())
                        .is_some_and(|created| created <= until)
                })
            })
            .filter(|r| {
                let labels: HashMap<String, String> = r
                    .config
                    .labels
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                filters.match_kv_list("label", &labels)
                    && !(filters.contains("label!") && filters.match_kv_list("label!", &labels))
            })
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for record in candidates {
            let this = self.clone();
            let measured = record.clone();
            let (size, _) = super::blocking(move || Ok(this.sizes(&measured))).await?;
            match self.remove(&record.id, &record.id, false).await {
                Ok(()) => {
                    deleted.push(record.id.clone());
                    reclaimed += size.max(0) as u64;
                }
                Err(err) => {
                    tracing::warn!(container = %record.id, error = %err.message, "prune could not remove a container")
                }
            }
        }
        self.events.publish(berth_api::events::EventMessage::new(
            "container",
            "prune",
            "",
            HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
        ));
        Ok(ContainerPruneReport {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}
