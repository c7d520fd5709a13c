//! certkit reads certificates and keys in every shape users hand them over (PEM, DER,
//! PKCS#12, encrypted keys), states the facts an admin asks about (names, dates,
//! thumbprints, key, purposes, chain) and judges them against what a target needs, with
//! findings that say what to do. It writes the shapes targets need. Pure: no I/O, no clock
//! (the caller passes the time), so the agent, the console and the web UI share it.

mod cert;
mod chain;
mod error;
mod finding;
mod hostname;
mod judge;
mod key;
mod read;
mod signature;
mod thumbprint;
pub mod write;

pub use cert::{BasicConstraints, CertFacts, Certificate, PublicKeyFacts};
pub use error::{Error, Result};
pub use finding::{Code, Finding, Severity};
pub use hostname::{Reference as HostName, covers, dns_name_matches};
pub use judge::{ChainEntry, KeyReport, Policy, Purpose, Report, Role, judge, misfits};
pub use key::{KeyKind, PrivateKey};
pub use read::{Format, Material, ReadNote, read};
pub use thumbprint::{Fingerprint, Thumbprint, pasted_hex_digits};
