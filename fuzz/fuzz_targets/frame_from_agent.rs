#![no_main]

// A frame as the console reads it from an agent.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_proto::fuzzing::frame_from_agent(data));
