//! The key-encryption key's life: loaded at start and checked against a sealed canary (so a
//! swapped or lost key is reported at once, not at the first rollout), and rotated by
//! `certfleet-server keys rotate`, which re-seals every secret in one transaction.
//!
//! Rotation with the key in the data folder writes the new key to `kek.key.new` first, then
//! re-seals, then renames it over `kek.key`. A crash between the commit and the rename is
//! finished at the next start: the canary says which of the two keys the database uses.

use anyhow::{Context, Result, bail};
use certfleet_store::Store;

use crate::datadir::{DataDir, write_private};
use crate::secrets::Kek;

const KEK_FILE: &str = "kek.key";
const KEK_NEW_FILE: &str = "kek.key.new";
/// A setting holding a sealed known text: proof of which key the database is sealed under.
const CANARY: &str = "kek.canary";
const CANARY_TEXT: &[u8] = b"certfleet key-encryption key canary";
/// Settings whose value is a sealed secret.
const SEALED_SETTINGS: &[&str] = &[
    CANARY,
    crate::alerts::PASSWORD,
    crate::issuing_ca::KEY_SETTING,
    crate::sub_ca::PENDING_KEY_SETTING,
];

/// Where the key came from; rotation treats the two differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    DataFolder,
}

/// The key from `CERTFLEET_KEK`, else `kek.key` (created on the first start), checked
/// against the canary; an interrupted rotation is finished here.
pub async fn load(dir: &DataDir, store: &Store, env: Option<&str>, now: i64) -> Result<Kek> {
    let canary = store.setting(CANARY).await?;
    let (kek, source) = match env {
        Some(text) => (Kek::from_base64(text)?, Source::Environment),
        None => {
            // A database sealed under a key, and no key: a restored folder, most likely. A
            // new key would open none of its secrets; say what is missing instead.
            if canary.is_some() && !dir.path(KEK_FILE).exists() {
                bail!(
                    "the database in {} holds secrets sealed under a key-encryption key, but the \
                     folder has no kek.key and CERTFLEET_KEK is not set: after a restore, copy \
                     the backed-up console's kek.key into the folder (or restore with \
                     --kek-file), or set CERTFLEET_KEK",
                    dir.path("").display()
                );
            }
            (Kek::new(&dir.secret(KEK_FILE, 32)?)?, Source::DataFolder)
        }
    };
    let Some(json) = canary else {
        let sealed = kek.seal(CANARY_TEXT)?;
        store
            .set_setting(CANARY, &serde_json::to_string(&sealed)?, now)
            .await?;
        return Ok(kek);
    };
    let sealed: String = serde_json::from_str(&json).context("the key canary is damaged")?;
    if kek.open(&sealed).is_ok() {
        let _ = std::fs::remove_file(dir.path(KEK_NEW_FILE));
        return Ok(kek);
    }
    if source == Source::DataFolder
        && let Ok(bytes) = std::fs::read(dir.path(KEK_NEW_FILE))
        && let Ok(new) = Kek::new(&bytes)
        && new.open(&sealed).is_ok()
    {
        std::fs::rename(dir.path(KEK_NEW_FILE), dir.path(KEK_FILE))
            .context("cannot finish the interrupted key rotation: rename kek.key.new to kek.key")?;
        tracing::info!("finished an interrupted key rotation: kek.key is the new key");
        return Ok(new);
    }
    bail!(
        "the key-encryption key ({}) does not open this database's secrets: kek.key or \
         CERTFLEET_KEK was replaced. Restore the key that goes with this database (the one kept \
         apart from its backups: a certfleet backup does not hold it)",
        match source {
            Source::Environment => "CERTFLEET_KEK",
            Source::DataFolder => "kek.key in the data folder",
        }
    )
}

/// Re-seals every secret under `new`. Returns how many were re-sealed.
pub async fn reseal(store: &Store, old: &Kek, new: &Kek, now: i64) -> Result<usize> {
    let mut resealed = Vec::new();
    // ACME accounts are kept one per directory, each under a name of its own.
    let accounts = store
        .setting_names(crate::acme::ACCOUNT_SETTING_PREFIX)
        .await?;
    let mut settings: Vec<&str> = SEALED_SETTINGS.to_vec();
    settings.extend(accounts.iter().map(String::as_str));
    for (place, sealed) in store.sealed_secrets(&settings).await? {
        let plain = old.open(&sealed).with_context(|| {
            format!("{place:?} cannot be opened with the current key; nothing was changed")
        })?;
        resealed.push((place, new.seal(&plain)?));
    }
    store.replace_sealed_secrets(&resealed, now).await?;
    Ok(resealed.len())
}

/// What `keys rotate` did, for its output.
#[derive(Debug)]
pub struct Rotated {
    pub resealed: usize,
    pub source: Source,
}

/// Rotates the key. `env` is `CERTFLEET_KEK` when set; `new_env` the new key's base64 when
/// the key lives in the environment (there is no file to write it to then).
pub async fn rotate(
    dir: &DataDir,
    store: &Store,
    env: Option<&str>,
    new_env: Option<&str>,
    now: i64,
) -> Result<Rotated> {
    let old = load(dir, store, env, now).await?;
    let source = if env.is_some() {
        Source::Environment
    } else {
        Source::DataFolder
    };
    let new = match (source, new_env) {
        (_, Some(text)) => Kek::from_base64(text)?,
        (Source::Environment, None) => bail!(
            "CERTFLEET_KEK is set, so the new key cannot be written to the data folder: put \
             a new key (`head -c 32 /dev/urandom | base64`) in another variable and pass its \
             name with --new-kek-env"
        ),
        (Source::DataFolder, None) => {
            let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut bytes[..]).context("the random source failed")?;
            Kek::new(&bytes[..])?
        }
    };
    if source == Source::DataFolder {
        write_private(&dir.path(KEK_NEW_FILE), new.bytes())?;
    }
    let resealed = reseal(store, &old, &new, now).await?;
    if source == Source::DataFolder {
        std::fs::rename(dir.path(KEK_NEW_FILE), dir.path(KEK_FILE)).context(
            "re-sealed, but cannot rename kek.key.new to kek.key; the next start finishes it",
        )?;
    }
    Ok(Rotated { resealed, source })
}
