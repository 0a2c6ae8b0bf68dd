//! [`PollWatcher`]: stat the whole resolution chain on a timer.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Select};

use crate::reload::loader::{DATA_LINK, absolute};
use crate::watcher::Change;
use crate::watcher::inbox::Pump;
use crate::watcher::kind::BuiltinWatcher;
use crate::watcher::{Signal, Signals};
use crate::{ConfigSource, Trigger, WatchOptions};

/// Looks at the config every `poll_interval`, through every symlink.
///
/// Each tick it takes a fingerprint without reading any content: the
/// directory's device and inode (a swapped directory), the target of
/// `..data`, and for every key each symlink target along its resolution
/// chain and the final file's device, inode, size, mtime and ctime (in
/// nanoseconds). Any difference is a change; the loader's content hash then
/// decides whether anything is published. Looking through the symlinks is
/// what `lstat`-based pollers miss: the user-visible key symlink of a
/// ConfigMap never changes.
///
/// Same files with new bytes is an in-place write: the poller cannot see the
/// writer's close, so it reports the change as a write and reports it
/// complete only once the fingerprint has stayed the same for
/// [`Debounce::poll_settle`](crate::Debounce::poll_settle) (1 s by default),
/// looking a few times within that window: a writer pausing longer than
/// that between two writes is taken for done, which is the one thing a
/// poller cannot know. A new inode, a changed link or `..data` is a commit
/// and reloads on the tick that sees it.
///
/// [`Watch::reload_now`](crate::Watch::reload_now) (SIGHUP) waits for the
/// same evidence: the reload happens once the fingerprint has stayed the
/// same for the settle window from the request, so a write in progress
/// when it was asked is read whole (the poller
/// [answers it itself](crate::watcher::Watcher::answers_reload_now)).
///
/// Metadata cannot tell two same-size writes apart when both land in one
/// timestamp granule (kernel timestamps come from a coarse clock; some
/// filesystems keep whole seconds). So, as git does for "racily clean"
/// index entries, a fingerprint taken less than [`RACY_WINDOW`] after a
/// file's mtime is not trusted: on the next ticks the content is read and
/// its hash compared, until the mtime is older than that window. When
/// nothing changes for `RACY_WINDOW`, a tick reads nothing at all.
///
/// It runs on the watch's reload thread (its ticks are deadlines of that
/// thread's wait), so a watch is one thread.
pub struct PollWatcher;

/// How many times the fingerprint is looked at within the settle window
/// while a write settles.
const LOOKS_PER_SETTLE: u32 = 4;

/// How long after a file's mtime metadata may still miss a same-size
/// rewrite: covers coarse kernel clocks (up to 10 ms) and filesystems with
/// one- and two-second timestamps.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Symlinks followed before a chain counts as a loop (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

impl BuiltinWatcher for PollWatcher {
    const TRIGGER: Trigger = Trigger::Poll;
    const RESYNC: bool = false;
    const ANSWERS_RELOAD_NOW: bool = true;

    fn establish(
        source: &ConfigSource,
        options: &WatchOptions,
        signals: Signals,
    ) -> io::Result<Self> {
        let reload_asked = Arc::new(AtomicBool::new(false));
        let asked = Arc::clone(&reload_asked);
        let nudge = signals.nudger();
        signals.on_reload_now(move || {
            asked.store(true, Ordering::SeqCst);
            nudge();
        });
        let source = source.with_dir(absolute(source.dir()));
        let pump = PollPump {
            previous: Fingerprint::take(&source),
            source,
            interval: options.poll_interval,
            settle: options.debounce.poll_settle,
            next_tick: Instant::now() + options.poll_interval,
            reload_asked,
            unsettled: None,
            answering: false,
            write_reported: false,
            locked: false,
            signals: signals.clone(),
        };
        // Ticks are deadlines of the driver's own wait: no bell needed.
        signals.run_on_driver(pump, || {});
        Ok(Self)
    }
}

/// The poller's loop, run by the driver between reloads.
struct PollPump {
    source: ConfigSource,
    interval: Duration,
    settle: Duration,
    next_tick: Instant,
    previous: Fingerprint,
    /// Set by `Watch::reload_now` (from any thread), taken on the next look.
    reload_asked: Arc<AtomicBool>,
    /// When the last in-place change (or reload request) was seen, while it
    /// settles.
    unsettled: Option<Instant>,
    /// A reload asked, answered once the files have settled.
    answering: bool,
    /// A write was reported to the driver and its end not yet.
    write_reported: bool,
    /// The config could not be read for its permissions at the last look.
    locked: bool,
    signals: Signals,
}

