//! Backups of a console's data folder, and restoring one into a new folder.
//!
//! A backup is a tar file: a manifest (`certfleet-backup.json`: what is inside, each file's
//! size and SHA-256), then a consistent copy of the database (`VACUUM INTO` through a read
//! connection of its own, so it is taken beside a running console and its lock), then the
//! agent CA with its key, the console's TLS identity and the session-signing key. The
//! key-encryption key is left out on purpose: the database's sealed secrets (SMTP password,
//! renewal keys) are useless without it, so a stolen backup does not give them away, and it
//! must be supplied at restore. The backup still holds the agent CA's key, so it is written
//! owner-only and must be kept like the data folder itself.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::datadir::DataDir;

const MANIFEST: &str = "certfleet-backup.json";
const FORMAT: u32 = 1;
const DATABASE: &str = "certfleet.db";
/// What a restore needs besides the database, and whether a data folder always has it.
const FILES: &[(&str, bool)] = &[
    ("agent-ca.crt", true),
    ("agent-ca.key", true),
    ("console-tls.crt", false),
    ("console-tls.key", false),
    ("session.key", false),
];
/// The file a restored folder needs and the backup does not hold.
const KEK_FILE: &str = "kek.key";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created_at: i64,
    console_version: String,
    /// Always false: said in the file so whoever opens it knows.
    key_encryption_key_included: bool,
    files: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    name: String,
    bytes: u64,
    sha256: String,
}

/// What a backup or a restore did, for the command's output.
#[derive(Debug)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
}

/// Writes a backup of the data folder `dir` to `to` (a new file, owner-only).
pub async fn backup(dir: &Path, to: &Path, now: i64) -> Result<Summary> {
    // Checked before the folder is opened: opening creates a folder that is missing.
    if !dir.join(DATABASE).is_file() {
        bail!(
            "{} holds no console database ({DATABASE}): give the --data-dir of the console to \
             back up",
            dir.display()
        );
    }
    if to.exists() {
        bail!(
            "{} already exists: a backup is written to a new file; choose another name or \
             move the old one away",
            to.display()
        );
    }
    let data = DataDir::open(dir, false)?;
    let copy = with_suffix(to, ".db-copy");
    let _ = std::fs::remove_file(&copy);
    certfleet_store::copy_database(&data.database(), &copy)
        .await
        .with_context(|| format!("cannot copy the database of {}", dir.display()))?;
    let written = write_archive(&data, &copy, to, now);
    let _ = std::fs::remove_file(&copy);
    if written.is_err() {
        let _ = std::fs::remove_file(to);
    }
    written
}

