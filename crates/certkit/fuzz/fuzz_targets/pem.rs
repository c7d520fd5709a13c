//! PEM reading: raw text, and arbitrary bytes wrapped in each PEM label certkit knows,
//! with and without the legacy encryption headers.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LABELS: &[&str] = &[
    "CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "CERTIFICATE REQUEST",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if selector == 0 {
        let _ = certfleet_certkit::read(body, Some("pw"));
        return;
    }
    let label = LABELS[usize::from(selector) % LABELS.len()];
    let mut block = pem::Pem::new(label, body.to_vec());
    if selector & 0x80 != 0 {
        let _ = block.headers_mut().add("Proc-Type", "4,ENCRYPTED");
        let _ = block
            .headers_mut()
            .add("DEK-Info", "AES-128-CBC,00112233445566778899AABBCCDDEEFF");
    }
    let text = pem::encode(&block);
    if let Ok(material) = certfleet_certkit::read(text.as_bytes(), Some("pw")) {
        let policy = certfleet_certkit::Policy::new(time::OffsetDateTime::UNIX_EPOCH);
        let _ = certfleet_certkit::judge(&material, &policy);
    }
});
