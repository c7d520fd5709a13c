//! The real Windows calls behind the traits. Every `unsafe` block says why it is sound.

pub mod acl;
mod chains;
pub mod eventlog;
mod httpsys;
pub mod service_host;
mod services;
mod stores;
mod wide;

pub use chains::MachineChains;
pub use httpsys::HttpSysConfig;
pub use services::{Install, ScmServices, install, recovery, uninstall};
pub use stores::SystemStores;

/// Whether this "Windows" is Wine (ntdll exports `wine_get_version`). Wine does not keep
/// file ACLs, so checks of them mean nothing there.
pub fn is_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll = wide::wide("ntdll.dll");
    // SAFETY: ntdll is loaded in every process; both strings are NUL-terminated.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}
