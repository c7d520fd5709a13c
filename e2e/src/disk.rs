//! A small disk that can be filled: a tmpfs mounted over a test's folder (a process's data
//! folder sees a real `ENOSPC`), unmounted when dropped. Mounting needs root with
//! CAP_SYS_ADMIN, which `.ci/run` and these machines have.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

const FILLER: &str = "filler";

pub struct SmallDisk {
    pub path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `path` (made if missing), owner-only as a data folder is.
    pub fn mount(path: &Path, bytes: u64) -> Result<SmallDisk> {
        std::fs::create_dir_all(path)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()?;
        if !out.status.success() {
            bail!(
                "cannot mount a tmpfs at {} ({}): the disk-full cells need root with \
                 CAP_SYS_ADMIN",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(SmallDisk {
            path: path.to_path_buf(),
        })
    }

    /// Writes a filler file until the disk refuses with "no space left"; returns its size.
    pub fn fill(&self) -> Result<u64> {
        let mut file = std::fs::File::create(self.path.join(FILLER))?;
        let chunk = vec![0u8; 4096];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(written)
    }

    /// Takes the filler out: the space is back.
    pub fn free(&self) -> Result<()> {
        Ok(std::fs::remove_file(self.path.join(FILLER))?)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a process still holding a file in it must not keep the mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
