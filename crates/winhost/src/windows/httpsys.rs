//! The HTTP Server API's configuration store (what `netsh http` changes), through
//! `HttpSetServiceConfiguration`, `HttpDeleteServiceConfiguration` and
//! `HttpQueryServiceConfiguration`. Records returned by a query point into the query's own
//! buffer, so each is copied out before the buffer is reused.

use std::ffi::c_void;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ptr::{null, null_mut};

use certfleet_certkit::Thumbprint;
use windows_sys::Win32::Networking::HttpServer::{
    HTTP_INITIALIZE_CONFIG, HTTP_SERVICE_CONFIG_ID, HTTP_SERVICE_CONFIG_SSL_KEY,
    HTTP_SERVICE_CONFIG_SSL_PARAM, HTTP_SERVICE_CONFIG_SSL_QUERY, HTTP_SERVICE_CONFIG_SSL_SET,
    HTTP_SERVICE_CONFIG_SSL_SNI_KEY, HTTP_SERVICE_CONFIG_SSL_SNI_QUERY,
    HTTP_SERVICE_CONFIG_SSL_SNI_SET, HTTP_SERVICE_CONFIG_URLACL_KEY,
    HTTP_SERVICE_CONFIG_URLACL_PARAM, HTTP_SERVICE_CONFIG_URLACL_QUERY,
    HTTP_SERVICE_CONFIG_URLACL_SET, HTTPAPI_VERSION, HttpDeleteServiceConfiguration,
    HttpInitialize, HttpQueryServiceConfiguration, HttpServiceConfigQueryExact,
    HttpServiceConfigQueryNext, HttpServiceConfigSSLCertInfo, HttpServiceConfigSslSniCertInfo,
    HttpServiceConfigUrlAclInfo, HttpSetServiceConfiguration, HttpTerminate,
};
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_STORAGE,
};
use windows_sys::core::GUID;

use super::wide::wide;
use crate::httpsys::{BindingKey, HttpConfig, SslBinding, UrlAcl, format_guid, parse_guid};
use crate::{Code, Error, Result};

/// The configuration store of this machine's HTTP.sys.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpSysConfig;

/// `HttpInitialize(HTTP_INITIALIZE_CONFIG)` for the life of one operation.
struct Session;

impl Session {
    fn open(what: &str) -> Result<Session> {
        let version = HTTPAPI_VERSION {
            HttpApiMajorVersion: 1,
            HttpApiMinorVersion: 0,
        };
        // SAFETY: plain values; the reserved pointer must be null.
        let code = unsafe { HttpInitialize(version, HTTP_INITIALIZE_CONFIG, null_mut()) };
        match code {
            0 => Ok(Session),
            code => Err(Error::os(what, "HttpInitialize", Code(code))),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: balances the successful HttpInitialize of this session.
        unsafe { HttpTerminate(HTTP_INITIALIZE_CONFIG, null_mut()) };
    }
}

fn sockaddr(addr: SocketAddr) -> SOCKADDR_STORAGE {
    let mut storage = SOCKADDR_STORAGE::default();
    match addr {
        SocketAddr::V4(v4) => {
            let mut sin = SOCKADDR_IN {
                sin_family: AF_INET,
                sin_port: v4.port().to_be(),
                ..Default::default()
            };
            sin.sin_addr.S_un.S_addr = u32::from_ne_bytes(v4.ip().octets());
            // SAFETY: SOCKADDR_STORAGE is larger than and aligned for every SOCKADDR_*.
            unsafe { std::ptr::write((&raw mut storage).cast::<SOCKADDR_IN>(), sin) };
        }
        SocketAddr::V6(v6) => {
            let mut sin6 = SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                sin6_port: v6.port().to_be(),
                ..Default::default()
            };
            sin6.sin6_addr.u.Byte = v6.ip().octets();
            sin6.Anonymous.sin6_scope_id = v6.scope_id();
            // SAFETY: as above.
            unsafe { std::ptr::write((&raw mut storage).cast::<SOCKADDR_IN6>(), sin6) };
        }
    }
    storage
}

