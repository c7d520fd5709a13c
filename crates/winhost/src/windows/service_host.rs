//! Running as a Windows service: the dispatcher, the control handler (stop and shutdown end
//! the body cleanly) and the status reports the SCM waits for.

use std::ffi::OsString;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use crate::{Error, Result};

/// The body of the service: runs until the receiver gets a stop request (or fails).
pub type Body = Box<dyn Fn(Receiver<()>) -> std::result::Result<(), String> + Send + Sync>;

static SERVICE: OnceLock<(String, Body)> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let Some((name, body)) = SERVICE.get() else {
        return;
    };
    let (stop_tx, stop_rx) = channel();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            let _ = stop_tx.send(());
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(status) = service_control_handler::register(name, handler) else {
        return;
    };
    let report = |state, accept, exit_code| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code,
            checkpoint: 0,
            wait_hint: Duration::from_secs(10),
            process_id: None,
        });
    };
    report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::NO_ERROR,
    );
    let exit = match body(stop_rx) {
        Ok(()) => ServiceExitCode::NO_ERROR,
        // A service-specific exit code makes the SCM apply the recovery actions.
        Err(_) => ServiceExitCode::ServiceSpecific(1),
    };
    report(ServiceState::Stopped, ServiceControlAccept::empty(), exit);
}

/// Hands the process to the SCM as the service `name`; returns when the service stopped.
/// Fails with 1063 when the process was not started by the SCM.
pub fn run(name: &str, body: Body) -> Result<()> {
    if SERVICE.set((name.to_owned(), body)).is_err() {
        return Err(Error::Invalid {
            what: "starting the service dispatcher".into(),
            detail: "it was started twice in one process".into(),
        });
    }
    service_dispatcher::start(name, ffi_service_main).map_err(|e| {
        let code = super::services::code_of(&e);
        Error::os(
            format!("running as the service \"{name}\" (only the service control manager starts it: `certfleet-agent service start`)"),
            "StartServiceCtrlDispatcher",
            code,
        )
    })
}
