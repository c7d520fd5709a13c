//! The on-disk journal of deployments: one JSON file per job, rewritten atomically before
//! each step takes effect. After a crash or reboot it says how far a job got, so the next
//! start commits or rolls back, and it answers a replayed job id with the first result.
//!
//! A record says how far a job got, never what to run or where: recovery takes commands
//! and paths from the configuration. What is read back is checked (known fields only, the
//! job id its file is named by, copies only in the job's own folder, on Unix a file of the
//! agent's user that nobody else may change); a record that fails is moved to
//! `journal/quarantine/` and never acted on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checks running; nothing changed yet.
    Preflight,
    /// New files written beside their targets; the live ones untouched.
    Staged,
    /// Live files being replaced (some may be new already).
    Applying,
    /// Files replaced; configuration test and restart next.
    Applied,
    /// The live port served the new certificate.
    Verified,
    Committed,
    RollingBack,
    RolledBack,
    /// Refused or failed before anything live changed.
    Failed,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Committed | Phase::RolledBack | Phase::Failed)
    }
}

/// What a live file held before the job, as far as the job got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Before {
    /// The job has not reached this file: it is untouched.
    NotReached,
    /// It did not exist: a rollback removes it.
    Absent,
    /// A copy of its previous contents.
    Copy(PathBuf),
}

/// One live file the job touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub path: PathBuf,
    pub before: Before,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub job_id: String,
    pub endpoint: String,
    pub new_sha256: String,
    pub old_sha256: Option<String>,
    pub phase: Phase,
    pub files: Vec<FileRecord>,
    /// Journals written before Windows changes existed have none.
    #[serde(default)]
    pub windows: Vec<super::windows_changes::WindowsRecord>,
    /// Whether the endpoint's restart ran with the new files (a rollback then restarts
    /// again).
    pub restarted: bool,
    /// The outcome in words: why it failed or was rolled back, or what was verified.
    pub detail: String,
    /// The console has the final result.
    pub reported: bool,
}

/// Where untrusted journal files are moved, inside the journal folder.
const QUARANTINE: &str = "quarantine";

/// What journals of earlier agents also held: the commands and address of the plan. They
/// are read past and never used (recovery takes them from the configuration).
const LEGACY_FIELDS: [&str; 4] = ["check", "restart", "error_log", "verify"];

/// A record with the most files and changes a deployment makes is a few KiB.
const MAX_RECORD: u64 = 1024 * 1024;

/// Why a journal file is not read.
enum Untrusted {
    Missing,
    Bad(String),
}

/// On Unix a journal file must be the agent's user's and changeable by nobody else (the
/// agent writes them 0600); elsewhere the data folder's DACL protects them.
#[cfg(unix)]
fn owned_by_agent(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "it belongs to the user with uid {}, not the agent's (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "other users may read or change it (mode {:o}); the agent writes 600",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn owned_by_agent(_meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// The journal folder (`<data>/journal`).
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

/// Job ids come from the console; only these characters reach a file name (the pending
/// keys' request ids too).
pub(crate) fn safe_id(job_id: &str) -> bool {
    !job_id.is_empty()
        && job_id.len() <= 128
        && job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Creates `dir` (and its parents) for the agent's user only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut create = std::fs::DirBuilder::new();
    create.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut create, 0o700);
    create.create(dir)
}

