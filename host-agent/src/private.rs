//! The agent's data folder holds its private key and the journal's copies of old keys: only
//! the system's administrators may read it. It is locked down when it is created, and the
//! agent refuses to start on one that ordinary users can read or write, saying which and
//! how to fix it.

use std::path::Path;

use anyhow::{Result, bail};

/// Makes `dir` private: mode 0700 on Unix; on Windows an explicit DACL (SYSTEM and
/// Administrators, nothing inherited, so Users lose the read access ProgramData gives them).
pub fn protect_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;

        use anyhow::Context;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (chmod 700)", dir.display()))?;
    }
    #[cfg(windows)]
    certfleet_winhost::windows::acl::restrict(dir, &[])?;
    Ok(())
}

/// Refuses a data folder (or its journal folder) that is not the agent's user's alone, or
/// a key file that others may read.
pub fn check(dir: &Path, key: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        let journal = dir.join("journal");
        for folder in [dir, journal.as_path()] {
            // A link would make the checks below judge another folder than the one used.
            let Ok(meta) = std::fs::symlink_metadata(folder) else {
                continue;
            };
            if !meta.file_type().is_dir() {
                bail!(
                    "{} is not a folder (a link?): the agent keeps its key and journal only in \
                     a folder of its own; remove it and enrol again",
                    folder.display()
                );
            }
            if meta.uid() != me {
                bail!(
                    "{} belongs to the user with uid {}, not to the agent's user (uid {me}), \
                     who could change the agent's key or journal: `chown -R {me} {}`",
                    folder.display(),
                    meta.uid(),
                    dir.display()
                );
            }
            let m = meta.mode() & 0o777;
            if m & 0o077 != 0 {
                bail!(
                    "{} can be read or written by other users (mode {m:o}), who could read the \
                     journal's copies of old keys or change what it says: `chmod 700 {}`",
                    folder.display(),
                    folder.display()
                );
            }
        }
        if let Ok(meta) = std::fs::metadata(key)
            && meta.mode() & 0o077 != 0
        {
            bail!(
                "the agent's key {} can be read by other users (mode {:o}): `chmod 600 {}`",
                key.display(),
                meta.mode() & 0o777,
                key.display()
            );
        }
    }
    #[cfg(windows)]
    if certfleet_winhost::windows::is_wine() {
        tracing::warn!(
            "running under Wine, which does not keep file ACLs: the data folder's access is not checked"
        );
        return Ok(());
    }
    #[cfg(windows)]
    for path in [dir, key] {
        let who = certfleet_winhost::windows::acl::exposed(path)?;
        if !who.is_empty() {
            bail!(
                "{} can be read or written by {}: ordinary users could take the agent's key. \
                 Fix it with `icacls \"{}\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F \
                 *S-1-5-32-544:(OI)(CI)F` (SYSTEM and Administrators only)",
                path.display(),
                who.join(", "),
                dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_folder_others_can_write_or_a_key_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let key = data.join("agent.key");
        std::fs::write(&key, "secret").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        protect_dir(&data).unwrap();
        check(&data, &key).unwrap();

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check(&data, &key).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && err.contains("agent.key"),
            "{err}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check(&data, &key).unwrap_err().to_string();
        assert!(err.contains("chmod 700"), "{err}");
        // Readable is enough: the journal keeps copies of the keys it replaced.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
        let err = check(&data, &key).unwrap_err().to_string();
        assert!(
            err.contains("mode 750") && err.contains("chmod 700"),
            "{err}"
        );
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();

        let journal = data.join("journal");
        std::fs::create_dir(&journal).unwrap();
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check(&data, &key).unwrap_err().to_string();
        assert!(
            err.contains("journal") && err.contains("chmod 700"),
            "{err}"
        );
        std::fs::remove_dir(&journal).unwrap();
        // A link in the journal's place is refused, not followed.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &journal).unwrap();
        let err = check(&data, &key).unwrap_err().to_string();
        assert!(err.contains("not a folder"), "{err}");
        std::fs::remove_file(&journal).unwrap();
        // Another user's folder, even a private one (only root can make one here).
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&data, Some(65534), None).unwrap();
            let err = check(&data, &key).unwrap_err().to_string();
            assert!(err.contains("uid 65534") && err.contains("chown"), "{err}");
        }
    }
}
