//! File moves a deployment makes, each atomic: new contents are written beside the target
//! (same folder, so the final rename cannot cross file systems) and renamed over it.

use std::path::{Path, PathBuf};

/// `server.crt` → `server.crt.certfleet-new`.
pub fn staged_path(path: &Path) -> PathBuf {
    suffixed(path, ".certfleet-new")
}

use certfleet_files::suffixed;

/// Writes `bytes` to `path` readable by the owner only, flushed to disk.
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    certfleet_files::write_owner_only(path, bytes).map_err(into_io)
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename).
pub fn replace_with(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    certfleet_files::replace_owner_only(path, bytes).map_err(into_io)
}

/// The shared writer's error as the I/O error this module's callers report.
fn into_io(e: certfleet_files::Error) -> std::io::Error {
    std::io::Error::new(e.io().kind(), e.to_string())
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

/// Gives `to` the owner, group and mode of `from` (Unix; elsewhere files inherit their
/// folder's ACL and nothing is copied). Best effort: a failure leaves `to` owner-only.
#[cfg(unix)]
pub fn copy_meta(from: &Path, to: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Ok(meta) = std::fs::metadata(from) {
        let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
        let _ = std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777));
    }
}

#[cfg(not(unix))]
pub fn copy_meta(_from: &Path, _to: &Path) {}

/// Owner-only again (a private key keeps its owner but loses any group or world access).
#[cfg(unix)]
pub fn owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
pub fn owner_only(_path: &Path) {}

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
