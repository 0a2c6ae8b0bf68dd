//! Builds what the chosen subjects need: the Go peers with `go build` in
//! GOPATH mode against Debian's Go libraries (offline), the Rust peers, and
//! the service with every watcher compiled in. Binaries go into the cargo
//! target directory, beside the harness.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::subjects::{Kind, Subject};

/// The Debian packages the Go peers are built from.
pub const GO_PACKAGES: &str = "golang-go golang-github-fsnotify-fsnotify-dev golang-github-spf13-viper-dev \
     golang-github-knadh-koanf-dev golang-github-julienschmidt-httprouter-dev golang-gopkg-yaml.v2-dev";

/// The service build: every watcher, the arcswap manager.
const SERVICE_FEATURES: &str = "notify,inotify,poll,arcswap";

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
pub fn build(
    subjects: &[&Subject],
    layout: &Layout,
) -> Result<HashMap<&'static str, PathBuf>, String> {
    let bin_dir = layout.bin_dir();
    fs::create_dir_all(&bin_dir).map_err(|error| format!("{}: {error}", bin_dir.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    let mut programs = HashMap::new();

    if subjects.iter().any(|s| matches!(s.kind, Kind::Rust { .. })) {
        let mut command = Command::new(&cargo);
        command
            .args(["build", "-p", "peers", "--bins"])
            .args(profile);
        run(command.current_dir(&layout.root), "building the Rust peers")?;
    }
    if subjects
        .iter()
        .any(|s| matches!(s.kind, Kind::Service { .. }))
    {
        let mut command = Command::new(&cargo);
        command
            .args([
                "build",
                "-p",
                "service",
                "--no-default-features",
                "--features",
                SERVICE_FEATURES,
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
        let program = match subject.kind {
            Kind::Go { dir } => {
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
                    &format!("building the Go peer {dir} (needs: apt-get install {GO_PACKAGES})"),
                )?;
                output
            }
            Kind::Rust { bin } => layout.exe_dir.join(bin),
            Kind::Service { .. } => bin_dir.join("service"),
        };
        programs.insert(subject.name, program);
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
