//! The read and publish scenarios of the `managers` bench, reusable by any
//! bench or tool.
//!
//! A *subject* is one way of reading the current config (a manager's `read`,
//! a per-thread cache, or a plain `Arc` as the floor); a *scenario* times it
//! with some number of reader threads, with or without a writer.
//!
//! Every multi-thread figure is **wall time per read, aggregated over all
//! threads**:
//!
//! ```text
//! ns per read = wall time / (threads × reads per thread)
//! ```
//!
//! where the wall time runs from the earliest thread's first read to the
//! latest thread's last read (thread start-up is not timed). Two threads
//! that scale perfectly halve the one-thread figure; a figure that grows with
//! threads means the readers slow each other down.
//! [`time_reads`] returns `wall time / threads` for `iters` reads per thread,
//! which is what criterion's `iter_custom` wants: criterion divides by
//! `iters` itself.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use config_reload_managers::{ArcSwapManager, CachedReader, ConfigManager, Snapshot, Versioned};

/// The config every scenario shares: the seed's config, one message.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub message: String,
}

impl BenchConfig {
    /// A config like the seed's example.
    pub fn example() -> Self {
        Self {
            message: "Hello, config reload!".to_owned(),
        }
    }
}

/// How often the background writer of the `read_*_writer` scenarios publishes.
pub const WRITER_PERIOD: Duration = Duration::from_millis(1);

/// One way to read the current config, shareable between threads.
pub trait Subject: Sync {
    /// A thread's own handle: a cache, or just a reference.
    type Reader<'s>: Reader
    where
        Self: 's;

    /// Made on each reader thread before its timed reads.
    fn reader(&self) -> Self::Reader<'_>;

    /// Publishes a new config, or `None` for the floor, which cannot change.
    fn publisher(&self) -> Option<&dyn Publisher>;
}

/// One read, as a request would do it: look at the config and use it.
pub trait Reader {
    fn message_len(&mut self) -> usize;
}

/// Anything that can publish a [`BenchConfig`].
pub trait Publisher: Sync {
    fn publish(&self, config: BenchConfig) -> u64;
}

impl<M: ConfigManager<BenchConfig>> Publisher for M {
    fn publish(&self, config: BenchConfig) -> u64 {
        ConfigManager::publish(self, config)
    }
}

/// A manager read through [`ConfigManager::read`].
pub struct Managed<M>(pub M);

impl<M: ConfigManager<BenchConfig> + From<BenchConfig>> Managed<M> {
    pub fn new() -> Self {
        Self(M::from(BenchConfig::example()))
    }
}

impl<M: ConfigManager<BenchConfig> + From<BenchConfig>> Default for Managed<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// The reader of a [`Managed`] subject: the manager itself.
pub struct ManagedReader<'m, M>(&'m M);

impl<M: ConfigManager<BenchConfig>> Reader for ManagedReader<'_, M> {
    #[inline]
    fn message_len(&mut self) -> usize {
        self.0.read(|current| current.config.message.len())
    }
}

impl<M: ConfigManager<BenchConfig>> Subject for Managed<M> {
    type Reader<'s>
        = ManagedReader<'s, M>
    where
        Self: 's;

    fn reader(&self) -> Self::Reader<'_> {
        ManagedReader(&self.0)
    }

    fn publisher(&self) -> Option<&dyn Publisher> {
        Some(&self.0)
    }
}

/// An [`ArcSwapManager`] read through one [`CachedReader`] per thread.
pub struct Cached(pub ArcSwapManager<BenchConfig>);

impl Default for Cached {
    fn default() -> Self {
        Self(ArcSwapManager::new(BenchConfig::example()))
    }
}

impl Reader for CachedReader<BenchConfig> {
    #[inline]
    fn message_len(&mut self) -> usize {
        self.read(|current| current.config.message.len())
    }
}

impl Subject for Cached {
    type Reader<'s> = CachedReader<BenchConfig>;

    fn reader(&self) -> Self::Reader<'_> {
        self.0.cached_reader()
    }

    fn publisher(&self) -> Option<&dyn Publisher> {
        Some(&self.0)
    }
}

/// The floor: an `Arc` deref with no synchronisation at all. It cannot be
/// published to, so it has no writer scenarios.
pub struct PlainArc(pub Snapshot<BenchConfig>);

