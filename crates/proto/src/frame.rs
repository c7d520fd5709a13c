//! Framing: size limit, version check, the explicit type lists, and (de)serialisation.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::messages::{AgentMessage, ConsoleMessage};

/// The envelope version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// No frame may be larger: a full inventory of a big host is tens of KiB.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// One frame on the wire. `body` stays raw JSON until `type` has been checked against the
/// receiver's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: serde_json::Value,
}

/// Why a frame was refused. Each is answered with an `error` frame (or, for oversized
/// frames, the connection is closed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame of {size} bytes is larger than the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge { size: usize },
    #[error("frame is not a JSON envelope: {0}")]
    Malformed(String),
    #[error("protocol version {0} is not spoken here (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u32),
    #[error("message type {0:?} is not accepted here")]
    UnknownType(String),
    #[error("the body of a {kind:?} message is invalid: {detail}")]
    BadBody { kind: String, detail: String },
}

impl DecodeError {
    /// A stable code for the `error` frame sent back.
    pub fn code(&self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::Malformed(_) => ErrorCode::FrameMalformed,
            DecodeError::UnsupportedVersion(_) => ErrorCode::VersionUnsupported,
            DecodeError::UnknownType(_) => ErrorCode::TypeUnknown,
            DecodeError::BadBody { .. } => ErrorCode::BodyInvalid,
        }
    }
}

/// Every message type has a fixed name on the wire and a body type.
pub trait Message: Sized {
    /// The wire name of this message's type.
    fn kind(&self) -> &'static str;
    /// The body as JSON.
    fn body(&self) -> serde_json::Value;
    /// Decodes a body for an accepted `kind`; `None` when `kind` is not on this side's list.
    fn from_parts(kind: &str, body: serde_json::Value) -> Option<Result<Self, String>>;
}

pub(crate) fn body_of<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(body).map_err(|e| e.to_string())
}

fn decode<M: Message>(text: &str) -> Result<(String, M), (Option<String>, DecodeError)> {
    if text.len() > MAX_FRAME_BYTES {
        return Err((None, DecodeError::TooLarge { size: text.len() }));
    }
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| (None, DecodeError::Malformed(e.to_string())))?;
    let id = Some(envelope.id.clone());
    if envelope.v != PROTOCOL_VERSION {
        return Err((id, DecodeError::UnsupportedVersion(envelope.v)));
    }
    match M::from_parts(&envelope.kind, envelope.body) {
        None => Err((id, DecodeError::UnknownType(envelope.kind))),
        Some(Err(detail)) => Err((
            id,
            DecodeError::BadBody {
                kind: envelope.kind,
                detail,
            },
        )),
        Some(Ok(message)) => Ok((envelope.id, message)),
    }
}

/// Decodes a frame sent by an agent. On error, the frame's id (when it could be read) comes
/// back too, so the answer can refer to it.
pub fn decode_from_agent(
    text: &str,
) -> Result<(String, AgentMessage), (Option<String>, DecodeError)> {
    decode(text)
}

/// Decodes a frame sent by the console.
pub fn decode_from_console(
    text: &str,
) -> Result<(String, ConsoleMessage), (Option<String>, DecodeError)> {
    decode(text)
}

/// Encodes one message in its envelope.
pub fn encode<M: Message>(id: &str, message: &M) -> String {
    let envelope = Envelope {
        v: PROTOCOL_VERSION,
        id: id.to_owned(),
        kind: message.kind().to_owned(),
        body: message.body(),
    };
    // An envelope of JSON values always serialises.
    serde_json::to_string(&envelope).unwrap_or_default()
}
