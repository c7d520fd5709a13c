//! One error type for the layer. A failed Windows call keeps its numeric code as a typed
//! [`Code`], so callers decide by the code (never by the message) and fakes return exactly
//! what Windows documents.

use std::fmt;

use crate::services::ServiceState;

/// A Win32 error code or an HRESULT, as Windows reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    pub const FILE_NOT_FOUND: Code = Code(2);
    pub const ACCESS_DENIED: Code = Code(5);
    pub const INVALID_HANDLE: Code = Code(6);
    pub const INVALID_PASSWORD: Code = Code(86);
    pub const INVALID_PARAMETER: Code = Code(87);
    pub const INSUFFICIENT_BUFFER: Code = Code(122);
    pub const ALREADY_EXISTS: Code = Code(183);
    pub const NO_MORE_ITEMS: Code = Code(259);
    pub const SERVICE_REQUEST_TIMEOUT: Code = Code(1053);
    pub const SERVICE_ALREADY_RUNNING: Code = Code(1056);
    pub const SERVICE_DISABLED: Code = Code(1058);
    pub const SERVICE_DOES_NOT_EXIST: Code = Code(1060);
    pub const SERVICE_CANNOT_ACCEPT_CTRL: Code = Code(1061);
    pub const SERVICE_NOT_ACTIVE: Code = Code(1062);
    pub const SERVICE_SPECIFIC_ERROR: Code = Code(1066);
    pub const SERVICE_MARKED_FOR_DELETE: Code = Code(1072);
    pub const SERVICE_EXISTS: Code = Code(1073);
    pub const NONE_MAPPED: Code = Code(1332);
    /// `netsh http add sslcert` error 1312: the certificate is not in the store named, or
    /// has no private key there.
    pub const NO_SUCH_LOGON_SESSION: Code = Code(1312);
    pub const NTE_BAD_KEY_STATE: Code = Code(0x8009_000B);
    pub const NTE_NO_KEY: Code = Code(0x8009_000D);
    pub const NTE_BAD_KEYSET: Code = Code(0x8009_0016);
    pub const CRYPT_E_BAD_ENCODE: Code = Code(0x8009_2002);
    pub const CRYPT_E_NOT_FOUND: Code = Code(0x8009_2004);
    pub const CRYPT_E_NO_KEY_PROPERTY: Code = Code(0x8009_200B);
    pub const CRYPT_E_ASN1_BADTAG: Code = Code(0x8009_310B);

    /// What an admin does about it, where there is one thing to do.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Code::ACCESS_DENIED => {
                "run the agent as an administrator (the service runs as LocalSystem)"
            }
            Code::INVALID_PASSWORD => "the PFX password is wrong, or the file is damaged",
            Code::ALREADY_EXISTS => "a record for this key exists already: delete it first",
            Code::SERVICE_DOES_NOT_EXIST => {
                "no service has this name: check the name in the agent's configuration (`sc query` lists them)"
            }
            Code::SERVICE_DISABLED => {
                "the service is disabled: set its start type to Automatic or Manual"
            }
            Code::SERVICE_MARKED_FOR_DELETE => {
                "the service is being deleted: close the Services console and any handle to it, then try again"
            }
            Code::NO_SUCH_LOGON_SESSION => {
                "the certificate is not in LocalMachine\\My, or it has no private key there: import it with its key"
            }
            Code::NTE_BAD_KEYSET | Code::NTE_NO_KEY | Code::CRYPT_E_NO_KEY_PROPERTY => {
                "the certificate's private key is missing: import the PFX again with its key"
            }
            _ => return None,
        })
    }

    /// HRESULTs read better in hex, Win32 codes in decimal (as `netsh` prints them).
    fn is_hresult(self) -> bool {
        self.0 & 0x8000_0000 != 0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_hresult() {
            write!(f, "0x{:08X}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Windows call failed.
    #[error("{what}: {call} failed with error {code}{}", hint_suffix(*.code))]
    Os {
        what: String,
        call: &'static str,
        code: Code,
    },
    /// A PFX whose password does not open it (Windows cannot tell this from a damaged file).
    #[error(
        "{what}: wrong password for the PFX, or the file is damaged; check the password and the file"
    )]
    WrongPassword { what: String },
    /// Input the layer refuses before calling Windows.
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    /// A service that did not reach the state it was asked for in time.
    #[error(
        "the service \"{service}\" is {state} after {waited_secs} s, not {wanted}: look at its \
         log and the System event log, then start it by hand"
    )]
    ServiceTimeout {
        service: String,
        state: ServiceState,
        wanted: ServiceState,
        waited_secs: u64,
    },
    /// A service that stopped instead of starting.
    #[error(
        "the service \"{service}\" stopped instead of starting (exit code {exit_code}): look at \
         its log and the System event log"
    )]
    ServiceFailed { service: String, exit_code: u32 },
    /// This build has no real implementation of the capability (not Windows).
    #[error("{what} is not available in this build of the agent (it needs Windows)")]
    Unsupported { what: &'static str },
}

fn hint_suffix(code: Code) -> String {
    code.hint().map(|h| format!(" ({h})")).unwrap_or_default()
}

impl Error {
    /// The Windows code behind the error, when there is one.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Os { code, .. } => Some(*code),
            Error::WrongPassword { .. } => Some(Code::INVALID_PASSWORD),
            _ => None,
        }
    }

    pub(crate) fn os(what: impl Into<String>, call: &'static str, code: Code) -> Self {
        Error::Os {
            what: what.into(),
            call,
            code,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_as_windows_tools_print_them_with_the_fix() {
        let e = Error::os(
            "binding 0.0.0.0:4207",
            "HttpSetServiceConfiguration",
            Code::NO_SUCH_LOGON_SESSION,
        );
        let text = e.to_string();
        assert!(text.contains("error 1312"), "{text}");
        assert!(text.contains("LocalMachine\\My"), "{text}");
        assert_eq!(Code::CRYPT_E_NOT_FOUND.to_string(), "0x80092004");
        assert_eq!(e.code(), Some(Code::NO_SUCH_LOGON_SESSION));
    }
}
