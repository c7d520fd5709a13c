//! The servers the console says this machine must trust (a client host group attached to a
//! server endpoint), kept in the data folder (`console-trust.json`) so `scan` shows them too.
//! They are checked like the agent's own `[[trust]]` tables, with the system's store, and
//! reported with origin `console`; nothing is ever installed for them.

use std::path::{Path, PathBuf};

use certfleet_proto::AttachedEndpoint;

use crate::config::TrustTarget;

/// As many as the console accepts trust checks from one agent.
const MAX_ATTACHED: usize = 500;

fn path(dir: &Path) -> PathBuf {
    dir.join("console-trust.json")
}

/// Replaces the list the console sent last.
pub fn save(dir: &Path, list: &[AttachedEndpoint]) -> Result<(), certfleet_files::Error> {
    let json = serde_json::to_vec_pretty(list).unwrap_or_default();
    certfleet_files::replace_owner_only(&path(dir), &json)
}

/// The console's list as trust targets, leaving out what `own` (the agent's configuration)
/// has already and what does not name a host and port.
pub fn load(dir: &Path, own: &[TrustTarget]) -> Vec<TrustTarget> {
    let list: Vec<AttachedEndpoint> = std::fs::read(path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    targets(&list, own)
}

pub fn targets(list: &[AttachedEndpoint], own: &[TrustTarget]) -> Vec<TrustTarget> {
    list.iter()
        .filter(|a| certfleet_proto::host_and_port(&a.endpoint).is_some())
        .filter(|a| {
            !own.iter()
                .any(|t| t.endpoint.eq_ignore_ascii_case(&a.endpoint))
        })
        .take(MAX_ATTACHED)
        .map(|a| TrustTarget {
            endpoint: a.endpoint.clone(),
            server_name: Some(a.server_name.clone()),
            bundle_dir: None,
            update_command: None,
            ca_file: None,
            allowed_issuers: Vec::new(),
            revocation: Default::default(),
        })
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_consoles_list_adds_only_what_the_agent_lacks_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let own = vec![crate::trust::install::tests::target(
            "sage01.example.test:4207",
            "sage01.example.test",
        )];
        let list = vec![
            AttachedEndpoint {
                endpoint: "SAGE01.example.test:4207".into(),
                server_name: "sage01.example.test".into(),
            },
            AttachedEndpoint {
                endpoint: "sage02.example.test:4207".into(),
                server_name: "sage02.example.test".into(),
            },
            AttachedEndpoint {
                endpoint: "no-port".into(),
                server_name: "no-port".into(),
            },
        ];
        save(dir.path(), &list).expect("save");
        let added = load(dir.path(), &own);
        assert_eq!(added.len(), 1, "{added:?}");
        assert_eq!(added[0].endpoint, "sage02.example.test:4207");
        assert!(
            added[0].allowed_issuers.is_empty(),
            "nothing may be installed for it"
        );
        assert!(load(&dir.path().join("none"), &own).is_empty());
    }
}