/// # Safety
/// `addr` must be null or point at a SOCKADDR_IN or SOCKADDR_IN6 as its family says.
unsafe fn socket_addr(addr: *const SOCKADDR) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: non-null and, per the caller, a socket address.
    let family = unsafe { (*addr).sa_family };
    if family == AF_INET {
        // SAFETY: the family says it is a SOCKADDR_IN.
        let sin = unsafe { std::ptr::read_unaligned(addr.cast::<SOCKADDR_IN>()) };
        // SAFETY: every view of the address union is plain bytes.
        let ip = Ipv4Addr::from(unsafe { sin.sin_addr.S_un.S_addr }.to_ne_bytes());
        Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
    } else if family == AF_INET6 {
        // SAFETY: the family says it is a SOCKADDR_IN6.
        let sin6 = unsafe { std::ptr::read_unaligned(addr.cast::<SOCKADDR_IN6>()) };
        // SAFETY: as above.
        let ip = Ipv6Addr::from(unsafe { sin6.sin6_addr.u.Byte });
        Some(SocketAddr::new(
            IpAddr::V6(ip),
            u16::from_be(sin6.sin6_port),
        ))
    } else {
        None
    }
}

/// # Safety
/// `text` must be null or a NUL-terminated UTF-16 string.
unsafe fn string(text: *const u16) -> Option<String> {
    if text.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: NUL-terminated per the caller: reading stops at the terminator.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    Some(String::from_utf16_lossy(unsafe {
        std::slice::from_raw_parts(text, len)
    }))
}

fn guid(app_id: &str, what: &str) -> Result<GUID> {
    parse_guid(app_id)
        .map(GUID::from_u128)
        .ok_or_else(|| Error::Invalid {
            what: what.into(),
            detail: format!("{app_id:?} is not an application id (a GUID in braces)"),
        })
}

fn guid_text(guid: &GUID) -> String {
    let mut value =
        u128::from(guid.data1) << 96 | u128::from(guid.data2) << 80 | u128::from(guid.data3) << 64;
    value |= u128::from(u64::from_be_bytes(guid.data4));
    format_guid(value)
}

