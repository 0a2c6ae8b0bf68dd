//! Several keys of one ConfigMap, in two formats, read as one consistent
//! snapshot: the keys a kubelet update changes together are never mixed.
//! The volume is the crate's kubelet emulation (the same `..data` swap a
//! real kubelet does), updated ten times a second for a few seconds.
//!
//! ```text
//! cargo run -p config-reload --features testing --example configmap_keys
//! ```

use std::time::Duration;

use config_reload::testing::KubeletVolume;
use config_reload::{ConfigSource, DecodeError, Files, Watch};

#[derive(Debug, serde::Deserialize)]
struct App {
    release: u32,
}

#[derive(Debug, serde::Deserialize)]
struct Limits {
    release: u32,
    max_connections: u32,
}

/// Both keys, from one update.
struct Config {
    app: App,
    limits: Limits,
}

fn payload(release: u32) -> [(&'static str, String); 2] {
    [
        ("app.yaml", format!("release: {release}\n")),
        (
            "limits.toml",
            format!("release = {release}\nmax_connections = {}\n", 100 + release),
        ),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mount = tempfile::tempdir()?;
    let volume = KubeletVolume::new(mount.path());
    volume.project(&payload(0))?;

    let source = ConfigSource::keys(mount.path(), ["app.yaml", "limits.toml"]);
    let config =
        Watch::<Config>::decoding(source, |files: &Files| -> Result<Config, DecodeError> {
            let config = Config {
                app: files.parse("app.yaml")?,
                limits: files.parse("limits.toml")?,
            };
            if config.app.release != config.limits.release {
                return Err("the keys come from two updates".into());
            }
            Ok(config)
        })
        .start()?;

    for release in 1..=30 {
        volume.project(&payload(release))?;
        std::thread::sleep(Duration::from_millis(100));
        let current = config.get();
        println!(
            "version {:>2}: release {} with {} connections",
            current.version(),
            current.app.release,
            current.limits.max_connections
        );
    }
    Ok(())
}
