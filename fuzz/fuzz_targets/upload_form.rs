#![no_main]

// The renewal upload form: the Content-Type line, then the multipart body.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certfleet_server::fuzzing::upload_form(data));
