//! Changes to the host's Windows configuration a plan asks for — a certificate imported with
//! its key, a URL reservation, an HTTP.sys SSL binding pointed at a new thumbprint — each
//! recorded in the journal with what was there before it is made, and undone in reverse
//! order by a rollback (or by the next start after a crash). Written against the Windows
//! layer's traits, so the same code runs on the fakes.

use certfleet_certkit::{self as certkit, Thumbprint};
use certfleet_winhost::httpsys::{EVERYONE_MAY_LISTEN, replace_ssl_binding};
use certfleet_winhost::{BindingKey, Host, SslBinding, Store, UrlAcl};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Bundle, Error};

/// One change, as a plan states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change", deny_unknown_fields)]
pub enum WindowsChange {
    /// The bundle's certificate with its key into LocalMachine\My (its issuers into CA).
    Import { thumbprint: String },
    /// A certificate (the self-signed one itself, or an issuing CA's root) into
    /// LocalMachine\Root.
    Trust {
        thumbprint: String,
        der_base64: String,
    },
    /// A certificate certfleet added to LocalMachine\Root taken out again.
    Untrust { thumbprint: String },
    /// `url` reserved for Everyone to listen on, when it is not reserved yet.
    Reserve { url: String },
    /// The SSL binding at `key` names `thumbprint`; an existing binding keeps every other
    /// field (appid, flags, store), a new one gets `app_id`.
    Bind {
        key: String,
        thumbprint: String,
        app_id: String,
    },
}

/// What was there before a change, as far as the job got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "was", deny_unknown_fields)]
pub enum WindowsBefore {
    NotReached,
    /// Nothing: a rollback removes what the change added.
    Absent,
    /// Already so: a rollback leaves it.
    Present,
    /// The binding as it was, every field.
    Binding(BindingSnapshot),
    /// A certificate that was in the store (a rollback adds it back).
    Held {
        der_base64: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsRecord {
    pub change: WindowsChange,
    pub before: WindowsBefore,
}

/// An SSL binding in the journal's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSnapshot {
    pub key: String,
    pub thumbprint: String,
    pub store: String,
    pub app_id: String,
    pub flags: u32,
    pub cert_check_mode: u32,
    pub revocation_freshness_secs: u32,
    pub revocation_url_timeout_ms: u32,
    pub ctl_identifier: Option<String>,
    pub ctl_store: Option<String>,
}

impl BindingSnapshot {
    pub fn of(b: &SslBinding) -> Self {
        BindingSnapshot {
            key: b.key.to_string(),
            thumbprint: b.thumbprint.to_string(),
            store: b.store.clone(),
            app_id: b.app_id.clone(),
            flags: b.flags,
            cert_check_mode: b.cert_check_mode,
            revocation_freshness_secs: b.revocation_freshness_secs,
            revocation_url_timeout_ms: b.revocation_url_timeout_ms,
            ctl_identifier: b.ctl_identifier.clone(),
            ctl_store: b.ctl_store.clone(),
        }
    }

