//! File moves a deployment makes, each atomic: new contents are written beside the target
//! (same folder, so the final rename cannot cross file systems) and renamed over it.

use std::path::{Path, PathBuf};

use certfleet_files::{Access, suffixed};

use super::Exposure;

/// `server.crt` → `server.crt.certfleet-new`.
pub fn staged_path(path: &Path) -> PathBuf {
    suffixed(path, ".certfleet-new")
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename).
pub fn replace_with(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    certfleet_files::replace_owner_only(path, bytes).map_err(into_io)
}

/// Writes `bytes` over `live` atomically, with the owner, group and mode it had (a
/// configuration file).
pub fn replace_kept(live: &Path, bytes: &[u8]) -> std::io::Result<()> {
    certfleet_files::replace(live, bytes, access_for(live, Exposure::Kept)).map_err(into_io)
}

/// Writes `bytes` to `path` atomically, readable by every program (0644 on Unix).
pub fn replace_public(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    certfleet_files::replace(path, bytes, access_for(path, Exposure::Public)).map_err(into_io)
}

/// The shared writer's error as the I/O error this module's callers report.
fn into_io(e: certfleet_files::Error) -> std::io::Error {
    std::io::Error::new(e.io().kind(), e.to_string())
}

/// The access a file written in place of `live` gets: the owner, group and mode `live` has
/// (a private file only the owner's read and write, a public one 0644), or owner-only (a
/// public one 0644) when there is none.
fn access_for(live: &Path, exposure: Exposure) -> Access {
    let public = |access: Access| Access {
        mode: 0o644,
        ..access
    };
    match (std::fs::metadata(live), exposure) {
        (Ok(meta), Exposure::Private) => Access::like(&meta).private(),
        (Ok(meta), Exposure::Kept) => Access::like(&meta),
        (Ok(meta), Exposure::Public) => public(Access::like(&meta)),
        (Err(_), Exposure::Public) => public(Access::OWNER_ONLY),
        (Err(_), _) => Access::OWNER_ONLY,
    }
}

/// Writes the new contents of `live` beside it, created new and never through a link, with
/// `live`'s owner and group set on the open file.
pub fn stage(live: &Path, contents: &[u8], exposure: Exposure) -> std::io::Result<()> {
    certfleet_files::write_new(&staged_path(live), contents, access_for(live, exposure))
        .map_err(into_io)
}

/// Copies `live` into the journal's folder with its owner, group and mode, so a rollback
/// puts back the file as it was.
pub fn keep_copy(live: &Path, copy: &Path) -> std::io::Result<()> {
    let old = zeroize::Zeroizing::new(std::fs::read(live)?);
    certfleet_files::write_new(copy, &old, access_for(live, Exposure::Kept)).map_err(into_io)
}

/// Puts the copy back over `live`, atomically, as it was.
pub fn restore(copy: &Path, live: &Path) -> std::io::Result<()> {
    let old = zeroize::Zeroizing::new(std::fs::read(copy)?);
    certfleet_files::replace(live, &old, access_for(copy, Exposure::Kept)).map_err(into_io)
}

/// Renames the staged file over its target.
pub fn promote(path: &Path) -> std::io::Result<()> {
    certfleet_files::rename(&staged_path(path), path).map_err(into_io)
}

/// The last lines a log gained since it was `from` bytes long (at most `max` bytes).
pub fn log_since(path: &Path, from: u64, max: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    let new = &bytes[start..];
    let new = &new[new.len().saturating_sub(max)..];
    String::from_utf8_lossy(new).trim().to_owned()
}

pub fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Refuses a folder (or any folder above it) where users other than the agent's and root
/// could add, remove or rename files: they could swap what certfleet writes there before
/// the server reads it, or plant a link where it writes. Folders above may be shared when
/// sticky (`/tmp`): there nobody removes or renames another user's entries.
#[cfg(unix)]
pub fn check_folder(live: &Path) -> Result<(), super::Error> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let Some(parent) = live.parent() else {
        return Ok(());
    };
    let folder = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let folder = std::fs::canonicalize(folder).map_err(|source| super::Error::File {
        action: "find the folder of",
        path: live.to_path_buf(),
        source,
    })?;
    for (depth, dir) in folder.ancestors().enumerate() {
        let meta = std::fs::metadata(dir).map_err(|source| super::Error::File {
            action: "read",
            path: dir.to_path_buf(),
            source,
        })?;
        let mode = meta.mode();
        let sticky = mode & 0o1000 != 0 && depth > 0;
        let why = if meta.uid() != 0 && meta.uid() != me {
            Some(format!(
                "it belongs to the user with uid {}, neither root nor the agent's user",
                meta.uid()
            ))
        } else if mode & 0o002 != 0 && !sticky {
            Some(format!(
                "every user may write to it (mode {:o})",
                mode & 0o7777
            ))
        } else if mode & 0o020 != 0 && meta.gid() != 0 && !sticky {
            Some(format!(
                "the group with gid {} may write to it (mode {:o})",
                meta.gid(),
                mode & 0o7777
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(super::Error::UnsafeFolder {
                folder: dir.to_path_buf(),
                file: live.to_path_buf(),
                why,
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn check_folder(_live: &Path) -> Result<(), super::Error> {
    Ok(())
}

/// Gives a private file an explicit ACL on Windows: SYSTEM, Administrators and `readers`
/// only, nothing inherited. Elsewhere the file is already owner-only.
#[cfg(windows)]
pub fn restrict(path: &Path, readers: &[String]) -> Result<(), super::Error> {
    certfleet_winhost::windows::acl::restrict(path, readers).map_err(|e| super::Error::Acl {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

#[cfg(not(windows))]
pub fn restrict(_path: &Path, _readers: &[String]) -> Result<(), super::Error> {
    Ok(())
}
