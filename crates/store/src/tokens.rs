//! Single-use enrolment tokens, and enrolment itself: the token is spent in the same
//! transaction that creates the agent, so a token can never enrol two agents.

use serde::Serialize;

use crate::{Error, Result, Store};

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    /// SHA-256 (hex) of the secret part; the secret itself is never stored.
    pub secret_sha256: String,
    pub host_hint: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    pub id: String,
    pub host_hint: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by_agent: Option<String>,
}

/// An agent being enrolled.
#[derive(Debug, Clone)]
pub struct NewAgent<'a> {
    pub id: &'a str,
    pub cert_serial: &'a str,
    pub cert_not_after: i64,
}

impl Store {
    pub async fn create_token(&self, token: &NewToken) -> Result<()> {
        sqlx::query!(
            "INSERT INTO enrollment_tokens (id, secret_sha256, host_hint, created_by, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            token.id,
            token.secret_sha256,
            token.host_hint,
            token.created_by,
            token.created_at,
            token.expires_at
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>> {
        Ok(sqlx::query_as!(
            TokenRow,
            r#"SELECT id AS "id!", host_hint, created_by, created_at, expires_at, used_at, used_by_agent
             FROM enrollment_tokens ORDER BY created_at DESC, id"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Checks the token without spending it, so a CSR is only signed for a token that can
    /// still be spent. `enroll_agent` checks again inside its transaction.
    /// Checks a token before its CSR is signed; returns the host it was made for, if any.
    pub async fn check_token(
        &self,
        id: &str,
        secret_sha256: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let row = sqlx::query!(
            "SELECT secret_sha256, expires_at, used_at, host_hint FROM enrollment_tokens WHERE id = ?",
            id
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(Error::TokenInvalid);
        };
        if row.secret_sha256 != secret_sha256 {
            return Err(Error::TokenInvalid);
        }
        if row.used_at.is_some() {
            return Err(Error::TokenSpent);
        }
        if row.expires_at <= now {
            return Err(Error::TokenExpired);
        }
        Ok(row.host_hint)
    }

    /// Spends the token and records the agent, atomically.
    pub async fn enroll_agent(
        &self,
        token_id: &str,
        secret_sha256: &str,
        now: i64,
        agent: &NewAgent<'_>,
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query!(
            "SELECT secret_sha256, expires_at, used_at FROM enrollment_tokens WHERE id = ?",
            token_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::TokenInvalid);
        };
        if row.secret_sha256 != secret_sha256 {
            return Err(Error::TokenInvalid);
        }
        if row.used_at.is_some() {
            return Err(Error::TokenSpent);
        }
        if row.expires_at <= now {
            return Err(Error::TokenExpired);
        }
        let spent = sqlx::query!(
            "UPDATE enrollment_tokens SET used_at = ?, used_by_agent = ?
             WHERE id = ? AND used_at IS NULL",
            now,
            agent.id,
            token_id
        )
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(Error::TokenSpent);
        }
        sqlx::query!(
            "INSERT INTO agents (id, enrolled_at, token_id, cert_serial, cert_not_after)
             VALUES (?, ?, ?, ?, ?)",
            agent.id,
            now,
            token_id,
            agent.cert_serial,
            agent.cert_not_after
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
