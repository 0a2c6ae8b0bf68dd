//! One conformance suite, written once, run against every manager.
//!
//! `manager_suite!` instantiates the whole suite for one manager type: the
//! tests about versions and freeing, plus `read_path_suite!` twice, once
//! reading through `ConfigManager::read` and once through `snapshot`. The
//! ArcSwap per-thread cached reader runs the read-path tests a third way.
//!
//! Nothing here asserts speed, and every wait is a poll with a generous
//! deadline: the machine is shared and noisy.
//!
//! It needs every design compiled in (the default features).
#![cfg(all(
    feature = "mutex",
    feature = "rwlock",
    feature = "arcswap",
    feature = "channel",
    feature = "watch"
))]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use config_reload_managers::{
    ArcSwapManager, CachedReader, ChannelManager, ConfigManager, MutexManager, RwLockManager,
    Versioned, WatchManager,
};

/// How long a test waits for a state it expects before failing.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `done` until it holds; panics naming `what` after [`DEADLINE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < DEADLINE,
            "still waiting after {DEADLINE:?}: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Counts the configs of one test that have been created and not dropped.
#[derive(Clone, Default)]
struct Census(Arc<AtomicUsize>);

impl Census {
    /// A config with fields `n`, `n`, counted until it is dropped.
    fn pair(&self, n: u64) -> Pair {
        self.0.fetch_add(1, Ordering::SeqCst);
        Pair {
            left: n,
            right: n,
            _counted: Counted(Arc::clone(&self.0)),
        }
    }

    fn live(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn wait_for_live(&self, expected: usize, why: &str) {
        eventually(
            &format!("{expected} live configs ({why}); {} now", self.live()),
            || self.live() == expected,
        );
    }
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A config whose two fields must agree in every read: a reader that sees
/// them differ saw half of one publish and half of another.
struct Pair {
    left: u64,
    right: u64,
    _counted: Counted,
}

/// What one read observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    version: u64,
    left: u64,
    right: u64,
}

impl Seen {
    fn of(current: &Versioned<Pair>) -> Self {
        Self {
            version: current.version,
            left: current.config.left,
            right: current.config.right,
        }
    }

    /// Checks the observation is one whole config and returns its value.
    fn whole(self) -> u64 {
        assert_eq!(self.left, self.right, "torn config: {self:?}");
        self.left
    }
}

/// Raises its flag if the thread holding it panics, so the threads waiting
/// for it can stop waiting and fail too.
struct PanicAlarm<'a>(&'a AtomicBool);

impl Drop for PanicAlarm<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Counts one writer out when it finishes, even by panicking, so readers
/// looping until every writer is done cannot loop forever.
struct WriterDone<'a>(&'a AtomicUsize);

impl Drop for WriterDone<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One thread's way of reading the current config.
trait Reader {
    fn see(&mut self) -> Seen;
}

struct ViaRead<'m, M>(&'m M);

impl<M: ConfigManager<Pair>> Reader for ViaRead<'_, M> {
    fn see(&mut self) -> Seen {
        self.0.read(Seen::of)
    }
}

struct ViaSnapshot<'m, M>(&'m M);

impl<M: ConfigManager<Pair>> Reader for ViaSnapshot<'_, M> {
    fn see(&mut self) -> Seen {
        Seen::of(&self.0.snapshot())
    }
}

impl Reader for CachedReader<Pair> {
    fn see(&mut self) -> Seen {
        self.read(Seen::of)
    }
}

/// Makes a reader for one thread: the read path a suite instance tests.
type ReadPath<M> = fn(&M) -> Box<dyn Reader + '_>;

fn via_read<M: ConfigManager<Pair>>(manager: &M) -> Box<dyn Reader + '_> {
    Box::new(ViaRead(manager))
}

fn via_snapshot<M: ConfigManager<Pair>>(manager: &M) -> Box<dyn Reader + '_> {
    Box::new(ViaSnapshot(manager))
}

fn via_cache(manager: &ArcSwapManager<Pair>) -> Box<dyn Reader + '_> {
    Box::new(manager.cached_reader())
}

/// The tests, each generic over the manager and, where it matters, the read path.
mod suite {
    use super::*;

    const READERS: usize = 3;

