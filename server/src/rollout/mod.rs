//! Rollouts in motion: `scheduler` drives every active rollout from the database (start at
//! its time, waves, windows, re-sends, the failure limit) and takes the agents' progress
//! and results; `windows` are the maintenance windows per host group. Creating and steering
//! a rollout are use cases of the console core.
//!
//! The gateway hands an agent's job reports over through [`JobReports`], which this module
//! owns: the gateway knows nothing of the scheduler, and the scheduler nothing of sockets.

pub mod scheduler;
pub mod windows;

use std::sync::Arc;

use certfleet_proto::{JobProgress, JobResult};
use certfleet_store::Store;
use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use crate::alerts::Alerts;
use crate::clock::Clock;
use crate::connections::{PendingChecks, Registry};
use crate::events::{Events, LiveEvent};
use crate::secrets::Kek;

/// Where the gateway sends what an authenticated agent reports about a job. The agent id
/// is the one its certificate proved; the report itself is only the agent's claim.
pub trait JobReports: Send + Sync {
    /// A step of a job under way.
    fn progress<'a>(
        &'a self,
        agent_id: &'a str,
        progress: &'a JobProgress,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// A job's end. An error means the report was not recorded and the agent should send
    /// it again.
    fn result<'a>(
        &'a self,
        agent_id: &'a str,
        result: &'a JobResult,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// What the scheduler uses: the store, the key that opens uploaded keys, the connected
/// agents and the preflights waiting on them, its wake-up, the clock, the live events,
/// and alerts for failed deployments.
#[derive(Clone, Debug)]
pub struct Rollouts {
    store: Store,
    kek: Kek,
    registry: Registry,
    pending_checks: PendingChecks,
    rollout_wake: Arc<Notify>,
    /// Wakes the renewal scheduler when a rollout ends.
    renewal_wake: Arc<Notify>,
    clock: Clock,
    events: Events,
    alerts: Alerts,
}

/// The handles [`Rollouts`] is made of.
#[derive(Debug)]
pub struct RolloutParts {
    pub store: Store,
    pub kek: Kek,
    pub registry: Registry,
    pub pending_checks: PendingChecks,
    pub wake: Arc<Notify>,
    pub renewal_wake: Arc<Notify>,
    pub clock: Clock,
    pub events: Events,
    pub alerts: Alerts,
}

impl Rollouts {
    pub fn new(parts: RolloutParts) -> Self {
        Rollouts {
            store: parts.store,
            kek: parts.kek,
            registry: parts.registry,
            pending_checks: parts.pending_checks,
            rollout_wake: parts.wake,
            renewal_wake: parts.renewal_wake,
            clock: parts.clock,
            events: parts.events,
            alerts: parts.alerts,
        }
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    fn publish(&self, event: LiveEvent) {
        self.events.publish(event);
    }
}

impl JobReports for Rollouts {
    fn progress<'a>(
        &'a self,
        agent_id: &'a str,
        progress: &'a JobProgress,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(scheduler::on_progress(self, agent_id, progress))
    }

    fn result<'a>(
        &'a self,
        agent_id: &'a str,
        result: &'a JobResult,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(scheduler::on_result(self, agent_id, result))
    }
}
