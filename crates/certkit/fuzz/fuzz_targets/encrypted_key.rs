//! Encrypted private keys: DER `EncryptedPrivateKeyInfo` (PBES2, PKCS#12 3DES) and the
//! legacy OpenSSL PEM form with arbitrary DEK-Info headers. Seed with
//! ../tests/fixtures/key-*-enc*.pem.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CIPHERS: &[&str] = &[
    "AES-128-CBC",
    "AES-192-CBC",
    "AES-256-CBC",
    "DES-EDE3-CBC",
    "DES-CBC",
    "BF-CBC",
];

fuzz_target!(|data: &[u8]| {
    // As given: PEM text or DER.
    let _ = certfleet_certkit::read(data, Some("Key-Pa55"));

    // As the body of a legacy encrypted block, with the IV and cipher taken from the input.
    if data.len() > 17 {
        let (head, body) = data.split_at(17);
        let cipher = CIPHERS[usize::from(head[0]) % CIPHERS.len()];
        let iv: String = head[1..].iter().map(|b| format!("{b:02X}")).collect();
        let label = if head[0] & 0x80 == 0 {
            "RSA PRIVATE KEY"
        } else {
            "EC PRIVATE KEY"
        };
        let mut block = pem::Pem::new(label, body.to_vec());
        let _ = block.headers_mut().add("Proc-Type", "4,ENCRYPTED");
        let _ = block
            .headers_mut()
            .add("DEK-Info", &format!("{cipher},{iv}"));
        let _ = certfleet_certkit::read(pem::encode(&block).as_bytes(), Some("Key-Pa55"));
    }

    // As the body of a PKCS#8 ENCRYPTED PRIVATE KEY block.
    let block = pem::Pem::new("ENCRYPTED PRIVATE KEY", data.to_vec());
    let _ = certfleet_certkit::read(pem::encode(&block).as_bytes(), Some("Key-Pa55"));
});
