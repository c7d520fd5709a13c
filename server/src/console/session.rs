//! Logging in, checking a session, changing one's password. Both edges use these, so a
//! login from the dashboard and one from the API are the same rule and the same audit.

use super::{Caller, Console, Error, Refusal, Result};
use crate::auth;
use certfleet_store::AuditAction;

/// Which door a request came through; recorded with logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Api,
    Web,
}

impl Edge {
    fn as_str(self) -> &'static str {
        match self {
            Edge::Api => "api",
            Edge::Web => "web",
        }
    }
}

/// A successful login: who, and the signed session token for the cookie or Bearer header.
#[derive(Debug)]
pub struct LoggedIn {
    pub caller: Caller,
    pub token: String,
}

impl Console {
    /// The user behind a session token, as the store holds them now: a disabled user's
    /// token no longer works, nor one from before their last logout or password change; a
    /// changed role applies at once.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let session = self.sessions.verify(token).ok_or(Error::Unauthenticated)?;
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .filter(|u| !u.disabled && u.session_epoch == session.epoch)
            .ok_or(Error::Unauthenticated)?;
        Ok(Caller::new(
            user.id,
            user.username,
            user.role,
            user.must_change_password,
        ))
    }

    /// Checks the password (in the same time whether or not the user exists) and issues a
    /// session. Both outcomes are audited.
    pub async fn login(&self, edge: Edge, username: &str, password: &str) -> Result<LoggedIn> {
        let user = self.store.user_by_name(username).await?;
        let valid = match &user {
            Some(u) if !u.disabled => auth::verify_password(password, &u.password_hash),
            _ => {
                auth::equalise_timing(password);
                false
            }
        };
        let Some(user) = user.filter(|_| valid) else {
            self.record(
                username,
                AuditAction::LoginFailed,
                None,
                Some(edge.as_str()),
            )
            .await?;
            return Err(Error::Forbidden(Refusal::WrongPassword));
        };
        let token = self.sessions.issue(
            user.id,
            &user.username,
            user.role,
            user.session_epoch,
            self.now_secs(),
        )?;
        self.record(
            &user.username,
            AuditAction::Login,
            None,
            Some(edge.as_str()),
        )
        .await?;
        Ok(LoggedIn {
            caller: Caller::new(user.id, user.username, user.role, user.must_change_password),
            token,
        })
    }

    /// Ends every session of the caller, on every device (logout). Audited.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        self.store.end_sessions(caller.id()).await?;
        self.record(caller.name(), AuditAction::Logout, None, None)
            .await
    }

    /// Replaces the caller's password after checking the current one; this is also how a
    /// one-time password is left behind, so it needs no role. Every session of the user
    /// ends; the one returned is new, for the device that changed it.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<String> {
        auth::check_new_password(current, new).map_err(Error::Invalid)?;
        let row = self
            .store
            .user_by_id(caller.id())
            .await?
            .ok_or(Error::Unauthenticated)?;
        if !auth::verify_password(current, &row.password_hash) {
            return Err(Error::Forbidden(Refusal::WrongCurrentPassword));
        }
        let hash = auth::hash_password(new)?;
        self.store.set_password(caller.id(), &hash, false).await?;
        self.record(caller.name(), AuditAction::PasswordChanged, None, None)
            .await?;
        let user = self
            .store
            .user_by_id(caller.id())
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(self.sessions.issue(
            user.id,
            &user.username,
            user.role,
            user.session_epoch,
            self.now_secs(),
        )?)
    }
}
