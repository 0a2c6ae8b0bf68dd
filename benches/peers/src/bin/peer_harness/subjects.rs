//! Every subject the harness runs: the peers of `records::registry` (how
//! each is built, which libraries its version record names) and this
//! project's service once per `config_reload::WatcherKind`.

use config_reload::WatcherKind;
use records::registry::{self, Build, Library, Peer};

/// The manager the service runs with.
pub const SERVICE_MANAGER: &str = "arcswap";

/// How a subject is built and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A peer: a Go program or a Rust binary (`records::registry::Peer`).
    Peer(Peer),
    /// This project's service with one watcher (manager `arcswap`).
    Service(WatcherKind),
}

/// One subject.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The record subject name and `--only` name.
    pub name: String,
    pub kind: Kind,
}

impl Subject {
    /// How it is built: `None` for the service.
    pub fn build(&self) -> Option<Build> {
        match self.kind {
            Kind::Peer(peer) => Some(peer.build()),
            Kind::Service(_) => None,
        }
    }

    /// The libraries its version record names.
    pub fn libraries(&self) -> &'static [Library] {
        match self.kind {
            Kind::Peer(peer) => peer.libraries(),
            Kind::Service(_) => &[],
        }
    }
}

/// Every subject, in run order: the registry's peers, then the service
/// with each watcher.
pub fn all() -> Vec<Subject> {
    let peers = Peer::ALL.iter().map(|&peer| Subject {
        name: peer.name().to_owned(),
        kind: Kind::Peer(peer),
    });
    let services = WatcherKind::ALL.into_iter().map(|watcher| Subject {
        name: registry::service_subject(watcher.name()),
        kind: Kind::Service(watcher),
    });
    peers.chain(services).collect()
}

/// The subjects named in `only` (all when it is empty), in run order, or
/// the first unknown name.
pub fn select(only: &[String]) -> Result<Vec<Subject>, String> {
    let all = all();
    if let Some(unknown) = only
        .iter()
        .find(|name| !all.iter().any(|s| &s.name == *name))
    {
        let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "unknown subject {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_selectable() {
        let all = all();
        for (index, subject) in all.iter().enumerate() {
            assert!(
                all[index + 1..]
                    .iter()
                    .all(|other| other.name != subject.name)
            );
        }
        let picked = select(&["service-poll".into(), "seed".into()]).unwrap();
        let names: Vec<&str> = picked.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["seed", "service-poll"]);
        assert!(select(&["nope".into()]).unwrap_err().contains("nope"));
        assert_eq!(select(&[]).unwrap().len(), all.len());
        assert!(all.iter().any(|s| s.name == "config-notify"));
    }
}
