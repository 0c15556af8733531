//! Container records: what the engine knows about each container, kept in memory and in
//! the `containers` table of the image store's redb database (id -> JSON record). Every
//! change is one write transaction; the in-memory copy changes only after it commits.

use super::ContainerError;
use berth_api::models::container::{ContainerConfig, HostConfig};
use berth_image::ImageStore;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

/// Docker's lifecycle states that this engine produces.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    /// Exited, and waiting out the restart policy's backoff before starting again.
    Restarting,
    Exited,
    /// Removal failed half-way (moby's `dead`): only removal is left.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// A container's run state (moby `container.State`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct RunState {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds; empty when never started / never finished.
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
    /// Set by stop and kill, cleared by start (moby `HasBeenManuallyStopped`):
    /// `unless-stopped` containers stay down, also across a daemon restart.
    pub manually_stopped: bool,
    /// Frozen by `docker pause` (still running, as moby's `State.Paused`).
    pub paused: bool,
    /// Health-check state (moby `State.Health`); None without a probe ever run.
    pub health: Option<berth_api::models::container::Health>,
}

/// Where a container's files are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct Paths {
    /// `<data-root>/containers/<id>`: config.json, rootfs mount point, log.
    pub bundle: PathBuf,
    /// `<exec-root>/shims/<id>`: the shim's socket and exit file.
    pub shim_state: PathBuf,
    pub log: PathBuf,
    /// `<exec-root>/etc/<id>`, holding hostname, hosts and resolv.conf: derived from the
    /// record, so on tmpfs and written again by a start that finds them gone. Empty in
    /// records of older versions, whose files are in the bundle.
    pub etc: PathBuf,
    pub hostname: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// One container, as persisted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ContainerRecord {
    pub id: String,
    /// With Docker's leading `/`.
    pub name: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// What the client asked for (`busybox`), as `ps` shows it.
    pub image_name: String,
    /// `sha256:...`.
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    pub state: RunState,
    pub restart_count: i64,
    pub paths: Paths,
    /// `--rm`: remove once it exits.
    pub auto_remove: bool,
}

/// What waiters watch: enough to decide every wait condition without the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watched {
    pub running: bool,
    pub exit_code: i64,
    /// Exits seen since the daemon started (next-exit waits for it to grow).
    pub exits: u64,
    pub removed: bool,
}

pub struct Entry {
    pub record: ContainerRecord,
    pub watch: watch::Sender<Watched>,
}

/// The records, and the database they persist in.
pub struct ContainerStore {
    images: Arc<ImageStore>,
    entries: Mutex<HashMap<String, Entry>>,
}

fn db_err(err: impl std::fmt::Display) -> ContainerError {
    ContainerError::Database(err.to_string())
}

