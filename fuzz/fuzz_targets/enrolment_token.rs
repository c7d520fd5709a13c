#![no_main]

// An enrolment token as an admin pastes it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_proto::fuzzing::enrolment_token(data));
