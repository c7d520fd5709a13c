//! The console's users: list, add (with a one-time password), change a role, disable or
//! enable. At least one active admin always remains.

use super::{Admin, Can, Console, Error, Result, Role};
use crate::auth;
use certfleet_store::AuditAction;

/// A user as an admin sees them (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_password: bool,
}

impl Console {
    pub async fn users(&self, _who: Can<'_, Admin>) -> Result<Vec<User>> {
        let users = self.store.list_users().await?;
        Ok(users
            .into_iter()
            .map(|u| User {
                id: u.id,
                username: u.username,
                role: u.role,
                disabled: u.disabled,
                must_change_password: u.must_change_password,
            })
            .collect())
    }

    /// Creates a user who must change the returned one-time password at first login.
    pub async fn add_user(
        &self,
        who: Can<'_, Admin>,
        username: &str,
        role: Role,
    ) -> Result<String> {
        if username.is_empty() || username.len() > 64 || username.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(
                "A user name has 1 to 64 characters and no spaces.".into(),
            ));
        }
        let store = &self.store;
        if store.user_by_name(username).await?.is_some() {
            return Err(Error::Invalid(format!(
                "There is already a user {username:?}."
            )));
        }
        let password = auth::one_time_password()?;
        let hash = auth::hash_password(&password)?;
        store
            .create_user(username, &hash, role, true, self.now_secs())
            .await?;
        self.record(
            who.name(),
            AuditAction::UserCreated,
            Some(username),
            Some(role.as_str()),
        )
        .await?;
        Ok(password)
    }

    pub async fn set_role(&self, who: Can<'_, Admin>, user_id: i64, role: Role) -> Result<()> {
        let store = &self.store;
        let user = store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound { what: "user" })?;
        if user.role == Role::Admin && role != Role::Admin && !user.disabled {
            self.keep_an_admin().await?;
        }
        store.set_role(user_id, role).await?;
        self.record(
            who.name(),
            AuditAction::UserRoleSet,
            Some(&user.username),
            Some(role.as_str()),
        )
        .await
    }

    pub async fn set_disabled(
        &self,
        who: Can<'_, Admin>,
        user_id: i64,
        disabled: bool,
    ) -> Result<()> {
        let store = &self.store;
        let user = store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound { what: "user" })?;
        if disabled && user.role == Role::Admin && !user.disabled {
            self.keep_an_admin().await?;
        }
        store.set_disabled(user_id, disabled).await?;
        let action = if disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        self.record(who.name(), action, Some(&user.username), None)
            .await
    }

    async fn keep_an_admin(&self) -> Result<()> {
        if self.store.count_active_admins().await? <= 1 {
            return Err(Error::Invalid(
                "At least one active admin must remain.".into(),
            ));
        }
        Ok(())
    }
}
