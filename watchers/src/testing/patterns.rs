//! The update patterns of `shared/configmap-volumes.md` §2, one function
//! each, doing the same system calls as the tools that use them.

use std::ffi::OsString;
use std::fs::{self, File, FileTimes};
use std::io::{self, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, SystemTime};

use super::random_u32;

/// An editor's save, `sed -i`, `mv new old`: the contents go to a temporary
/// file in the same directory, which is renamed over `path` (a new inode).
pub fn rename_replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temporary = hidden_sibling(path)?;
    fs::write(&temporary, contents)?;
    fs::rename(&temporary, path)
}

/// `cat new > path`: `open(O_TRUNC)`, one write, close (same inode).
pub fn write_in_place(path: &Path, contents: &[u8]) -> io::Result<()> {
    fs::write(path, contents)
}

/// An in-place rewrite a reader can catch half done: truncate, write the
/// first half, pause, write the rest, close. Between the writes the file is
/// a prefix of the new contents and no `IN_CLOSE_WRITE` has been sent.
pub fn write_in_place_slowly(path: &Path, contents: &[u8], pause: Duration) -> io::Result<()> {
    let (first, rest) = contents.split_at(contents.len() / 2);
    let mut file = File::create(path)?;
    file.write_all(first)?;
    file.flush()?;
    thread::sleep(pause);
    file.write_all(rest)
}

/// A slow writer: one `open(O_TRUNC)`, then each chunk written with `pause`
/// before the next, then close. With a YAML literal block written a line per
/// chunk, every prefix the file passes through is itself valid YAML, so only
/// waiting for the writer's close keeps a reader from publishing one.
pub fn write_in_chunks(path: &Path, chunks: &[&[u8]], pause: Duration) -> io::Result<()> {
    let mut file = File::create(path)?;
    for (index, chunk) in chunks.iter().enumerate() {
        if index > 0 {
            thread::sleep(pause);
        }
        file.write_all(chunk)?;
        file.flush()?;
    }
    Ok(())
}

/// A deploy script's `rm` then `cp`: the path is missing for `gap`.
pub fn delete_and_recreate(path: &Path, contents: &[u8], gap: Duration) -> io::Result<()> {
    fs::remove_file(path)?;
    thread::sleep(gap);
    fs::write(path, contents)
}

/// `ln -sfn new_target link`: a new symlink renamed over `link`, so `link`
/// always exists and its target changes atomically. `new_target` is stored
/// as given (relative targets resolve from `link`'s directory).
pub fn symlink_swap(link: &Path, new_target: &Path) -> io::Result<()> {
    let temporary = hidden_sibling(link)?;
    symlink(new_target, &temporary)?;
    fs::rename(&temporary, link)
}

/// A whole config directory replaced: `dir.new` is built with `files`, the
/// current `dir` is renamed to `dir.old`, `dir.new` renamed to `dir`, and
/// `dir.old` removed. Watches inside the old directory are gone afterwards.
pub fn swap_parent_dir(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    let new = sibling(dir, ".new")?;
    let old = sibling(dir, ".old")?;
    remove_dir_if_present(&new)?;
    fs::create_dir(&new)?;
    for (name, contents) in files {
        let path = new.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, contents)?;
    }
    let had_old = match fs::rename(dir, &old) {
        Ok(()) => true,
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(error) => return Err(error),
    };
    fs::rename(&new, dir)?;
    if had_old {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// `touch path` on an existing file: the modification time becomes now, the
/// contents stay (only `IN_ATTRIB`).
pub fn touch(path: &Path) -> io::Result<()> {
    File::open(path)?.set_times(FileTimes::new().set_modified(SystemTime::now()))
}

/// The same bytes written back in place: every event of a real edit, no
/// change of content.
pub fn rewrite_same(path: &Path) -> io::Result<()> {
    let contents = fs::read(path)?;
    write_in_place(path, &contents)
}

/// `dir/.name.<random>.tmp`: where editors put the file they rename in.
fn hidden_sibling(path: &Path) -> io::Result<PathBuf> {
    let name = file_name(path)?;
    let mut hidden = OsString::from(".");
    hidden.push(name);
    hidden.push(format!(".{}.tmp", random_u32()));
    Ok(path.with_file_name(hidden))
}

/// `path` with `suffix` appended to its last component.
fn sibling(path: &Path, suffix: &str) -> io::Result<PathBuf> {
    let mut name = file_name(path)?.to_os_string();
    name.push(suffix);
    Ok(path.with_file_name(name))
}

fn file_name(path: &Path) -> io::Result<&std::ffi::OsStr> {
    path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })
}

fn remove_dir_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;

/// A change no event announces: the same number of bytes written through a
/// shared memory mapping and synced (inotify(7): changes made through
/// `mmap` and `msync` are not reported). The mapping holds the open file,
/// whose one `IN_CLOSE_WRITE` comes when the returned [`Mapped`] is dropped
/// (`munmap` is its last close): until then nothing announces the change.
/// `contents` must be as long as the file: a mapping cannot grow it.
pub fn write_through_mmap(path: &Path, contents: &[u8]) -> io::Result<Mapped> {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new().read(true).write(true).open(path)?;
    let length = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if length != contents.len() || length == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a mapping writes only as many bytes as the file has",
        ));
    }
    // SAFETY: a fresh shared mapping of `length` bytes of an open file,
    // owned by the returned `Mapped`, which unmaps it.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            length,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mapped = Mapped { map, length };
    // SAFETY: `map` is `length` writable bytes, `contents` as many readable
    // ones, and they do not overlap.
    let synced = unsafe {
        std::ptr::copy_nonoverlapping(contents.as_ptr(), map.cast::<u8>(), length);
        libc::msync(map, length, libc::MS_SYNC)
    };
    if synced != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(mapped)
}

/// A file's shared mapping from [`write_through_mmap`]; dropping it unmaps
/// it, the file's last close.
#[derive(Debug)]
pub struct Mapped {
    map: *mut libc::c_void,
    length: usize,
}

// SAFETY: the mapping is owned, only unmapped (once) on drop.
unsafe impl Send for Mapped {}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `write_through_mmap`, unmapped once.
        unsafe { libc::munmap(self.map, self.length) };
    }
}
