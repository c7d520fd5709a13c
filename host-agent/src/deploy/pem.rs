//! The `pem` driver: certificate, key and chain files at the paths the agent's
//! configuration gives, plus a check and a reload command (nginx, haproxy, anything).

use std::future::Future;
use std::pin::Pin;

use certfleet_certkit::Purpose;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{
    Bundle, CommandLine, Driver, Error, Exposure, FileWrite, Plan, Reach, Restart, VerifyAt,
    check_port, configured_leaf,
};
use crate::config::PemTarget;

#[derive(Debug)]
pub struct PemDriver {
    pub target: PemTarget,
}

impl PemDriver {
    fn verify_at(&self) -> Option<VerifyAt> {
        self.target.address.as_ref().map(|address| VerifyAt {
            address: address.clone(),
            server_name: Some(self.host().to_owned()),
            without_sni: None,
        })
    }

    fn host(&self) -> &str {
        self.target.host.as_deref().unwrap_or(&self.target.name)
    }
}

impl Driver for PemDriver {
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
        Box::pin(async move {
            if self.target.key.is_none() {
                return Err(Error::NotConfigured(format!(
                    "the [[pem]] target {:?} has no key path in the agent's configuration: add \
                     `key = \"...\"` so the new key has somewhere to go",
                    self.target.name
                )));
            }
            bundle.judge(Some(self.host()), Purpose::Pem, now)?;
            bundle.check_issuers(&self.target.allowed_issuers)?;
            if let Some(at) = self.verify_at() {
                let configured = configured_leaf(&self.target.certificate);
                check_port(&at, configured.as_deref(), &bundle.sha256, true).await?;
            }
            Ok(())
        })
    }

    fn plan(&self, bundle: &Bundle) -> Result<Plan, Error> {
        let (leaf, issuers) = bundle.split_chain()?;
        let mut files = Vec::new();
        // Without a chain file the certificate file carries the whole chain, as nginx and
        // haproxy expect.
        let certificate = match &self.target.chain {
            Some(chain) if !issuers.is_empty() => {
                files.push(FileWrite {
                    path: chain.clone(),
                    contents: Zeroizing::new(issuers.into_bytes()),
                    exposure: Exposure::Private,
                });
                leaf
            }
            // No issuers (a leaf straight from a root): the chain file stays as it is.
            Some(_) => leaf,
            None => bundle.chain_pem.clone(),
        };
        files.insert(
            0,
            FileWrite {
                path: self.target.certificate.clone(),
                contents: Zeroizing::new(certificate.into_bytes()),
                exposure: Exposure::Private,
            },
        );
        if let Some(key) = &self.target.key {
            files.push(FileWrite {
                path: key.clone(),
                contents: Zeroizing::new(bundle.key_pem.as_bytes().to_vec()),
                exposure: Exposure::Private,
            });
        }
        Ok(Plan {
            files,
            removes: Vec::new(),
            probe: None,
            windows: Vec::new(),
            reach: self.reach()?,
            old_sha256: configured_leaf(&self.target.certificate),
            private_readers: None,
        })
    }

    fn reach(&self) -> Result<Reach, Error> {
        let t = &self.target;
        Ok(Reach {
            files: [Some(&t.certificate), t.chain.as_ref(), t.key.as_ref()]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            windows_port: None,
            check: t.check.clone().map(CommandLine),
            restart: t.reload.clone().map(|r| Restart::Command(CommandLine(r))),
            error_log: None,
            verify: self.verify_at(),
            ..Reach::default()
        })
    }
}
