//! Agents and enrolment tokens: the list with each agent's state, revoking one (refused at
//! the next handshake and dropped now), and creating a token with the commands that use it.

use certfleet_store::AuditAction;
use serde::Serialize;

use super::{Admin, Can, Console, Error, Result, Viewer};
use certfleet_proto::EnrollmentToken;
use certfleet_store::AgentRow;

pub use certfleet_store::TokenRow;

/// Where an agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
pub enum AgentStatus {
    Online,
    Offline,
    Revoked,
}

/// An agent with what the console judges about it now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    #[serde(flatten)]
    pub agent: AgentRow,
    pub online: bool,
    /// Has a live WebSocket to the gateway at this moment.
    pub connected: bool,
}

impl AgentView {
    pub fn status(&self) -> AgentStatus {
        if self.agent.revoked_at.is_some() {
            AgentStatus::Revoked
        } else if self.online {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        }
    }
}

/// A new enrolment token, shown once, with the commands an admin runs on the host.
#[derive(Debug)]
pub struct NewToken {
    pub token: EnrollmentToken,
    pub expires_at: i64,
    pub enrol_linux: String,
    pub enrol_windows: String,
    /// Download-and-install commands for the agent binaries this console serves.
    pub install_linux: Option<String>,
    pub install_windows: Option<String>,
}

impl Console {
    pub async fn agents(&self, _who: Can<'_, Viewer>) -> Result<Vec<AgentView>> {
        let agents = self.store.list_agents().await?;
        Ok(agents
            .into_iter()
            .map(|agent| AgentView {
                online: self.is_online(agent.last_seen_at, agent.revoked_at.is_some()),
                connected: self.registry.is_connected(&agent.id),
                agent,
            })
            .collect())
    }

    /// Revokes an agent's certificate: new handshakes are refused first, then the live
    /// connection is dropped. Returns whether one was dropped. Audited the first time.
    pub async fn revoke_agent(&self, who: Can<'_, Admin>, agent_id: &str) -> Result<bool> {
        if self.store.agent(agent_id).await?.is_none() {
            return Err(Error::NotFound { what: "agent" });
        }
        let newly = self.store.revoke_agent(agent_id, self.now_secs()).await?;
        self.revoked.revoke(agent_id);
        let dropped = self.registry.disconnect(agent_id);
        if newly {
            self.record(who.name(), AuditAction::AgentRevoked, Some(agent_id), None)
                .await?;
        }
        Ok(dropped)
    }

    pub async fn tokens(&self, _who: Can<'_, Admin>) -> Result<Vec<TokenRow>> {
        Ok(self.store.list_tokens().await?)
    }

    /// A single-use token valid for `hours` (default: the configured lifetime), optionally
    /// for one host name. Audited by `tokens::create`, which the CLI shares.
    pub async fn create_token(
        &self,
        who: Can<'_, Admin>,
        hours: Option<u64>,
        host: Option<&str>,
    ) -> Result<NewToken> {
        let hours = crate::tokens::lifetime(hours.unwrap_or(self.config.token_hours))
            .map_err(Error::Invalid)?;
        let (token, expires_at) = crate::tokens::create(
            &self.store,
            self.pki.pin(),
            who.name(),
            hours,
            host,
            self.now_secs(),
        )
        .await?;
        let (enrol_linux, enrol_windows) =
            crate::tokens::enrol_commands(&self.addresses.gateway_url(), &token);
        let (install_linux, install_windows) =
            crate::downloads::install_commands(&self.config, &self.addresses.ui_url());
        Ok(NewToken {
            token,
            expires_at,
            enrol_linux,
            enrol_windows,
            install_linux,
            install_windows,
        })
    }
}
