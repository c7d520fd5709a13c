//! ACME Renewal Information honoured: for an endpoint renewed over ACME, the CA may say when
//! its certificate should be replaced (earlier, before a mass revocation, or later to spread
//! load). The scheduler renews at the earlier of the policy's time and the CA's; what the CA
//! said is kept in memory until it says to ask again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use certfleet_store::EndpointUse;

use super::Console;
use super::obtain::Sources;
use crate::acme::{self, Ari};

/// What a CA said about one certificate (by SHA-256): when to renew, if it said.
#[derive(Debug, Clone, Copy)]
struct Said {
    renew_at: Option<i64>,
    ask_again_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AriCache {
    inner: Arc<Mutex<HashMap<String, Said>>>,
}

impl AriCache {
    fn get(&self, sha256: &str, now: i64) -> Option<Said> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(sha256).copied().filter(|s| s.ask_again_at > now)
    }

    fn put(&self, sha256: &str, said: Said) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(sha256.to_owned(), said);
    }

    /// What the CA said last about a certificate, even if it is time to ask again.
    pub fn known(&self, sha256: &str) -> Option<i64> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(sha256).and_then(|s| s.renew_at)
    }
}

/// When an ACME endpoint's certificate renews: the policy's time `policy_at`, or earlier
/// when its CA's renewal information says so. A CA without ARI, or one that cannot be
/// reached now, leaves the policy's time.
pub(super) async fn renew_at(
    console: &Console,
    sources: &Sources,
    u: &EndpointUse,
    policy_at: i64,
    now: i64,
) -> i64 {
    let said = match console.ari.get(&u.sha256, now) {
        Some(said) => said,
        None => {
            let said = ask(console, sources, u, now).await;
            console.ari.put(&u.sha256, said);
            said
        }
    };
    said.renew_at.map_or(policy_at, |at| at.min(policy_at))
}

async fn ask(console: &Console, sources: &Sources, u: &EndpointUse, now: i64) -> Said {
    const DAY: i64 = 86_400;
    let quiet = |hours: i64| Said {
        renew_at: None,
        ask_again_at: now + hours * 3600,
    };
    let Ok(Some(der)) = console.store.certificate_der(&u.sha256).await else {
        return quiet(24);
    };
    let account = match sources.acme_account(console).await {
        Ok(account) => account,
        Err(e) => {
            tracing::warn!("ACME renewal information not asked: {e}");
            return quiet(1);
        }
    };
    match acme::renewal_info(account, &der).await {
        Ok(Ari::Window {
            start,
            end,
            recheck_secs,
        }) => Said {
            renew_at: Some(acme::ari_renew_at(start, end, now, &u.sha256)),
            ask_again_at: now + recheck_secs,
        },
        Ok(Ari::Unsupported) => quiet(DAY / 3600),
        Err(e) => {
            tracing::warn!(host = %u.hostname, endpoint = %u.endpoint_key, "ACME renewal information: {e}");
            quiet(1)
        }
    }
}