/// # Safety
/// `param` must come from a successful query (its pointers into the same buffer).
unsafe fn binding_of(key: BindingKey, param: &HTTP_SERVICE_CONFIG_SSL_PARAM) -> Option<SslBinding> {
    // SAFETY: the query's buffer holds SslHashLength bytes at pSslHash.
    let hash = unsafe {
        std::slice::from_raw_parts(param.pSslHash.cast::<u8>(), param.SslHashLength as usize)
    };
    let thumbprint = Thumbprint::parse(&hex_upper(hash)).ok()?;
    Some(SslBinding {
        key,
        thumbprint,
        // SAFETY: NUL-terminated strings in the query's buffer, or null.
        store: unsafe { string(param.pSslCertStoreName) }.unwrap_or_else(|| "MY".into()),
        app_id: guid_text(&param.AppId),
        flags: param.DefaultFlags,
        cert_check_mode: param.DefaultCertCheckMode,
        revocation_freshness_secs: param.DefaultRevocationFreshnessTime,
        revocation_url_timeout_ms: param.DefaultRevocationUrlRetrievalTimeout,
        // SAFETY: as above.
        ctl_identifier: unsafe { string(param.pDefaultSslCtlIdentifier) },
        // SAFETY: as above.
        ctl_store: unsafe { string(param.pDefaultSslCtlStoreName) },
    })
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Runs one query, growing the (8-byte aligned) buffer when Windows asks for more.
/// `Ok(None)` for "no such record" (2) and "no more items" (259).
fn query(
    id: HTTP_SERVICE_CONFIG_ID,
    input: *const c_void,
    input_len: usize,
    what: &str,
) -> Result<Option<Vec<u64>>> {
    let mut buffer = vec![0u64; 512];
    loop {
        let mut needed = 0u32;
        // SAFETY: `input` points at a live query struct of `input_len` bytes; the output
        // buffer is writable for its whole length; no OVERLAPPED (synchronous).
        let code = unsafe {
            HttpQueryServiceConfiguration(
                null_mut(),
                id,
                input,
                input_len as u32,
                buffer.as_mut_ptr().cast(),
                (buffer.len() * 8) as u32,
                &mut needed,
                null(),
            )
        };
        match Code(code) {
            Code(0) => return Ok(Some(buffer)),
            Code::FILE_NOT_FOUND | Code::NO_MORE_ITEMS => return Ok(None),
            Code::INSUFFICIENT_BUFFER if (needed as usize) > buffer.len() * 8 => {
                buffer = vec![0u64; (needed as usize).div_ceil(8)];
            }
            code => return Err(Error::os(what, "HttpQueryServiceConfiguration", code)),
        }
    }
}

/// The SSL parameters of `binding`, with the strings and hash they point at.
struct ParamParts {
    hash: [u8; 20],
    store: Vec<u16>,
    ctl_identifier: Option<Vec<u16>>,
    ctl_store: Option<Vec<u16>>,
}

impl ParamParts {
    fn of(binding: &SslBinding) -> Self {
        ParamParts {
            hash: *binding.thumbprint.as_bytes(),
            store: wide(&binding.store),
            ctl_identifier: binding.ctl_identifier.as_deref().map(wide),
            ctl_store: binding.ctl_store.as_deref().map(wide),
        }
    }

    /// Pointers into `self`: valid while `self` lives and is not moved.
    fn param(&mut self, binding: &SslBinding, app_id: GUID) -> HTTP_SERVICE_CONFIG_SSL_PARAM {
        HTTP_SERVICE_CONFIG_SSL_PARAM {
            SslHashLength: 20,
            pSslHash: self.hash.as_mut_ptr().cast(),
            AppId: app_id,
            pSslCertStoreName: self.store.as_mut_ptr(),
            DefaultCertCheckMode: binding.cert_check_mode,
            DefaultRevocationFreshnessTime: binding.revocation_freshness_secs,
            DefaultRevocationUrlRetrievalTimeout: binding.revocation_url_timeout_ms,
            pDefaultSslCtlIdentifier: self
                .ctl_identifier
                .as_mut()
                .map_or(null_mut(), |v| v.as_mut_ptr()),
            pDefaultSslCtlStoreName: self
                .ctl_store
                .as_mut()
                .map_or(null_mut(), |v| v.as_mut_ptr()),
            DefaultFlags: binding.flags,
        }
    }
}

fn set_or_delete(
    delete: bool,
    id: HTTP_SERVICE_CONFIG_ID,
    input: *const c_void,
    len: usize,
    what: String,
) -> Result<()> {
    // SAFETY: `input` points at a live, fully initialised record of `len` bytes whose
    // pointers stay valid for the call; synchronous (no OVERLAPPED).
    let code = unsafe {
        if delete {
            HttpDeleteServiceConfiguration(null_mut(), id, input, len as u32, null())
        } else {
            HttpSetServiceConfiguration(null_mut(), id, input, len as u32, null())
        }
    };
    match code {
        0 => Ok(()),
        code => Err(Error::os(
            what,
            if delete {
                "HttpDeleteServiceConfiguration"
            } else {
                "HttpSetServiceConfiguration"
            },
            Code(code),
        )),
    }
}

/// Sets (or deletes, when `binding` is only a key) the record for `key`.
fn write_binding(key: &BindingKey, binding: Option<&SslBinding>, what: String) -> Result<()> {
    let _session = Session::open(&what)?;
    let delete = binding.is_none();
    let app_id = match binding {
        Some(b) => guid(&b.app_id, &what)?,
        None => GUID::from_u128(0),
    };
    let mut parts = binding.map(ParamParts::of);
    let param = match (&mut parts, binding) {
        (Some(parts), Some(b)) => parts.param(b, app_id),
        _ => HTTP_SERVICE_CONFIG_SSL_PARAM {
            SslHashLength: 0,
            pSslHash: null_mut(),
            AppId: app_id,
            pSslCertStoreName: null_mut(),
            DefaultCertCheckMode: 0,
            DefaultRevocationFreshnessTime: 0,
            DefaultRevocationUrlRetrievalTimeout: 0,
            pDefaultSslCtlIdentifier: null_mut(),
            pDefaultSslCtlStoreName: null_mut(),
            DefaultFlags: 0,
        },
    };
    match key {
        BindingKey::IpPort(addr) => {
            let mut storage = sockaddr(*addr);
            let set = HTTP_SERVICE_CONFIG_SSL_SET {
                KeyDesc: HTTP_SERVICE_CONFIG_SSL_KEY {
                    pIpPort: (&raw mut storage).cast(),
                },
                ParamDesc: param,
            };
            set_or_delete(
                delete,
                HttpServiceConfigSSLCertInfo,
                (&raw const set).cast(),
                size_of::<HTTP_SERVICE_CONFIG_SSL_SET>(),
                what,
            )
        }
        BindingKey::Sni { host, port } => {
            let mut host = wide(host);
            let set = HTTP_SERVICE_CONFIG_SSL_SNI_SET {
                KeyDesc: HTTP_SERVICE_CONFIG_SSL_SNI_KEY {
                    IpPort: sockaddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port)),
                    Host: host.as_mut_ptr(),
                },
                ParamDesc: param,
            };
            set_or_delete(
                delete,
                HttpServiceConfigSslSniCertInfo,
                (&raw const set).cast(),
                size_of::<HTTP_SERVICE_CONFIG_SSL_SNI_SET>(),
                what,
            )
        }
    }
}