impl Pump for PollPump {
    fn wait(&mut self, inbox: &Receiver<Signal>, deadline: Option<Instant>) -> bool {
        let until = deadline.map_or(self.next_tick, |deadline| deadline.min(self.next_tick));
        if !self.reload_asked.load(Ordering::SeqCst) {
            let mut select = Select::new();
            select.recv(inbox);
            // Either a signal is waiting (the driver takes it) or time is up.
            let _ = select.ready_deadline(until);
        }
        let now = Instant::now();
        let asked = self.reload_asked.swap(false, Ordering::SeqCst);
        if asked {
            self.answering = true;
            self.unsettled.get_or_insert(now);
        }
        if asked || now >= self.next_tick {
            self.tick(now);
            let wait = match self.unsettled {
                Some(_) => self.interval.min(self.settle / LOOKS_PER_SETTLE),
                None => self.interval,
            };
            self.next_tick = now + wait;
        }
        true
    }
}

impl PollPump {
    /// One look at the files: what changed since the last one, reported.
    fn tick(&mut self, now: Instant) {
        let signals = &self.signals;
        let current = Fingerprint::take(&self.source);
        let denied = current.permission_denied();
        if denied != self.locked {
            self.locked = denied;
            if denied {
                signals.degraded(format!(
                    "cannot read the config at {}: permission denied; looking again every {:?}",
                    self.source.dir().display(),
                    self.interval
                ));
            } else {
                signals.watching();
            }
        }
        if current != self.previous {
            let change = self.previous.classify(&current);
            self.unsettled = (change == Change::Write || self.answering).then_some(now);
            // While a reload is asked, a write is waited for here and the
            // asked reload reads it whole.
            if change != Change::Write || !self.answering {
                // Any other change ends a reported write too.
                self.write_reported = change == Change::Write;
                signals.change_at(change, now);
            }
        } else if let Some(since) = self.unsettled {
            // No close to wait for: the same size and mtime for `settle` is
            // the best sign the writer is done.
            if now.duration_since(since) >= self.settle {
                self.unsettled = None;
                if std::mem::take(&mut self.write_reported) {
                    signals.change_at(Change::Commit, now);
                }
                if std::mem::take(&mut self.answering) {
                    signals.reload_now();
                }
            }
        } else if self.previous.racy {
            signals.verify();
        }
        self.previous = current;
    }
}

/// What one tick sees; equal fingerprints mean "no change", except when racy.
#[derive(Debug)]
struct Fingerprint {
    /// `(dev, inode)`: a replaced directory. Not its mtime, which every
    /// editor swap file and kubelet temporary entry changes.
    dir: Result<(u64, u64), Option<i32>>,
    data_link: Option<PathBuf>,
    keys: Vec<Chain>,
    /// Some file's mtime is too recent for metadata to be trusted.
    racy: bool,
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        (&self.dir, &self.data_link, &self.keys) == (&other.dir, &other.data_link, &other.keys)
    }
}

#[derive(Debug, PartialEq)]
struct Chain {
    links: Vec<PathBuf>,
    file: Result<FileStat, Option<i32>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct FileStat {
    dev: u64,
    ino: u64,
    mode: u32,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStat {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            mode: metadata.mode(),
            size: metadata.size(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
            ctime_ns: i128::from(metadata.ctime()) * 1_000_000_000
                + i128::from(metadata.ctime_nsec()),
        }
    }

    fn is_racy(&self, now_ns: i128) -> bool {
        (self.mtime_ns..self.mtime_ns + RACY_WINDOW.as_nanos() as i128).contains(&now_ns)
    }
}

impl Fingerprint {
    /// Whether the directory or a file could not be looked at for want of
    /// permission.
    fn permission_denied(&self) -> bool {
        let denied = |error: &Option<i32>| *error == Some(libc::EACCES);
        self.dir.as_ref().err().is_some_and(denied)
            || self
                .keys
                .iter()
                .any(|chain| chain.file.as_ref().err().is_some_and(denied))
    }

    fn take(source: &ConfigSource) -> Self {
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_nanos() as i128);
        let keys: Vec<Chain> = source
            .file_names()
            .iter()
            .map(|key| Chain::resolve(&source.dir().join(key)))
            .collect();
        let racy = keys
            .iter()
            .any(|chain| chain.file.as_ref().is_ok_and(|file| file.is_racy(now_ns)));
        Self {
            dir: fs::metadata(source.dir())
                .map(|metadata| (metadata.dev(), metadata.ino()))
                .map_err(|error| error.raw_os_error()),
            data_link: fs::read_link(source.dir().join(DATA_LINK)).ok(),
            keys,
            racy,
        }
    }

