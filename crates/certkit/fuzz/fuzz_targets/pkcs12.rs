//! PKCS#12 reading with the fixtures' password, so mutations of the committed PFX files
//! (seed the corpus with ../tests/fixtures/*.pfx) reach the decryption and bag parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for password in [Some("Legacy-Pa55"), None] {
        if let Ok(material) = certfleet_certkit::read(data, password) {
            let policy = certfleet_certkit::Policy::new(time::OffsetDateTime::UNIX_EPOCH);
            let _ = certfleet_certkit::judge(&material, &policy);
        }
    }
});
