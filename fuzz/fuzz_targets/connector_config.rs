#![no_main]

// The Sage 300 connector's exe.config, read and edited.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_agent::fuzzing::connector_config(data));
