//! The agent's log as a file in its data folder (a Windows service has no console):
//! `agent.log`, rotated when it passes 10 MiB, keeping three older files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const LIMIT: u64 = 10 * 1024 * 1024;
const KEEP: usize = 3;

/// A log file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    limit: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, limit: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            written,
            limit,
        })
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{n}"));
        self.path.with_file_name(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        for n in (1..KEEP).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        // Rust opens files with FILE_SHARE_DELETE on Windows, so the open log can be renamed.
        std::fs::rename(&self.path, self.numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit && self.written > 0 {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Logs to `<data>/agent.log` (`CERTFLEET_LOG` sets the level, as on a console).
pub fn init(data_dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let file = RotatingFile::open(&data_dir.join("agent.log"), LIMIT)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(certfleet_logging::filter())
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_by_size_and_keeps_three_older_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        let mut log = RotatingFile::open(&path, 100).unwrap();
        for i in 0..20 {
            writeln!(log, "line {i:02} {}", "x".repeat(40)).unwrap();
        }
        drop(log);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["agent.log", "agent.log.1", "agent.log.2", "agent.log.3"]
        );
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 19"), "{newest}");
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
    }
}