    /// Same files with new bytes is an in-place write (debounced); anything
    /// else replaced a file or a link, which is atomic.
    fn classify(&self, current: &Self) -> Change {
        let same_files = self.dir == current.dir
            && self.data_link == current.data_link
            && self.keys.len() == current.keys.len()
            && self.keys.iter().zip(&current.keys).all(|(before, now)| {
                before.links == now.links
                    && match (&before.file, &now.file) {
                        (Ok(before), Ok(now)) => (before.dev, before.ino) == (now.dev, now.ino),
                        (before, now) => before == now,
                    }
            });
        if same_files {
            Change::Write
        } else {
            Change::Commit
        }
    }
}

impl Chain {
    /// Follows `path` link by link, recording each target, to the file.
    fn resolve(path: &Path) -> Self {
        let mut links = Vec::new();
        let mut current = path.to_path_buf();
        while links.len() <= MAX_SYMLINKS {
            let metadata = match fs::symlink_metadata(&current) {
                Ok(metadata) => metadata,
                Err(error) => {
                    return Self {
                        links,
                        file: Err(error.raw_os_error()),
                    };
                }
            };
            if !metadata.file_type().is_symlink() {
                return Self {
                    links,
                    file: Ok(FileStat::of(&metadata)),
                };
            }
            let target = match fs::read_link(&current) {
                Ok(target) => target,
                Err(error) => {
                    return Self {
                        links,
                        file: Err(error.raw_os_error()),
                    };
                }
            };
            current = current
                .parent()
                .map_or_else(|| target.clone(), |parent| parent.join(&target));
            links.push(target);
        }
        Self {
            links,
            file: Err(Some(libc::ELOOP)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i128 = 1_000_000_000;

    fn file(ino: u64, size: u64, mtime_ns: i128) -> Result<FileStat, Option<i32>> {
        Ok(FileStat {
            dev: 1,
            ino,
            mode: 0o100644,
            size,
            mtime_ns,
            ctime_ns: mtime_ns,
        })
    }

    fn fingerprint(links: &[&str], file: Result<FileStat, Option<i32>>) -> Fingerprint {
        Fingerprint {
            dir: Ok((1, 2)),
            data_link: Some(PathBuf::from("..2026_11_26_10_00_00.1")),
            keys: vec![Chain {
                links: links.iter().map(PathBuf::from).collect(),
                file,
            }],
            racy: false,
        }
    }

    #[test]
    fn an_mtime_is_trusted_only_once_the_racy_window_has_passed() {
        let mtime = 1_000 * SECOND;
        let stat = file(7, 10, mtime).unwrap();
        assert!(stat.is_racy(mtime), "stat in the same instant as the write");
        assert!(stat.is_racy(mtime + SECOND), "within the window");
        assert!(!stat.is_racy(mtime + 2 * SECOND), "the window has passed");
        assert!(
            !stat.is_racy(mtime - SECOND),
            "an mtime in the future cannot be repeated by a later write"
        );
    }

    #[test]
    fn same_file_new_bytes_is_an_in_place_write() {
        let before = fingerprint(&["..data/app.yaml"], file(7, 10, SECOND));
        let after = fingerprint(&["..data/app.yaml"], file(7, 12, 2 * SECOND));
        assert_ne!(before, after);
        assert_eq!(before.classify(&after), Change::Write);
    }

    #[test]
    fn a_new_inode_or_link_target_is_a_commit() {
        let before = fingerprint(&["blue.yaml"], file(7, 10, SECOND));
        assert_eq!(
            before.classify(&fingerprint(&["blue.yaml"], file(8, 10, SECOND))),
            Change::Commit
        );
        assert_eq!(
            before.classify(&fingerprint(&["green.yaml"], file(7, 10, SECOND))),
            Change::Commit
        );
        assert_eq!(
            before.classify(&fingerprint(&["blue.yaml"], Err(Some(libc::ENOENT)))),
            Change::Commit
        );
        let mut swapped = fingerprint(&["blue.yaml"], file(7, 10, SECOND));
        swapped.data_link = Some(PathBuf::from("..2026_11_26_10_00_01.2"));
        assert_eq!(before.classify(&swapped), Change::Commit);
    }

    #[test]
    fn racy_is_not_part_of_equality() {
        let mut racy = fingerprint(&[], file(7, 10, SECOND));
        racy.racy = true;
        assert_eq!(racy, fingerprint(&[], file(7, 10, SECOND)));
    }
}