fn write_archive(data: &DataDir, copy: &Path, to: &Path, now: i64) -> Result<Summary> {
    let mut sources: Vec<(String, PathBuf)> = vec![(DATABASE.to_owned(), copy.to_owned())];
    for (name, required) in FILES {
        let path = data.path(name);
        if path.is_file() {
            sources.push(((*name).to_owned(), path));
        } else if *required {
            bail!(
                "{} is missing from the data folder: without it a restored console cannot \
                 serve its agents; restore the folder first, then back it up",
                path.display()
            );
        }
    }
    let mut entries = Vec::with_capacity(sources.len());
    for (name, path) in &sources {
        let (bytes, sha256) = hash_file(path)?;
        entries.push(Entry {
            name: name.clone(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at: now,
        console_version: env!("CARGO_PKG_VERSION").to_owned(),
        key_encryption_key_included: false,
        files: entries.clone(),
    };
    let file = create_owner_only(to)?;
    let mut tar = tar::Builder::new(file);
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    append(
        &mut tar,
        MANIFEST,
        manifest_json.len() as u64,
        now,
        &manifest_json[..],
    )?;
    for ((name, path), entry) in sources.iter().zip(&entries) {
        let source = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        append(&mut tar, name, entry.bytes, now, source)?;
    }
    let file = tar.into_inner().context("cannot finish the backup file")?;
    file.sync_all()
        .with_context(|| format!("cannot write {} to disk", to.display()))?;
    Ok(Summary {
        files: entries.len(),
        bytes: entries.iter().map(|e| e.bytes).sum(),
    })
}

fn append(
    tar: &mut tar::Builder<File>,
    name: &str,
    size: u64,
    mtime: i64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(mtime).unwrap_or_default());
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("cannot write {name} into the backup"))
}

/// Restores the backup `from` into `dir`, which must be empty or absent; the key-encryption
/// key is copied from `kek` when given.
pub fn restore(from: &Path, dir: &Path, kek: Option<&Path>) -> Result<Summary> {
    if let Ok(mut inside) = std::fs::read_dir(dir)
        && inside.next().is_some()
    {
        bail!(
            "{} is not empty: a backup is restored into a new or empty folder, so nothing of \
             a console already there is overwritten; give another --data-dir",
            dir.display()
        );
    }
    let kek_bytes =
        match kek {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("cannot read the key-encryption key {}", path.display())
            })?),
            None => None,
        };
    DataDir::open(dir, false)?;
    let restored = extract(from, dir).and_then(|summary| {
        if let Some(bytes) = &kek_bytes {
            crate::datadir::write_private(&dir.join(KEK_FILE), bytes)?;
        }
        Ok(summary)
    });
    if restored.is_err() {
        // Leave the folder as it was found: empty.
        if let Ok(inside) = std::fs::read_dir(dir) {
            for entry in inside.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    restored
}

fn extract(from: &Path, dir: &Path) -> Result<Summary> {
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut archive = tar::Archive::new(file);
    let damaged = |what: String| {
        anyhow::anyhow!(
            "{} is not a complete certfleet backup: {what}; nothing was restored. Use another \
             copy of the backup",
            from.display()
        )
    };
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("it is not a tar file ({e})")))?;
    let manifest: Manifest = {
        let mut first = entries
            .next()
            .ok_or_else(|| damaged("it is empty".into()))?
            .map_err(|e| damaged(format!("its first entry is unreadable ({e})")))?;
        if first.path().ok().as_deref() != Some(Path::new(MANIFEST)) {
            return Err(damaged(format!("it does not start with {MANIFEST}")));
        }
        let mut text = Vec::new();
        first
            .by_ref()
            .take(1 << 20)
            .read_to_end(&mut text)
            .map_err(|e| damaged(format!("{MANIFEST} is unreadable ({e})")))?;
        serde_json::from_slice(&text)
            .map_err(|e| damaged(format!("{MANIFEST} is not a backup manifest ({e})")))?
    };
    if manifest.format != FORMAT {
        bail!(
            "{} is a backup in format {}, this certfleet-server reads format {FORMAT}: restore \
             it with the version that made it ({})",
            from.display(),
            manifest.format,
            manifest.console_version
        );
    }
    let allowed = |name: &str| name == DATABASE || FILES.iter().any(|(f, _)| *f == name);
    let mut restored = 0;
    let mut bytes = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(format!("an entry is unreadable ({e})")))?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .unwrap_or_default();
        // Only the names a backup is made of, each once: no paths, no links, nothing else.
        let Some(expected) = manifest.files.iter().find(|f| f.name == name) else {
            return Err(damaged(format!(
                "it holds {name:?}, which its manifest does not list"
            )));
        };
        if !allowed(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!(
                "it holds {name:?}, which is not part of a backup"
            )));
        }
        let target = dir.join(&name);
        if target.exists() {
            return Err(damaged(format!("it holds {name} twice")));
        }
        let mut out = create_owner_only(&target)?;
        let (size, sha256) = copy_hashing(&mut entry, &mut out).map_err(|failed| match failed {
            Failed::Read(e) => damaged(format!("{name} is cut short ({e})")),
            Failed::Write(e) => {
                anyhow::Error::new(e).context(format!("cannot write {}", target.display()))
            }
        })?;
        out.sync_all()
            .with_context(|| format!("cannot write {} to disk", target.display()))?;
        if size != expected.bytes || sha256 != expected.sha256 {
            return Err(damaged(format!(
                "{name} is not the file the backup was made with (its size or SHA-256 differs)"
            )));
        }
        restored += 1;
        bytes += size;
    }
    for entry in &manifest.files {
        if !dir.join(&entry.name).is_file() {
            return Err(damaged(format!(
                "{} is missing (the file is cut short)",
                entry.name
            )));
        }
    }
    Ok(Summary {
        files: restored,
        bytes,
    })
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    copy_hashing(&mut file, &mut std::io::sink()).map_err(|failed| {
        let (Failed::Read(e) | Failed::Write(e)) = failed;
        anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
    })
}

