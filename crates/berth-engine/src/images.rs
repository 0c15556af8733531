//! The image endpoints over berth-image: request values in, Docker's wire shapes out. The
//! store blocks, so every call runs on the blocking pool; streamed bodies cross between the
//! two worlds through `SyncIoBridge` (uploads) and a channel writer (downloads).

use crate::engine::Engine;
use crate::events::EventBus;
use crate::stream::{ChannelWriter, LargeChunks, MessageSender};
use berth_api::events::EventMessage;
use berth_api::filters::Filters;
use berth_api::models::image::{
    DeleteItem, GraphDriverData, HistoryItem, ImageInspect, ImageMetadata, ImagePruneReport,
    ImageSummary, RootFs,
};
use berth_api::models::progress::JsonMessage;
use berth_api::timestamp::Timestamp;
use berth_api::{
    ApiError, ImageBackend, ImageListOptions, ImportRequest, RequestBody, ResponseBytes,
};
use berth_image::{
    ImageError, ImageRecord, ImageStore, ListFilters, ListOptions, LoadEvent, PruneFilters,
};
use berth_types::reference::Reference;
use std::collections::HashMap;
use std::sync::Arc;

/// Docker's zero time, for images never tagged.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub(crate) fn api(err: ImageError) -> ApiError {
    ApiError::new(err.kind(), err.to_string())
}

/// Runs a blocking store operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Arc<ImageStore>,
    work: impl FnOnce(&ImageStore) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store).map_err(api))
        .await
        .map_err(|err| ApiError::system(format!("image operation panicked: {err}")))?
}

fn parse_bool_filter(filters: &Filters, key: &str) -> Result<Option<bool>, ApiError> {
    let values: Vec<&str> = filters.get(key).collect();
    match values.as_slice() {
        [] => Ok(None),
        ["true" | "1"] => Ok(Some(true)),
        ["false" | "0"] => Ok(Some(false)),
        _ => Err(ApiError::invalid(format!(
            "Invalid filter '{key}={}'",
            values.join(",")
        ))),
    }
}

fn unix_filter(filters: &Filters, key: &str) -> Result<Option<i64>, ApiError> {
    match filters.get(key).next() {
        None => Ok(None),
        Some(value) => Timestamp::parse(value, Timestamp::now())
            .map(|t| Some(t.seconds))
            .map_err(|err| ApiError::invalid(err.to_string())),
    }
}

fn list_filters(filters: &Filters) -> Result<ListFilters, ApiError> {
    Ok(ListFilters {
        dangling: parse_bool_filter(filters, "dangling")?,
        labels: filters.get("label").map(String::from).collect(),
        reference: filters.get("reference").map(String::from).collect(),
        before: filters.get("before").next().map(String::from),
        since: filters.get("since").next().map(String::from),
        until: unix_filter(filters, "until")?,
    })
}

fn inspect_wire(record: ImageRecord) -> ImageInspect {
    ImageInspect {
        id: record.id.to_string(),
        repo_tags: record.repo_tags,
        repo_digests: record.repo_digests,
        parent: record.parent,
        comment: record.comment,
        created: record.created,
        docker_version: record.docker_version,
        author: record.author,
        config: record.config,
        architecture: record.architecture,
        variant: record.variant,
        os: record.os,
        os_version: String::new(),
        size: record.size as i64,
        graph_driver: GraphDriverData {
            name: record.graph_driver.name,
            data: record.graph_driver.data,
        },
        root_fs: RootFs {
            kind: "layers".into(),
            layers: record.diff_ids,
        },
        metadata: ImageMetadata {
            last_tag_time: record.last_tag_time.unwrap_or_else(|| GO_ZERO_TIME.into()),
        },
    }
}

fn delete_wire(item: berth_image::DeleteItem) -> DeleteItem {
    match item {
        berth_image::DeleteItem::Untagged(r) => DeleteItem::Untagged(r),
        berth_image::DeleteItem::Deleted(id) => DeleteItem::Deleted(id),
    }
}

