use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::services::{ServiceConfig, ServiceState, ServiceStatus, Services};
use crate::{Code, Error, Result};

/// How a fake service answers the SCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Each start or stop stays pending for this many status queries, making progress.
    Normal { pending_polls: u32 },
    /// Starts, then stops with this exit code.
    FailsToStart { exit_code: u32 },
    /// Stays in START_PENDING without moving its checkpoint.
    HangsStarting,
    /// Stays in STOP_PENDING without moving its checkpoint.
    HangsStopping,
    /// Takes a stop control but keeps reporting RUNNING for this many status queries before
    /// it reports STOPPED (what a service does that never reports STOP_PENDING).
    StopsWithoutPending { polls: u32 },
}

#[derive(Debug)]
struct FakeService {
    config: ServiceConfig,
    behaviour: Behaviour,
    disabled: bool,
    state: ServiceState,
    checkpoint: u32,
    polls_left: u32,
    exit_code: u32,
    starts: u32,
    stops: u32,
    stop_requested: bool,
}

/// A service control manager in memory.
#[derive(Debug, Default)]
pub struct FakeServices {
    services: Mutex<BTreeMap<String, FakeService>>,
}

/// Pending operations in the fake report this wait hint.
const WAIT_HINT: Duration = Duration::from_millis(200);

impl FakeServices {
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a service, stopped.
    pub fn install(&self, name: &str, account: &str, command_line: &str, behaviour: Behaviour) {
        self.lock().insert(
            name.to_ascii_lowercase(),
            FakeService {
                config: ServiceConfig {
                    display_name: name.to_owned(),
                    command_line: command_line.to_owned(),
                    account: account.to_owned(),
                },
                behaviour,
                disabled: false,
                state: ServiceState::Stopped,
                checkpoint: 0,
                polls_left: 0,
                exit_code: 0,
                starts: 0,
                stops: 0,
                stop_requested: false,
            },
        );
    }

    pub fn set_behaviour(&self, name: &str, behaviour: Behaviour) {
        if let Some(s) = self.lock().get_mut(&name.to_ascii_lowercase()) {
            s.behaviour = behaviour;
        }
    }

    pub fn disable(&self, name: &str) {
        if let Some(s) = self.lock().get_mut(&name.to_ascii_lowercase()) {
            s.disabled = true;
        }
    }

    /// (starts, stops) requested so far.
    pub fn requests(&self, name: &str) -> (u32, u32) {
        self.lock()
            .get(&name.to_ascii_lowercase())
            .map(|s| (s.starts, s.stops))
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FakeService>> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with<T>(
        &self,
        name: &str,
        call: &'static str,
        f: impl FnOnce(&mut FakeService) -> Result<T>,
    ) -> Result<T> {
        let mut services = self.lock();
        // Service names are case-insensitive on Windows.
        let service = services
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| {
                Error::os(
                    format!("the service \"{name}\""),
                    call,
                    Code::SERVICE_DOES_NOT_EXIST,
                )
            })?;
        f(service)
    }
}

fn pending_polls(behaviour: Behaviour) -> u32 {
    match behaviour {
        Behaviour::Normal { pending_polls } => pending_polls,
        _ => 1,
    }
}

impl Services for FakeServices {
    fn status(&self, name: &str) -> Result<ServiceStatus> {
        self.with(name, "QueryServiceStatusEx", |s| {
            if s.stop_requested && s.state == ServiceState::Running {
                if s.polls_left == 0 {
                    s.state = ServiceState::Stopped;
                    s.stop_requested = false;
                } else {
                    s.polls_left -= 1;
                }
            }
            let pending = matches!(
                s.state,
                ServiceState::StartPending | ServiceState::StopPending
            );
            let hangs = matches!(
                (s.behaviour, s.state),
                (Behaviour::HangsStarting, ServiceState::StartPending)
                    | (Behaviour::HangsStopping, ServiceState::StopPending)
            );
            if pending && !hangs {
                if s.polls_left == 0 {
                    s.checkpoint = 0;
                    s.state = match (s.state, s.behaviour) {
                        (ServiceState::StartPending, Behaviour::FailsToStart { exit_code }) => {
                            s.exit_code = exit_code;
                            ServiceState::Stopped
                        }
                        (ServiceState::StartPending, _) => ServiceState::Running,
                        _ => ServiceState::Stopped,
                    };
                } else {
                    s.polls_left -= 1;
                    s.checkpoint += 1;
                }
            }
            let pending = matches!(
                s.state,
                ServiceState::StartPending | ServiceState::StopPending
            );
            Ok(ServiceStatus {
                state: s.state,
                checkpoint: s.checkpoint,
                wait_hint: if pending { WAIT_HINT } else { Duration::ZERO },
                exit_code: s.exit_code,
                process_id: (s.state != ServiceState::Stopped).then_some(4242),
            })
        })
    }

    fn config(&self, name: &str) -> Result<ServiceConfig> {
        self.with(name, "QueryServiceConfig", |s| Ok(s.config.clone()))
    }

    fn request_start(&self, name: &str) -> Result<()> {
        self.with(name, "StartService", |s| {
            let what = format!("starting the service \"{name}\"");
            if s.disabled {
                return Err(Error::os(what, "StartService", Code::SERVICE_DISABLED));
            }
            match s.state {
                ServiceState::Stopped => {}
                ServiceState::StopPending => {
                    return Err(Error::os(
                        what,
                        "StartService",
                        Code::SERVICE_CANNOT_ACCEPT_CTRL,
                    ));
                }
                _ => {
                    return Err(Error::os(
                        what,
                        "StartService",
                        Code::SERVICE_ALREADY_RUNNING,
                    ));
                }
            }
            s.starts += 1;
            s.exit_code = 0;
            s.state = ServiceState::StartPending;
            s.checkpoint = 1;
            s.polls_left = pending_polls(s.behaviour);
            Ok(())
        })
    }

    fn request_stop(&self, name: &str) -> Result<()> {
        self.with(name, "ControlService", |s| {
            let what = format!("stopping the service \"{name}\"");
            match s.state {
                ServiceState::Stopped => {
                    return Err(Error::os(what, "ControlService", Code::SERVICE_NOT_ACTIVE));
                }
                ServiceState::StartPending | ServiceState::StopPending => {
                    return Err(Error::os(
                        what,
                        "ControlService",
                        Code::SERVICE_CANNOT_ACCEPT_CTRL,
                    ));
                }
                _ => {}
            }
            s.stops += 1;
            if let Behaviour::StopsWithoutPending { polls } = s.behaviour {
                s.stop_requested = true;
                s.polls_left = polls;
                return Ok(());
            }
            s.state = ServiceState::StopPending;
            s.checkpoint = 1;
            s.polls_left = pending_polls(s.behaviour);
            Ok(())
        })
    }
}
