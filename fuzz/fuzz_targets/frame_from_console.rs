#![no_main]

// A frame as an agent reads it from the console.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_proto::fuzzing::frame_from_console(data));
