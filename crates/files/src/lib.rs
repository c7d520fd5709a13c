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

/// Who a written file belongs to and who may read it (Unix: owner, group and mode, set on
/// the open file; on Windows the file inherits its folder's ACL and this is not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// `(uid, gid)`; `None` keeps the writer's. Changing it needs privilege: when the
    /// change is refused the file stays the writer's (still owner-only or narrower).
    pub owner: Option<(u32, u32)>,
    pub mode: u32,
}

impl Access {
    /// The writer's, read and written by it alone.
    pub const OWNER_ONLY: Access = Access {
        owner: None,
        mode: 0o600,
    };

    /// The owner, group and mode `meta` shows (a file being replaced keeps them).
    #[cfg(unix)]
    pub fn like(meta: &std::fs::Metadata) -> Access {
        use std::os::unix::fs::MetadataExt;
        Access {
            owner: Some((meta.uid(), meta.gid())),
            mode: meta.mode() & 0o7777,
        }
    }

    #[cfg(not(unix))]
    pub fn like(_meta: &std::fs::Metadata) -> Access {
        Access::OWNER_ONLY
    }

    /// The same owner and group, readable by the owner only (a private key's file).
    pub fn private(self) -> Access {
        Access {
            mode: 0o600,
            ..self
        }
    }
}

/// Writes `bytes` to a new file at `path` with the given owner and mode, flushed to disk: for
/// a file nothing reads until it is renamed into place (a staged file). Whatever was at
/// `path` goes first; the file is then created new (`O_EXCL`, `O_NOFOLLOW`), so a link
/// someone planted there is removed, never written through. Owner and mode are set on the
/// open file before any byte is written (never by path, which someone could swap in between).
pub fn write_new(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    let failed = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    // `remove_file` takes a link itself, not what it points to.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let mut file = options.open(path).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Some((uid, gid)) = access.owner {
            // Best effort: only root may give a file away; refused, it stays the writer's.
            let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
        }
        // After the owner: a change of owner clears set-id bits.
        file.set_permissions(std::fs::Permissions::from_mode(access.mode))
            .map_err(failed)?;
    }
    #[cfg(not(unix))]
    let _ = access;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}

/// Replaces `path` with `bytes` atomically: an owner-only temporary file beside it, synced,
/// renamed over it, the folder synced.
pub fn replace_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, Access::OWNER_ONLY)
}

/// [`replace_owner_only`] with the given owner and mode.
pub fn replace(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    let tmp = suffixed(path, ".certfleet-tmp");
    write_new(&tmp, bytes, access)?;
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
        write_new(&staged, b"y", Access::OWNER_ONLY).expect("stage");
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

    #[cfg(unix)]
    #[test]
    fn a_link_planted_where_a_file_is_written_is_replaced_never_followed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let live = dir.path().join("server.key");
        // What a local user who could write the folder would plant: the staged name and the
        // temporary name, each a link to a file they want overwritten.
        let staged = suffixed(&live, ".certfleet-new");
        std::os::unix::fs::symlink(&victim, &staged).expect("link");
        std::os::unix::fs::symlink(&victim, suffixed(&live, ".certfleet-tmp")).expect("link");
        write_new(&staged, b"new key", Access::OWNER_ONLY).expect("stage");
        replace_owner_only(&live, b"new key").expect("replace");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        for path in [&staged, &live] {
            let meta = std::fs::symlink_metadata(path).expect("meta");
            assert!(meta.file_type().is_file(), "{path:?} is a file, not a link");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::read(path).expect("read"), b"new key");
        }
        // A given mode is set on the open file; the owner stays the writer's when it is.
        let config = dir.path().join("httpd.conf");
        let me = std::fs::metadata(&victim).expect("meta");
        let access = Access {
            owner: Some((me.uid(), me.gid())),
            mode: 0o640,
        };
        write_new(&config, b"Listen 443", access).expect("config");
        let meta = std::fs::metadata(&config).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!(Access::like(&meta), access);
        assert_eq!(Access::like(&meta).private().mode, 0o600);
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
