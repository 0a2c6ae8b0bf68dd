//! The objects a [`KubeSource`](crate::KubeSource) reads, and how a version
//! of one becomes [`Content`]: its keys in the source's order, its last
//! write, and nothing of its values in any message.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use crate::watcher::Content;
use crate::{Files, LoadError, LoadErrorKind, Trigger};

/// An object whose keys hold the config: a ConfigMap or a Secret.
pub(crate) trait Keyed:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The bytes of `key`, if the object has it.
    fn value(&self, key: &str) -> Option<Vec<u8>>;
}

impl Keyed for ConfigMap {
    fn value(&self, key: &str) -> Option<Vec<u8>> {
        let text = self.data.as_ref().and_then(|data| data.get(key));
        let binary = self.binary_data.as_ref().and_then(|data| data.get(key));
        match (text, binary) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(bytes)) => Some(bytes.0.clone()),
            (None, None) => None,
        }
    }
}

impl Keyed for Secret {
    /// `data` only: `stringData` is write-only, the API server merges it
    /// into `data` and never returns it.
    fn value(&self, key: &str) -> Option<Vec<u8>> {
        let data = self.data.as_ref()?;
        data.get(key).map(|bytes| bytes.0.clone())
    }
}

/// What is watched, resolved: the object's path for messages and its keys.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `configmap/NAMESPACE/NAME` or `secret/NAMESPACE/NAME`.
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) keys: Vec<String>,
}

impl Target {
    /// The keys of `object` (`None`: there is no such object), as read by
    /// `trigger`.
    pub(crate) fn content<K: Keyed>(&self, object: Option<&K>, trigger: Trigger) -> Content {
        let object = object.filter(|object| object.meta().name.as_deref() == Some(&self.name));
        let files = match object {
            None => Err(LoadError::new(&self.path, LoadErrorKind::Missing)),
            Some(object) => self
                .keys
                .iter()
                .map(|key| match object.value(key) {
                    Some(bytes) => Ok((key.clone(), bytes)),
                    None => Err(LoadError::new(self.path.join(key), LoadErrorKind::Missing)),
                })
                .collect::<Result<_, _>>()
                .map(|entries| Files { entries }),
        };
        Content {
            path: self.path.clone(),
            files,
            written_at: object.and_then(|object| last_written(object.meta())),
            trigger,
        }
    }
}

/// The object's last write: the latest of its `managedFields` times
/// (whole seconds: `metav1.Time`'s precision).
pub(crate) fn last_written(meta: &ObjectMeta) -> Option<SystemTime> {
    let entries = meta.managed_fields.as_ref()?;
    let latest = entries
        .iter()
        .filter_map(|entry| entry.time.as_ref())
        .max()?;
    let since_epoch = Duration::new(
        u64::try_from(latest.0.as_second()).ok()?,
        u32::try_from(latest.0.subsec_nanosecond()).ok()?,
    );
    Some(UNIX_EPOCH + since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};

    fn target(keys: &[&str]) -> Target {
        Target {
            path: PathBuf::from("configmap/ns/app"),
            name: "app".into(),
            keys: keys.iter().map(|key| key.to_string()).collect(),
        }
    }

    fn meta(times: &[i64]) -> ObjectMeta {
        ObjectMeta {
            name: Some("app".into()),
            managed_fields: Some(
                times
                    .iter()
                    .map(|second| ManagedFieldsEntry {
                        time: Some(Time(
                            k8s_openapi::jiff::Timestamp::from_second(*second).unwrap(),
                        )),
                        ..ManagedFieldsEntry::default()
                    })
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn configmap(data: &[(&str, &str)], binary: &[(&str, &[u8])]) -> ConfigMap {
        ConfigMap {
            metadata: meta(&[]),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            binary_data: Some(
                binary
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn keys_come_from_data_or_binary_data_in_the_source_order() {
        let object = configmap(&[("b.yaml", "b: 1\n")], &[("a.bin", b"\x00\x01")]);
        let content = target(&["b.yaml", "a.bin"]).content(Some(&object), Trigger::Event);
        assert_eq!(
            content.files.unwrap().entries,
            vec![
                ("b.yaml".to_owned(), b"b: 1\n".to_vec()),
                ("a.bin".to_owned(), vec![0, 1])
            ]
        );
    }

    #[test]
    fn a_secret_s_keys_come_from_its_data() {
        let secret = Secret {
            metadata: meta(&[]),
            data: Some(BTreeMap::from([(
                "token".to_owned(),
                ByteString(b"s3cr3t".to_vec()),
            )])),
            ..Secret::default()
        };
        let content = target(&["token"]).content(Some(&secret), Trigger::Event);
        assert_eq!(
            content.files.unwrap().entries,
            vec![("token".to_owned(), b"s3cr3t".to_vec())]
        );
        let missing = target(&["other"])
            .content(Some(&secret), Trigger::Event)
            .files
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "configmap/ns/app/other: does not exist"
        );
    }

    #[test]
    fn a_missing_object_or_key_is_named() {
        let missing = target(&["a.yaml"])
            .content(None::<&ConfigMap>, Trigger::Event)
            .files
            .unwrap_err();
        assert_eq!(missing.to_string(), "configmap/ns/app: does not exist");
        let object = configmap(&[("other.yaml", "x: 1\n")], &[]);
        let key = target(&["a.yaml"])
            .content(Some(&object), Trigger::Event)
            .files
            .unwrap_err();
        assert_eq!(key.to_string(), "configmap/ns/app/a.yaml: does not exist");
    }

    #[test]
    fn the_last_write_is_the_latest_managed_fields_time() {
        assert_eq!(
            last_written(&meta(&[1_700_000_100, 1_700_000_300, 1_700_000_200])),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_300))
        );
        assert_eq!(last_written(&meta(&[])), None);
    }
}
