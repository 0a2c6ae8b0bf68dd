//! Turns the chosen Cargo features into one `cfg` per compiled-in manager and
//! watcher, fallbacks included, so the source says `#[cfg(manager_arcswap)]`
//! once instead of repeating "arcswap, or no manager feature at all".

use std::env;

const MANAGERS: [&str; 5] = ["mutex", "rwlock", "arcswap", "channel", "watch"];
const WATCHERS: [&str; 3] = ["notify", "inotify", "poll"];

fn enabled(features: &[&'static str]) -> Vec<&'static str> {
    features
        .iter()
        .copied()
        .filter(|feature| {
            env::var_os(format!("CARGO_FEATURE_{}", feature.to_uppercase())).is_some()
        })
        .collect()
}

fn emit(kind: &str, all: &[&str], chosen: &[&str]) {
    for name in all {
        println!("cargo::rustc-check-cfg=cfg({kind}_{name})");
    }
    for name in chosen {
        println!("cargo::rustc-cfg={kind}_{name}");
    }
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");

    let mut managers = enabled(&MANAGERS);
    if managers.is_empty() {
        // The fastest read path that scales with cores (docs/service.md).
        managers.push("arcswap");
    }

    let mut watchers = enabled(&WATCHERS);
    if watchers.is_empty() {
        // inotify where it exists (lowest latency, no extra thread);
        // the portable poller elsewhere.
        let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
        watchers.push(if linux { "inotify" } else { "poll" });
    }

    emit("manager", &MANAGERS, &managers);
    emit("watcher", &WATCHERS, &watchers);
    // For `--version`: `|` between the choices when several are compiled in.
    println!(
        "cargo::rustc-env=SERVICE_VARIANT=manager: {}, watcher: {}",
        managers.join("|"),
        watchers.join("|")
    );
}
