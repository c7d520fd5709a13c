//! Rollouts that put trust first: the client machines that must trust a server endpoint a
//! renewal goes to, whether each will trust the renewal's chain (as its last trust check
//! and the two chains tell), and what each must be made to trust before the switch.
//!
//! A chain rests on an anchor: its self-signed top (a self-signed leaf, or a root sent
//! along), else the CA named as the top's issuer, known by name only. A client whose last
//! check trusted a chain with the same anchor trusts the renewal; any other needs the
//! renewal's anchor installed first, which the console can send only when it holds that
//! certificate (a self-signed renewal, or one uploaded with its root).

use certfleet_certkit::Certificate;
use certfleet_proto::TrustVerdict;
use certfleet_store::TrustRow;
use serde::Serialize;

use super::{Console, Error};

/// One client machine that must trust a server endpoint, and what the renewal asks of it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ClientTrust {
    pub host_id: i64,
    pub hostname: String,
    pub agent_id: String,
    pub online: bool,
    /// `host:port` as the client's trust list names it.
    pub endpoint: String,
    /// Its last trust check of the server as it serves now.
    pub verdict: TrustVerdict,
    pub need: TrustNeed,
    /// SHA-256 of the certificate the client trusts the server by now (its old chain's
    /// self-signed top, or a root the console holds of the top's issuer), when known.
    pub old_anchor: Option<String>,
}

/// What a client must be made to trust before the server switches to the renewal.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "need", rename_all = "snake_case")]
pub enum TrustNeed {
    /// Its last check trusted a chain resting on the renewal's anchor: nothing to do.
    Trusts,
    /// It must first trust this certificate (the renewal's self-signed certificate, or the
    /// root of its CA).
    Install { sha256: String, subject: String },
    /// The console holds no certificate it could make the client trust.
    Unknown { reason: String },
}

/// What a chain's trust rests on.
#[derive(Debug, Clone, PartialEq)]
struct Anchor {
    /// The certificate itself, when the chain holds it (self-signed top).
    cert: Option<(String, String)>,
    /// The anchor's subject: the self-signed top's, or the name the top's issuer has.
    name: String,
}

fn anchor_of(chain: &[Certificate]) -> Option<Anchor> {
    let top = chain.last()?.facts();
    Some(if top.self_signed {
        Anchor {
            cert: Some((top.sha256.to_string(), top.subject.clone())),
            name: top.subject.clone(),
        }
    } else {
        Anchor {
            cert: None,
            name: top.issuer.clone(),
        }
    })
}

/// The renewal's demand on one client that checked the server with `verdict` over
/// `old_chain` (as served to it, leaf first).
pub fn need_of(
    verdict: TrustVerdict,
    old_chain: &[Certificate],
    new_chain: &[Certificate],
) -> TrustNeed {
    let Some(new) = anchor_of(new_chain) else {
        return TrustNeed::Unknown {
            reason: "the renewal holds no certificate".into(),
        };
    };
    if verdict.is_trusted()
        && let Some(old) = anchor_of(old_chain)
    {
        let same = match (&old.cert, &new.cert) {
            (Some((a, _)), Some((b, _))) => a == b,
            _ => old.name == new.name,
        };
        if same {
            return TrustNeed::Trusts;
        }
    }
    match new.cert {
        Some((sha256, subject)) => TrustNeed::Install { sha256, subject },
        None => TrustNeed::Unknown {
            reason: format!(
                "the renewal's chain ends below \"{}\", whose root the console does not hold: \
                 upload the renewal with its root so this client can be made to trust it, or \
                 install that root on the client yourself",
                new.name
            ),
        },
    }
}

