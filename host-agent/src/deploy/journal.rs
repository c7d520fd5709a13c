//! The on-disk journal of deployments: one JSON file per job, rewritten atomically before
//! each step takes effect. After a crash or reboot it says how far a job got, so the next
//! start commits or rolls back, and it answers a replayed job id with the first result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files;
use super::plan::{CommandLine, Restart, VerifyAt};

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
pub struct FileRecord {
    pub path: PathBuf,
    pub before: Before,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub check: Option<CommandLine>,
    pub restart: Option<Restart>,
    /// Whether `restart` ran with the new files (a rollback then restarts again).
    pub restarted: bool,
    pub error_log: Option<PathBuf>,
    pub verify: Option<VerifyAt>,
    /// The outcome in words: why it failed or was rolled back, or what was verified.
    pub detail: String,
    /// The console has the final result.
    pub reported: bool,
}

/// The journal folder (`<data>/journal`).
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

/// Job ids come from the console; only these characters reach a file name.
fn safe_id(job_id: &str) -> bool {
    !job_id.is_empty()
        && job_id.len() <= 128
        && job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Journal {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
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

    pub fn load(&self, job_id: &str) -> Option<Record> {
        if !safe_id(job_id) {
            return None;
        }
        let bytes = std::fs::read(self.path(job_id)).ok()?;
        serde_json::from_slice(&bytes).ok()
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

    /// Every job, oldest first.
    pub fn all(&self) -> Vec<Record> {
        let mut records: Vec<(std::time::SystemTime, Record)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let modified = e.metadata().and_then(|m| m.modified()).ok()?;
                let record = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                Some((modified, record))
            })
            .collect();
        records.sort_by_key(|(modified, _)| *modified);
        records.into_iter().map(|(_, r)| r).collect()
    }

    /// Forgets jobs that ended and were reported more than `age` ago, so the folder does
    /// not grow for ever; the console keeps the history. Returns how many went.
    pub fn prune(&self, age: std::time::Duration) -> usize {
        let Some(before) = std::time::SystemTime::now().checked_sub(age) else {
            return 0;
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < before);
            let done = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
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
