//! Who may read the metrics: any logged-in role, or a scraper holding the `[metrics]`
//! token. The numbers name no secret, but they map the fleet (agents, rates), so an
//! anonymous client gets nothing.

use super::{Console, Error, Result, Viewer};

/// Compares without stopping at the first difference, so the time taken does not tell a
/// guesser how much of the token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Console {
    /// `Ok` when `token` (a Bearer token or the session cookie) may read `/metrics`.
    pub async fn may_read_metrics(&self, token: Option<&str>) -> Result<()> {
        let token = token.ok_or(Error::Unauthenticated)?;
        if let Some(expected) = &self.config.metrics.token
            && !expected.is_empty()
            && same(expected.as_bytes(), token.as_bytes())
        {
            return Ok(());
        }
        self.authenticate(token).await?.can::<Viewer>()?;
        Ok(())
    }
}
