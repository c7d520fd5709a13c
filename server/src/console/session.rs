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
    /// session. Both outcomes are audited. Five failures for one name from one address
    /// within a minute make that pair wait (see `throttle`); the account is never locked.
    pub async fn login(
        &self,
        edge: Edge,
        from: Option<std::net::IpAddr>,
        username: &str,
        password: &str,
    ) -> Result<LoggedIn> {
        let now = self.now_secs();
        if let Some(retry_after_secs) = self.logins.wait(username, from, now) {
            return Err(Error::TooManyAttempts { retry_after_secs });
        }
        let user = self.store.user_by_name(username).await?;
        let password = zeroize::Zeroizing::new(password.to_owned());
        let hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .map(|u| u.password_hash.clone());
        let valid = self
            .logins
            .hash(move || match hash {
                Some(hash) => auth::verify_password(&password, &hash),
                None => {
                    auth::equalise_timing(&password);
                    false
                }
            })
            .await?;
        if valid {
            self.logins.succeeded(username, from);
        } else {
            self.logins.failed(username, from, now);
        }
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
        let (current_owned, stored) = (
            zeroize::Zeroizing::new(current.to_owned()),
            row.password_hash.clone(),
        );
        if !self
            .logins
            .hash(move || auth::verify_password(&current_owned, &stored))
            .await?
        {
            return Err(Error::Forbidden(Refusal::WrongCurrentPassword));
        }
        let new_owned = zeroize::Zeroizing::new(new.to_owned());
        let hash = self
            .logins
            .hash(move || auth::hash_password(&new_owned))
            .await??;
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
