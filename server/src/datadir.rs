//! The console's data folder: the database, the agent CA, the console's TLS key and the
//! secrets, created on first start with owner-only permissions and reused afterwards.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    /// Held for the life of `serve`, so two consoles never share one folder.
    _lock: Option<File>,
}

impl DataDir {
    /// Opens (creating) the folder. `exclusive` takes the lock file that `serve` holds.
    pub fn open(root: &Path, exclusive: bool) -> Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the data folder {}", root.display()))?;
        restrict_dir(root)?;
        let lock = if exclusive {
            let path = root.join("console.lock");
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            if file.try_lock().is_err() {
                bail!(
                    "another certfleet-server is already running on the data folder {}; stop \
                     it first, or give this one another --data-dir",
                    root.display()
                );
            }
            Some(file)
        } else {
            None
        };
        Ok(DataDir {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn database(&self) -> PathBuf {
        self.path("certfleet.db")
    }

    /// Reads a secret file, or creates it with `len` random bytes (mode 0600).
    pub fn secret(&self, name: &str, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == len => return Ok(Zeroizing::new(bytes)),
            Ok(bytes) => bail!(
                "{} holds {} bytes, {len} expected: it is damaged; restore it from a backup",
                path.display(),
                bytes.len()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes[..]).context("the system's random source failed")?;
        write_private(&path, &bytes)?;
        Ok(bytes)
    }
}

/// Writes a file readable by its owner only, atomically and durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(certfleet_files::replace_owner_only(path, bytes)?)
}

fn restrict_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    let _ = path;
    Ok(())
}