    fn binding(&self) -> Result<SslBinding, Error> {
        Ok(SslBinding {
            key: parse_key(&self.key)?,
            thumbprint: parse_thumbprint(&self.thumbprint)?,
            store: self.store.clone(),
            app_id: self.app_id.clone(),
            flags: self.flags,
            cert_check_mode: self.cert_check_mode,
            revocation_freshness_secs: self.revocation_freshness_secs,
            revocation_url_timeout_ms: self.revocation_url_timeout_ms,
            ctl_identifier: self.ctl_identifier.clone(),
            ctl_store: self.ctl_store.clone(),
        })
    }
}

/// `ipport=0.0.0.0:4207` or `hostnameport=sage01.example.com:4207`, as `BindingKey` shows.
pub fn parse_key(text: &str) -> Result<BindingKey, Error> {
    let bad = || Error::Bundle(format!("the journal names an unreadable binding {text:?}"));
    if let Some(addr) = text.strip_prefix("ipport=") {
        return addr.parse().map(BindingKey::IpPort).map_err(|_| bad());
    }
    let rest = text.strip_prefix("hostnameport=").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    Ok(BindingKey::Sni {
        host: host.to_owned(),
        port: port.parse().map_err(|_| bad())?,
    })
}

fn parse_thumbprint(text: &str) -> Result<Thumbprint, Error> {
    Thumbprint::parse(text)
        .map_err(|e| Error::Bundle(format!("the journal names an unreadable thumbprint: {e}")))
}

fn windows(what: &str, e: certfleet_winhost::Error) -> Error {
    Error::Windows(format!("{what}: {e}"))
}

/// What is there now, recorded before the change is made.
pub fn before(host: &Host, change: &WindowsChange) -> Result<WindowsBefore, Error> {
    Ok(match change {
        WindowsChange::Import { thumbprint } => in_store(host, Store::My, thumbprint)?,
        WindowsChange::Trust { thumbprint, .. } => in_store(host, Store::Root, thumbprint)?,
        WindowsChange::Untrust { thumbprint } => {
            match host
                .stores
                .find(Store::Root, &parse_thumbprint(thumbprint)?)
            {
                Ok(Some(held)) => WindowsBefore::Held {
                    der_base64: base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &held.der,
                    ),
                },
                Ok(None) => WindowsBefore::Absent,
                Err(e) => return Err(windows(&format!("reading {}", Store::Root), e)),
            }
        }
        WindowsChange::Reserve { url } => match host.http.url_acl(url) {
            Ok(Some(_)) => WindowsBefore::Present,
            Ok(None) => WindowsBefore::Absent,
            Err(e) => return Err(windows("reading the URL reservations", e)),
        },
        WindowsChange::Bind { key, .. } => match host.http.ssl_binding(&parse_key(key)?) {
            Ok(Some(b)) => WindowsBefore::Binding(BindingSnapshot::of(&b)),
            Ok(None) => WindowsBefore::Absent,
            Err(e) => return Err(windows("reading the SSL bindings", e)),
        },
    })
}

fn in_store(host: &Host, store: Store, thumbprint: &str) -> Result<WindowsBefore, Error> {
    match host.stores.find(store, &parse_thumbprint(thumbprint)?) {
        Ok(Some(_)) => Ok(WindowsBefore::Present),
        Ok(None) => Ok(WindowsBefore::Absent),
        Err(e) => Err(windows(&format!("reading {store}"), e)),
    }
}

/// Makes the change.
pub fn apply(host: &Host, bundle: &Bundle, record: &WindowsRecord) -> Result<(), Error> {
    match &record.change {
        WindowsChange::Import { .. } => {
            let pfx = bundle_pfx(bundle)?;
            host.stores
                .import_pfx(&pfx.0, &pfx.1)
                .map(|_| ())
                .map_err(|e| windows("importing the certificate into LocalMachine\\My", e))
        }
        WindowsChange::Trust { der_base64, .. } => {
            let der =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der_base64)
                    .map_err(|_| {
                        Error::Bundle("the journal holds an unreadable certificate".into())
                    })?;
            host.stores
                .add(Store::Root, &der)
                .map(|_| ())
                .map_err(|e| windows("adding the certificate to LocalMachine\\Root", e))
        }
        WindowsChange::Untrust { thumbprint } => {
            if record.before == WindowsBefore::Absent {
                return Ok(());
            }
            host.stores
                .remove(Store::Root, &parse_thumbprint(thumbprint)?)
                .map(|_| ())
                .map_err(|e| windows("removing the certificate from LocalMachine\\Root", e))
        }
        WindowsChange::Reserve { url } => {
            if record.before == WindowsBefore::Present {
                return Ok(());
            }
            host.http
                .add_url_acl(&UrlAcl {
                    url: url.clone(),
                    sddl: EVERYONE_MAY_LISTEN.into(),
                })
                .map_err(|e| windows(&format!("reserving {url}"), e))
        }
        WindowsChange::Bind {
            key,
            thumbprint,
            app_id,
        } => {
            let key = parse_key(key)?;
            let thumbprint = parse_thumbprint(thumbprint)?;
            let new = match &record.before {
                // Every field kept but the store: the import put the certificate in My.
                WindowsBefore::Binding(old) => SslBinding {
                    thumbprint,
                    store: Store::My.system_name().into(),
                    ..old.binding()?
                },
                _ => SslBinding::new(key.clone(), thumbprint, app_id),
            };
            replace_ssl_binding(&*host.http, &new)
                .map(|_| ())
                .map_err(|e| windows(&format!("binding the certificate to {key}"), e))
        }
    }
}