    pub fn versions_start_at_one_and_count_publishes<M: ConfigManager<Pair> + From<Pair>>() {
        let census = Census::default();
        let manager = M::from(census.pair(0));
        assert_eq!(manager.version(), 1);
        for n in 1..=20 {
            assert_eq!(manager.publish(census.pair(n)), n + 1);
            assert_eq!(manager.version(), n + 1);
        }
    }

    pub fn concurrent_publishers_take_distinct_increasing_versions<
        M: ConfigManager<Pair> + From<Pair>,
    >() {
        const PUBLISHERS: u64 = 4;
        const EACH: u64 = 250;
        let census = Census::default();
        let manager = M::from(census.pair(0));
        let mut versions: Vec<u64> = thread::scope(|scope| {
            let publishers: Vec<_> = (0..PUBLISHERS)
                .map(|_| {
                    scope.spawn(|| {
                        let mine: Vec<u64> =
                            (0..EACH).map(|n| manager.publish(census.pair(n))).collect();
                        assert!(
                            mine.windows(2).all(|w| w[0] < w[1]),
                            "one publisher's versions went backwards: {mine:?}"
                        );
                        mine
                    })
                })
                .collect();
            publishers
                .into_iter()
                .flat_map(|p| p.join().unwrap())
                .collect()
        });
        versions.sort_unstable();
        let expected: Vec<u64> = (2..=PUBLISHERS * EACH + 1).collect();
        assert_eq!(
            versions, expected,
            "every publish gets its own version, none skipped"
        );
        assert_eq!(manager.version(), PUBLISHERS * EACH + 1);
    }

    pub fn held_snapshot_is_unchanged_by_later_publishes<M: ConfigManager<Pair> + From<Pair>>() {
        let census = Census::default();
        let manager = M::from(census.pair(0));
        let held = manager.snapshot();
        for n in 1..=20 {
            manager.publish(census.pair(n));
        }
        assert_eq!(
            Seen::of(&held),
            Seen {
                version: 1,
                left: 0,
                right: 0
            }
        );
        assert_eq!(manager.snapshot().version, 21);
    }

    pub fn replaced_configs_are_dropped_once_no_reader_holds_them<
        M: ConfigManager<Pair> + From<Pair>,
    >() {
        let census = Census::default();
        let manager = M::from(census.pair(0));
        let held = manager.snapshot();
        for n in 1..=10 {
            manager.publish(census.pair(n));
            manager.read(|_| ());
        }
        census.wait_for_live(2, "the current config and the held snapshot of version 1");
        assert_eq!(held.version, 1);
        drop(held);
        census.wait_for_live(1, "only the current config");
        drop(manager);
        census.wait_for_live(0, "the manager is dropped");
    }

    pub fn dropping_the_manager_frees_all_but_held_snapshots<
        M: ConfigManager<Pair> + From<Pair>,
    >() {
        let census = Census::default();
        let manager = M::from(census.pair(0));
        manager.publish(census.pair(1));
        let held = manager.snapshot();
        manager.publish(census.pair(2));
        drop(manager);
        census.wait_for_live(1, "the held snapshot outlives its manager");
        assert_eq!(Seen::of(&held).whole(), 1);
        drop(held);
        census.wait_for_live(0, "the last snapshot is dropped");
    }

