//! Renewed certificates: upload (checked by certkit, key sealed), list and read. No answer
//! carries a private key, sealed or not.

use super::upload as renewals;
use super::{Can, Console, Operator, Result, Viewer};

pub use super::upload::UploadRequest;
pub use certfleet_store::RenewalRow;

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
}
