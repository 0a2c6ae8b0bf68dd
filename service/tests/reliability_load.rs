//! Load while reloading, against the real binary: concurrent HTTP clients
//! for a bounded time while the kubelet emulation commits a new config 100
//! times a second. Zero non-2xx answers (or transport errors), every body a
//! message that was written, one body per `X-Config-Version`, no client
//! ever sees an older version after a newer one, and the last write is what
//! is served at the end.
//!
//! The normal run loads for 5 s per watcher and 2 s per other manager;
//! `cargo test -p service --all-features --test reliability_load -- --ignored`
//! runs the 60 s version.

mod common;

// The compiled-in variants, from service/Cargo.toml (`build.rs`).
include!(concat!(env!("OUT_DIR"), "/variants.rs"));
mod reliability;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Flags, Service};
use config_reload::testing::KubeletVolume;
use reliability::yaml;

const CLIENTS: usize = 4;
const UPDATE_EVERY: Duration = Duration::from_millis(10);

/// What the clients saw.
#[derive(Default)]
struct Seen {
    requests: u64,
    /// Every answer that was not a 200, or a request that failed.
    errors: Vec<String>,
    /// The body served under each version.
    bodies: HashMap<u64, String>,
    /// Bodies that are not a message the writer had started writing.
    unwritten: Vec<String>,
    /// (client, older version seen, after this newer one).
    regressions: Vec<(usize, u64, u64)>,
}

fn message(update: u64) -> String {
    format!("load {update}")
}

fn load_while_reloading(watcher: &str, manager: &str, duration: Duration) {
    let mount = tempfile::tempdir().unwrap();
    let volume = KubeletVolume::new(mount.path());
    volume
        .project(&[("config.yaml", yaml(&message(0)))])
        .unwrap();
    let flags = Flags::new(&mount.path().join("config.yaml"), watcher).set("--manager", manager);
    let service = Service::start(&flags);
    service.wait_for_message(&message(0));

    // The highest update the writer has started to write: a served body
    // must be one of 0..=started.
    let started = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let writer = {
        let (started, stop) = (Arc::clone(&started), Arc::clone(&stop));
        thread::spawn(move || {
            let mut next = Instant::now();
            let mut update = 0;
            while !stop.load(Ordering::SeqCst) {
                update += 1;
                started.store(update, Ordering::SeqCst);
                volume
                    .project(&[("config.yaml", yaml(&message(update)))])
                    .unwrap();
                next += UPDATE_EVERY;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            (volume, update)
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (started, stop, seen) =
                (Arc::clone(&started), Arc::clone(&stop), Arc::clone(&seen));
            let addr = service.addr;
            thread::spawn(move || {
                let mut newest = 0;
                while !stop.load(Ordering::SeqCst) {
                    let reply = common::get(addr, "/");
                    let mut seen = seen.lock().unwrap();
                    seen.requests += 1;
                    let reply = match reply {
                        Ok(reply) if reply.status == 200 => reply,
                        Ok(reply) => {
                            seen.errors
                                .push(format!("{} {}", reply.status, reply.text()));
                            continue;
                        }
                        Err(error) => {
                            seen.errors.push(error.to_string());
                            continue;
                        }
                    };
                    let (version, body) = (reply.version(), reply.text());
                    let written = body
                        .strip_prefix("load ")
                        .and_then(|update| update.parse::<u64>().ok())
                        .is_some_and(|update| update <= started.load(Ordering::SeqCst));
                    if !written {
                        seen.unwritten.push(body.clone());
                    }
                    if version < newest {
                        seen.regressions.push((client, version, newest));
                    }
                    newest = newest.max(version);
                    let first = seen.bodies.entry(version).or_insert_with(|| body.clone());
                    if *first != body {
                        let error =
                            format!("version {version} served as {first:?} and as {body:?}");
                        seen.errors.push(error);
                    }
                }
            })
        })
        .collect();

    thread::sleep(duration);
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let (_volume, last) = writer.join().unwrap();
    let served = service.wait_for_message(&message(last));

    let seen = seen.lock().unwrap();
    eprintln!(
        "{watcher}/{manager}: {} requests in {duration:?}, {last} updates, {} versions seen, final version {}",
        seen.requests,
        seen.bodies.len(),
        served.version()
    );
    assert!(seen.requests > 0, "the clients made requests");
    assert!(
        seen.errors.is_empty(),
        "non-2xx or failed requests: {:?}",
        &seen.errors[..seen.errors.len().min(10)]
    );
    assert!(
        seen.unwritten.is_empty(),
        "bodies never written: {:?}",
        &seen.unwritten[..seen.unwritten.len().min(10)]
    );
    assert!(
        seen.regressions.is_empty(),
        "a client saw an older version after a newer one: {:?}",
        seen.regressions
    );
    assert_eq!(service.get("/readyz").unwrap().status, 200);
}

/// `RELIABILITY_LOAD_SECS` overrides the normal run's duration.
fn seconds(default: u64) -> Duration {
    let secs = std::env::var("RELIABILITY_LOAD_SECS")
        .ok()
        .and_then(|value| value.parse().ok());
    Duration::from_secs(secs.unwrap_or(default))
}

macro_rules! for_every_watcher {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        #[cfg(manager_arcswap)]
        mod $module {
            use std::time::Duration;
            #[test] fn load_while_reloading() { super::load_while_reloading($name, "arcswap", super::seconds(5)) }
            #[test]
            #[ignore = "60 s soak: run with --ignored"]
            fn load_while_reloading_for_a_minute() { super::load_while_reloading($name, "arcswap", Duration::from_secs(60)) }
        }
    )*};
}

compiled_file_watchers!(for_every_watcher);

/// The other managers' read paths under the same load (the default watcher).
/// Every other manager (arcswap has its run per watcher above), shorter,
/// with the first watcher compiled in.
macro_rules! for_every_other_manager {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test]
            fn load_while_reloading() {
                if $name != "arcswap" {
                    super::super::load_while_reloading(super::super::COMPILED_FILE_WATCHERS[0], $name, super::super::seconds(2))
                }
            }
        }
    )*};
}

mod every_other_manager {
    compiled_managers!(for_every_other_manager);
}