/// Which side of a copy failed.
enum Failed {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `from` into `to`, hashing on the way: the bytes copied and their SHA-256 (hex).
fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> Result<(u64, String), Failed> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = from.read(&mut buffer).map_err(Failed::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n]).map_err(Failed::Write)?;
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// A new file only its owner may read.
fn create_owner_only(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// A data folder as a console leaves it: a database with a token in it, the agent CA,
    /// the session key and the key-encryption key.
    async fn console_folder(root: &Path) -> certfleet_store::Store {
        let data = DataDir::open(root, false).expect("folder");
        for (name, text) in [
            ("agent-ca.crt", "CA CERTIFICATE"),
            ("agent-ca.key", "CA KEY"),
            ("session.key", "SESSION KEY"),
            (KEK_FILE, "THE KEY-ENCRYPTION KEY"),
        ] {
            crate::datadir::write_private(&data.path(name), text.as_bytes()).expect("write");
        }
        let store = certfleet_store::Store::open(&data.database())
            .await
            .expect("store");
        store
            .set_setting("backup.test", "\"kept\"", NOW)
            .await
            .expect("setting");
        store
    }

    fn names_in(file: &Path) -> Vec<String> {
        let mut archive = tar::Archive::new(File::open(file).expect("open"));
        archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_backup_of_an_open_console_restores_into_an_empty_folder_without_its_kek() {
        let temp = tempfile::tempdir().expect("temp");
        let source = temp.path().join("console");
        // Open, as a running console holds it.
        let _running = console_folder(&source).await;
        let file = temp.path().join("console.backup");
        let made = backup(&source, &file, NOW).await.expect("backup");
        assert_eq!(
            made.files, 4,
            "the database, the CA and its key, the session key"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the backup holds the CA key: owner-only");
        }
        let names = names_in(&file);
        assert_eq!(names[0], MANIFEST);
        assert!(names.contains(&"agent-ca.key".to_owned()));
        assert!(!names.contains(&KEK_FILE.to_owned()), "the KEK stays out");
        let again = backup(&source, &file, NOW).await;
        assert!(
            again.is_err_and(|e| e.to_string().contains("already exists")),
            "an existing backup is not overwritten"
        );

        let target = temp.path().join("restored");
        let kek = temp.path().join("kek-kept-apart");
        std::fs::copy(source.join(KEK_FILE), &kek).expect("copy kek");
        restore(&file, &target, Some(&kek)).expect("restore");
        for name in ["agent-ca.crt", "agent-ca.key", "session.key", KEK_FILE] {
            assert_eq!(
                std::fs::read(target.join(name)).expect("restored"),
                std::fs::read(source.join(name)).expect("original"),
                "{name}"
            );
        }
        let restored = certfleet_store::Store::open(&target.join(DATABASE))
            .await
            .expect("the restored database opens");
        assert_eq!(
            restored
                .setting("backup.test")
                .await
                .expect("read")
                .as_deref(),
            Some("\"kept\"")
        );
    }

    #[tokio::test]
    async fn a_folder_that_is_not_empty_is_refused_and_left_alone() {
        let temp = tempfile::tempdir().expect("temp");
        let source = temp.path().join("console");
        let _running = console_folder(&source).await;
        let file = temp.path().join("console.backup");
        backup(&source, &file, NOW).await.expect("backup");
        let target = temp.path().join("busy");
        std::fs::create_dir(&target).expect("dir");
        std::fs::write(target.join("notes.txt"), "mine").expect("write");
        let refused = restore(&file, &target, None).expect_err("refused");
        assert!(refused.to_string().contains("is not empty"), "{refused}");
        assert_eq!(
            std::fs::read_to_string(target.join("notes.txt")).expect("kept"),
            "mine"
        );
        assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 1);
    }

    #[tokio::test]
    async fn a_cut_or_altered_backup_restores_nothing() {
        let temp = tempfile::tempdir().expect("temp");
        let source = temp.path().join("console");
        let _running = console_folder(&source).await;
        let file = temp.path().join("console.backup");
        backup(&source, &file, NOW).await.expect("backup");
        let bytes = std::fs::read(&file).expect("read");

        let cut = temp.path().join("cut.backup");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
        let target = temp.path().join("from-cut");
        let refused = restore(&cut, &target, None).expect_err("a cut backup");
        assert!(
            refused
                .to_string()
                .contains("not a complete certfleet backup"),
            "{refused}"
        );
        assert_eq!(
            std::fs::read_dir(&target).expect("dir").count(),
            0,
            "the folder is left empty"
        );

        // One byte of the CA key changed: its SHA-256 no longer matches the manifest's.
        let key_at = bytes
            .windows(6)
            .rposition(|w| w == b"CA KEY")
            .expect("the key's bytes");
        let mut altered = bytes.clone();
        altered[key_at] = b'X';
        let altered_file = temp.path().join("altered.backup");
        std::fs::write(&altered_file, &altered).expect("write");
        let target = temp.path().join("from-altered");
        let refused = restore(&altered_file, &target, None).expect_err("an altered backup");
        assert!(refused.to_string().contains("agent-ca.key"), "{refused}");
        assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 0);

        let not_tar = temp.path().join("not.backup");
        std::fs::write(&not_tar, b"this is no backup").expect("write");
        let refused =
            restore(&not_tar, &temp.path().join("from-junk"), None).expect_err("not a backup");
        assert!(
            refused
                .to_string()
                .contains("not a complete certfleet backup"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn an_entry_outside_the_backups_own_names_is_refused() {
        let temp = tempfile::tempdir().expect("temp");
        let hostile = temp.path().join("hostile.backup");
        let manifest = Manifest {
            format: FORMAT,
            created_at: NOW,
            console_version: "0".into(),
            key_encryption_key_included: false,
            files: vec![Entry {
                name: "../escaped".into(),
                bytes: 4,
                sha256: hex::encode(Sha256::digest(b"evil")),
            }],
        };
        let json = serde_json::to_vec(&manifest).expect("json");
        let mut tar = tar::Builder::new(create_owner_only(&hostile).expect("file"));
        append(&mut tar, MANIFEST, json.len() as u64, NOW, &json[..]).expect("manifest");
        // Written by hand: the tar crate's own builder refuses a path with "..".
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().expect("gnu").name[..10].copy_from_slice(b"../escaped");
        header.set_size(4);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, &b"evil"[..]).expect("entry");
        tar.into_inner().expect("finish");
        let target = temp.path().join("restored");
        let refused = restore(&hostile, &target, None).expect_err("refused");
        assert!(
            refused.to_string().contains("not part of a backup"),
            "{refused}"
        );
        assert!(!temp.path().join("escaped").exists());
        assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 0);
    }
}
