//! The service control manager through the `windows-service` crate.

use std::ffi::OsString;
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState as WinState,
    ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use crate::services::{ServiceConfig, ServiceState, ServiceStatus, Services};
use crate::{Code, Error, Result};

/// The local computer's service control manager.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScmServices;

/// The Win32 code inside a `windows-service` error (87 when it carries none).
pub(super) fn code_of(e: &windows_service::Error) -> Code {
    match e {
        windows_service::Error::Winapi(io) => io
            .raw_os_error()
            .map(|c| Code(c as u32))
            .unwrap_or(Code::INVALID_PARAMETER),
        _ => Code::INVALID_PARAMETER,
    }
}

fn failed(what: String, call: &'static str) -> impl FnOnce(windows_service::Error) -> Error {
    move |e| Error::os(what, call, code_of(&e))
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access).map_err(failed(
        "opening the service control manager".into(),
        "OpenSCManager",
    ))
}

fn open(name: &str, access: ServiceAccess) -> Result<windows_service::service::Service> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(name, access)
        .map_err(failed(format!("the service \"{name}\""), "OpenService"))
}

fn state_of(state: WinState) -> ServiceState {
    match state {
        WinState::Stopped => ServiceState::Stopped,
        WinState::StartPending => ServiceState::StartPending,
        WinState::StopPending => ServiceState::StopPending,
        WinState::Running => ServiceState::Running,
        WinState::ContinuePending => ServiceState::ContinuePending,
        WinState::PausePending => ServiceState::PausePending,
        WinState::Paused => ServiceState::Paused,
    }
}

impl Services for ScmServices {
    fn status(&self, name: &str) -> Result<ServiceStatus> {
        let status = open(name, ServiceAccess::QUERY_STATUS)?
            .query_status()
            .map_err(failed(
                format!("the service \"{name}\""),
                "QueryServiceStatusEx",
            ))?;
        Ok(ServiceStatus {
            state: state_of(status.current_state),
            checkpoint: status.checkpoint,
            wait_hint: status.wait_hint,
            exit_code: match status.exit_code {
                windows_service::service::ServiceExitCode::Win32(c)
                | windows_service::service::ServiceExitCode::ServiceSpecific(c) => c,
            },
            process_id: status.process_id,
        })
    }

    fn config(&self, name: &str) -> Result<ServiceConfig> {
        let config = open(name, ServiceAccess::QUERY_CONFIG)?
            .query_config()
            .map_err(failed(
                format!("the service \"{name}\""),
                "QueryServiceConfig",
            ))?;
        Ok(ServiceConfig {
            display_name: config.display_name.to_string_lossy().into_owned(),
            command_line: config.executable_path.display().to_string(),
            account: config
                .account_name
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_else(|| "LocalSystem".into()),
        })
    }

    fn request_start(&self, name: &str) -> Result<()> {
        open(name, ServiceAccess::START)?
            .start::<&str>(&[])
            .map_err(failed(
                format!("starting the service \"{name}\""),
                "StartService",
            ))
    }

    fn request_stop(&self, name: &str) -> Result<()> {
        open(name, ServiceAccess::STOP)?
            .stop()
            .map(|_| ())
            .map_err(failed(
                format!("stopping the service \"{name}\""),
                "ControlService",
            ))
    }
}

/// How the agent registers itself as a service.
#[derive(Debug, Clone)]
pub struct Install {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub executable: std::path::PathBuf,
    pub arguments: Vec<OsString>,
}

/// Creates the service (automatic start, LocalSystem) with recovery actions: restart after
/// 10 s, 60 s, then every 5 minutes, the count reset after a day without failure. The
/// service exists once this returns `Ok`; what could not be set beyond that (an SCM that
/// does not know a setting: Wine's answers 124 for some) comes back as warnings.
pub fn install(install: &Install) -> Result<Vec<String>> {
    let what = format!("installing the service \"{}\"", install.name);
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let info = ServiceInfo {
        name: install.name.clone().into(),
        display_name: install.display_name.clone().into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: install.executable.clone(),
        launch_arguments: install.arguments.clone(),
        dependencies: vec![],
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .map_err(failed(what.clone(), "CreateService"))?;
    let mut warnings = Vec::new();
    let mut note = |setting: &str, result: windows_service::Result<()>| {
        if let Err(e) = result {
            warnings.push(format!(
                "{setting} not set: ChangeServiceConfig2 failed with error {}",
                code_of(&e)
            ));
        }
    };
    note(
        "the description",
        service.set_description(&install.description),
    );
    let restart = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    note(
        "the recovery actions",
        service.update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart(10), restart(60), restart(300)]),
        }),
    );
    // Recovery also when the service stops itself with an error, not only when it crashes.
    note(
        "recovery on a stop with an error",
        service.set_failure_actions_on_non_crash_failures(true),
    );
    Ok(warnings)
}

/// Marks the service for deletion (Windows removes it once every handle is closed).
pub fn uninstall(name: &str) -> Result<()> {
    open(name, ServiceAccess::DELETE)?.delete().map_err(failed(
        format!("removing the service \"{name}\""),
        "DeleteService",
    ))
}

/// The recovery actions' delays, for `status` to show.
pub fn recovery(name: &str) -> Result<Vec<Duration>> {
    let actions = open(name, ServiceAccess::QUERY_CONFIG)?
        .get_failure_actions()
        .map_err(failed(
            format!("the service \"{name}\""),
            "QueryServiceConfig2",
        ))?;
    Ok(actions
        .actions
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.action_type == ServiceActionType::Restart)
        .map(|a| a.delay)
        .collect())
}
