//! DER reading: whatever the sniffer makes of arbitrary bytes (certificate, PKCS#8, PKCS#1,
//! SEC1), then judging what was read, as the agent and console do.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certfleet_certkit::Certificate::from_der(data);
    let mut bytes = Vec::with_capacity(data.len() + 1);
    // Most inputs should reach past the "is it DER at all" check.
    bytes.push(0x30);
    bytes.extend_from_slice(data);
    for input in [data, &bytes[..]] {
        if let Ok(material) = certfleet_certkit::read(input, None) {
            let mut policy = certfleet_certkit::Policy::new(time::OffsetDateTime::UNIX_EPOCH);
            policy.host = certfleet_certkit::HostName::parse("sage.example.test").ok();
            policy.purpose = Some(certfleet_certkit::Purpose::Sage300);
            let _ = certfleet_certkit::judge(&material, &policy);
        }
    }
});
