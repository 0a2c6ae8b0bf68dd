//! Why a `ChannelManager` read costs microseconds: counts the context
//! switches per read, against a `MutexManager` doing the same reads.
//!
//! ```text
//! cargo run --release -p config-reload-managers --example channel_handoffs
//! ```

use std::time::Instant;

use config_reload_managers::{ChannelManager, ConfigManager, MutexManager};

const READS: u64 = 100_000;

/// Voluntary + involuntary context switches of every thread of this process.
fn context_switches() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .expect("listing /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn measure<M: ConfigManager<String> + From<String>>() {
    let manager = M::from("Hello, config reload!".to_owned());
    let switches = context_switches();
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..READS {
        total += manager.read(|current| current.config.len());
    }
    let took = start.elapsed();
    // Counted before the manager (and a channel owner thread) goes away.
    let switched = context_switches() - switches;
    std::hint::black_box(total);
    println!(
        "{:>8}: {:>8.1} ns per read, {:.2} context switches per read",
        M::NAME,
        took.as_nanos() as f64 / READS as f64,
        switched as f64 / READS as f64
    );
}

fn main() {
    measure::<MutexManager<String>>();
    measure::<ChannelManager<String>>();
}
