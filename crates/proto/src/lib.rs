//! The agent <-> console wire messages. Only this crate defines them; every frame is one
//! versioned JSON envelope `{ "v": 1, "id": …, "type": …, "body": … }`. No I/O.

use serde::{Deserialize, Serialize};

/// The envelope version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One frame on the wire. `body` stays raw JSON until the receiver has checked `v` and `type`
/// against what it accepts, so an unknown type is answered, not half-parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_uses_the_documented_field_names() {
        let text = r#"{"v":1,"id":"a1","type":"heartbeat","body":{}}"#;
        let env: Envelope = serde_json::from_str(text).expect("valid envelope");
        assert_eq!(env.kind, "heartbeat");
        assert_eq!(serde_json::to_string(&env).expect("serialises"), text);
    }

    #[test]
    fn envelope_without_type_is_refused() {
        let err = serde_json::from_str::<Envelope>(r#"{"v":1,"id":"a1","body":{}}"#);
        assert!(err.is_err());
    }
}
