//! Enrolment: the token format and the HTTP bodies of `POST /agent/v1/enroll`.
//!
//! A token is `cf1.<id>.<secret>.<pin>`: `id` names it in the console, `secret` proves
//! possession (the console keeps only its hash), and `pin` is base64url(SHA-256) of the
//! console's CA certificate, so the agent can check whom it talks to before sending
//! anything (as kubeadm's discovery hash does).

use std::fmt;

use serde::{Deserialize, Serialize};

const PREFIX: &str = "cf1";

#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub id: String,
    pub secret: String,
    pub ca_pin: String,
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("id", &self.id)
            .field("secret", &"redacted")
            .field("ca_pin", &self.ca_pin)
            .finish()
    }
}

impl fmt::Display for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}.{}.{}.{}", self.id, self.secret, self.ca_pin)
    }
}

fn is_base64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl EnrollmentToken {
    /// Reads a token as pasted (surrounding spaces and quotes are ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [PREFIX, id, secret, pin]
                if is_base64url(id)
                    && secret.len() >= 22
                    && is_base64url(secret)
                    && pin.len() == 43
                    && is_base64url(pin) =>
            {
                Ok(EnrollmentToken {
                    id: (*id).to_owned(),
                    secret: (*secret).to_owned(),
                    ca_pin: (*pin).to_owned(),
                })
            }
            [first, ..] if first.starts_with("eyJ") => Err(
                "this is a session token (JWT), not an enrolment token; create one with \
                 `certfleet-server token create` or on the Agents page"
                    .into(),
            ),
            _ => Err(format!(
                "not an enrolment token (expected {PREFIX}.<id>.<secret>.<pin>); copy the whole \
                 token the console printed"
            )),
        }
    }
}

/// The pin of a CA certificate as tokens carry it: base64url (no padding) of SHA-256 over
/// its DER.
pub fn ca_pin(ca_der: &[u8]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(ca_der))
}

/// `POST /agent/v1/enroll` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The token's `<id>.<secret>` part; the pin has already been checked by the agent.
    pub token_id: String,
    pub token_secret: String,
    /// PKCS#10, PEM; only its public key is used.
    pub csr_pem: String,
    pub hostname: String,
}

/// `POST /agent/v1/enroll` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    pub agent_id: String,
    pub certificate_pem: String,
    pub ca_pem: String,
}

/// Error body of the agent-facing HTTP endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    pub error: HttpErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpErrorBody {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";

    #[test]
    fn tokens_round_trip_and_hide_their_secret_in_debug() {
        let token = EnrollmentToken {
            id: "k3x9p2ab".into(),
            secret: "s".repeat(32),
            ca_pin: PIN.into(),
        };
        let text = token.to_string();
        assert_eq!(
            EnrollmentToken::parse(&format!("  \"{text}\"\n")),
            Ok(token.clone())
        );
        assert!(!format!("{token:?}").contains(&"s".repeat(32)));
    }

    #[test]
    fn pins_are_43_base64url_characters_and_parse_in_a_token() {
        let pin = ca_pin(b"some CA certificate");
        assert_eq!(pin.len(), 43);
        let token = EnrollmentToken {
            id: "abcdefgh".into(),
            secret: "s".repeat(32),
            ca_pin: pin,
        };
        assert!(EnrollmentToken::parse(&token.to_string()).is_ok());
    }

    #[test]
    fn other_strings_are_not_tokens() {
        for text in [
            "",
            "cf1.id.secret",
            &format!("cf2.k3x9p2ab.{}.{PIN}", "s".repeat(32)),
            &format!("cf1.k3x9p2ab.short.{PIN}"),
            &format!("cf1.k3x9p2ab.{}.tooshort", "s".repeat(32)),
            &format!("cf1.k3x9 2ab.{}.{PIN}", "s".repeat(32)),
        ] {
            assert!(EnrollmentToken::parse(text).is_err(), "{text:?}");
        }
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2ln";
        assert!(
            EnrollmentToken::parse(jwt)
                .unwrap_err()
                .contains("session token")
        );
    }
}
