//! Renewed certificates: upload (checked by certkit, key sealed), list and read. No answer
//! carries a private key, sealed or not.

use super::issuance::{self, ScheduledRenewal};
use super::upload as renewals;
use super::{Can, Console, Operator, Result, Viewer};

pub use super::upload::UploadRequest;
pub use certfleet_store::{IssuanceRow, RenewalRow};

impl Console {
    /// Checks and stores an upload; a refused one is audited with the reason and stores
    /// nothing.
    pub async fn upload_renewal(
        &self,
        who: Can<'_, Operator>,
        request: &UploadRequest,
    ) -> Result<RenewalRow> {
        renewals::upload(self, who.name(), request).await
    }

    /// The latest renewals, newest first.
    pub async fn renewals(&self, _who: Can<'_, Viewer>, limit: i64) -> Result<Vec<RenewalRow>> {
        Ok(self.store.renewals(limit).await?)
    }

    pub async fn renewal(&self, _who: Can<'_, Viewer>, id: i64) -> Result<RenewalRow> {
        Ok(self.store.renewal(id).await?)
    }

    /// The renewal scheduler's pass (no person: the policies decide): starts the renewals
    /// that are due and moves those under way on; how many it started.
    pub async fn renew_due(&self) -> Result<usize> {
        issuance::pass(self).await
    }

    /// Renews one endpoint now, by its group's policy: the key made on its host, the
    /// certificate from the policy's source, rolled out and verified like any other.
    pub async fn renew_now(
        &self,
        who: Can<'_, Operator>,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<IssuanceRow> {
        issuance::renew_now(self, who.name(), host_id, endpoint_key).await
    }

    /// Every endpoint under a renewal policy: when it renews, how its last renewal went.
    pub async fn renewal_schedule(&self, _who: Can<'_, Viewer>) -> Result<Vec<ScheduledRenewal>> {
        issuance::schedule(self).await
    }

    /// The issuing CA for internal names (once made) and which clients trust what it issued.
    pub async fn issuing_ca(
        &self,
        _who: Can<'_, Viewer>,
    ) -> Result<Option<super::ca_trust::IssuingCaView>> {
        super::ca_trust::view(self).await
    }

    /// The latest renewals the console obtained itself, newest first.
    pub async fn issuances(&self, _who: Can<'_, Viewer>, limit: i64) -> Result<Vec<IssuanceRow>> {
        Ok(self.store.recent_issuances(limit).await?)
    }
}
