//! [`PollWatcher`]: stat the whole resolution chain on a timer.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::{Arc, Condvar, Mutex};

use crate::reload::loader::{DATA_LINK, absolute};
use crate::watcher::Change;
use crate::watcher::kind::BuiltinWatcher;
use crate::watcher::{JoinOnDrop, Signals};
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
pub struct PollWatcher {
    _thread: JoinOnDrop,
}

/// What the poller sleeps on between ticks: one futex wait per tick (a
/// channel's receive would spin and yield first, several wake-ups per tick).
#[derive(Default)]
struct Control {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// `Watch::reload_now` was called since the last tick.
    reload_asked: bool,
}

/// Why a sleep ended.
#[derive(Debug, PartialEq, Eq)]
enum Woke {
    Tick,
    ReloadAsked,
    Stopped,
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.wake.notify_all();
    }

    fn ask_reload(&self) {
        self.lock().reload_asked = true;
        self.wake.notify_all();
    }

    /// Sleeps for `interval`, or until stopped or a reload is asked.
    fn sleep(&self, interval: Duration) -> Woke {
        let state = self.lock();
        let (mut state, _) = self
            .wake
            .wait_timeout_while(state, interval, |state| {
                !state.stopped && !state.reload_asked
            })
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.stopped {
            Woke::Stopped
        } else if std::mem::take(&mut state.reload_asked) {
            Woke::ReloadAsked
        } else {
            Woke::Tick
        }
    }
}

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
        let control = Arc::new(Control::default());
        let asked = Arc::clone(&control);
        signals.on_reload_now(move || asked.ask_reload());
        let ticks = Arc::clone(&control);
        let source = source.with_dir(absolute(source.dir()));
        let interval = options.poll_interval;
        let settle = options.debounce.poll_settle;
        let mut previous = Fingerprint::take(&source);
        // When the last in-place change (or reload request) was seen, while
        // it settles.
        let mut unsettled: Option<Instant> = None;
        // A reload asked, answered once the files have settled.
        let mut reload_asked = false;
        // A write was reported to the driver and its end not yet.
        let mut write_reported = false;
        // The config could not be read for its permissions at the last look.
        let mut locked = false;
        let thread = signals.spawn("watchers-poll", move |signals| {
            loop {
                let wait = match unsettled {
                    Some(_) => interval.min(settle / LOOKS_PER_SETTLE),
                    None => interval,
                };
                let now = match ticks.sleep(wait) {
                    Woke::Stopped => return,
                    Woke::Tick => Instant::now(),
                    Woke::ReloadAsked => {
                        let now = Instant::now();
                        reload_asked = true;
                        unsettled.get_or_insert(now);
                        now
                    }
                };
                let current = Fingerprint::take(&source);
                let denied = current.permission_denied();
                if denied != locked {
                    locked = denied;
                    if denied {
                        signals.degraded(format!(
                            "cannot read the config at {}: permission denied; looking again every {interval:?}",
                            source.dir().display()
                        ));
                    } else {
                        signals.watching();
                    }
                }
                if current != previous {
                    let change = previous.classify(&current);
                    unsettled = (change == Change::Write || reload_asked).then_some(now);
                    // While a reload is asked, a write is waited for here
                    // and the asked reload reads it whole.
                    if change != Change::Write || !reload_asked {
                        // Any other change ends a reported write too.
                        write_reported = change == Change::Write;
                        signals.change_at(change, now);
                    }
                } else if let Some(since) = unsettled {
                    // No close to wait for: the same size and mtime for
                    // `settle` is the best sign the writer is done.
                    if now.duration_since(since) >= settle {
                        unsettled = None;
                        if std::mem::take(&mut write_reported) {
                            signals.change_at(Change::Commit, now);
                        }
                        if std::mem::take(&mut reload_asked) {
                            signals.reload_now();
                        }
                    }
                } else if previous.racy {
                    signals.verify();
                }
                previous = current;
            }
        })?;
        Ok(Self {
            _thread: JoinOnDrop::new(thread, move || control.stop()),
        })
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
