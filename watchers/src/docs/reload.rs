//! How a reload works, whatever noticed it.
//!
//! Every watcher only *notices*; one driver thread per [`Watch`] does the
//! rest, the same way for all of them:
//!
//! 1. **Debounce** ([`Debounce`]): an atomic commit (a rename, a delete, a
//!    symlink swap, the writer's close) reloads at once; an in-place write
//!    waits for its writer's close (`IN_CLOSE_WRITE`), never for a quiet
//!    timer, because every prefix of a YAML file can parse.
//! 2. **Read**: in a ConfigMap mount `..data` is resolved
//!    once and every key is read from that one directory, so keys updated
//!    together are read together; if the kubelet deletes that directory
//!    mid-read, the read is retried against the new `..data`. Files over
//!    `max_config_bytes` are refused from their size, before being read.
//! 3. **Compare**: the blake3 hash of every key's name and bytes equals the
//!    published one → nothing to do (a `touch`, a same-content rewrite).
//! 4. **Decode and validate** ([`Format`], [`Decode`]): YAML (serde-saphyr,
//!    with its budgets against alias bombs and deep nesting, duplicate keys
//!    rejected), JSON (serde_json) or TOML (`toml`), then the validation hook.
//! 5. **Publish** or **report**: a new valid config is published; anything
//!    else is a [`ReloadOutcome::Failed`] with a typed [`LoadError`], logged
//!    (`warn`, once per streak for repeated trouble) and sent to the
//!    [`Observer`], and the last good config stays. Its
//!    [`LoadErrorKind`] says what to fix, and its [`label`](LoadErrorKind::label)
//!    is what metrics count: [`Syntax`](LoadErrorKind::Syntax) (`syntax`: not
//!    a document of the format), [`Schema`](LoadErrorKind::Schema) (a
//!    document that does not fit the type, by [`SchemaErrorKind`]:
//!    `wrong_type`, `missing_field`, `unknown_field`, `duplicate_key`),
//!    [`Invalid`](LoadErrorKind::Invalid) (`invalid`: refused by the
//!    validation hook, a [`ValidationError`]), or a reason the file could not
//!    be read (`missing`, `permission_denied`, `io`, ...). A reason never
//!    quotes the file: a decoding error gives the line, the column and the
//!    field's path as the type names it (`servers[2].port`; a map's keys,
//!    which are the file's, show as `<key>`).
//! 6. **Retry** what can go away: a load that failed with `EMFILE`, `EIO`,
//!    `ESTALE`, ... ([`LoadError::is_transient`]) is tried again with capped
//!    exponential backoff ([`Backoff`]) until it succeeds or fails for a
//!    content reason; each retry goes to [`Observer::retrying`].
//!
//! Event watchers also **resync**: every `resync_interval` the content is
//! re-read and compared (never while an in-place write is open), so a change
//! no event announced (written through a hard link elsewhere, events lost) is
//! still published, and counted ([`Observer::resync_found_change`]). A
//! **watchdog** reports a reload that runs longer than
//! [`WatchOptions::stuck_after`] ([`Observer::reload_stuck`],
//! [`Watch::reload_running_for`]): a read blocked in a hung filesystem.
//!
//! **Threads.** A watch of files runs one: the inotify watcher and the
//! poller run on its reload thread, which waits for the kernel's events (or
//! the next tick) and for requests in one place. The `notify` watcher runs
//! four (notify's own, one forwarding its events, one watching the mount
//! table, the reload thread); the Kubernetes API adds its runtime's thread.
//! One watchdog thread serves every watch of the process. Dropping a
//! [`Watch`] joins its threads.

// Links in the text resolve against the crate root.
#[allow(unused_imports)]
use crate::*;