/// The reference `repo[:tag]` names, with `latest` when no tag is given.
pub(crate) fn target_reference(repo: &str, tag: &str) -> Result<Reference, ApiError> {
    if repo.is_empty() {
        return Err(ApiError::invalid(
            "repository name must have at least one component",
        ));
    }
    let text = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let reference = berth_types::reference::parse_named_with_default_tag(&text)
        .map_err(|err| ApiError::invalid(err.to_string()))?;
    if reference.digest().is_some() {
        return Err(ApiError::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    Ok(reference)
}

/// Publishes an image event with Docker's attributes (`name`).
pub(crate) fn image_event(events: &EventBus, action: &str, id: &str, name: &str) {
    let attributes = HashMap::from([("name".to_string(), name.to_string())]);
    events.publish(EventMessage::new("image", action, id, attributes));
}

fn delete_events(events: &EventBus, items: &[DeleteItem]) {
    for item in items {
        match item {
            DeleteItem::Untagged(r) => image_event(events, "untag", r, r),
            DeleteItem::Deleted(id) => image_event(events, "delete", id, id),
        }
    }
}

impl ImageBackend for Engine {
    async fn list_images(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>, ApiError> {
        let filters = list_filters(&options.filters)?;
        let shared = options.shared_size;
        let (records, usage) = blocking(self.image_store(), move |store| {
            let records = store.list(ListOptions {
                all: options.all,
                filters,
            })?;
            let usage = if shared {
                Some(store.disk_usage()?)
            } else {
                None
            };
            Ok((records, usage))
        })
        .await?;
        let shared_sizes: HashMap<String, u64> = usage
            .map(|u| {
                u.images
                    .into_iter()
                    .map(|i| (i.id.to_string(), i.shared_size))
                    .collect()
            })
            .unwrap_or_default();
        Ok(records
            .into_iter()
            .map(|r| {
                let id = r.id.to_string();
                ImageSummary {
                    shared_size: shared_sizes.get(&id).map_or(-1, |s| *s as i64),
                    id,
                    parent_id: r.parent_id,
                    repo_tags: r.repo_tags,
                    repo_digests: r.repo_digests,
                    created: r.created,
                    size: r.size as i64,
                    labels: r.labels,
                    containers: -1,
                }
            })
            .collect())
    }

    async fn inspect_image(&self, name: &str) -> Result<ImageInspect, ApiError> {
        let name = name.to_string();
        let record = blocking(self.image_store(), move |store| store.inspect(&name)).await?;
        Ok(inspect_wire(record))
    }

    async fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>, ApiError> {
        let name = name.to_string();
        let records = blocking(self.image_store(), move |store| store.history(&name)).await?;
        Ok(records
            .into_iter()
            .map(|h| HistoryItem {
                id: h.id,
                created: h.created,
                created_by: h.created_by,
                tags: h.tags,
                size: h.size as i64,
                comment: h.comment,
            })
            .collect())
    }

    async fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<(), ApiError> {
        let target = target_reference(repo, tag)?;
        let familiar = target.familiar_string();
        let source = name.to_string();
        let id = blocking(self.image_store(), move |store| {
            store.tag(&source, &target)?;
            Ok(store.inspect(&source)?.id.to_string())
        })
        .await?;
        image_event(self.events(), "tag", &id, &familiar);
        Ok(())
    }

    async fn delete_image(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<DeleteItem>, ApiError> {
        let name = name.to_string();
        let items = blocking(self.image_store(), move |store| {
            // No container uses an image until containers exist.
            store.delete(&name, force, !no_prune, &|_| None)
        })
        .await?;
        let items: Vec<DeleteItem> = items.into_iter().map(delete_wire).collect();
        delete_events(self.events(), &items);
        Ok(items)
    }

    async fn prune_images(&self, filters: Filters) -> Result<ImagePruneReport, ApiError> {
        let dangling_only = parse_bool_filter(&filters, "dangling")?.unwrap_or(true);
        let prune_filters = PruneFilters {
            until: unix_filter(&filters, "until")?,
            labels: filters.get("label").map(String::from).collect(),
            labels_not: filters.get("label!").map(String::from).collect(),
        };
        let report = blocking(self.image_store(), move |store| {
            store.prune(dangling_only, prune_filters, &|_| false)
        })
        .await?;
        let deleted: Vec<DeleteItem> = report.deleted.into_iter().map(delete_wire).collect();
        delete_events(self.events(), &deleted);
        if !deleted.is_empty() {
            let attributes =
                HashMap::from([("reclaimed".to_string(), report.space_reclaimed.to_string())]);
            self.events()
                .publish(EventMessage::new("image", "prune", "", attributes));
        }
        Ok(ImagePruneReport {
            deleted,
            space_reclaimed: report.space_reclaimed,
        })
    }

    async fn import_image(
        &self,
        body: RequestBody,
        request: ImportRequest,
    ) -> Result<ResponseBytes, ApiError> {
        let reference = if request.repo.is_empty() {
            None
        } else {
            Some(target_reference(&request.repo, &request.tag)?)
        };
        let name = reference
            .as_ref()
            .map(Reference::familiar_string)
            .unwrap_or_default();
        let options = berth_image::ImportOptions {
            reference,
            message: request.message,
            changes: request.changes,
            platform: request.platform,
        };
        let (messages, receiver) = MessageSender::channel();
        let store = self.image_store().clone();
        let events = self.events_handle();
        tokio::task::spawn_blocking(move || {
            let reader = LargeChunks::spawn(body);
            match store.import(reader, options) {
                Ok(id) => {
                    messages.send(JsonMessage::status(id.to_string()));
                    image_event(&events, "import", &id.to_string(), &name);
                }
                Err(err) => messages.send(JsonMessage::error(err.to_string())),
            }
        });
        Ok(receiver)
    }

    async fn load_images(&self, body: RequestBody, quiet: bool) -> Result<ResponseBytes, ApiError> {
        let (messages, receiver) = MessageSender::channel();
        let store = self.image_store().clone();
        let events = self.events_handle();
        tokio::task::spawn_blocking(move || {
            let reader = LargeChunks::spawn(body);
            let mut progress = |event: LoadEvent| match event {
                LoadEvent::Loaded { message } => {
                    messages.send(JsonMessage::stream(format!("{message}\n")))
                }
                LoadEvent::Unpacking { id, index, total } if !quiet => {
                    let mut message = JsonMessage::status(format!("Loading layer {index}/{total}"));
                    message.id = Some(id.chars().take(12).collect());
                    messages.send(message);
                }
                _ => {}
            };
            match store.load(reader, &mut progress) {
                Ok(loaded) => {
                    for image in loaded {
                        let name = image.tags.first().cloned().unwrap_or_default();
                        image_event(&events, "load", &image.id.to_string(), &name);
                    }
                }
                Err(err) => messages.send(JsonMessage::error(err.to_string())),
            }
        });
        Ok(receiver)
    }

    async fn save_images(&self, names: Vec<String>) -> Result<ResponseBytes, ApiError> {
        // Unknown names fail before the stream starts, so the client gets a 404, not a
        // truncated tarball.
        let checked = names.clone();
        let ids = blocking(self.image_store(), move |store| {
            checked
                .iter()
                .map(|n| store.inspect(n).map(|r| r.id.to_string()))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        let (writer, receiver) = ChannelWriter::channel();
        let store = self.image_store().clone();
        let events = self.events_handle();
        tokio::task::spawn_blocking(move || match store.save(&names, writer) {
            Ok(()) => {
                for (id, name) in ids.iter().zip(&names) {
                    image_event(&events, "save", id, name);
                }
            }
            // The client sees a truncated archive; the log says why.
            Err(err) => tracing::warn!(error = %err, "saving images failed mid-stream"),
        });
        Ok(receiver)
    }
}

impl Engine {
    /// `/system/df` container rows: every container with SizeRw and SizeRootFs (sizes
    /// from the cache in `containers::size`).
    pub(crate) async fn container_disk_usage(&self) -> Result<Vec<serde_json::Value>, ApiError> {
        let options = berth_api::ContainerListOptions {
            all: true,
            size: true,
            ..Default::default()
        };
        let rows = berth_api::ContainerBackend::list_containers(self, options).await?;
        Ok(rows
            .iter()
            .map(|c| serde_json::to_value(c).unwrap_or_default())
            .collect())
    }

    /// `/system/df` image rows (Docker's ImageSummary with SharedSize and Containers) and
    /// the total size of all layers.
    pub(crate) async fn image_disk_usage(&self) -> Result<(Vec<serde_json::Value>, i64), ApiError> {
        let options = ImageListOptions {
            all: true,
            shared_size: true,
            ..Default::default()
        };
        let mut images = self.list_images(options).await?;
        let usage = blocking(self.image_store(), |store| store.disk_usage()).await?;
        let mut users: HashMap<String, i64> = HashMap::new();
        for record in self.containers().store.all() {
            *users.entry(record.image_id).or_default() += 1;
        }
        for image in &mut images {
            image.containers = users.get(&image.id).copied().unwrap_or(0);
        }
        let rows = images
            .iter()
            .map(|i| serde_json::to_value(i).unwrap_or_default())
            .collect();
        Ok((rows, usage.layers_size as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_targets_follow_dockers_rules() {
        assert_eq!(
            target_reference("busybox", "").unwrap().familiar_string(),
            "busybox:latest"
        );
        assert_eq!(
            target_reference("x/y", "v1").unwrap().familiar_string(),
            "x/y:v1"
        );
        assert!(target_reference("", "v1").is_err());
        let upper = target_reference("Busybox", "x").unwrap_err();
        assert!(
            upper.message.contains("must be lowercase"),
            "{}",
            upper.message
        );
    }

    #[test]
    fn dangling_filter_values() {
        let f = Filters::from_pairs([("dangling", "true")]);
        assert_eq!(parse_bool_filter(&f, "dangling").unwrap(), Some(true));
        let bad = Filters::from_pairs([("dangling", "maybe")]);
        assert_eq!(
            parse_bool_filter(&bad, "dangling").unwrap_err().message,
            "Invalid filter 'dangling=maybe'"
        );
    }
}
