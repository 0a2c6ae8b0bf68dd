//! Whether a subject opened the config file: a bad file that a subject never
//! opened says nothing about how it handles bad files, so the bad-input
//! records say whether it was read. inotify on the directory reports
//! `IN_OPEN` by any process; the harness itself opens only its temporary
//! files there, never the config's name.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use inotify::{Inotify, WatchMask};

/// An `IN_OPEN` watch on one directory, for one file name.
pub struct OpenWatch {
    inotify: Inotify,
    name: &'static str,
}

impl OpenWatch {
    /// Watches opens of `dir/name`.
    pub fn new(dir: &Path, name: &'static str) -> io::Result<Self> {
        let inotify = Inotify::init()?;
        inotify.watches().add(dir, WatchMask::OPEN)?;
        Ok(Self { inotify, name })
    }

    /// Whether the file was opened since the last call (the first call
    /// counts from [`new`](Self::new)).
    pub fn opened(&mut self) -> io::Result<bool> {
        let mut buffer = [0; 4096];
        let mut opened = false;
        loop {
            match self.inotify.read_events(&mut buffer) {
                Ok(events) => {
                    let mut any = false;
                    for event in events {
                        any = true;
                        opened |= event.name == Some(OsStr::new(self.name));
                    }
                    if !any {
                        return Ok(opened);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(opened),
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_of_the_file_is_seen_and_of_another_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "a").unwrap();
        std::fs::write(dir.path().join("other"), "a").unwrap();
        let mut watch = OpenWatch::new(dir.path(), "config.yaml").unwrap();
        std::fs::read(dir.path().join("other")).unwrap();
        assert!(!watch.opened().unwrap());
        std::fs::read(dir.path().join("config.yaml")).unwrap();
        assert!(watch.opened().unwrap());
        assert!(!watch.opened().unwrap());
    }
}
