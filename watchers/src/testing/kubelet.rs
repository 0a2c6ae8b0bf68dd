//! The kubelet's atomic writer (`pkg/volume/util/atomic_writer.go`,
//! `AtomicWriter.Write`), step for step, on a real directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::random_u32;

/// The symlink whose `rename(2)` commits an update.
const DATA: &str = "..data";
/// Where the next `..data` is built before the rename.
const DATA_TMP: &str = "..data_tmp";
/// The mode the kubelet gives the timestamped directory.
const DIR_MODE: u32 = 0o755;
/// A ConfigMap volume's default file mode (`defaultMode`).
const FILE_MODE: u32 = 0o644;

/// Which order the kubelet creates user-visible key symlinks in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SymlinkOrder {
    /// Current kubelets: a new key's symlink appears just after the `..data`
    /// rename, so for a moment the key exists in `..data` but not at the top.
    #[default]
    AfterCommit,
    /// Older kubelets (before the Windows symlink fix): new keys' symlinks are
    /// created before `..data_tmp`, dangling until the rename.
    BeforeCommit,
}

/// A directory the kubelet projects a ConfigMap payload into
/// (`shared/configmap-volumes.md` §1).
///
/// Each [`project`](Self::project) is one `AtomicWriter.Write`: a new
/// `..YYYY_MM_DD_HH_MM_SS.<random>` directory (0755) holding every key as a
/// regular file (0644, subdirectories for keys with `/`), a `..data_tmp`
/// symlink to it renamed over `..data`, a `key -> ..data/key` symlink per
/// top-level key, removed keys' symlinks deleted and the previous directory
/// removed. An unchanged payload changes nothing on disk.
#[derive(Debug, Clone)]
pub struct KubeletVolume {
    dir: PathBuf,
    order: SymlinkOrder,
}

