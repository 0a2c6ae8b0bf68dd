//! The watchers, and every update pattern tested against each.
//!
//! - `Inotify` (Linux): inotify used directly, on the watch's reload
//!   thread. Watches directories (the kubelet and editors replace a file
//!   rather than write it) and the file itself (a write through a hard link
//!   or a bind mount is reported only there), and matches events by *name*
//!   (a key or `..data`), whatever their kind. It resolves the config's path
//!   component by component and watches every directory it passes through
//!   where a change could redirect it: the one holding the files, its parent,
//!   and every directory holding a symlink on the way. After a name on the
//!   way changes, a watch is lost (`IN_IGNORED`, `IN_UNMOUNT`, the directory
//!   deleted or moved) or the mount table changes (`/proc/self/mountinfo`),
//!   it resolves the path again and moves the watches; meanwhile the health
//!   is `Degraded` with the reason. `IN_Q_OVERFLOW` reloads everything.
//! - `Notify`: the same design on the portable `notify` crate
//!   (inotify, FSEvents, kqueue, ReadDirectoryChangesW).
//! - `Poll`: no events; every `poll_interval` it stats the whole
//!   resolution chain (each symlink's target, `..data`, the file's inode,
//!   size, mtime and ctime) and reads content only when something differs,
//!   or while an mtime is too recent to be trusted (2 s). An
//!   in-place change is published once it has stayed the same for
//!   [`Debounce::poll_settle`]. Works where events do not: network
//!   filesystems, some container runtimes' overlays.
//!
//! # Pattern × watcher
//!
//! Every row is a test run against every watcher, each pattern several
//! times in a row on one running watcher (`watchers/tests/matrix.rs` and
//! `reliability_faults.rs`); every bad input of `watchers/tests/bad_inputs.rs`
//! (invalid YAML, empty, wrong shape, missing field, non-UTF-8, over the
//! limit, alias bomb, deep nesting, a directory, a dangling symlink, a
//! symlink loop, permission denied) is rejected with its reason by every
//! watcher, and the next good file published.
//!
//! | pattern | notify | inotify | poll | notes |
//! |---|---|---|---|---|
//! | kubelet update, either symlink order | yes | yes | yes | the `..data` rename, matched by name; poll sees `..data`'s target change |
//! | several keys of one ConfigMap | yes | yes | yes | read under one `..data` resolution: never a mix of two updates |
//! | a key added or removed | yes | yes | yes | the watched key removed: reported as missing, last good kept |
//! | rename-replace (vim, `sed -i`, `mv`) | yes | yes | yes | new inode: `IN_MOVED_TO`; poll: inode |
//! | in-place rewrite (`>`, `cp`) | yes | yes | yes | reloads on the writer's close; poll: once stable for `poll_settle` |
//! | slow writer, every prefix valid YAML | only the whole file | only the whole file | only the whole file | waits for the close; poll: a pause longer than `poll_settle` would be taken for the end |
//! | delete, then create | yes | yes | yes | the missing file is reported; the new one published on its close |
//! | plain symlink swap (`ln -sfn`) | yes | yes | yes | the link's rename; poll: the link's target |
//! | the path a symlink into another directory, or a chain of them relinked | yes | yes | yes | every directory on the way watched |
//! | the config directory swapped by rename, deleted and re-created | yes | yes | yes | `health()` is `Degraded` while it is gone |
//! | the filesystem unmounted and mounted again, or a mount over the directory | yes | yes | yes | `IN_UNMOUNT`/`IN_IGNORED` and the mount table |
//! | `EIO`, `EMFILE` while reading | retried | retried | retried | backoff 100 ms … 5 s |
//! | a read that never returns (hung filesystem) | reported | reported | reported | the last good config served meanwhile |
//! | `touch`, same content rewritten | nothing published | nothing published | nothing published | looked at, equal hash |
//! | 1000 kubelet updates in a burst | last one served | last one served | last one served | commits reload at once, so event watchers publish many intermediate versions (each complete and valid); the poller sees one state per tick |
//! | a write no event announces (hard link elsewhere) | by resync | by resync | yes | resync counted |
//! | a `subPath` mount | never updated | never updated | never updated | the kubelet does not update `subPath` mounts: mount the directory |

// Links in the text resolve against the crate root.
#[allow(unused_imports)]
use crate::*;
