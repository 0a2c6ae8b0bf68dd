//! The load benchmark's config writer (`benches/load/run.sh`): updates a
//! ConfigMap-style volume exactly as the kubelet does
//! (`watchers::testing::KubeletVolume`), at a steady rate or one update at a
//! time while measuring how long the service takes to serve it.
//!
//! ```text
//! load_writer init    /tmp/mount                       # first projection of config.yaml
//! load_writer write   /tmp/mount --rate 100 --seconds 12
//! load_writer latency /tmp/mount --addr 127.0.0.1:18081 --updates 200
//! ```

#[path = "../tests/common/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use watchers::testing::KubeletVolume;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Projects the first version of `config.yaml`.
    Init { mount: PathBuf },
    /// Projects a new version `--rate` times a second for `--seconds`.
    Write {
        mount: PathBuf,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 12)]
        seconds: u64,
    },
    /// Projects `--updates` versions one by one; for each, the time from the
    /// `..data` commit to the first `GET /` that serves it.
    Latency {
        mount: PathBuf,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 200)]
        updates: u32,
    },
}

fn message(tag: &str, n: u64) -> String {
    format!("load writer {tag} {n}")
}

fn project(volume: &KubeletVolume, message: &str) -> std::io::Result<()> {
    volume
        .project(&[("config.yaml", format!("message: {message:?}\n"))])
        .map(drop)
}

fn main() -> std::io::Result<()> {
    match Args::parse().command {
        Command::Init { mount } => project(&KubeletVolume::new(mount), &message("init", 0)),
        Command::Write {
            mount,
            rate,
            seconds,
        } => {
            let volume = KubeletVolume::new(mount);
            let period = Duration::from_secs(1) / rate;
            let start = Instant::now();
            let mut written = 0_u64;
            // Paced against the start, so a slow write does not lower the rate.
            while start.elapsed() < Duration::from_secs(seconds) {
                project(&volume, &message("write", written))?;
                written += 1;
                if let Some(wait) = (period * u32::try_from(written).unwrap_or(u32::MAX))
                    .checked_sub(start.elapsed())
                {
                    thread::sleep(wait);
                }
            }
            println!(
                "wrote {written} updates in {:.1}s",
                start.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Latency {
            mount,
            addr,
            updates,
        } => {
            let volume = KubeletVolume::new(mount);
            let mut took = Vec::new();
            for n in 0..u64::from(updates) {
                let expected = message("latency", n);
                let payload = [("config.yaml", format!("message: {expected:?}\n"))];
                let Some(committed) = volume.project_timed(&payload)? else {
                    unreachable!("every update has new content")
                };
                loop {
                    let reply = http::get(addr, "/")?;
                    if reply.body == expected.as_bytes() {
                        took.push(committed.elapsed());
                        break;
                    }
                    if committed.elapsed() > Duration::from_secs(10) {
                        eprintln!("update {n} not served within 10 s");
                        std::process::exit(1);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            took.sort();
            let at = |quantile: f64| took[((took.len() - 1) as f64 * quantile).round() as usize];
            println!(
                "reload latency over {} updates: p50 {:?} p90 {:?} p99 {:?} max {:?}",
                took.len(),
                at(0.5),
                at(0.9),
                at(0.99),
                took[took.len() - 1]
            );
            Ok(())
        }
    }
}