impl KubeletVolume {
    /// A volume in `dir`, with the current kubelets' symlink order.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_order(dir, SymlinkOrder::AfterCommit)
    }

    /// A volume in `dir` creating key symlinks in `order`.
    pub fn with_order(dir: impl Into<PathBuf>, order: SymlinkOrder) -> Self {
        Self {
            dir: dir.into(),
            order,
        }
    }

    /// The mount directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Projects the full payload (all keys; keys absent from it are removed).
    /// Returns whether anything was written: `false` for a payload equal to
    /// the current one (a missing key symlink is still put back, as the
    /// kubelet does).
    pub fn project<K: AsRef<str>, V: AsRef<[u8]>>(&self, payload: &[(K, V)]) -> io::Result<bool> {
        Ok(self.project_timed(payload)?.is_some())
    }

    /// [`project`](Self::project), returning the instant just before the
    /// `..data` rename (the commit point latencies are measured from), or
    /// `None` when the payload was unchanged.
    pub fn project_timed<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        payload: &[(K, V)],
    ) -> io::Result<Option<Instant>> {
        let payload = validated(payload)?;
        fs::create_dir_all(&self.dir)?;

        // Steps 1-3: find the current version, what it has that the payload
        // lacks, and whether anything differs at all.
        let old_dir = self.current_data_dir()?;
        let (removed, changed) = match &old_dir {
            Some(old) => {
                let old = self.dir.join(old);
                (
                    removed_paths(&old, &payload)?,
                    payload_differs(&old, &payload)?,
                )
            }
            None => (BTreeSet::new(), true),
        };
        if !changed && removed.is_empty() {
            self.create_user_visible_symlinks(&payload)?;
            return Ok(None);
        }

        // Steps 4-5: the new version, complete before anything points at it.
        let new_dir = self.create_timestamped_dir()?;
        write_payload(&self.dir.join(&new_dir), &payload)?;
        if self.order == SymlinkOrder::BeforeCommit {
            self.create_user_visible_symlinks(&payload)?;
        }

        // Steps 6-7: the commit.
        let tmp = self.dir.join(DATA_TMP);
        remove_if_present(&tmp)?;
        symlink(&new_dir, &tmp)?;
        let committed_at = Instant::now();
        fs::rename(&tmp, self.dir.join(DATA))?;

        // Steps 8-10: the user-visible names, then the old version goes.
        if self.order == SymlinkOrder::AfterCommit {
            self.create_user_visible_symlinks(&payload)?;
        }
        for top_level in removed.iter().filter(|path| !path.contains('/')) {
            remove_if_present(&self.dir.join(top_level))?;
        }
        if let Some(old) = old_dir {
            fs::remove_dir_all(self.dir.join(old))?;
        }
        Ok(Some(committed_at))
    }

    /// The name of the timestamped directory `..data` points at, if any.
    fn current_data_dir(&self) -> io::Result<Option<PathBuf>> {
        match fs::read_link(self.dir.join(DATA)) {
            Ok(target) => Ok(Some(target)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Step 4. Like Go's `os.MkdirTemp(dir, "..<timestamp>.")`: the prefix
    /// plus a random decimal `u32`, retried on a name clash.
    fn create_timestamped_dir(&self) -> io::Result<PathBuf> {
        let prefix = format!("..{}.", utc_timestamp(SystemTime::now()));
        for _ in 0..100 {
            let name = PathBuf::from(format!("{prefix}{}", random_u32()));
            let path = self.dir.join(&name);
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(DIR_MODE))?;
                    return Ok(name);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free timestamped directory name",
        ))
    }

    /// Step 8: `top -> ..data/top` for each top-level name that is missing;
    /// existing ones already resolve through `..data` and are left alone.
    fn create_user_visible_symlinks(&self, payload: &Payload<'_>) -> io::Result<()> {
        let top_levels: BTreeSet<&str> = payload
            .keys()
            .map(|key| key.split('/').next().unwrap_or(key))
            .collect();
        for top in top_levels {
            let link = self.dir.join(top);
            match fs::symlink_metadata(&link) {
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    symlink(Path::new(DATA).join(top), &link)?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// Keys (relative paths with `/`) mapped to their contents; the last of
/// duplicate keys wins.
type Payload<'a> = BTreeMap<&'a str, &'a [u8]>;

/// The kubelet rejects keys that would escape the volume or collide with its
/// own `..` names; so does the emulation, so a test cannot build a layout
/// the kubelet never would.
fn validated<K: AsRef<str>, V: AsRef<[u8]>>(payload: &[(K, V)]) -> io::Result<Payload<'_>> {
    payload
        .iter()
        .map(|(key, value)| {
            let key = key.as_ref();
            let path = Path::new(key);
            let escapes = path
                .components()
                .any(|c| !matches!(c, Component::Normal(_)));
            if key.is_empty() || key.starts_with("..") || escapes {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid ConfigMap key {key:?}"),
                ));
            }
            Ok((key, value.as_ref()))
        })
        .collect()
}

/// Step 2: every path in the old directory that no key is or lies under.
fn removed_paths(old_dir: &Path, payload: &Payload<'_>) -> io::Result<BTreeSet<String>> {
    let mut kept = BTreeSet::new();
    for key in payload.keys() {
        let mut prefix = *key;
        kept.insert(prefix);
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            kept.insert(parent);
            prefix = parent;
        }
    }
    let mut existing = BTreeSet::new();
    collect_relative_paths(old_dir, "", &mut existing)?;
    Ok(existing
        .into_iter()
        .filter(|path| !kept.contains(path.as_str()))
        .collect())
}

fn collect_relative_paths(dir: &Path, prefix: &str, into: &mut BTreeSet<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            collect_relative_paths(&entry.path(), &relative, into)?;
        }
        into.insert(relative);
    }
    Ok(())
}

/// Step 3: a key missing from the old directory or with other bytes.
fn payload_differs(old_dir: &Path, payload: &Payload<'_>) -> io::Result<bool> {
    for (key, contents) in payload {
        match fs::read(old_dir.join(key)) {
            Ok(old) if old == *contents => {}
            Ok(_) => return Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(error) => return Err(error),
        }
    }
    Ok(false)
}

/// Step 5.
fn write_payload(dir: &Path, payload: &Payload<'_>) -> io::Result<()> {
    for (key, contents) in payload {
        let path = dir.join(key);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, contents)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// `YYYY_MM_DD_HH_MM_SS` in UTC, Go's `2006_01_02_15_04_05` layout.
fn utc_timestamp(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    format!("{year:04}_{month:02}_{day:02}_{hour:02}_{minute:02}_{second:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`): a few lines instead of a date crate.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
