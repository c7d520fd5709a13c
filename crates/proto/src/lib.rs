//! The agent <-> console wire messages. Only this crate defines them. Every frame is one
//! JSON envelope `{ "v": 1, "id": …, "type": …, "body": … }`; each side accepts an explicit
//! list of types and refuses everything else (unknown types are answered, never
//! half-parsed). No I/O, pure Rust: the web UI may compile it to wasm.

#[macro_use]
mod words;

mod enroll;
#[cfg(feature = "certkit")]
mod facts;
mod frame;
pub mod fuzzing;
mod messages;
mod states;
mod trust;

pub use enroll::{
    EnrollRequest, EnrollResponse, EnrollmentToken, HttpError, HttpErrorBody, ca_pin,
};

#[cfg(feature = "certkit")]
pub use facts::{ClaimError, checked_certificate};
pub use frame::{
    DecodeError, Envelope, MAX_FRAME_BYTES, PROTOCOL_VERSION, decode_from_agent,
    decode_from_console, encode,
};
pub use messages::*;
pub use states::{IssuanceState, RenewalSource, RolloutState, TargetAction, TargetState};
pub use trust::{Revocation, TrustCheck, TrustOrigin, TrustVerdict, host_and_port};
