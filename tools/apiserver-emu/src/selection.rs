//! What a list or watch selects: its namespace and its field selector.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::access::Resource;

/// A namespace, maybe one name, and for Secrets maybe one `type`.
pub(crate) struct Selection {
    namespace: String,
    name: Option<String>,
    secret_type: Option<String>,
}

impl Selection {
    /// The path's namespace narrowed by the `fieldSelector`: `metadata.name`
    /// and `metadata.namespace` (`=` or `==`) on both resources, and `type`
    /// on Secrets, the fields the API server supports for them; any other
    /// is an error, which the API server answers `400 BadRequest`.
    pub fn parse(
        resource: Resource,
        namespace: &str,
        query: &HashMap<String, String>,
    ) -> Result<Self, String> {
        if query
            .get("labelSelector")
            .is_some_and(|selector| !selector.is_empty())
        {
            return Err("label selectors are not emulated".into());
        }
        let mut selection = Self {
            namespace: namespace.to_owned(),
            name: None,
            secret_type: None,
        };
        let Some(selector) = query.get("fieldSelector").filter(|s| !s.is_empty()) else {
            return Ok(selection);
        };
        for term in selector.split(',') {
            let (field, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .ok_or_else(|| format!("invalid field selector: {term:?}"))?;
            match field {
                "metadata.name" => selection.name = Some(value.to_owned()),
                "metadata.namespace" if value == namespace => {}
                // Another namespace than the path's selects nothing.
                "metadata.namespace" => selection.namespace = String::new(),
                "type" if resource == Resource::Secrets => {
                    selection.secret_type = Some(value.to_owned());
                }
                _ => return Err(format!("field label not supported: {field}")),
            }
        }
        Ok(selection)
    }

    /// The one name selected, which RBAC's `resourceNames` is checked
    /// against for a list or watch.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn matches(&self, object: &Value) -> bool {
        object["metadata"]["namespace"] == json!(self.namespace)
            && self
                .name
                .as_ref()
                .is_none_or(|name| object["metadata"]["name"] == json!(name))
            && self
                .secret_type
                .as_ref()
                .is_none_or(|secret_type| object["type"] == json!(secret_type))
    }
}