    pub fn publish_is_visible_to_every_later_read<M: ConfigManager<Pair> + From<Pair>>(
        path: ReadPath<M>,
    ) {
        const ROUNDS: u64 = 50;
        let census = Census::default();
        let manager = M::from(census.pair(0));
        // Lock-step without barriers, so a failing reader fails the test
        // instead of leaving the others waiting forever: the writer announces
        // each version after `publish` returns, readers count their checks.
        let announced = AtomicU64::new(1);
        let checked = AtomicU64::new(0);
        let reader_failed = AtomicBool::new(false);
        thread::scope(|scope| {
            for _ in 0..READERS {
                scope.spawn(|| {
                    let _alarm = PanicAlarm(&reader_failed);
                    // Made once, before any publish: a cache must notice.
                    let mut reader = path(&manager);
                    for round in 1..=ROUNDS {
                        eventually(&format!("round {round} is announced"), || {
                            announced.load(Ordering::SeqCst) == round + 1
                        });
                        let seen = reader.see();
                        assert_eq!(seen.version, round + 1, "round {round} saw {seen:?}");
                        assert_eq!(seen.whole(), round, "round {round} saw {seen:?}");
                        checked.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            let mut own = path(&manager);
            for round in 1..=ROUNDS {
                let version = manager.publish(census.pair(round));
                assert_eq!(version, round + 1);
                assert_eq!(own.see().whole(), round, "the publishing thread's own read");
                announced.store(version, Ordering::SeqCst);
                let all_checked = READERS as u64 * round;
                eventually(&format!("every reader checked round {round}"), || {
                    checked.load(Ordering::SeqCst) == all_checked
                        || reader_failed.load(Ordering::SeqCst)
                });
                assert!(
                    !reader_failed.load(Ordering::SeqCst),
                    "a reader failed in round {round} (its panic follows)"
                );
            }
        });
    }

    pub fn reader_never_sees_an_older_version<M: ConfigManager<Pair> + From<Pair>>(
        path: ReadPath<M>,
    ) {
        const PUBLISHES: u64 = 2_000;
        let census = Census::default();
        let manager = M::from(census.pair(0));
        let writing = AtomicUsize::new(1);
        thread::scope(|scope| {
            for _ in 0..READERS {
                scope.spawn(|| {
                    let mut reader = path(&manager);
                    let mut newest = reader.see().version;
                    while writing.load(Ordering::SeqCst) > 0 {
                        let seen = reader.see();
                        assert!(
                            seen.version >= newest,
                            "saw {seen:?} after version {newest}"
                        );
                        newest = seen.version;
                    }
                    assert_eq!(reader.see().version, PUBLISHES + 1, "the last publish");
                });
            }
            let _done = WriterDone(&writing);
            for n in 1..=PUBLISHES {
                manager.publish(census.pair(n));
            }
        });
    }

    pub fn no_torn_value_under_concurrent_publishes<M: ConfigManager<Pair> + From<Pair>>(
        path: ReadPath<M>,
    ) {
        const PUBLISHERS: u64 = 2;
        const EACH: u64 = 500;
        let census = Census::default();
        let manager = M::from(census.pair(0));
        let publishing = AtomicUsize::new(PUBLISHERS as usize);
        let (published, observed) = thread::scope(|scope| {
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    scope.spawn(|| {
                        let mut reader = path(&manager);
                        let mut seen = vec![reader.see()];
                        while publishing.load(Ordering::SeqCst) > 0 {
                            seen.push(reader.see());
                        }
                        seen
                    })
                })
                .collect();
            let publishers: Vec<_> = (0..PUBLISHERS)
                .map(|p| {
                    let (manager, census, publishing) = (&manager, &census, &publishing);
                    scope.spawn(move || {
                        let _done = WriterDone(publishing);
                        let mine: Vec<(u64, u64)> = (0..EACH)
                            .map(|n| {
                                let value = (p + 1) * 1_000_000 + n;
                                (manager.publish(census.pair(value)), value)
                            })
                            .collect();
                        mine
                    })
                })
                .collect();
            let published: HashMap<u64, u64> = publishers
                .into_iter()
                .flat_map(|p| p.join().unwrap())
                .chain([(1, 0)])
                .collect();
            let observed: Vec<Vec<Seen>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            (published, observed)
        });
        assert_eq!(
            published.len() as u64,
            PUBLISHERS * EACH + 1,
            "versions were reused"
        );
        for seen in observed.iter().flatten() {
            assert_eq!(
                Some(&seen.whole()),
                published.get(&seen.version),
                "{seen:?} is not the config published as version {}",
                seen.version
            );
        }
        for one_reader in &observed {
            assert!(
                one_reader.windows(2).all(|w| w[0].version <= w[1].version),
                "a reader went back in versions"
            );
        }
    }

    pub fn bounded_stress_of_readers_and_one_writer<M: ConfigManager<Pair> + From<Pair>>(
        path: ReadPath<M>,
    ) {
        const STRESS_READERS: usize = 4;
        const READS: usize = 20_000;
        const PUBLISHES: u64 = 1_000;
        let census = Census::default();
        let manager = M::from(census.pair(0));
        thread::scope(|scope| {
            for _ in 0..STRESS_READERS {
                scope.spawn(|| {
                    let mut reader = path(&manager);
                    let mut newest = 0;
                    for _ in 0..READS {
                        let seen = reader.see();
                        // One writer publishing 1, 2, 3, ...: the value
                        // numbers the version, so any mix-up shows.
                        assert_eq!(seen.version, seen.whole() + 1, "{seen:?}");
                        assert!(seen.version >= newest, "{seen:?} after version {newest}");
                        newest = seen.version;
                    }
                });
            }
            for n in 1..=PUBLISHES {
                assert_eq!(manager.publish(census.pair(n)), n + 1);
            }
        });
        assert_eq!(path(&manager).see().version, PUBLISHES + 1);
        drop(manager);
        census.wait_for_live(0, "the manager is dropped");
    }
}

/// The tests about one read path: `$path` builds each thread's reader.
macro_rules! read_path_suite {
    ($name:ident, $manager:ty, $path:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn publish_is_visible_to_every_later_read() {
                suite::publish_is_visible_to_every_later_read::<$manager>($path);
            }

            #[test]
            fn reader_never_sees_an_older_version() {
                suite::reader_never_sees_an_older_version::<$manager>($path);
            }

            #[test]
            fn no_torn_value_under_concurrent_publishes() {
                suite::no_torn_value_under_concurrent_publishes::<$manager>($path);
            }

            #[test]
            fn bounded_stress_of_readers_and_one_writer() {
                suite::bounded_stress_of_readers_and_one_writer::<$manager>($path);
            }
        }
    };
}

/// The whole suite for one manager, both of its read paths included.
macro_rules! manager_suite {
    ($name:ident, $manager:ty) => {
        mod $name {
            use super::*;

            #[test]
            fn versions_start_at_one_and_count_publishes() {
                suite::versions_start_at_one_and_count_publishes::<$manager>();
            }

            #[test]
            fn concurrent_publishers_take_distinct_increasing_versions() {
                suite::concurrent_publishers_take_distinct_increasing_versions::<$manager>();
            }

            #[test]
            fn held_snapshot_is_unchanged_by_later_publishes() {
                suite::held_snapshot_is_unchanged_by_later_publishes::<$manager>();
            }

            #[test]
            fn replaced_configs_are_dropped_once_no_reader_holds_them() {
                suite::replaced_configs_are_dropped_once_no_reader_holds_them::<$manager>();
            }

            #[test]
            fn dropping_the_manager_frees_all_but_held_snapshots() {
                suite::dropping_the_manager_frees_all_but_held_snapshots::<$manager>();
            }

            read_path_suite!(read, $manager, via_read::<$manager>);
            read_path_suite!(snapshot, $manager, via_snapshot::<$manager>);
        }
    };
}

manager_suite!(mutex, MutexManager<Pair>);
manager_suite!(rwlock, RwLockManager<Pair>);
manager_suite!(arcswap, ArcSwapManager<Pair>);
manager_suite!(channel, ChannelManager<Pair>);
manager_suite!(watch, WatchManager<Pair>);

mod arcswap_cached {
    use super::*;

