//! Builds what the chosen subjects need: the Go peers with `go build` in
//! GOPATH mode against Debian's Go libraries (offline), the Rust peers, and
//! the service with every watcher compiled in. Binaries go into the cargo
//! target directory, beside the harness.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use config_reload::WatcherKind;
use records::registry::{Build, GO_TOOLCHAIN, GoPackage};

use crate::subjects::{Kind, SERVICE_MANAGER, Subject};

/// The Debian packages the Go peers are built from, for messages.
fn go_packages() -> String {
    let libraries = GoPackage::ALL.iter().map(|package| package.name());
    std::iter::once(GO_TOOLCHAIN)
        .chain(libraries)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The service build's features: every watcher, the one manager.
fn service_features() -> String {
    let watchers = WatcherKind::ALL.map(WatcherKind::name);
    [&watchers[..], &[SERVICE_MANAGER]].concat().join(",")
}

/// Where things are.
pub struct Layout {
    /// The workspace root.
    pub root: PathBuf,
    /// The directory of the running harness (`target/<profile>`).
    pub exe_dir: PathBuf,
}

impl Layout {
    /// The layout of this build of the harness.
    pub fn current() -> Result<Self, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root
            .canonicalize()
            .map_err(|error| format!("workspace root {}: {error}", root.display()))?;
        let exe = std::env::current_exe()
            .map_err(|error| format!("cannot find the harness binary: {error}"))?;
        let exe_dir = exe
            .parent()
            .ok_or("the harness binary has no directory")?
            .to_owned();
        Ok(Self { root, exe_dir })
    }

    /// Where built Go peers and the copied service live.
    pub fn bin_dir(&self) -> PathBuf {
        self.exe_dir.join("peers-bin")
    }

    /// Where subjects' logs go (overwritten by the next run).
    pub fn log_dir(&self) -> PathBuf {
        self.exe_dir.join("peers-logs")
    }
}

/// Builds every binary `subjects` need; returns each subject's program.
pub fn build(subjects: &[Subject], layout: &Layout) -> Result<HashMap<String, PathBuf>, String> {
    let bin_dir = layout.bin_dir();
    fs::create_dir_all(&bin_dir).map_err(|error| format!("{}: {error}", bin_dir.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    let mut programs = HashMap::new();

    if subjects
        .iter()
        .any(|s| matches!(s.build(), Some(Build::Rust { .. })))
    {
        let mut command = Command::new(&cargo);
        command
            .args(["build", "-p", "peers", "--bins"])
            .args(profile);
        run(command.current_dir(&layout.root), "building the Rust peers")?;
    }
    if subjects.iter().any(|s| matches!(s.kind, Kind::Service(_))) {
        let mut command = Command::new(&cargo);
        command
            .args([
                "build",
                "-p",
                "service",
                "--no-default-features",
                "--features",
                &service_features(),
            ])
            .args(profile);
        run(command.current_dir(&layout.root), "building the service")?;
        // A copy, so another build of the service with other features
        // cannot swap the binary in the middle of a run.
        let copy = bin_dir.join("service");
        fs::copy(layout.exe_dir.join("service"), &copy)
            .map_err(|error| format!("copying the service: {error}"))?;
    }
    let gopath = format!(
        "{}:/usr/share/gocode",
        layout.exe_dir.join("peers-gopath").display()
    );
    for subject in subjects {
        let program = match subject.build() {
            Some(Build::Go { dir }) => {
                let output = bin_dir.join(dir);
                let mut command = Command::new("go");
                command
                    .args(["build", "-o"])
                    .arg(&output)
                    .arg(".")
                    .current_dir(layout.root.join("benches/peers/go").join(dir))
                    .env("GO111MODULE", "off")
                    .env("GOPATH", &gopath)
                    .env("GOFLAGS", "");
                run(
                    &mut command,
                    &format!(
                        "building the Go peer {dir} (needs: apt-get install {})",
                        go_packages()
                    ),
                )?;
                output
            }
            Some(Build::Rust { bin }) => layout.exe_dir.join(bin),
            None => bin_dir.join("service"),
        };
        programs.insert(subject.name.clone(), program);
    }
    Ok(programs)
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    eprintln!("peer-harness: {what}");
    let output = command
        .output()
        .map_err(|error| format!("{what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