impl ContainerStore {
    /// Loads every record (blocking).
    pub fn open(images: Arc<ImageStore>) -> Result<ContainerStore, ContainerError> {
        let mut entries = HashMap::new();
        {
            let database: &Database = images.database();
            let txn = database.begin_write().map_err(db_err)?;
            // Creating the table in a write transaction makes a fresh database readable.
            txn.open_table(CONTAINERS).map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            let read = database.begin_read().map_err(db_err)?;
            let table = read.open_table(CONTAINERS).map_err(db_err)?;
            for row in table.iter().map_err(db_err)? {
                let (key, value) = row.map_err(db_err)?;
                let record: ContainerRecord =
                    serde_json::from_slice(value.value()).map_err(db_err)?;
                let watched = Watched {
                    running: record.state.status == Status::Running,
                    exit_code: record.state.exit_code,
                    ..Default::default()
                };
                let (watch, _) = watch::channel(watched);
                entries.insert(key.value().to_string(), Entry { record, watch });
            }
        }
        Ok(ContainerStore {
            images,
            entries: Mutex::new(entries),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, id: &str, record: Option<&ContainerRecord>) -> Result<(), ContainerError> {
        self.write_with(id, record, redb::Durability::Immediate)
    }

    fn write_with(
        &self,
        id: &str,
        record: Option<&ContainerRecord>,
        durability: redb::Durability,
    ) -> Result<(), ContainerError> {
        let database: &Database = self.images.database();
        let mut txn = database.begin_write().map_err(db_err)?;
        txn.set_durability(durability).map_err(db_err)?;
        {
            let mut table = txn.open_table(CONTAINERS).map_err(db_err)?;
            match record {
                Some(record) => {
                    let bytes = serde_json::to_vec(record).map_err(db_err)?;
                    table.insert(id, bytes.as_slice()).map_err(db_err)?;
                }
                None => {
                    table.remove(id).map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Adds a new record (blocking); the caller has checked the name under the same lock.
    pub fn insert(
        entries: &mut HashMap<String, Entry>,
        store: &ContainerStore,
        record: ContainerRecord,
    ) -> Result<(), ContainerError> {
        store.write(&record.id, Some(&record))?;
        let (watch, _) = watch::channel(Watched::default());
        entries.insert(record.id.clone(), Entry { record, watch });
        Ok(())
    }

    /// Renames a record (blocking); the caller has checked the name under the same lock.
    pub fn rename(
        entries: &mut HashMap<String, Entry>,
        store: &ContainerStore,
        id: &str,
        name: &str,
    ) -> Result<ContainerRecord, ContainerError> {
        let entry = entries
            .get_mut(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let mut record = entry.record.clone();
        record.name = name.to_string();
        store.write(id, Some(&record))?;
        entry.record = record.clone();
        Ok(record)
    }

    /// Changes one record, persists it, and tells waiters (blocking).
    pub fn update<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord) -> T,
    ) -> Result<T, ContainerError> {
        self.update_with(id, redb::Durability::Immediate, change)
    }

    /// As [`ContainerStore::update`], with the commit's durability: `None` for a change that
    /// a durable commit is about to follow (the exit of an `--rm` container, removed next).
    /// A crash in between finds the record as it was, and start-up reconciles it from the
    /// shim's exit file as any exit the daemon did not see.
    pub fn update_with<T>(
        &self,
        id: &str,
        durability: redb::Durability,
        change: impl FnOnce(&mut ContainerRecord) -> T,
    ) -> Result<T, ContainerError> {
        let mut entries = self.lock();
        let entry = entries
            .get_mut(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        let mut record = entry.record.clone();
        let out = change(&mut record);
        self.write_with(id, Some(&record), durability)?;
        let was_running = entry.record.state.status == Status::Running;
        let running = record.state.status == Status::Running;
        entry.record = record;
        entry.watch.send_modify(|w| {
            w.running = running;
            w.exit_code = entry.record.state.exit_code;
            if was_running && !running {
                w.exits += 1;
            }
        });
        Ok(out)
    }

    /// Changes one record in memory only (probe results, as moby's `CommitInMemory`): it
    /// is persisted with the record's next write. None when the record is gone.
    pub fn update_in_memory<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord) -> T,
    ) -> Option<T> {
        self.lock().get_mut(id).map(|e| change(&mut e.record))
    }

    /// Deletes a record (blocking) and wakes `removed` waiters.
    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        let mut entries = self.lock();
        self.write(id, None)?;
        if let Some(entry) = entries.remove(id) {
            entry.watch.send_modify(|w| w.removed = true);
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<ContainerRecord> {
        self.lock().get(id).map(|e| e.record.clone())
    }

    pub fn subscribe(&self, id: &str) -> Option<watch::Receiver<Watched>> {
        self.lock().get(id).map(|e| e.watch.subscribe())
    }

    /// Resolves a name, ID or unique ID prefix to a full ID (Docker's 404 otherwise).
    pub fn resolve(&self, wanted: &str) -> Result<String, berth_api::ApiError> {
        let entries = self.lock();
        crate::container::names::resolve(
            entries
                .values()
                .map(|e| (e.record.id.as_str(), e.record.name.as_str())),
            wanted,
        )
    }

    pub fn all(&self) -> Vec<ContainerRecord> {
        self.lock().values().map(|e| e.record.clone()).collect()
    }
}
