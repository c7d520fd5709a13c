//! Hosts: the list, one host with its endpoints and certificates, its groups (labels), and
//! the one rule for whether a host's agent is online.

use certfleet_store::AuditAction;
use serde::Serialize;

use super::{Admin, Can, CertificateRow, Console, Error, Operator, Result, Viewer};
use certfleet_store::{CertificateFilter, ClientGroupRow, HostRow, TrustRow};

pub use certfleet_store::EndpointRow;

/// A host with what the console judges about it now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostView {
    #[serde(flatten)]
    pub host: HostRow,
    pub online: bool,
}

/// One host and everything it reported.
#[derive(Debug, Clone)]
pub struct HostDetail {
    pub host: HostView,
    pub endpoints: Vec<EndpointRow>,
    pub certificates: Vec<CertificateRow>,
    /// For each endpoint (same order), the client machines that must trust it, with their
    /// last verdict.
    pub clients: Vec<Vec<TrustRow>>,
    /// The servers this host must trust, when it is a client machine.
    pub trust: Vec<TrustRow>,
    /// The groups set in the console (the agent's own are in `host.groups` too).
    pub labels: Vec<String>,
    /// Steps certfleet cannot take that are left to a person (after a connector's first
    /// https: the BPA Platform side).
    pub manual_steps: Vec<ManualStep>,
    /// The client host groups attached to its endpoints.
    pub client_groups: Vec<ClientGroupRow>,
    /// The time the certificates' days-left were counted from.
    pub now: i64,
}

/// A step left to a person, with the rollout that made it due.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ManualStep {
    pub endpoint_name: String,
    pub rollout_id: i64,
    pub since: i64,
    pub text: String,
}

impl Console {
    /// Online: heard from within the offline threshold, and not revoked. The one place
    /// this is decided.
    pub fn is_online(&self, last_seen_at: Option<i64>, revoked: bool) -> bool {
        !revoked && last_seen_at.is_some_and(|t| t >= self.online_cutoff())
    }

    /// The oldest last-seen time that still counts as online.
    pub(super) fn online_cutoff(&self) -> i64 {
        self.now_secs() - self.config.offline_after_secs()
    }

    fn host_view(&self, host: HostRow) -> HostView {
        HostView {
            online: self.is_online(host.last_seen_at, host.revoked),
            host,
        }
    }

    pub async fn hosts(&self, _who: Can<'_, Viewer>) -> Result<Vec<HostView>> {
        let hosts = self.store.hosts().await?;
        Ok(hosts.into_iter().map(|h| self.host_view(h)).collect())
    }

    pub async fn host(&self, _who: Can<'_, Viewer>, id: i64) -> Result<HostDetail> {
        let store = &self.store;
        let host = store
            .host(id)
            .await?
            .ok_or(Error::NotFound { what: "host" })?;
        let filter = CertificateFilter {
            host_id: Some(id),
            limit: 500,
            now: self.now_secs(),
            ..CertificateFilter::default()
        };
        let (endpoints, certificates, labels, trust) = tokio::try_join!(
            store.endpoints(Some(id), None),
            store.certificates(&filter),
            store.host_labels(id),
            store.trust_of_host(id),
        )?;
        let clients = self.clients_of(&endpoints).await?;
        let manual_steps = store
            .first_https_done(id)
            .await?
            .into_iter()
            .map(|(endpoint_name, rollout_id, since)| ManualStep {
                text: format!(
                    "{endpoint_name} serves https since rollout #{rollout_id}: in BPA Platform, \
                     switch each connector connection to this server from http to https (same \
                     host and port) and re-select its company database; certfleet cannot do \
                     this step"
                ),
                endpoint_name,
                rollout_id,
                since,
            })
            .collect();
        Ok(HostDetail {
            host: self.host_view(host),
            clients,
            endpoints,
            certificates: certificates.items,
            trust,
            labels,
            manual_steps,
            client_groups: store.client_groups(id).await?,
            now: filter.now,
        })
    }

