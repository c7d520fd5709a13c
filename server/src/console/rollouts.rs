//! Rollouts: the plan for a renewal, the hosts' dry-run preflight, creating a rollout and
//! steering it (pause, resume, cancel), reading them. The scheduler in `rollout` drives
//! them from there.

use super::{Can, Console, Operator, Result, Viewer};
use super::{preflight, rollout_plan as rollout};

pub use super::preflight::HostVerdict;
pub use super::rollout_plan::{Control, Proposal, RolloutRequest, RolloutView, TargetChoice};
pub use certfleet_store::{RolloutRow, TargetRow};

impl Console {
    /// Every endpoint the renewal could renew, with the console's verdict on each.
    pub async fn plan(&self, _who: Can<'_, Viewer>, renewal_id: i64) -> Result<Vec<Proposal>> {
        rollout::plan(self, renewal_id).await
    }

    /// Asks each proposed endpoint's agent whether it could take the renewal; nothing
    /// changes on any host.
    pub async fn preflight(
        &self,
        who: Can<'_, Operator>,
        renewal_id: i64,
    ) -> Result<Vec<HostVerdict>> {
        preflight::check(self, who.name(), renewal_id).await
    }

    pub async fn create_rollout(
        &self,
        who: Can<'_, Operator>,
        request: &RolloutRequest,
    ) -> Result<RolloutRow> {
        rollout::create(self, who.name(), request).await
    }

    pub async fn control_rollout(
        &self,
        who: Can<'_, Operator>,
        id: i64,
        action: Control,
    ) -> Result<RolloutRow> {
        rollout::control(self, who.name(), id, action).await
    }

    /// Takes out of the clients the old trust entries a succeeded rollout replaced.
    pub async fn cleanup_trust(&self, who: Can<'_, Operator>, id: i64) -> Result<RolloutRow> {
        rollout::cleanup(self, who.name(), id).await
    }

    /// The latest rollouts, newest first.
    pub async fn rollouts(&self, _who: Can<'_, Viewer>, limit: i64) -> Result<Vec<RolloutRow>> {
        Ok(self.store.rollouts(limit).await?)
    }

    pub async fn rollout(&self, _who: Can<'_, Viewer>, id: i64) -> Result<RolloutView> {
        rollout::view(self, id).await
    }
}
