//! The `trust` driver: a client machine made to trust a server's new certificate before the
//! server switches to it, and the entries certfleet added taken out once nothing needs them.
//! Both go through the executor like any deployment, so the journal puts the trust store
//! back when the change cannot be proved: after an install, the server's new chain must be
//! trusted as this machine's TLS clients judge it; after a removal, the server as it serves
//! now must still be.
//!
//! Journal keys: `trust:HOST:PORT` installs, `untrust:HOST:PORT` removes; both have the reach
//! of the `[[trust]]` table of `HOST:PORT` (files of certfleet's naming in its `bundle_dir`,
//! its `update_command`; on Windows LocalMachine\Root).

use std::future::Future;
use std::pin::Pin;

use certfleet_certkit::{self as certkit, Certificate};
use certfleet_proto::TrustVerdict;
use certfleet_winhost::Host;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{
    Before, Bundle, CommandLine, Driver, Error, Exposure, FileWrite, Plan, Probe, Reach, Record,
    Restart, WindowsBefore, WindowsChange,
};
use crate::config::TrustTarget;
use crate::trust::install::{Installed, Ledger, Place, admit, file_for};
use crate::trust::{Anchors, judge_chain};

/// Install or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Install,
    Remove,
}

impl Change {
    /// The journal key of a change to `endpoint` (`host:port`).
    pub fn key(self, endpoint: &str) -> String {
        match self {
            Change::Install => format!("trust:{endpoint}"),
            Change::Remove => format!("untrust:{endpoint}"),
        }
    }

    /// The change and the `host:port` a journal key names, if it is a trust key.
    pub fn of_key(key: &str) -> Option<(Change, &str)> {
        key.strip_prefix("trust:")
            .map(|e| (Change::Install, e))
            .or_else(|| key.strip_prefix("untrust:").map(|e| (Change::Remove, e)))
    }
}

#[derive(Debug)]
pub struct TrustDriver {
    pub target: TrustTarget,
    /// The whole list, which `admit` checks the endpoint against.
    pub targets: Vec<TrustTarget>,
    pub change: Change,
    pub ledger: Ledger,
    pub host: Host,
}

impl TrustDriver {
    /// The driver for `key` (`trust:HOST:PORT` or `untrust:HOST:PORT`) in this machine's list.
    pub fn find(
        targets: &[TrustTarget],
        key: &str,
        ledger: &Ledger,
        host: &Host,
    ) -> Result<Self, Error> {
        let (change, endpoint) = Change::of_key(key)
            .ok_or_else(|| Error::NotConfigured(format!("{key:?} is not a trust endpoint")))?;
        let target = targets
            .iter()
            .find(|t| t.endpoint.eq_ignore_ascii_case(endpoint))
            .ok_or_else(|| {
                Error::NotConfigured(
                    crate::trust::install::Refusal::NotInList {
                        endpoint: endpoint.to_owned(),
                    }
                    .to_string(),
                )
            })?;
        Ok(TrustDriver {
            target: target.clone(),
            targets: targets.to_vec(),
            change,
            ledger: ledger.clone(),
            host: host.clone(),
        })
    }

    /// The certificate of the bundle's chain to trust (named by the bundle's SHA-256), once
    /// this machine's rules admit it, and the chain's DER.
    fn anchor(&self, bundle: &Bundle) -> Result<(Certificate, Vec<Vec<u8>>), Error> {
        let material = certkit::read(bundle.chain_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
        let anchor = material
            .certificates
            .iter()
            .find(|c| c.facts().sha256.to_string() == bundle.sha256)
            .cloned()
            .ok_or_else(|| {
                Error::Bundle(format!(
                    "the certificate to trust ({}) is not in the chain the console sent",
                    bundle.sha256
                ))
            })?;
        admit(&self.targets, &self.target.endpoint, &anchor)
            .map_err(|e| Error::Endpoint(e.to_string()))?;
        let chain = material
            .certificates
            .iter()
            .map(|c| c.der().to_vec())
            .collect();
        Ok((anchor, chain))
    }

    /// The ledger's entry for this endpoint and certificate, if certfleet installed it.
    fn entry(&self, sha256: &str) -> Option<Installed> {
        self.ledger
            .entries()
            .into_iter()
            .find(|e| e.sha256 == sha256 && e.endpoint == self.target.endpoint)
    }

    /// Whether another endpoint's entry still needs the certificate where it is.
    fn shared(&self, sha256: &str) -> bool {
        self.ledger
            .entries()
            .iter()
            .any(|e| e.sha256 == sha256 && e.endpoint != self.target.endpoint)
    }

    fn restart(&self) -> Option<Restart> {
        (!self.target.uses_root_store())
            .then(|| Restart::Command(CommandLine(self.target.update_command())))
    }
}

impl Driver for TrustDriver {
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        _now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
        Box::pin(async move {
            match self.change {
                Change::Install => self.anchor(bundle).map(|_| ()),
                // What certfleet did not install is left alone (the plan changes nothing).
                Change::Remove => Ok(()),
            }
        })
    }