/// The clients of a server endpoint reached as `name` at `address` (`host:port`), with
/// what the renewal's chain asks of each.
pub async fn clients(
    console: &Console,
    name: &str,
    address: Option<&str>,
    new_chain: &[Certificate],
) -> Result<Vec<ClientTrust>, Error> {
    let Some((_, port)) = address.and_then(certfleet_proto::host_and_port) else {
        return Ok(Vec::new());
    };
    let rows = console.store.clients_of(name, port).await?;
    let roots: Vec<Certificate> = console
        .store
        .renewal_roots()
        .await?
        .iter()
        .filter_map(|pem| certfleet_certkit::read(pem.as_bytes(), None).ok())
        .flat_map(|m| m.certificates)
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let old_chain = served_chain(console, &row).await?;
        let old_anchor = row
            .verdict
            .is_trusted()
            .then(|| anchor_of(&old_chain))
            .flatten()
            .and_then(|a| match a.cert {
                Some((sha256, _)) => Some(sha256),
                None => roots
                    .iter()
                    .find(|r| r.facts().subject == a.name)
                    .map(|r| r.facts().sha256.to_string()),
            });
        out.push(ClientTrust {
            old_anchor,
            need: need_of(row.verdict, &old_chain, new_chain),
            online: console.registry.is_connected(&row.agent_id),
            host_id: row.host_id,
            hostname: row.hostname,
            agent_id: row.agent_id,
            endpoint: row.endpoint,
            verdict: row.verdict,
        });
    }
    Ok(out)
}

/// The chain a client was served, from the certificates the console keeps.
async fn served_chain(console: &Console, row: &TrustRow) -> Result<Vec<Certificate>, Error> {
    let mut chain = Vec::with_capacity(row.chain.len());
    for sha256 in &row.chain {
        if let Some(der) = console.store.certificate_der(sha256).await?
            && let Ok(cert) = Certificate::from_der(&der)
        {
            chain.push(cert);
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use certfleet_e2e::pki::TestCa;

    use super::*;

    fn chain(pems: &[&str]) -> Vec<Certificate> {
        pems.iter()
            .flat_map(|p| {
                certfleet_certkit::read(p.as_bytes(), None)
                    .expect("pem")
                    .certificates
            })
            .collect()
    }

    #[test]
    fn a_client_needs_the_renewals_anchor_unless_it_trusted_the_same_one() {
        let old_ca = TestCa::new("Old Internal Root");
        let new_ca = TestCa::new("New Internal Root");
        let old = old_ca.server(&["sage01.example.test"], 30);
        let same = old_ca.server(&["sage01.example.test"], 397);
        let moved = new_ca.server(&["sage01.example.test"], 397);
        let served = chain(&[&old.cert_pem]);

        // The same CA, served without its root before and with it now: still trusted.
        let need = need_of(
            TrustVerdict::Trusted,
            &served,
            &chain(&[&same.cert_pem, &old_ca.pem]),
        );
        assert_eq!(need, TrustNeed::Trusts);
        let need = need_of(TrustVerdict::Trusted, &served, &chain(&[&same.cert_pem]));
        assert_eq!(need, TrustNeed::Trusts);

        // A new CA uploaded with its root: that root goes to the client first.
        let need = need_of(
            TrustVerdict::Trusted,
            &served,
            &chain(&[&moved.cert_pem, &new_ca.pem]),
        );
        let root = &chain(&[&new_ca.pem])[0];
        assert_eq!(
            need,
            TrustNeed::Install {
                sha256: root.facts().sha256.to_string(),
                subject: root.facts().subject.clone(),
            }
        );
        // Without its root, the console can only say so.
        let need = need_of(TrustVerdict::Trusted, &served, &chain(&[&moved.cert_pem]));
        assert!(
            matches!(&need, TrustNeed::Unknown { reason } if reason.contains("New Internal Root")),
            "{need:?}"
        );
        // A client that does not trust the server now needs the anchor even when it is the
        // same one (it was never installed there).
        let need = need_of(
            TrustVerdict::UnknownRoot,
            &served,
            &chain(&[&same.cert_pem, &old_ca.pem]),
        );
        assert!(matches!(need, TrustNeed::Install { .. }), "{need:?}");
    }
}
