//! The exact version of everything a subject is built from: Debian's
//! package versions for the Go libraries, Cargo.lock's for the crates, the
//! commit for this project's service.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use records::registry::{Build, Library};

use crate::subjects::Subject;

/// A subject's version record: the text, and where each part came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub text: String,
    pub source: String,
}

/// What the version texts are built from, read once per run.
pub struct Sources {
    go: Option<String>,
    rustc: Option<String>,
    lock: Lock,
    commit: String,
}

#[derive(Debug, Deserialize)]
struct Lock {
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default)]
    dependencies: Vec<String>,
}

impl Sources {
    /// Reads the toolchains' versions, `Cargo.lock` and the commit of the
    /// workspace at `root`.
    pub fn read(root: &Path) -> Result<Self, String> {
        let lock = std::fs::read_to_string(root.join("Cargo.lock"))
            .map_err(|error| format!("cannot read Cargo.lock: {error}"))?;
        let lock: Lock =
            toml::from_str(&lock).map_err(|error| format!("cannot parse Cargo.lock: {error}"))?;
        let go = output("go", &["env", "GOVERSION"]);
        let rustc = output("rustc", &["--version"])
            .and_then(|line| line.split_whitespace().nth(1).map(|v| format!("rustc {v}")));
        let mut commit = output(
            "git",
            &[
                "-C",
                &root.to_string_lossy(),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        )
        .unwrap_or_else(|| "unknown commit".to_owned());
        let clean = Command::new("git")
            .args(["-C", &root.to_string_lossy(), "diff", "--quiet", "HEAD"])
            .status()
            .is_ok_and(|status| status.success());
        if !clean {
            commit.push_str("-dirty");
        }
        Ok(Self {
            go,
            rustc,
            lock,
            commit,
        })
    }

    /// The version record of `subject`.
    pub fn describe(&self, subject: &Subject) -> Result<Described, String> {
        let mut parts = Vec::new();
        let mut sources = Vec::new();
        match subject.build() {
            Some(Build::Go { .. }) => parts.push(self.go.clone().ok_or("no go toolchain")?),
            Some(Build::Rust { .. }) => parts.push(self.rustc.clone().ok_or("no rustc")?),
            None => {
                let version = env!("CARGO_PKG_VERSION");
                parts.push(format!("service {version} ({})", self.commit));
                sources.push(format!("workspace:service={version}@{}", self.commit));
            }
        }
        for library in subject.libraries() {
            match *library {
                Library::Go { package, import } => {
                    let (label, package) = (package.label(), package.name());
                    let version = debian_version(package)
                        .ok_or_else(|| format!("{package} is not installed"))?;
                    let import = import.map(|path| format!(" ({path})")).unwrap_or_default();
                    parts.push(format!("{label} {}{import}", upstream(&version)));
                    sources.push(format!("debian:{package}={version}"));
                }
                Library::Crate { name, of } => {
                    let version = self.crate_version(name, of).ok_or_else(|| {
                        format!("{name} (a dependency of {of}) is not in Cargo.lock")
                    })?;
                    parts.push(format!("{name} {version}"));
                    sources.push(format!("crates.io:{name}={version}"));
                }
            }
        }
        Ok(Described {
            text: parts.join(", "),
            source: sources.join(", "),
        })
    }

    /// The locked version of `name`; when several are locked, the one
    /// package `of` depends on.
    fn crate_version(&self, name: &str, of: &str) -> Option<String> {
        let locked: Vec<&LockedPackage> = self
            .lock
            .package
            .iter()
            .filter(|p| p.name == name)
            .collect();
        if let [only] = locked[..] {
            return Some(only.version.clone());
        }
        let parent = self.lock.package.iter().find(|p| p.name == of)?;
        let mut dependency = parent
            .dependencies
            .iter()
            .map(|entry| entry.split(' '))
            .find_map(|mut words| (words.next() == Some(name)).then(|| words.next()))??;
        dependency = dependency.trim();
        Some(dependency.to_owned())
    }
}

/// The upstream part of a Debian version: no epoch, no Debian revision.
fn upstream(version: &str) -> &str {
    let version = version.split_once(':').map_or(version, |(_, rest)| rest);
    version
        .rsplit_once('-')
        .map_or(version, |(upstream, _)| upstream)
}

fn debian_version(package: &str) -> Option<String> {
    output("dpkg-query", &["-W", "-f=${Version}", package]).filter(|v| !v.is_empty())
}

/// The trimmed stdout of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions_drop_epoch_and_revision() {
        assert_eq!(upstream("1.6.0-2"), "1.6.0");
        assert_eq!(upstream("1:0.4.0-1"), "0.4.0");
        assert_eq!(upstream("1.1.0+really1.1.0-2"), "1.1.0+really1.1.0");
        assert_eq!(upstream("2.4.0"), "2.4.0");
    }

    #[test]
    fn a_crate_locked_twice_is_resolved_through_its_dependent() {
        let lock: Lock = toml::from_str(
            r#"
            [[package]]
            name = "config"
            version = "0.14.1"
            [[package]]
            name = "config"
            version = "0.15.27"
            [[package]]
            name = "hotswap-config"
            version = "0.2.2"
            dependencies = ["arc-swap", "config 0.14.1"]
            [[package]]
            name = "peers"
            version = "0.1.0"
            dependencies = ["config 0.15.27", "hotswap-config"]
            "#,
        )
        .unwrap();
        let sources = Sources {
            go: None,
            rustc: None,
            lock,
            commit: String::new(),
        };
        assert_eq!(
            sources.crate_version("config", "hotswap-config").as_deref(),
            Some("0.14.1")
        );
        assert_eq!(
            sources.crate_version("config", "peers").as_deref(),
            Some("0.15.27")
        );
        assert_eq!(
            sources.crate_version("hotswap-config", "peers").as_deref(),
            Some("0.2.2")
        );
    }
}
