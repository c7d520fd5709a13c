//! Where the Apache configuration reader gets its files. On a host that is the disk; the
//! fuzz target hands it a set held in memory, so each input costs no file writes (most of
//! its time went to creating files).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Larger than any configuration file: an Include that matches a log or a binary is
/// refused rather than read whole.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The file operations the reader needs, no more.
pub trait ConfigFiles {
    /// A file's text; refused past `MAX_FILE_BYTES` or when it is not UTF-8.
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// The files (not folders) directly in `dir`, in any order.
    fn files_in(&self, dir: &Path) -> Vec<PathBuf>;
    fn is_dir(&self, path: &Path) -> bool;
    fn is_file(&self, path: &Path) -> bool;
    /// One name for a file however a configuration writes it, to notice include loops.
    fn canonical(&self, path: &Path) -> PathBuf;
}

/// The refusal for a file past `MAX_FILE_BYTES`.
pub fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "larger than {} MiB: not an Apache configuration file",
            MAX_FILE_BYTES >> 20
        ),
    )
}

/// The host's own files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk;

impl ConfigFiles for Disk {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        let mut text = String::new();
        // Without reading a huge file whole.
        std::fs::File::open(path)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large());
        }
        Ok(text)
    }

    fn files_in(&self, dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
    }
}
