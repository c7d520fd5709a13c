//! Owner-only files written durably and atomically, for the console's secrets and database
//! neighbours and the agent's keys, journal and deployed files alike. The strongest of the
//! guarantees the copies this replaces had: the file is 0600 on Unix even when it existed
//! with a wider mode, its contents are fsynced before the rename, and the folder is fsynced
//! after it, so a crash leaves the old file or the new one, never a torn or empty one. (On
//! Windows the file inherits its folder's explicit DACL; the folder's sync is neither
//! possible nor needed there.)

use std::io::Write;
use std::path::{Path, PathBuf};

/// What failed, on which path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {}: {source}; check the folder's permissions and free space", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot move {} over {}: {source}", from.display(), to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// The underlying I/O error (its kind tells a full disk from a missing folder).
    pub fn io(&self) -> &std::io::Error {
        match self {
            Error::Write { source, .. } | Error::Rename { source, .. } => source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `server.crt` + `.certfleet-new` → `server.crt.certfleet-new` (beside it: a rename never
/// crosses file systems).
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` in place, readable by the owner only, flushed to disk. For a
/// file nothing reads until it is renamed into place (a staged file).
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    let failed = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open; make sure it is owner-only.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}

/// Replaces `path` with `bytes` atomically: an owner-only temporary file beside it, synced,
/// renamed over it, the folder synced.
pub fn replace_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = suffixed(path, ".certfleet-tmp");
    write_owner_only(&tmp, bytes)?;
    rename(&tmp, path)
}

/// Renames `from` over `to` and makes the rename durable.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| Error::Rename {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })?;
    sync_parent(to);
    Ok(())
}

#[cfg(unix)]
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_whole_and_owner_only_even_if_it_was_wider() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, b"old").expect("old");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("644");
        }
        replace_owner_only(&path, b"new").expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert!(
            !suffixed(&path, ".certfleet-tmp").exists(),
            "no temporary file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A staged file written over an existing wider one is narrowed too.
        let staged = suffixed(&path, ".certfleet-new");
        std::fs::write(&staged, b"x").expect("x");
        write_owner_only(&staged, b"y").expect("stage");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&staged)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_failure_names_the_path() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("missing-folder").join("key.pem");
        let e = replace_owner_only(&path, b"x").expect_err("no folder");
        assert!(e.to_string().contains("missing-folder"), "{e}");
        assert_eq!(e.io().kind(), std::io::ErrorKind::NotFound);
    }
}
