//! The kernel's inotify limits, named for what they are when one is hit.
//!
//! inotify reports an exhausted limit with a generic errno: `EMFILE` ("Too
//! many open files") from `inotify_init1` when the user's instances are all
//! taken (`fs.inotify.max_user_instances`, 128 by default) and `ENOSPC`
//! ("No space left on device") from `inotify_add_watch` when the user's
//! watches are (`fs.inotify.max_user_watches`). Neither message says what
//! to raise; these do (inotify(7), "/proc interfaces").

use std::io;

/// An `inotify_init1` failure, with the limit it hit named.
pub(crate) fn init_error(error: io::Error) -> io::Error {
    if error.raw_os_error() != Some(libc::EMFILE) {
        return error;
    }
    match descriptors() {
        // The process's own descriptors are not all taken: the user's
        // inotify instances are.
        Some((open, limit)) if open + 1 < limit => instances_exhausted(error.kind()),
        Some((_, limit)) => io::Error::new(
            error.kind(),
            format!(
                "this process's file descriptor limit is reached (RLIMIT_NOFILE = {limit}): raise it (`ulimit -n`, the container runtime's nofile limit)"
            ),
        ),
        None => error,
    }
}

/// An `inotify_add_watch` failure, with the limit it hit named.
#[cfg_attr(not(feature = "inotify"), allow(dead_code))]
pub(crate) fn watch_error(error: io::Error) -> io::Error {
    if error.raw_os_error() == Some(libc::ENOSPC) {
        watches_exhausted(error.kind())
    } else {
        error
    }
}

/// A kernel inotify limit reached: the message names it.
#[derive(Debug)]
struct Exhausted(String);

impl std::fmt::Display for Exhausted {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Exhausted {}

/// Whether `error` is one of inotify's limits (instances or watches)
/// reached: what polling, which needs neither, can stand in for.
pub(crate) fn is_exhausted(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<Exhausted>())
}

fn instances_exhausted(kind: io::ErrorKind) -> io::Error {
    exhausted(
        kind,
        format!(
            "the inotify instance limit is reached (fs.inotify.max_user_instances = {}, per user): raise it (`sysctl -w fs.inotify.max_user_instances=512`) or stop other watchers running as this user; the poll watcher needs none",
            setting("max_user_instances")
        ),
    )
}

fn exhausted(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, Exhausted(message))
}

/// The watch budget exhausted, named with the setting to raise.
pub(crate) fn watches_exhausted(kind: io::ErrorKind) -> io::Error {
    exhausted(
        kind,
        format!(
            "the inotify watch limit is reached (fs.inotify.max_user_watches = {}, per user): raise it (`sysctl -w fs.inotify.max_user_watches=524288`); the poll watcher needs none",
            setting("max_user_watches")
        ),
    )
}

/// `/proc/sys/fs/inotify/<name>`, or `?` where it cannot be read.
fn setting(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

/// How many descriptors this process has open, and its soft limit.
fn descriptors() -> Option<(u64, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some((open, limit.rlim_cur))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_watch_budget_names_the_setting() {
        let named = watch_error(io::Error::from_raw_os_error(libc::ENOSPC)).to_string();
        assert!(
            named.contains("inotify watch limit") && named.contains("fs.inotify.max_user_watches"),
            "{named}"
        );
        assert!(is_exhausted(&watch_error(io::Error::from_raw_os_error(
            libc::ENOSPC
        ))));
        let other = watch_error(io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(other.raw_os_error(), Some(libc::EACCES));
        assert!(!is_exhausted(&other));
    }

    #[test]
    fn emfile_from_init_is_the_instance_limit_while_descriptors_remain() {
        // This test process is far from its descriptor limit.
        let named = init_error(io::Error::from_raw_os_error(libc::EMFILE)).to_string();
        assert!(
            named.contains("inotify instance limit")
                && named.contains("fs.inotify.max_user_instances"),
            "{named}"
        );
    }
}
