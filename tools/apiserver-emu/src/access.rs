//! The resources served and who may read them (RBAC's decision).

/// A resource the server serves, both in the core API group (`""`, `v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `configmaps`: objects of kind `ConfigMap`.
    ConfigMaps,
    /// `secrets`: objects of kind `Secret`.
    Secrets,
}

impl Resource {
    /// The resource's name in URLs, RBAC rules and error messages:
    /// `"configmaps"` or `"secrets"`.
    pub fn plural(&self) -> &'static str {
        match self {
            Self::ConfigMaps => "configmaps",
            Self::Secrets => "secrets",
        }
    }

    /// The `kind` of one object.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::ConfigMaps => "ConfigMap",
            Self::Secrets => "Secret",
        }
    }

    /// The `kind` of a list.
    pub(crate) fn list_kind(self) -> &'static str {
        match self {
            Self::ConfigMaps => "ConfigMapList",
            Self::Secrets => "SecretList",
        }
    }

    pub(crate) const ALL: [Self; 2] = [Self::ConfigMaps, Self::Secrets];
}

/// Who may read, as RBAC would decide for the client's service account.
///
/// A `get` names its object in the URL; a `list` or `watch` names one only
/// through a `metadata.name` field selector, which is what a Role's
/// `resourceNames` is checked against (the RBAC documentation: a list or
/// watch restricted by `resourceNames` must carry that selector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every request is allowed, on both resources.
    All,
    /// Every request is `403 Forbidden`, on both resources.
    None,
    /// A Role on `configmaps` with these `resourceNames`: `get` of a named
    /// ConfigMap, and `list` or `watch` of ConfigMaps with a `metadata.name`
    /// field selector naming one of these. Secrets are all forbidden (the
    /// Role has no rule for them).
    ResourceNames(Vec<String>),
    /// A Role with one rule on `resource` with these `resourceNames`: as
    /// [`Access::ResourceNames`], for that resource; the other one is all
    /// forbidden.
    Only {
        /// The one resource the rule is on.
        resource: Resource,
        /// Its `resourceNames`.
        names: Vec<String>,
    },
}

impl Access {
    /// Whether a request on `resource` naming `name` (the URL's, or the
    /// field selector's for a list or watch) is allowed.
    pub(crate) fn allows(&self, resource: Resource, name: Option<&str>) -> bool {
        let named_in = |names: &[String]| name.is_some_and(|name| names.iter().any(|n| n == name));
        match self {
            Self::All => true,
            Self::None => false,
            Self::ResourceNames(names) => resource == Resource::ConfigMaps && named_in(names),
            Self::Only {
                resource: allowed,
                names,
            } => resource == *allowed && named_in(names),
        }
    }
}
