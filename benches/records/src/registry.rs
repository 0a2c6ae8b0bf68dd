//! The names the benches, the peer harness, the renderer and CI share, each
//! written once: the peers, their update patterns and bad inputs, the Go
//! packages the Go peers build from, and the managers bench's subjects that
//! are not designs.
//!
//! Each list is an enum whose variants are declared with their record name
//! in one line; `ALL` and `name()` come from that line, and every other fact
//! about an entry (how a peer is built, which libraries its version names)
//! is an exhaustive `match`, so a new entry without its facts does not
//! compile. Two lists live where their code does and are read from there,
//! not copied: the manager designs (`config_reload_managers::design::NAMES`)
//! and the watchers (`config_reload::WatcherKind::ALL`, which names this
//! project's service as the peers `service-<watcher>`, [`service_subject`]).
//!
//! ```
//! use records::registry::{GoPackage, Peer};
//!
//! assert_eq!(Peer::from_name("koanf"), Some(Peer::Koanf));
//! assert!(Peer::ALL.iter().any(|peer| peer.name() == "config-notify"));
//! assert!(GoPackage::ALL.iter().any(|p| p.name() == "golang-github-spf13-viper-dev"));
//! ```

use std::fmt;

/// Declares a registry enum: each variant with its record name, once.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every entry, in the order runs and tables go through them.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name records, command lines and tables use.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The entry called `name`, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|entry| entry.name() == name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

registry! {
    /// A design users really pick, written as a small server from its
    /// library's own documentation (`benches/peers/README.md` says what each
    /// one is). This project's service runs beside them as
    /// [`service_subject`]s.
    pub enum Peer {
        /// The 2016 seed design (`benches/peers/go/seed`).
        Seed => "seed",
        Viper => "viper",
        Koanf => "koanf",
        /// fsnotify's README loop on the config file's own path.
        FsnotifyNaive => "fsnotify-naive",
        HotswapConfig => "hotswap-config",
        NotifyDebouncerFull => "notify-debouncer-full",
        /// The `config` crate's `examples/watch.rs`.
        ConfigNotify => "config-notify",
    }
}

/// How a peer is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// A Go program in `benches/peers/go/<dir>`, built in GOPATH mode
    /// against Debian's Go libraries.
    Go {
        /// Its directory under `benches/peers/go`.
        dir: &'static str,
    },
    /// A binary of the `peers` package.
    Rust {
        /// The binary's name.
        bin: &'static str,
    },
}

/// A library whose exact version goes into a peer's `version` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// A Debian package of Go source; `import` is the import path when it
    /// says more than the package's label (`gopkg.in/fsnotify.v1`).
    Go {
        /// The package.
        package: GoPackage,
        /// The import path the peer uses, when not the usual one.
        import: Option<&'static str>,
    },
    /// A crate from Cargo.lock, as a dependency of `of` (a package name),
    /// which picks the version when several are locked.
    Crate {
        /// The crate.
        name: &'static str,
        /// The package that depends on it.
        of: &'static str,
    },
}

const fn go(package: GoPackage) -> Library {
    Library::Go {
        package,
        import: None,
    }
}

const fn krate(name: &'static str, of: &'static str) -> Library {
    Library::Crate { name, of }
}

const AXUM: Library = krate("axum", "peers");

impl Peer {
    /// How it is built.
    pub const fn build(self) -> Build {
        match self {
            Self::Seed => Build::Go { dir: "seed" },
            Self::Viper => Build::Go { dir: "viper" },
            Self::Koanf => Build::Go { dir: "koanf" },
            Self::FsnotifyNaive => Build::Go {
                dir: "fsnotify-naive",
            },
            Self::HotswapConfig => Build::Rust {
                bin: "peer-hotswap-config",
            },
            Self::NotifyDebouncerFull => Build::Rust {
                bin: "peer-notify-debouncer-full",
            },
            Self::ConfigNotify => Build::Rust {
                bin: "peer-config-notify",
            },
        }
    }

    /// The libraries its `version` record names, in that order.
    pub const fn libraries(self) -> &'static [Library] {
        use GoPackage::{Fsnotify, Httprouter, Koanf, Viper, YamlV2};
        match self {
            Self::Seed => {
                const {
                    &[
                        Library::Go {
                            package: Fsnotify,
                            import: Some("gopkg.in/fsnotify.v1"),
                        },
                        go(YamlV2),
                        go(Httprouter),
                    ]
                }
            }
            Self::Viper => const { &[go(Viper), go(Fsnotify), go(YamlV2)] },
            Self::Koanf => const { &[go(Koanf), go(Fsnotify), go(YamlV2)] },
            Self::FsnotifyNaive => const { &[go(Fsnotify), go(YamlV2)] },
            Self::HotswapConfig => {
                const {
                    &[
                        krate("hotswap-config", "peers"),
                        krate("notify", "hotswap-config"),
                        krate("config", "hotswap-config"),
                        AXUM,
                    ]
                }
            }
            Self::NotifyDebouncerFull => {
                const {
                    &[
                        krate("notify-debouncer-full", "peers"),
                        krate("notify", "notify-debouncer-full"),
                        krate("arc-swap", "peers"),
                        krate("serde-saphyr", "peers"),
                        AXUM,
                    ]
                }
            }
            Self::ConfigNotify => {
                const { &[krate("config", "peers"), krate("notify", "peers"), AXUM] }
            }
        }
    }
}