    /// For each endpoint, the client machines that must trust it: those whose trust checks
    /// name the endpoint's name on its port.
    pub(super) async fn clients_of(&self, endpoints: &[EndpointRow]) -> Result<Vec<Vec<TrustRow>>> {
        let mut all = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let port = e
                .address
                .as_deref()
                .and_then(certfleet_proto::host_and_port);
            let clients = match port {
                Some((_, port)) => self.store.clients_of(&e.name, port).await?,
                None => Vec::new(),
            };
            all.push(clients);
        }
        Ok(all)
    }

    /// Replaces the console's groups of a host; `labels` is a list separated by commas,
    /// spaces or lines. Returns all its groups (the agent's own included).
    pub async fn set_host_labels(
        &self,
        who: Can<'_, Admin>,
        host_id: i64,
        labels: &str,
    ) -> Result<Vec<String>> {
        let list = parse_labels(labels)?;
        let groups = self.store.set_host_labels(host_id, &list).await?;
        self.record(
            who.name(),
            AuditAction::HostLabelsSet,
            Some(&format!("host #{host_id}")),
            Some(&list.join(", ")),
        )
        .await?;
        // Its groups decide which servers it must trust.
        if let Some(host) = self.store.host(host_id).await? {
            crate::trust_lists::push_to_host(&self.store, &self.registry, host_id, &host.agent_id)
                .await?;
        }
        Ok(groups)
    }
}

impl Console {
    /// Attaches (or detaches) a client host group to a server's endpoint: every host in it
    /// must trust the endpoint, and is told so now. Audited; doing it twice changes nothing.
    pub async fn set_client_group(
        &self,
        who: Can<'_, Operator>,
        host_id: i64,
        endpoint_key: &str,
        group: &str,
        attach: bool,
    ) -> Result<Vec<ClientGroupRow>> {
        let group = group.trim();
        if group.is_empty() || group.len() > 64 {
            return Err(Error::Invalid(
                "name the client host group (1 to 64 characters), e.g. bpa".into(),
            ));
        }
        let changed = if attach {
            self.store
                .attach_client_group(host_id, endpoint_key, group, who.name(), self.now_secs())
                .await?
        } else {
            self.store
                .detach_client_group(host_id, endpoint_key, group)
                .await?
        };
        if changed {
            self.record(
                who.name(),
                if attach {
                    AuditAction::ClientsAttached
                } else {
                    AuditAction::ClientsDetached
                },
                Some(&format!("host #{host_id}")),
                Some(&format!("{endpoint_key}: group {group}")),
            )
            .await?;
            crate::trust_lists::push_to_group(&self.store, &self.registry, group).await?;
        }
        Ok(self.store.client_groups(host_id).await?)
    }

    /// Accepts an endpoint whose names another host served first, so a renewal may go to
    /// it; audited. Accepting twice changes nothing.
    pub async fn accept_endpoint(
        &self,
        who: Can<'_, Operator>,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<()> {
        let known = self
            .store
            .endpoints(Some(host_id), None)
            .await?
            .iter()
            .any(|e| e.key == endpoint_key);
        if !known {
            return Err(Error::NotFound { what: "endpoint" });
        }
        if self
            .store
            .accept_endpoint(host_id, endpoint_key, who.name(), self.now_secs())
            .await?
        {
            self.record(
                who.name(),
                AuditAction::EndpointAccepted,
                Some(&format!("host #{host_id}")),
                Some(endpoint_key),
            )
            .await?;
        }
        Ok(())
    }
}

fn parse_labels(text: &str) -> Result<Vec<String>> {
    let mut list: Vec<String> = Vec::new();
    for label in text
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if label.len() > 64
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(Error::Invalid(format!(
                "{label:?} is not a group name: use letters, digits, - _ . (up to 64)"
            )));
        }
        list.push(label.to_ascii_lowercase());
    }
    list.sort();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_cleaned_and_bad_ones_named() {
        assert_eq!(
            super::parse_labels("Web, db\nweb  ").expect("labels"),
            vec!["db", "web"]
        );
        let e = super::parse_labels("ok, no/slash").expect_err("slash");
        assert!(e.to_string().contains("\"no/slash\""), "{e}");
    }
}
