//! The entry points of this crate's fuzz targets (`fuzz/`), shared with the tests that
//! replay their committed corpora: every frame either side reads, and the enrolment token
//! an admin pastes. Each checks a property, not only "no panic": what decodes re-encodes to
//! the same message, and a refusal has its error code.

use crate::frame::{
    DecodeError, MAX_FRAME_BYTES, Message, decode_from_agent, decode_from_console, encode,
};
use crate::{AgentMessage, ConsoleMessage, EnrollmentToken};

type Decoded<M> = Result<(String, M), (Option<String>, DecodeError)>;

fn round_trip<M: Message + PartialEq + std::fmt::Debug>(
    data: &[u8],
    decode: fn(&str) -> Decoded<M>,
) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode(text) {
        Ok((id, message)) => {
            let again = encode(&id, &message);
            // Re-encoding can grow a frame (`1e5` is written `100000.0`): past the limit,
            // the refusal is the right answer.
            if again.len() <= MAX_FRAME_BYTES {
                let (id_again, message_again) = decode(&again)
                    .unwrap_or_else(|(_, e)| panic!("a re-encoded frame is refused: {e}"));
                assert_eq!(id, id_again);
                assert_eq!(message, message_again);
            }
        }
        Err((_, error)) => {
            let _ = error.code();
            assert!(!error.to_string().is_empty());
        }
    }
}

/// A frame as the console reads it from an agent.
pub fn frame_from_agent(data: &[u8]) {
    round_trip::<AgentMessage>(data, decode_from_agent);
}

/// A frame as an agent reads it from the console.
pub fn frame_from_console(data: &[u8]) {
    round_trip::<ConsoleMessage>(data, decode_from_console);
}

/// An enrolment token as pasted: what parses prints back to a token that parses the same.
pub fn enrolment_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match EnrollmentToken::parse(text) {
        Ok(token) => {
            let printed = token.to_string();
            let again = EnrollmentToken::parse(&printed).expect("a printed token parses");
            // Compared, never printed: the secret stays out of a failure's message.
            assert!(
                again.id == token.id
                    && again.secret == token.secret
                    && again.ca_pin == token.ca_pin,
                "a printed token parses to another"
            );
        }
        Err(message) => assert!(message.contains("token")),
    }
}

#[cfg(test)]
mod tests {
    use certfleet_fuzz_corpus::replay;

    #[test]
    fn the_committed_corpora_replay() {
        assert!(replay("frame_from_agent", super::frame_from_agent) > 0);
        assert!(replay("frame_from_console", super::frame_from_console) > 0);
        assert!(replay("enrolment_token", super::enrolment_token) > 0);
    }
}