    fn plan(&self, bundle: &Bundle) -> Result<Plan, Error> {
        let mut plan = Plan {
            files: Vec::new(),
            removes: Vec::new(),
            windows: Vec::new(),
            reach: self.reach()?,
            old_sha256: None,
            private_readers: None,
            probe: None,
        };
        match self.change {
            Change::Install => {
                let (anchor, chain) = self.anchor(bundle)?;
                if self.target.uses_root_store() {
                    plan.windows.push(WindowsChange::Trust {
                        thumbprint: anchor.facts().thumbprint.to_string(),
                        der_base64: base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            anchor.der(),
                        ),
                    });
                } else {
                    plan.files.push(FileWrite {
                        path: file_for(&self.target.bundle_dir(), &bundle.sha256),
                        contents: Zeroizing::new(
                            certkit::write::pem_chain(std::slice::from_ref(&anchor)).into_bytes(),
                        ),
                        exposure: Exposure::Public,
                    });
                }
                plan.probe = Some(Box::new(Trusted {
                    target: self.target.clone(),
                    host: self.host.clone(),
                    chain: Some(chain),
                }));
            }
            Change::Remove => {
                let Some(entry) = self.entry(&bundle.sha256) else {
                    plan.probe = Some(Box::new(LeftAlone(format!(
                        "nothing taken out: certfleet did not install {} for {} on this \
                         machine, so it is not certfleet's to remove and it stays",
                        bundle.sha256, self.target.endpoint
                    ))));
                    return Ok(plan);
                };
                // Another endpoint's entry keeps the certificate; only this one is forgotten.
                if !self.shared(&entry.sha256) {
                    match entry.place {
                        Place::File { path } => plan.removes.push(path),
                        Place::Root { thumbprint } => {
                            plan.windows.push(WindowsChange::Untrust { thumbprint })
                        }
                    }
                }
                plan.probe = Some(Box::new(Trusted {
                    target: self.target.clone(),
                    host: self.host.clone(),
                    chain: None,
                }));
            }
        }
        Ok(plan)
    }

    fn reach(&self) -> Result<Reach, Error> {
        let root_store = self.target.uses_root_store();
        Ok(Reach {
            owned_in: (!root_store).then(|| self.target.bundle_dir()),
            root_store,
            restart: self.restart(),
            ..Reach::default()
        })
    }

    fn verified(&self, record: &Record) -> Result<(), Error> {
        let mut entries = self.ledger.entries();
        let sha256 = &record.new_sha256;
        let endpoint = &self.target.endpoint;
        match self.change {
            Change::Install => {
                if entries
                    .iter()
                    .any(|e| &e.sha256 == sha256 && &e.endpoint == endpoint)
                {
                    return Ok(());
                }
                // Ours only when this job added it, or another endpoint's entry did.
                let added = record
                    .files
                    .iter()
                    .find(|f| f.before == Before::Absent)
                    .map(|f| Place::File {
                        path: f.path.clone(),
                    })
                    .or_else(|| {
                        record
                            .windows
                            .iter()
                            .find_map(|w| match (&w.change, &w.before) {
                                (
                                    WindowsChange::Trust { thumbprint, .. },
                                    WindowsBefore::Absent,
                                ) => Some(Place::Root {
                                    thumbprint: thumbprint.clone(),
                                }),
                                _ => None,
                            })
                    })
                    .or_else(|| {
                        entries
                            .iter()
                            .find(|e| &e.sha256 == sha256)
                            .map(|e| e.place.clone())
                    });
                let Some(place) = added else {
                    // It was in the store before certfleet: never certfleet's to remove.
                    return Ok(());
                };
                entries.push(Installed {
                    endpoint: endpoint.clone(),
                    sha256: sha256.clone(),
                    place,
                });
            }
            Change::Remove => entries.retain(|e| !(&e.sha256 == sha256 && &e.endpoint == endpoint)),
        }
        self.ledger.save(&entries).map_err(|e| Error::File {
            action: "write",
            path: self.ledger.path().to_owned(),
            source: std::io::Error::new(e.io().kind(), e.to_string()),
        })
    }
}

/// A removal that had nothing of certfleet's to take out: says so.
#[derive(Debug)]
struct LeftAlone(String);

impl Probe for LeftAlone {
    fn describe(&self) -> String {
        "nothing of certfleet's to take out".into()
    }

    fn run(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
        let said = self.0.clone();
        Box::pin(async move { Ok(said) })
    }
}

/// The proof a trust change worked: the server's new chain (after an install), or what the
/// server serves now (after a removal), trusted by this machine's store.
#[derive(Debug)]
struct Trusted {
    target: TrustTarget,
    host: Host,
    chain: Option<Vec<Vec<u8>>>,
}

impl Probe for Trusted {
    fn describe(&self) -> String {
        match self.chain {
            Some(_) => format!(
                "the new chain of {} judged by this machine",
                self.target.endpoint
            ),
            None => format!(
                "{} checked as this machine's clients see it",
                self.target.endpoint
            ),
        }
    }

    fn run(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
        Box::pin(async move {
            let anchors = Anchors::for_target(&self.target);
            let now = OffsetDateTime::now_utc();
            let endpoint = &self.target.endpoint;
            match &self.chain {
                Some(chain) => match judge_chain(&self.target, &anchors, &self.host, chain, now) {
                    (TrustVerdict::Trusted, _) => Ok(format!(
                        "this machine now trusts the new certificate of {endpoint}"
                    )),
                    (verdict, reason) => Err(format!(
                        "this machine still would not trust the new certificate of {endpoint} \
                         ({verdict}: {reason}); the trust store was put back"
                    )),
                },
                None => {
                    let (check, _) =
                        crate::trust::check(&self.target, &anchors, &self.host, now).await;
                    if check.verdict.is_trusted() {
                        Ok(format!(
                            "the old entry is gone and this machine still trusts {endpoint}"
                        ))
                    } else {
                        Err(format!(
                            "without that entry this machine would not trust {endpoint} as it \
                             serves now ({}: {}); it was put back",
                            check.verdict, check.reason
                        ))
                    }
                }
            }
        })
    }
}

#[cfg(all(test, unix))]
mod tests;