impl Default for PlainArc {
    fn default() -> Self {
        Self(Arc::new(Versioned {
            version: 1,
            config: BenchConfig::example(),
        }))
    }
}

/// The reader of a [`PlainArc`].
pub struct PlainArcReader<'a>(&'a Snapshot<BenchConfig>);

impl Reader for PlainArcReader<'_> {
    #[inline]
    fn message_len(&mut self) -> usize {
        // Through black_box so the pointer is loaded on every read, as it
        // would be from a shared structure, instead of hoisted out of the loop.
        black_box(self.0).config.message.len()
    }
}

impl Subject for PlainArc {
    type Reader<'s> = PlainArcReader<'s>;

    fn reader(&self) -> Self::Reader<'_> {
        PlainArcReader(&self.0)
    }

    fn publisher(&self) -> Option<&dyn Publisher> {
        None
    }
}

/// Publishes every [`WRITER_PERIOD`] on its own thread until dropped.
struct BackgroundWriter<'scope> {
    running: &'scope AtomicBool,
}

impl<'scope> BackgroundWriter<'scope> {
    fn start<'env>(
        scope: &'scope thread::Scope<'scope, 'env>,
        running: &'scope AtomicBool,
        publisher: &'scope dyn Publisher,
    ) -> Self {
        running.store(true, Ordering::SeqCst);
        scope.spawn(move || {
            let mut next = Instant::now();
            let mut n = 0_u64;
            while running.load(Ordering::Relaxed) {
                n += 1;
                publisher.publish(BenchConfig {
                    message: format!("Hello, config reload #{n}!"),
                });
                // A fixed schedule, not a fixed pause: the rate stays 1 kHz
                // even when a publish is slow.
                next += WRITER_PERIOD;
                if let Some(pause) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(pause);
                }
            }
        });
        Self { running }
    }
}

impl Drop for BackgroundWriter<'_> {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

/// Times `iters` reads on each of `threads` threads, optionally while a
/// background writer publishes at 1 kHz, and returns
/// `wall time / threads` (see the module docs).
///
/// # Panics
///
/// If `with_writer` is set and the subject cannot be published to.
pub fn time_reads<S: Subject>(
    subject: &S,
    threads: usize,
    iters: u64,
    with_writer: bool,
) -> Duration {
    let start = Barrier::new(threads);
    let writing = AtomicBool::new(false);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let _writer = with_writer.then(|| {
            let publisher = subject
                .publisher()
                .expect("a writer scenario needs a subject that can be published to");
            BackgroundWriter::start(scope, &writing, publisher)
        });
        let readers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut reader = subject.reader();
                    start.wait();
                    let began = Instant::now();
                    for _ in 0..iters {
                        black_box(reader.message_len());
                    }
                    (began, Instant::now())
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().expect("a reader thread panicked"))
            .collect()
    });
    let began = spans
        .iter()
        .map(|span| span.0)
        .min()
        .expect("at least one thread");
    let ended = spans
        .iter()
        .map(|span| span.1)
        .max()
        .expect("at least one thread");
    (ended - began) / threads as u32
}

/// Times `iters` publishes from this thread while two reader threads read
/// as fast as they can: the cost of one publish under read load, including
/// one clone of a short config.
///
/// # Panics
///
/// If the subject cannot be published to.
pub fn time_publishes<S: Subject>(subject: &S, iters: u64) -> Duration {
    const READERS: usize = 2;
    let publisher = subject
        .publisher()
        .expect("the publish scenario needs a subject that can be published to");
    let reading = AtomicBool::new(true);
    let start = Barrier::new(READERS + 1);
    // Every publish carries a fresh config, as a reload does: the figure
    // includes cloning this one short message (one small allocation).
    let template = BenchConfig::example();
    thread::scope(|scope| {
        for _ in 0..READERS {
            scope.spawn(|| {
                let mut reader = subject.reader();
                start.wait();
                while reading.load(Ordering::Relaxed) {
                    black_box(reader.message_len());
                }
            });
        }
        start.wait();
        let began = Instant::now();
        for _ in 0..iters {
            black_box(publisher.publish(template.clone()));
        }
        let took = began.elapsed();
        reading.store(false, Ordering::Relaxed);
        took
    })
}