impl Journal {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, job_id: &str) -> PathBuf {
        self.dir.join(format!("{job_id}.json"))
    }

    /// Where a job keeps copies of the files it replaces.
    pub fn backup_dir(&self, job_id: &str) -> PathBuf {
        self.dir.join(job_id)
    }

    pub fn check_id(job_id: &str) -> Result<(), super::Error> {
        if safe_id(job_id) {
            Ok(())
        } else {
            Err(super::Error::JobId(job_id.to_owned()))
        }
    }

    /// The record of `job_id`, when there is one that passes [`Journal::read`]'s checks.
    pub fn load(&self, job_id: &str) -> Option<Record> {
        if !safe_id(job_id) {
            return None;
        }
        self.read(&self.path(job_id))
    }

    /// Reads one journal file; one that fails the checks is quarantined (and `None`).
    fn read(&self, path: &Path) -> Option<Record> {
        match self.check(path) {
            Ok(record) => Some(record),
            Err(Untrusted::Missing) => None,
            Err(Untrusted::Bad(why)) => {
                self.quarantine(path, &why);
                None
            }
        }
    }

    fn check(&self, path: &Path) -> Result<Record, Untrusted> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Untrusted::Missing),
            Err(e) => return Err(Untrusted::Bad(format!("cannot read it: {e}"))),
        };
        if !meta.file_type().is_file() {
            return Err(Untrusted::Bad("it is not a plain file".into()));
        }
        if meta.len() > MAX_RECORD {
            return Err(Untrusted::Bad(format!(
                "it is {} bytes long, more than a record ever is ({MAX_RECORD})",
                meta.len()
            )));
        }
        owned_by_agent(&meta).map_err(Untrusted::Bad)?;
        let bytes =
            std::fs::read(path).map_err(|e| Untrusted::Bad(format!("cannot read it: {e}")))?;
        let not_a_record =
            |e: serde_json::Error| Untrusted::Bad(format!("it is not a journal record: {e}"));
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(not_a_record)?;
        if let Some(fields) = value.as_object_mut() {
            for legacy in LEGACY_FIELDS {
                fields.remove(legacy);
            }
        }
        let record: Record = serde_json::from_value(value).map_err(not_a_record)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if !safe_id(&record.job_id) || record.job_id != stem {
            return Err(Untrusted::Bad(format!(
                "it names the job {:?}, not the one its file is named for",
                record.job_id
            )));
        }
        let copies = self.backup_dir(&record.job_id);
        for (i, file) in record.files.iter().enumerate() {
            if let Before::Copy(copy) = &file.before
                && *copy != copies.join(i.to_string())
            {
                return Err(Untrusted::Bad(format!(
                    "it keeps the copy of {} outside the job's own folder ({})",
                    file.path.display(),
                    copy.display()
                )));
            }
        }
        Ok(record)
    }

    /// Sets a job's record aside: recovery found it outside what the configuration allows.
    pub fn set_aside(&self, record: &Record, why: &str) {
        self.quarantine(&self.path(&record.job_id), why);
    }

    /// Moves a journal file aside, so it is never read again, and says so in the log.
    fn quarantine(&self, path: &Path, why: &str) {
        let aside = self.dir.join(QUARANTINE);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let to = aside.join(format!("{name}.{stamp}"));
        let moved = std::fs::create_dir_all(&aside).and_then(|()| std::fs::rename(path, &to));
        match moved {
            Ok(()) => tracing::error!(
                "the journal file {} was set aside as {}, not acted on: {why}. If it is a \
                 deployment of this host's, check the files of its endpoint by hand",
                path.display(),
                to.display()
            ),
            Err(e) => tracing::error!(
                "the journal file {} is not acted on ({why}), and could not be set aside: {e}",
                path.display()
            ),
        }
    }

    /// Writes the record durably before the step it describes takes effect.
    pub fn save(&self, record: &Record) -> Result<(), super::Error> {
        let journal = |source| super::Error::Journal {
            dir: self.dir.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(record).map_err(|e| journal(e.into()))?;
        files::replace_with(&self.path(&record.job_id), &json).map_err(journal)
    }

    /// Every job, oldest first (files that fail the checks are quarantined).
    pub fn all(&self) -> Vec<Record> {
        let mut records: Vec<(std::time::SystemTime, Record)> = self
            .files()
            .into_iter()
            .filter_map(|path| {
                let modified = std::fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()?;
                Some((modified, self.read(&path)?))
            })
            .collect();
        records.sort_by_key(|(modified, _)| *modified);
        records.into_iter().map(|(_, r)| r).collect()
    }

    /// The `.json` files of the folder.
    fn files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect()
    }

    /// Forgets jobs that ended and were reported more than `age` ago, so the folder does
    /// not grow for ever; the console keeps the history. Returns how many went.
    pub fn prune(&self, age: std::time::Duration) -> usize {
        let Some(before) = std::time::SystemTime::now().checked_sub(age) else {
            return 0;
        };
        let mut removed = 0;
        for path in self.files() {
            let old = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < before);
            let done = old
                && self
                    .read(&path)
                    .is_some_and(|r| r.phase.is_final() && r.reported);
            if old && done && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    pub fn mark_reported(&self, job_id: &str) {
        if let Some(mut record) = self.load(job_id) {
            record.reported = true;
            let _ = self.save(&record);
        }
    }
}