    read_path_suite!(cached, ArcSwapManager<Pair>, via_cache);

    /// The documented cost of the cache: it pins the config it last read.
    #[test]
    fn cache_keeps_the_previous_config_until_its_next_read() {
        let census = Census::default();
        let manager = ArcSwapManager::new(census.pair(0));
        let mut reader = manager.cached_reader();
        assert_eq!(reader.version(), 1);
        manager.publish(census.pair(1));
        census.wait_for_live(2, "the cache still holds version 1");
        assert_eq!(reader.see().whole(), 1);
        census.wait_for_live(1, "the next read let version 1 go");
        drop(manager);
        census.wait_for_live(1, "the reader keeps the current config alive");
        drop(reader);
        census.wait_for_live(0, "the reader is dropped");
    }
}

/// The thread names in this process, as `/proc/self/task/*/comm` shows them.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("listing /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
fn channel_owner_thread_ends_when_the_manager_is_dropped() {
    let census = Census::default();
    let manager = ChannelManager::new(census.pair(0));
    let name = manager.thread_name().to_owned();
    eventually(&format!("thread {name} is running"), || {
        thread_names().contains(&name)
    });
    let held = manager.snapshot();
    manager.publish(census.pair(1));

    // Dropped on another thread so a hang fails the test instead of stalling it.
    let (dropped, done) = std::sync::mpsc::channel();
    thread::spawn(move || {
        drop(manager);
        dropped.send(()).unwrap();
    });
    done.recv_timeout(DEADLINE)
        .expect("dropping a ChannelManager joins its owner thread without hanging");
    eventually(&format!("thread {name} is gone"), || {
        !thread_names().contains(&name)
    });
    census.wait_for_live(1, "only the held snapshot is left");
    assert_eq!(held.version, 1);
}
