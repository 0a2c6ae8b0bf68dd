//! Real mounts for a test: a tmpfs (the config's filesystem unmounted and
//! mounted again under a running watcher, as a node's volume remount does),
//! and a bind mount (one file shown at another path, as a single-file
//! volume is).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A tmpfs mounted at a directory; unmounted (lazily) when dropped.
///
/// Mounting needs `CAP_SYS_ADMIN` (root, as CI runs); where it is refused,
/// [`Tmpfs::mount`] returns the error so a test can skip with the reason.
#[derive(Debug)]
pub struct Tmpfs {
    at: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    /// Mounts a new, empty tmpfs at `at` (an existing directory).
    pub fn mount(at: &Path) -> io::Result<Self> {
        let mut tmpfs = Self {
            at: at.to_path_buf(),
            mounted: false,
        };
        tmpfs.remount()?;
        Ok(tmpfs)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.at
    }

    /// Unmounts it: the directory underneath is visible again.
    pub fn unmount(&mut self) -> io::Result<()> {
        if self.mounted {
            let target = c_path(&self.at)?;
            // SAFETY: a valid NUL-terminated path; no memory is shared.
            if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
                return Err(io::Error::last_os_error());
            }
            self.mounted = false;
        }
        Ok(())
    }

    /// Unmounts it if mounted, then mounts a new, empty tmpfs in its place.
    pub fn remount(&mut self) -> io::Result<()> {
        self.unmount()?;
        let target = c_path(&self.at)?;
        let kind = CString::new("tmpfs").expect("no NUL");
        // SAFETY: valid NUL-terminated strings; a null data pointer is allowed.
        let mounted = unsafe {
            libc::mount(
                kind.as_ptr(),
                target.as_ptr(),
                kind.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if mounted != 0 {
            return Err(io::Error::last_os_error());
        }
        self.mounted = true;
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

/// A file (or directory) bind-mounted at another path, as `docker run -v
/// host.yaml:/etc/app.yaml` or a Kubernetes `hostPath` volume of type
/// `File` shows one: the same inode at both paths, so a write to either is
/// a write to both. Unmounted (lazily) when dropped.
///
/// Mounting needs `CAP_SYS_ADMIN` (root, as CI runs); where it is refused,
/// [`BindMount::new`] returns the error so a test can skip with the reason.
#[derive(Debug)]
pub struct BindMount {
    at: PathBuf,
}

impl BindMount {
    /// Shows `source` at `at` (an existing file, or directory, of the same
    /// kind).
    pub fn new(source: &Path, at: &Path) -> io::Result<Self> {
        let (from, to) = (c_path(source)?, c_path(at)?);
        // SAFETY: valid NUL-terminated strings; bind mounts take no type or data.
        let mounted = unsafe {
            libc::mount(
                from.as_ptr(),
                to.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if mounted != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            at: at.to_path_buf(),
        })
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        if let Ok(target) = c_path(&self.at) {
            // SAFETY: a valid NUL-terminated path; no memory is shared.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}
