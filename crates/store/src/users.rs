//! Console users and their roles.

use serde::{Deserialize, Serialize};

use crate::{Error, Result, Store};

/// What a user may do: viewers read, operators also act on certificates and rollouts,
/// admins also manage agents, tokens and users. Ordered by power.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    /// argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub role: Role,
    pub must_change_password: bool,
    pub disabled: bool,
    /// Sessions issued at another epoch are over (logout, password change, disabling).
    pub session_epoch: i64,
}

struct RawUser {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    must_change_password: i64,
    disabled: i64,
    session_epoch: i64,
}

impl TryFrom<RawUser> for UserRow {
    type Error = Error;
    fn try_from(raw: RawUser) -> Result<Self> {
        Ok(UserRow {
            id: raw.id,
            role: Role::parse(&raw.role).ok_or_else(|| {
                Error::Corrupt(format!("user {} has role {:?}", raw.username, raw.role))
            })?,
            username: raw.username,
            password_hash: raw.password_hash,
            must_change_password: raw.must_change_password != 0,
            disabled: raw.disabled != 0,
            session_epoch: raw.session_epoch,
        })
    }
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar!("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        must_change_password: bool,
        now: i64,
    ) -> Result<i64> {
        let role = role.as_str();
        let id = sqlx::query!(
            "INSERT INTO users (username, password_hash, role, must_change_password, created_at)
             VALUES (?, ?, ?, ?, ?)",
            username,
            password_hash,
            role,
            must_change_password,
            now
        )
        .execute(&self.writes)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        sqlx::query_as!(
            RawUser,
            r#"SELECT id AS "id!", username, password_hash, role, must_change_password, disabled,
                    session_epoch
             FROM users WHERE username = ?"#,
            username
        )
        .fetch_optional(&self.pool)
        .await?
        .map(UserRow::try_from)
        .transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>> {
        sqlx::query_as!(
            RawUser,
            r#"SELECT id AS "id!", username, password_hash, role, must_change_password, disabled,
                    session_epoch
             FROM users WHERE id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(UserRow::try_from)
        .transpose()
    }

    pub async fn set_password(
        &self,
        id: i64,
        password_hash: &str,
        must_change: bool,
    ) -> Result<()> {
        let done = sqlx::query!(
            "UPDATE users SET password_hash = ?, must_change_password = ?,
                 session_epoch = session_epoch + 1 WHERE id = ?",
            password_hash,
            must_change,
            id
        )
        .execute(&self.writes)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        Ok(())
    }

    /// Everyone, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        sqlx::query_as!(
            RawUser,
            r#"SELECT id AS "id!", username, password_hash, role, must_change_password, disabled,
                    session_epoch
               FROM users ORDER BY username"#
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(UserRow::try_from)
        .collect()
    }

    /// Ends every session of the user (logout); returns the new epoch.
    pub async fn end_sessions(&self, id: i64) -> Result<i64> {
        sqlx::query_scalar!(
            r#"UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?
               RETURNING session_epoch AS "session_epoch!""#,
            id
        )
        .fetch_optional(&self.writes)
        .await?
        .ok_or(Error::NotFound { what: "user" })
    }

    /// Admins who can still log in.
    pub async fn count_active_admins(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar!("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn set_role(&self, id: i64, role: Role) -> Result<()> {
        let role = role.as_str();
        let done = sqlx::query!("UPDATE users SET role = ? WHERE id = ?", role, id)
            .execute(&self.writes)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        Ok(())
    }

    pub async fn set_disabled(&self, id: i64, disabled: bool) -> Result<()> {
        let done = sqlx::query!(
            "UPDATE users SET disabled = ?, session_epoch = session_epoch + 1 WHERE id = ?",
            disabled,
            id
        )
        .execute(&self.writes)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        Ok(())
    }
}
