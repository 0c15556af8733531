//! `POST /commit` (moby `daemon/commit.go`): the container's upper directory becomes a
//! new layer on top of its image, through the image store like any other layer. The new
//! config is the container's (or the request's, filled from the container's), with the
//! Dockerfile-style changes applied; a running container is frozen meanwhile (`pause`).

use super::{ContainerError, Containers};
use crate::images::{image_event, target_reference};
use berth_api::operations::CommitRequest;
use berth_api::ApiError;
use serde_json::{Map, Value};

/// True for JSON values moby's `merge` treats as unset.
fn unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The request's config with its unset fields taken from the container's.
fn merged_config(container: &Value, requested: Option<&Value>) -> Map<String, Value> {
    let mut out = container.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(requested)) = requested {
        for (key, value) in requested {
            if !unset(value) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

impl Containers {
    /// Blocking.
    pub(crate) fn commit(&self, id: &str, request: CommitRequest) -> Result<String, ApiError> {
        let record = self
            .store
            .get(id)
            .ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
        if self.is_removing(id) {
            return Err(ApiError::conflict(format!(
                "cannot commit container {id}: container is marked for removal"
            )));
        }
        let reference = if request.repo.is_empty() {
            None
        } else {
            Some(target_reference(&request.repo, &request.tag)?)
        };
        let container_config =
            serde_json::to_value(&record.config).map_err(ContainerError::from)?;
        let requested = request
            .config
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(ContainerError::from)?;
        let mut config = merged_config(&container_config, requested.as_ref());
        berth_image::apply_changes(&mut config, &request.changes)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let created_by = record.config.cmd.clone().unwrap_or_default().join(" ");
        let upper = self.images.snapshotter().fs_dir(id);
        let options = berth_image::CommitOptions {
            reference: reference.clone(),
            parent: record.image_id.clone(),
            container_id: record.id.clone(),
            config: Value::Object(config),
            container_config,
            author: request.author.clone(),
            comment: request.comment.clone(),
            created_by,
        };
        let frozen = if request.pause {
            self.freeze_for_commit(&record)?
        } else {
            false
        };
        let committed = self.images.commit_container(&upper, options);
        if frozen {
            self.thaw_after_commit(&record);
        }
        let image_id = committed.map_err(crate::images::api)?.to_string();
        let name = reference
            .as_ref()
            .map(berth_types::reference::Reference::familiar_string)
            .unwrap_or_default();
        if !name.is_empty() {
            image_event(&self.events, "tag", &image_id, &name);
        }
        self.publish(
            "commit",
            &record,
            &[
                ("comment", request.comment),
                ("imageID", image_id.clone()),
                ("imageRef", name),
            ],
        );
        Ok(image_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_fields_override_and_unset_ones_come_from_the_container() {
        let container = json!({"Cmd": ["sh"], "Env": ["A=1"], "User": "u"});
        let requested = json!({"Cmd": ["top"], "Env": [], "User": ""});
        let merged = merged_config(&container, Some(&requested));
        assert_eq!(merged["Cmd"], json!(["top"]));
        assert_eq!(merged["Env"], json!(["A=1"]));
        assert_eq!(merged["User"], json!("u"));
    }
}