fn ip_binding(buffer: &[u64]) -> Option<SslBinding> {
    let set = buffer.as_ptr().cast::<HTTP_SERVICE_CONFIG_SSL_SET>();
    // SAFETY: a successful query wrote an HTTP_SERVICE_CONFIG_SSL_SET at the start of the
    // aligned buffer, its pointers into the same buffer.
    unsafe {
        let addr = socket_addr((*set).KeyDesc.pIpPort)?;
        binding_of(BindingKey::IpPort(addr), &(*set).ParamDesc)
    }
}

fn sni_binding(buffer: &[u64]) -> Option<SslBinding> {
    let set = buffer.as_ptr().cast::<HTTP_SERVICE_CONFIG_SSL_SNI_SET>();
    // SAFETY: as in `ip_binding`, for the SNI record.
    unsafe {
        let addr = socket_addr((&raw const (*set).KeyDesc.IpPort).cast())?;
        let host = string((*set).KeyDesc.Host)?;
        binding_of(
            BindingKey::Sni {
                host,
                port: addr.port(),
            },
            &(*set).ParamDesc,
        )
    }
}

impl HttpConfig for HttpSysConfig {
    fn ssl_bindings(&self) -> Result<Vec<SslBinding>> {
        let what = "listing the HTTP.sys certificate bindings";
        let _session = Session::open(what)?;
        let mut out = Vec::new();
        for token in 0.. {
            let q = HTTP_SERVICE_CONFIG_SSL_QUERY {
                QueryDesc: HttpServiceConfigQueryNext,
                KeyDesc: HTTP_SERVICE_CONFIG_SSL_KEY {
                    pIpPort: null_mut(),
                },
                dwToken: token,
            };
            let Some(buffer) = query(
                HttpServiceConfigSSLCertInfo,
                (&raw const q).cast(),
                size_of::<HTTP_SERVICE_CONFIG_SSL_QUERY>(),
                what,
            )?
            else {
                break;
            };
            out.extend(ip_binding(&buffer));
        }
        for token in 0.. {
            let q = HTTP_SERVICE_CONFIG_SSL_SNI_QUERY {
                QueryDesc: HttpServiceConfigQueryNext,
                KeyDesc: HTTP_SERVICE_CONFIG_SSL_SNI_KEY::default(),
                dwToken: token,
            };
            let Some(buffer) = query(
                HttpServiceConfigSslSniCertInfo,
                (&raw const q).cast(),
                size_of::<HTTP_SERVICE_CONFIG_SSL_SNI_QUERY>(),
                what,
            )?
            else {
                break;
            };
            out.extend(sni_binding(&buffer));
        }
        Ok(out)
    }