/// Undoes the change (what `before` says was there comes back). `Err` says what could not
/// be put back, for the person who must.
pub fn undo(host: &Host, record: &WindowsRecord) -> Result<(), String> {
    let say = |what: &str, e: certfleet_winhost::Error| format!("{what}: {e}");
    match (&record.change, &record.before) {
        (_, WindowsBefore::NotReached | WindowsBefore::Present) => Ok(()),
        (WindowsChange::Trust { thumbprint, .. }, WindowsBefore::Absent) => {
            let t = parse_thumbprint(thumbprint).map_err(|e| e.to_string())?;
            host.stores
                .remove(Store::Root, &t)
                .map(|_| ())
                .map_err(|e| say("removing the certificate from LocalMachine\\Root", e))
        }
        (WindowsChange::Import { thumbprint }, WindowsBefore::Absent) => {
            let t = parse_thumbprint(thumbprint).map_err(|e| e.to_string())?;
            // Kept while any binding still names it (one made by someone else meanwhile).
            let bound = host
                .http
                .ssl_bindings()
                .is_ok_and(|all| all.iter().any(|b| b.thumbprint == t));
            if bound {
                return Ok(());
            }
            host.stores
                .remove(Store::My, &t)
                .map(|_| ())
                .map_err(|e| say("removing the new certificate from LocalMachine\\My", e))
        }
        (WindowsChange::Reserve { url }, WindowsBefore::Absent) => host
            .http
            .delete_url_acl(url)
            .or_else(|e| match e.code() {
                Some(code) if code == certfleet_winhost::Code::FILE_NOT_FOUND => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| say(&format!("removing the reservation {url}"), e)),
        (WindowsChange::Bind { key, .. }, WindowsBefore::Absent) => {
            let key = parse_key(key).map_err(|e| e.to_string())?;
            match host.http.ssl_binding(&key) {
                Ok(Some(_)) => host
                    .http
                    .delete_ssl_binding(&key)
                    .map_err(|e| say(&format!("removing the binding {key}"), e)),
                Ok(None) => Ok(()),
                Err(e) => Err(say("reading the SSL bindings", e)),
            }
        }
        (WindowsChange::Bind { .. }, WindowsBefore::Binding(old)) => {
            let old = old.binding().map_err(|e| e.to_string())?;
            replace_ssl_binding(&*host.http, &old)
                .map(|_| ())
                .map_err(|e| say(&format!("putting the binding {} back", old.key), e))
        }
        (WindowsChange::Untrust { .. }, WindowsBefore::Held { der_base64 }) => {
            let der =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der_base64)
                    .map_err(|_| "the journal holds an unreadable certificate".to_owned())?;
            host.stores
                .add(Store::Root, &der)
                .map(|_| ())
                .map_err(|e| say("putting the certificate back into LocalMachine\\Root", e))
        }
        (WindowsChange::Untrust { .. }, WindowsBefore::Absent) => Ok(()),
        (_, WindowsBefore::Binding(_) | WindowsBefore::Held { .. }) => Ok(()),
    }
}

/// The bundle as a PFX under a one-time password, for the store import.
fn bundle_pfx(bundle: &Bundle) -> Result<(Zeroizing<Vec<u8>>, Zeroizing<String>), Error> {
    let mut material = certkit::read(bundle.chain_pem.as_bytes(), None)
        .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
    material.merge(
        certkit::read(bundle.key_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the key sent by the console: {e}")))?,
    );
    let key = material
        .keys
        .first()
        .ok_or_else(|| Error::Bundle("the console sent no key".into()))?;
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).map_err(|e| Error::Windows(format!("no randomness: {e}")))?;
    let password = Zeroizing::new(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        secret,
    ));
    let pfx = certkit::write::pfx(
        key,
        &material.certificates,
        &password,
        certkit::write::PfxEncryption::Aes256,
    )
    .map_err(|e| Error::Bundle(format!("cannot pack the bundle for the store: {e}")))?;
    Ok((Zeroizing::new(pfx), password))
}
