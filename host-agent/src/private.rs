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

/// Refuses a data folder that others may change, or a key file that others may read.
pub fn check(dir: &Path, key: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        if let Ok(m) = mode(dir)
            && m & 0o022 != 0
        {
            bail!(
                "the data folder {} can be written by other users (mode {m:o}), who could \
                 replace the agent's key or journal: `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
        if let Ok(m) = mode(key)
            && m & 0o077 != 0
        {
            bail!(
                "the agent's key {} can be read by other users (mode {m:o}): `chmod 600 {}`",
                key.display(),
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
    }
}
