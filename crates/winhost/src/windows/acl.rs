//! File and folder DACLs for secrets: an explicit, protected DACL (SYSTEM and Administrators
//! full control, named accounts read-only, nothing inherited), and the check that no
//! ordinary principal (Everyone, Users, Authenticated Users, Interactive, Guests, Anonymous)
//! can read or write a path.

use std::path::Path;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    GetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
    DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorDacl,
    IsWellKnownSid, LookupAccountNameW, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    WinAnonymousSid, WinAuthenticatedUserSid, WinBuiltinGuestsSid, WinBuiltinUsersSid,
    WinInteractiveSid, WinWorldSid,
};

use super::wide::{last_error, wide};
use crate::{Code, Error, Result};

/// `LocalFree` on drop, for what the security calls allocate.
struct Local(*mut core::ffi::c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by the call that returned it, freed once.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// The SDDL SID of an account as the SCM names it (`LocalSystem`, `NT AUTHORITY\...`,
/// `.\user`, `DOMAIN\user`).
fn sid_of(account: &str) -> Result<String> {
    let lower = account.to_ascii_lowercase();
    match lower.as_str() {
        "localsystem" | "nt authority\\system" | "system" => return Ok("SY".into()),
        "nt authority\\localservice" | "localservice" => return Ok("LS".into()),
        "nt authority\\networkservice" | "networkservice" => return Ok("NS".into()),
        _ => {}
    }
    let name = wide(account.strip_prefix(".\\").unwrap_or(account));
    let what = format!("looking up the account {account:?}");
    let (mut sid_len, mut domain_len, mut use_) = (0u32, 0u32, 0);
    // SAFETY: sizing call with null buffers; every out pointer is a valid local.
    unsafe {
        LookupAccountNameW(
            null(),
            name.as_ptr(),
            null_mut(),
            &mut sid_len,
            null_mut(),
            &mut domain_len,
            &mut use_,
        )
    };
    if sid_len == 0 {
        return Err(last_error(what, "LookupAccountNameW"));
    }
    let mut sid = vec![0u8; sid_len as usize];
    let mut domain = vec![0u16; domain_len.max(1) as usize];
    // SAFETY: the buffers have the sizes the sizing call asked for.
    let ok = unsafe {
        LookupAccountNameW(
            null(),
            name.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut use_,
        )
    } != 0;
    if !ok {
        return Err(last_error(what, "LookupAccountNameW"));
    }
    let mut text = null_mut();
    // SAFETY: `sid` holds a valid SID; the string comes back LocalAlloc'ed.
    if unsafe { ConvertSidToStringSidW(sid.as_mut_ptr().cast(), &mut text) } == 0 {
        return Err(last_error(what, "ConvertSidToStringSidW"));
    }
    let text = Local(text.cast());
    let mut len = 0;
    // SAFETY: a NUL-terminated string from ConvertSidToStringSidW.
    while unsafe { *text.0.cast::<u16>().add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    Ok(String::from_utf16_lossy(unsafe {
        std::slice::from_raw_parts(text.0.cast::<u16>(), len)
    }))
}

/// Replaces the DACL of `path` with SYSTEM and Administrators (full control) and `readers`
/// (read), protected from inheritance.
pub fn restrict(path: &Path, readers: &[String]) -> Result<()> {
    let what = format!("restricting who may read {}", path.display());
    let mut sddl = String::from("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
    for reader in readers {
        let sid = sid_of(reader)?;
        if sid != "SY" {
            sddl.push_str(&format!("(A;OICI;FR;;;{sid})"));
        }
    }
    let sddl = wide(&sddl);
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: NUL-terminated SDDL; the descriptor comes back LocalAlloc'ed.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            null_mut(),
        )
    } == 0
    {
        return Err(last_error(
            what,
            "ConvertStringSecurityDescriptorToSecurityDescriptorW",
        ));
    }
    let sd = Local(sd);
    let (mut present, mut defaulted) = (0, 0);
    let mut dacl: *mut ACL = null_mut();
    // SAFETY: `sd` is a valid descriptor; the DACL points into it.
    if unsafe { GetSecurityDescriptorDacl(sd.0, &mut present, &mut dacl, &mut defaulted) } == 0 {
        return Err(last_error(what, "GetSecurityDescriptorDacl"));
    }
    let name = wide(&path.display().to_string());
    // SAFETY: NUL-terminated path; `dacl` lives inside `sd`, alive for the call.
    let code = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            dacl,
            null(),
        )
    };
    match code {
        0 => Ok(()),
        code => Err(Error::os(what, "SetNamedSecurityInfoW", Code(code))),
    }
}

/// Access bits that let a principal read or change a file's contents.
const READ_OR_WRITE: u32 = 0x0001 | 0x0002 | 0x0004 | 0x1000_0000 | 0x4000_0000 | 0x8000_0000;

/// The ordinary principals that may read or write `path` (empty when only privileged
/// accounts may).
pub fn exposed(path: &Path) -> Result<Vec<&'static str>> {
    let what = format!("reading who may read {}", path.display());
    let name = wide(&path.display().to_string());
    let mut dacl: *mut ACL = null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: NUL-terminated path; out pointers are valid locals; `sd` comes back
    // LocalAlloc'ed and `dacl` points into it.
    let code = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            &mut dacl,
            null_mut(),
            &mut sd,
        )
    };
    if code != 0 {
        return Err(Error::os(what, "GetNamedSecurityInfoW", Code(code)));
    }
    let _sd = Local(sd);
    if dacl.is_null() {
        return Ok(vec!["Everyone (the path has no DACL at all)"]);
    }
    let mut info = ACL_SIZE_INFORMATION::default();
    // SAFETY: `dacl` is valid while `_sd` lives; `info` is the size the class asks for.
    if unsafe {
        GetAclInformation(
            dacl,
            (&raw mut info).cast(),
            size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    } == 0
    {
        return Err(last_error(what, "GetAclInformation"));
    }
    let ordinary = [
        (WinWorldSid, "Everyone"),
        (WinBuiltinUsersSid, "Users"),
        (WinAuthenticatedUserSid, "Authenticated Users"),
        (WinInteractiveSid, "Interactive"),
        (WinBuiltinGuestsSid, "Guests"),
        (WinAnonymousSid, "Anonymous"),
    ];
    let mut out = Vec::new();
    for index in 0..info.AceCount {
        let mut ace = null_mut();
        // SAFETY: index < AceCount of a valid ACL.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            continue;
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { *ace.cast::<ACE_HEADER>() };
        if u32::from(header.AceType) != 0 {
            continue; // only ACCESS_ALLOWED grants anything
        }
        let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
        // SAFETY: an ACCESS_ALLOWED_ACE, by its type; the SID starts at SidStart.
        let (mask, sid) = unsafe { ((*allowed).Mask, (&raw mut (*allowed).SidStart).cast()) };
        if mask & READ_OR_WRITE == 0 {
            continue;
        }
        for (kind, label) in ordinary {
            // SAFETY: `sid` is the ACE's SID, valid while `_sd` lives.
            if unsafe { IsWellKnownSid(sid, kind) } != 0 && !out.contains(&label) {
                out.push(label);
            }
        }
    }
    Ok(out)
}
