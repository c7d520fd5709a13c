//! Admin authentication: argon2id passwords, session JWTs (HttpOnly Secure SameSite=Strict
//! cookie or Bearer), roles, and the CSRF check for cookie-authenticated changes.

use anyhow::{Context, anyhow};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use certfleet_store::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const SESSION_COOKIE: &str = "certfleet_session";
/// A session token is good for the API and nothing else.
pub const AUDIENCE: &str = "certfleet-api";
const KIND: &str = "session";
const SESSION_SECS: i64 = 8 * 3600;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("cannot hash the password: {e}"))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the time a password check takes, for unknown users, so the response time does
/// not tell which user names exist.
pub fn equalise_timing(password: &str) {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| hash_password("certfleet-timing-equaliser").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// The rules for a new password, in words the user can act on.
pub fn check_new_password(current: &str, new: &str) -> Result<(), String> {
    if new.chars().count() < 12 {
        return Err("The new password must have at least 12 characters.".into());
    }
    if new == current {
        return Err("The new password must differ from the current one.".into());
    }
    Ok(())
}

/// A readable one-time password: 20 characters from an alphabet without look-alikes.
pub fn one_time_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).context("the system's random source failed")?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string (JWT's `sub` is a string).
    sub: String,
    name: String,
    role: Role,
    aud: String,
    kind: String,
    iat: i64,
    exp: i64,
    /// The user's session epoch at issue; tokens from before a logout, password change or
    /// disabling carry an older one. Tokens from before epochs existed read as 0.
    #[serde(default)]
    ep: i64,
}

/// What a valid session token says: whose, and from which of their epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub epoch: i64,
}

/// Issues and checks session tokens with the console's HMAC key.
#[derive(Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions(redacted)")
    }
}

impl Sessions {
    pub fn new(secret: &[u8]) -> Self {
        Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        name: &str,
        role: Role,
        epoch: i64,
        now: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            ep: epoch,
            sub: user_id.to_string(),
            name: name.to_owned(),
            role,
            aud: AUDIENCE.into(),
            kind: KIND.into(),
            iat: now,
            exp: now + SESSION_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("cannot sign the session")
    }

    /// Whose a valid session token is; `None` for anything else (expired, forged, another
    /// audience or kind, an enrolment token, garbage). Whether its epoch is still the
    /// user's is the console's to check.
    pub fn verify(&self, token: &str) -> Option<Session> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        if data.claims.kind != KIND {
            return None;
        }
        Some(Session {
            user_id: data.claims.sub.parse().ok()?,
            epoch: data.claims.ep,
        })
    }

    pub fn cookie(token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={SESSION_SECS}"
        )
    }

    pub fn clear_cookie() -> String {
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
    }
}

pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A cookie-authenticated change must come from a page of this console: SameSite=Strict
/// already keeps cross-site cookies away; the Origin check also stops a sibling site. The
/// console's own authority is the Host header, or under HTTP/2 the request's `:authority`.
pub fn same_origin(parts: &Parts) -> bool {
    let own = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
    let Some(own) = own else {
        return false;
    };
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .or_else(|| parts.headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match origin {
        Some(origin) => {
            let rest = origin.strip_prefix("https://").unwrap_or("");
            let origin_host = rest.split('/').next().unwrap_or("");
            origin_host.eq_ignore_ascii_case(&own)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn sessions_verify_only_their_own_kind() {
        let sessions = Sessions::new(b"0123456789abcdef0123456789abcdef");
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let token = sessions
            .issue(7, "alice", Role::Viewer, 3, now)
            .expect("issue");
        assert_eq!(
            sessions.verify(&token),
            Some(Session {
                user_id: 7,
                epoch: 3
            })
        );

        let other_key = Sessions::new(b"another key, another console....");
        assert_eq!(other_key.verify(&token), None, "forged with another key");

        let expired = sessions
            .issue(7, "alice", Role::Viewer, 3, now - 10 * SESSION_SECS)
            .expect("issue");
        assert_eq!(sessions.verify(&expired), None, "expired");

        // Right key, wrong audience or kind: another token type must not stand in.
        for (aud, kind) in [("certfleet-agent", KIND), (AUDIENCE, "refresh")] {
            let claims = Claims {
                sub: "7".into(),
                name: "alice".into(),
                role: Role::Admin,
                aud: aud.into(),
                kind: kind.into(),
                iat: now,
                exp: now + 60,
                ep: 0,
            };
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            )
            .expect("encode");
            assert_eq!(sessions.verify(&token), None, "{aud}/{kind}");
        }
        assert_eq!(
            sessions.verify("cf1.abcdefgh.secret.pin"),
            None,
            "an enrolment token"
        );
    }

    #[test]
    fn one_time_passwords_are_long_and_differ() {
        let a = one_time_password().expect("otp");
        let b = one_time_password().expect("otp");
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
