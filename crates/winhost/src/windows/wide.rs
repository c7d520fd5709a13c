//! UTF-16 strings for Win32 and the last error as a typed code.

use zeroize::Zeroize;

use crate::{Code, Error};

/// A NUL-terminated UTF-16 copy of `text`.
pub fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 secret, wiped on drop.
pub struct WideSecret(pub Vec<u16>);

impl WideSecret {
    pub fn new(text: &str) -> Self {
        WideSecret(wide(text))
    }
}

impl Drop for WideSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

pub fn last_code() -> Code {
    // SAFETY: GetLastError only reads the calling thread's last-error value.
    Code(unsafe { windows_sys::Win32::Foundation::GetLastError() })
}

pub fn last_error(what: impl Into<String>, call: &'static str) -> Error {
    Error::os(what, call, last_code())
}
