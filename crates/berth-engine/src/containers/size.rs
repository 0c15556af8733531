//! Writable-layer sizes (SizeRw) for `ps -s`, `inspect -s` and `system df`, cached so a
//! container with a large layer is not walked file by file on every call: a stopped
//! container's layer cannot change until it starts again (the entry is keyed by its run
//! state), a running one is walked again once its entry is a few seconds old. Writers
//! outside a run (the archive API) call [`Containers::forget_size`].

use super::store::Status;
use super::Containers;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a running container's size is reused.
const RUNNING_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct SizeCache {
    entries: std::sync::Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The run state the size was measured in.
    state: (Status, String, String),
    measured: Instant,
    size: i64,
}

impl Containers {
    /// SizeRw of one container (blocking: may walk its layer).
    pub(crate) fn cached_layer_size(&self, id: &str) -> i64 {
        let Some(record) = self.store.get(id) else {
            return 0;
        };
        let state = (
            record.state.status,
            record.state.started_at.clone(),
            record.state.finished_at.clone(),
        );
        let running = matches!(state.0, Status::Running | Status::Restarting);
        {
            let entries = self.sizes.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = entries.get(id) {
                if entry.state == state && (!running || entry.measured.elapsed() < RUNNING_TTL) {
                    return entry.size;
                }
            }
        }
        let size = self
            .images
            .snapshotter()
            .usage(id)
            .map_or(0, |u| u.size as i64);
        self.sizes
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.to_string(),
                Entry {
                    state,
                    measured: Instant::now(),
                    size,
                },
            );
        size
    }

    /// Drops a cached size (the layer changed outside a run, or the container is gone).
    pub(crate) fn forget_size(&self, id: &str) {
        self.sizes
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}
