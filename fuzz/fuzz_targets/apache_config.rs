#![no_main]

// An Apache configuration and the files it includes, split at NUL bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_agent::fuzzing::apache_config(data));
