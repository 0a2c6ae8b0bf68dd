//! Every subject the harness runs, in one list: how it is built and
//! started, and which libraries its version record names.

/// How a subject is built and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Go peer: `benches/peers/go/<dir>`, built in GOPATH mode against
    /// Debian's Go libraries.
    Go { dir: &'static str },
    /// A Rust peer: a binary of this package.
    Rust { bin: &'static str },
    /// This project's service with one watcher (manager `arcswap`).
    Service { watcher: &'static str },
}

/// A library whose exact version goes into the subject's version record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// A Debian package of Go source: `label` is how the version text names
    /// it, `import` the import path when it says more than the label.
    Debian {
        package: &'static str,
        label: &'static str,
        import: Option<&'static str>,
    },
    /// A crate from Cargo.lock, as a dependency of `of` (a package name),
    /// which picks the version when several are locked.
    Crate {
        name: &'static str,
        of: &'static str,
    },
}

/// One subject.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// The record subject name and `--only` name.
    pub name: &'static str,
    pub kind: Kind,
    pub libraries: &'static [Library],
}

const FSNOTIFY: Library = Library::Debian {
    package: "golang-github-fsnotify-fsnotify-dev",
    label: "fsnotify",
    import: None,
};
const FSNOTIFY_V1: Library = Library::Debian {
    package: "golang-github-fsnotify-fsnotify-dev",
    label: "fsnotify",
    import: Some("gopkg.in/fsnotify.v1"),
};
const YAML_V2: Library = Library::Debian {
    package: "golang-gopkg-yaml.v2-dev",
    label: "yaml.v2",
    import: None,
};
const HTTPROUTER: Library = Library::Debian {
    package: "golang-github-julienschmidt-httprouter-dev",
    label: "httprouter",
    import: None,
};
const AXUM: Library = Library::Crate {
    name: "axum",
    of: "peers",
};

/// Every subject, in run order.
pub const ALL: &[Subject] = &[
    Subject {
        name: "seed",
        kind: Kind::Go { dir: "seed" },
        libraries: &[FSNOTIFY_V1, YAML_V2, HTTPROUTER],
    },
    Subject {
        name: "viper",
        kind: Kind::Go { dir: "viper" },
        libraries: &[
            Library::Debian {
                package: "golang-github-spf13-viper-dev",
                label: "viper",
                import: None,
            },
            FSNOTIFY,
            YAML_V2,
        ],
    },
    Subject {
        name: "koanf",
        kind: Kind::Go { dir: "koanf" },
        libraries: &[
            Library::Debian {
                package: "golang-github-knadh-koanf-dev",
                label: "koanf",
                import: None,
            },
            FSNOTIFY,
            YAML_V2,
        ],
    },
    Subject {
        name: "fsnotify-naive",
        kind: Kind::Go {
            dir: "fsnotify-naive",
        },
        libraries: &[FSNOTIFY, YAML_V2],
    },
    Subject {
        name: "hotswap-config",
        kind: Kind::Rust {
            bin: "peer-hotswap-config",
        },
        libraries: &[
            Library::Crate {
                name: "hotswap-config",
                of: "peers",
            },
            Library::Crate {
                name: "notify",
                of: "hotswap-config",
            },
            Library::Crate {
                name: "config",
                of: "hotswap-config",
            },
            AXUM,
        ],
    },
    Subject {
        name: "notify-debouncer-full",
        kind: Kind::Rust {
            bin: "peer-notify-debouncer-full",
        },
        libraries: &[
            Library::Crate {
                name: "notify-debouncer-full",
                of: "peers",
            },
            Library::Crate {
                name: "notify",
                of: "notify-debouncer-full",
            },
            Library::Crate {
                name: "arc-swap",
                of: "peers",
            },
            Library::Crate {
                name: "serde-saphyr",
                of: "peers",
            },
            AXUM,
        ],
    },
    Subject {
        name: "config-notify",
        kind: Kind::Rust {
            bin: "peer-config-notify",
        },
        libraries: &[
            Library::Crate {
                name: "config",
                of: "peers",
            },
            Library::Crate {
                name: "notify",
                of: "peers",
            },
            AXUM,
        ],
    },
    Subject {
        name: "service-inotify",
        kind: Kind::Service { watcher: "inotify" },
        libraries: &[],
    },
    Subject {
        name: "service-notify",
        kind: Kind::Service { watcher: "notify" },
        libraries: &[],
    },
    Subject {
        name: "service-poll",
        kind: Kind::Service { watcher: "poll" },
        libraries: &[],
    },
];

/// The subjects named in `only` (all when it is empty), in run order, or
/// the first unknown name.
pub fn select(only: &[String]) -> Result<Vec<&'static Subject>, String> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !ALL.iter().any(|s| s.name == name.as_str()))
    {
        let known: Vec<&str> = ALL.iter().map(|s| s.name).collect();
        return Err(format!(
            "unknown subject {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(ALL
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|name| name == s.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_selectable() {
        for (index, subject) in ALL.iter().enumerate() {
            assert!(
                ALL[index + 1..]
                    .iter()
                    .all(|other| other.name != subject.name)
            );
        }
        let picked = select(&["service-poll".into(), "seed".into()]).unwrap();
        let names: Vec<&str> = picked.iter().map(|s| s.name).collect();
        assert_eq!(names, ["seed", "service-poll"]);
        assert!(select(&["nope".into()]).unwrap_err().contains("nope"));
        assert_eq!(select(&[]).unwrap().len(), ALL.len());
    }
}