/// What this project's service is called as a peer when it runs with
/// `watcher` (a `config_reload::WatcherKind` name): `service-inotify`.
pub fn service_subject(watcher: &str) -> String {
    format!("{SERVICE_PREFIX}{watcher}")
}

/// The prefix of every [`service_subject`].
pub const SERVICE_PREFIX: &str = "service-";

/// The Debian package of the Go toolchain the Go peers are built with.
pub const GO_TOOLCHAIN: &str = "golang-go";

registry! {
    /// A Debian package of Go source the Go peers build from (offline, in
    /// GOPATH mode); `name()` is the package. `.ci/run` installs them all
    /// (`cargo run -q -p records --bin go-packages` lists them).
    pub enum GoPackage {
        Fsnotify => "golang-github-fsnotify-fsnotify-dev",
        Viper => "golang-github-spf13-viper-dev",
        Koanf => "golang-github-knadh-koanf-dev",
        Httprouter => "golang-github-julienschmidt-httprouter-dev",
        YamlV2 => "golang-gopkg-yaml.v2-dev",
    }
}

impl GoPackage {
    /// How a `version` record names it: `fsnotify 1.6.0`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Fsnotify => "fsnotify",
            Self::Viper => "viper",
            Self::Koanf => "koanf",
            Self::Httprouter => "httprouter",
            Self::YamlV2 => "yaml.v2",
        }
    }
}

registry! {
    /// A way a config file changes under a process (the peer harness's
    /// update patterns, `benches/peers/README.md` says what each writes).
    pub enum Pattern {
        /// A ConfigMap volume, key symlinks made after the `..data` rename.
        KubeletAfter => "kubelet-after",
        /// A ConfigMap volume, key symlinks made before it (older kubelets).
        KubeletBefore => "kubelet-before",
        /// A ConfigMap volume whose several keys change together; the served
        /// message has two halves that must carry the same version.
        MultiKey => "multi-key",
        /// An editor's save: a new file renamed over the config.
        RenameReplace => "rename-replace",
        /// `cat new > config`: truncate and write in place.
        InPlace => "in-place",
        /// An in-place rewrite by one writer in three parts, 300 ms apart;
        /// every prefix is valid YAML, so only waiting for the writer avoids
        /// serving a half-written config.
        SlowInPlace => "slow-in-place",
        /// `ln -sfn config-vN.yaml config.yaml`.
        SymlinkSwap => "symlink-swap",
        /// `rm config.yaml`, 100 ms, then the new file.
        DeleteRecreate => "delete-recreate",
        /// The directory holding the config replaced by rename.
        DirSwap => "dir-swap",
    }
}

registry! {
    /// A bad file a reload can meet (the peer harness's bad inputs).
    pub enum BadInput {
        InvalidYaml => "bad-invalid-yaml",
        Empty => "bad-empty",
        WrongType => "bad-wrong-type",
        MissingField => "bad-missing-field",
        AliasBomb => "bad-alias-bomb",
        Oversize => "bad-oversize",
    }
}

registry! {
    /// A subject of the managers bench that is not a design: the floor and
    /// a design's other read path. The designs are
    /// `config_reload_managers::design::NAMES`.
    pub enum ReadPath {
        /// An unsynchronised `Arc` deref: the floor, never published to.
        PlainArc => "plain_arc",
        /// One `CachedReader` per thread over an `ArcSwapManager`.
        ArcSwapCached => "arcswap_cached",
    }
}

registry! {
    /// A Go manager of `benches/go`, written there as `go_<manager>`.
    pub enum GoManager {
        AtomicValue => "go_atomic_value",
        Mutex => "go_mutex",
        RwMutex => "go_rwmutex",
        Channel => "go_channel",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(names: impl IntoIterator<Item = &'static str>) {
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            assert!(seen.insert(name), "{name} twice");
        }
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        unique(Peer::ALL.iter().map(|p| p.name()));
        unique(Pattern::ALL.iter().map(|p| p.name()));
        unique(BadInput::ALL.iter().map(|b| b.name()));
        unique(GoPackage::ALL.iter().map(|p| p.name()));
        for &peer in Peer::ALL {
            assert_eq!(Peer::from_name(peer.name()), Some(peer));
            assert!(!peer.name().starts_with(SERVICE_PREFIX), "{peer}");
        }
        assert_eq!(Peer::from_name("nope"), None);
        assert_eq!(service_subject("poll"), "service-poll");
    }

    #[test]
    fn every_go_package_is_used_by_a_go_peer() {
        for &package in GoPackage::ALL {
            assert!(
                Peer::ALL.iter().any(|peer| peer
                    .libraries()
                    .iter()
                    .any(|l| matches!(l, Library::Go { package: p, .. } if *p == package))),
                "{package} is installed for no peer"
            );
        }
        for &peer in Peer::ALL {
            let go = matches!(peer.build(), Build::Go { .. });
            for library in peer.libraries() {
                assert_eq!(go, matches!(library, Library::Go { .. }), "{peer}");
            }
        }
    }
}
