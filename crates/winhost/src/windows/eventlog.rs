//! Start, stop and error events in the Application event log.

use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};

use super::wide::wide;

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Information,
    Warning,
    Error,
}

/// Writes one event under `source`. Best effort: the event log is never a reason to fail.
pub fn report(source: &str, level: Level, event_id: u32, message: &str) {
    let source = wide(source);
    let message = wide(message);
    let kind = match level {
        Level::Information => EVENTLOG_INFORMATION_TYPE,
        Level::Warning => EVENTLOG_WARNING_TYPE,
        Level::Error => EVENTLOG_ERROR_TYPE,
    };
    // SAFETY: `source` is NUL-terminated and alive for the call; a null server is local.
    let handle = unsafe { RegisterEventSourceW(std::ptr::null(), source.as_ptr()) };
    if handle.is_null() {
        return;
    }
    let strings = [message.as_ptr()];
    // SAFETY: one NUL-terminated string, alive for the call; no raw data; the handle is open.
    unsafe {
        ReportEventW(
            handle,
            kind,
            0,
            event_id,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        );
    }
    // SAFETY: the handle from RegisterEventSourceW, closed once.
    unsafe { DeregisterEventSource(handle) };
}