    fn ssl_binding(&self, key: &BindingKey) -> Result<Option<SslBinding>> {
        let what = format!("reading the HTTP.sys binding {key}");
        let _session = Session::open(&what)?;
        match key {
            BindingKey::IpPort(addr) => {
                let mut storage = sockaddr(*addr);
                let q = HTTP_SERVICE_CONFIG_SSL_QUERY {
                    QueryDesc: HttpServiceConfigQueryExact,
                    KeyDesc: HTTP_SERVICE_CONFIG_SSL_KEY {
                        pIpPort: (&raw mut storage).cast(),
                    },
                    dwToken: 0,
                };
                Ok(query(
                    HttpServiceConfigSSLCertInfo,
                    (&raw const q).cast(),
                    size_of::<HTTP_SERVICE_CONFIG_SSL_QUERY>(),
                    &what,
                )?
                .and_then(|b| ip_binding(&b)))
            }
            BindingKey::Sni { host, port } => {
                let mut host = wide(host);
                let q = HTTP_SERVICE_CONFIG_SSL_SNI_QUERY {
                    QueryDesc: HttpServiceConfigQueryExact,
                    KeyDesc: HTTP_SERVICE_CONFIG_SSL_SNI_KEY {
                        IpPort: sockaddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port)),
                        Host: host.as_mut_ptr(),
                    },
                    dwToken: 0,
                };
                Ok(query(
                    HttpServiceConfigSslSniCertInfo,
                    (&raw const q).cast(),
                    size_of::<HTTP_SERVICE_CONFIG_SSL_SNI_QUERY>(),
                    &what,
                )?
                .and_then(|b| sni_binding(&b)))
            }
        }
    }

    fn add_ssl_binding(&self, binding: &SslBinding) -> Result<()> {
        write_binding(
            &binding.key,
            Some(binding),
            format!("binding a certificate to {}", binding.key),
        )
    }

    fn delete_ssl_binding(&self, key: &BindingKey) -> Result<()> {
        write_binding(key, None, format!("deleting the binding {key}"))
    }

    fn url_acl(&self, url: &str) -> Result<Option<UrlAcl>> {
        let what = format!("reading the reservation {url}");
        let _session = Session::open(&what)?;
        let mut prefix = wide(url);
        let q = HTTP_SERVICE_CONFIG_URLACL_QUERY {
            QueryDesc: HttpServiceConfigQueryExact,
            KeyDesc: HTTP_SERVICE_CONFIG_URLACL_KEY {
                pUrlPrefix: prefix.as_mut_ptr(),
            },
            dwToken: 0,
        };
        let Some(buffer) = query(
            HttpServiceConfigUrlAclInfo,
            (&raw const q).cast(),
            size_of::<HTTP_SERVICE_CONFIG_URLACL_QUERY>(),
            &what,
        )?
        else {
            return Ok(None);
        };
        let set = buffer.as_ptr().cast::<HTTP_SERVICE_CONFIG_URLACL_SET>();
        // SAFETY: a successful query wrote the record at the start of the buffer, its
        // strings inside the buffer.
        let (url, sddl) = unsafe {
            (
                string((*set).KeyDesc.pUrlPrefix),
                string((*set).ParamDesc.pStringSecurityDescriptor),
            )
        };
        Ok(Some(UrlAcl {
            url: url.unwrap_or_default(),
            sddl: sddl.unwrap_or_default(),
        }))
    }

    fn add_url_acl(&self, acl: &UrlAcl) -> Result<()> {
        let what = format!("reserving {}", acl.url);
        let _session = Session::open(&what)?;
        let (mut prefix, mut sddl) = (wide(&acl.url), wide(&acl.sddl));
        let set = HTTP_SERVICE_CONFIG_URLACL_SET {
            KeyDesc: HTTP_SERVICE_CONFIG_URLACL_KEY {
                pUrlPrefix: prefix.as_mut_ptr(),
            },
            ParamDesc: HTTP_SERVICE_CONFIG_URLACL_PARAM {
                pStringSecurityDescriptor: sddl.as_mut_ptr(),
            },
        };
        set_or_delete(
            false,
            HttpServiceConfigUrlAclInfo,
            (&raw const set).cast(),
            size_of::<HTTP_SERVICE_CONFIG_URLACL_SET>(),
            what,
        )
    }

    fn delete_url_acl(&self, url: &str) -> Result<()> {
        let what = format!("deleting the reservation {url}");
        let _session = Session::open(&what)?;
        let mut prefix = wide(url);
        let set = HTTP_SERVICE_CONFIG_URLACL_SET {
            KeyDesc: HTTP_SERVICE_CONFIG_URLACL_KEY {
                pUrlPrefix: prefix.as_mut_ptr(),
            },
            ParamDesc: HTTP_SERVICE_CONFIG_URLACL_PARAM {
                pStringSecurityDescriptor: null_mut(),
            },
        };
        set_or_delete(
            true,
            HttpServiceConfigUrlAclInfo,
            (&raw const set).cast(),
            size_of::<HTTP_SERVICE_CONFIG_URLACL_SET>(),
            what,
        )
    }
}
