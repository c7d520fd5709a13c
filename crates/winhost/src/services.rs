//! The service control manager, by service name: state, configuration, start, stop and a
//! restart that waits on the real state transitions. The waiting is written once here, over
//! the trait's primitive calls, the way Microsoft's "Starting a Service" sample waits: poll
//! at a tenth of the service's wait hint (clamped), give up when the checkpoint stops moving
//! for longer than the hint, and never wait past an overall limit.

use std::fmt;
use std::time::{Duration, Instant};

use crate::{Code, Error, Result};

/// `SERVICE_STATUS.dwCurrentState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    Stopped,
    StartPending,
    StopPending,
    Running,
    ContinuePending,
    PausePending,
    Paused,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceState::Stopped => "stopped",
            ServiceState::StartPending => "starting",
            ServiceState::StopPending => "stopping",
            ServiceState::Running => "running",
            ServiceState::ContinuePending => "resuming",
            ServiceState::PausePending => "pausing",
            ServiceState::Paused => "paused",
        })
    }
}

/// What `QueryServiceStatusEx` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// Moves forward while a pending operation makes progress.
    pub checkpoint: u32,
    /// The service's own estimate of the pending operation's time.
    pub wait_hint: Duration,
    /// `dwWin32ExitCode` (or the service-specific code when that is 1066).
    pub exit_code: u32,
    pub process_id: Option<u32>,
}

/// What `QueryServiceConfig` reports, as far as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub display_name: String,
    /// The command line the SCM starts (`"C:\...\httpd.exe" -k runservice`).
    pub command_line: String,
    /// `LocalSystem`, `NT AUTHORITY\NetworkService`, `.\svc-esync`, …
    pub account: String,
}

/// The primitive calls; [`start`], [`stop`] and [`restart`] wait on them.
pub trait Services: Send + Sync {
    fn status(&self, name: &str) -> Result<ServiceStatus>;
    fn config(&self, name: &str) -> Result<ServiceConfig>;
    /// `StartService`: returns once the request is accepted (usually START_PENDING).
    fn request_start(&self, name: &str) -> Result<()>;
    /// `ControlService(SERVICE_CONTROL_STOP)`.
    fn request_stop(&self, name: &str) -> Result<()>;
}

/// How long to wait for a transition.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Never wait longer than this in all.
    pub overall: Duration,
    /// Poll no faster than this (a tenth of the wait hint, at least this).
    pub min_poll: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            overall: Duration::from_secs(120),
            min_poll: Duration::from_millis(250),
        }
    }
}

const MAX_POLL: Duration = Duration::from_secs(10);

/// Waits while the service is in one of the `waiting` states, until it leaves them.
fn wait_for(
    services: &dyn Services,
    name: &str,
    waiting: &[ServiceState],
    wanted: ServiceState,
    wait: Wait,
) -> Result<ServiceStatus> {
    let started = Instant::now();
    let mut status = services.status(name)?;
    let mut checkpoint = status.checkpoint;
    let mut progress_at = Instant::now();
    while waiting.contains(&status.state) {
        let poll = (status.wait_hint / 10).clamp(wait.min_poll, MAX_POLL.max(wait.min_poll));
        // Only a pending state carries a wait hint and a checkpoint to judge progress by; a
        // service that has not yet acted on a control is judged by the overall limit alone.
        let stalled = !status.wait_hint.is_zero()
            && progress_at.elapsed() > status.wait_hint.max(wait.min_poll * 4);
        if started.elapsed() + poll > wait.overall || stalled {
            return Err(Error::ServiceTimeout {
                service: name.to_owned(),
                state: status.state,
                wanted,
                waited_secs: started.elapsed().as_secs(),
            });
        }
        std::thread::sleep(poll);
        status = services.status(name)?;
        if status.checkpoint != checkpoint {
            checkpoint = status.checkpoint;
            progress_at = Instant::now();
        }
    }
    Ok(status)
}

/// Starts the service and waits until it runs. Already running is fine.
pub fn start(services: &dyn Services, name: &str, wait: Wait) -> Result<()> {
    match services.request_start(name) {
        Ok(()) => {}
        Err(e) if e.code() == Some(Code::SERVICE_ALREADY_RUNNING) => {}
        Err(e) => return Err(e),
    }
    let status = wait_for(
        services,
        name,
        &[ServiceState::StartPending],
        ServiceState::Running,
        wait,
    )?;
    match status.state {
        ServiceState::Running => Ok(()),
        ServiceState::Stopped => Err(Error::ServiceFailed {
            service: name.to_owned(),
            exit_code: status.exit_code,
        }),
        state => Err(Error::ServiceTimeout {
            service: name.to_owned(),
            state,
            wanted: ServiceState::Running,
            waited_secs: 0,
        }),
    }
}

/// Stops the service and waits until it has stopped. Already stopped is fine.
pub fn stop(services: &dyn Services, name: &str, wait: Wait) -> Result<()> {
    // A service still starting cannot take a stop control yet: let it finish first.
    wait_for(
        services,
        name,
        &[ServiceState::StartPending],
        ServiceState::Running,
        wait,
    )?;
    match services.request_stop(name) {
        Ok(()) => {}
        Err(e) if e.code() == Some(Code::SERVICE_NOT_ACTIVE) => return Ok(()),
        Err(e) => return Err(e),
    }
    // A service that has not yet acted on the stop still reports RUNNING (Windows does not
    // move it to STOP_PENDING by itself): that is waited out too.
    let status = wait_for(
        services,
        name,
        &[ServiceState::StopPending, ServiceState::Running],
        ServiceState::Stopped,
        wait,
    )?;
    if status.state == ServiceState::Stopped {
        Ok(())
    } else {
        Err(Error::ServiceTimeout {
            service: name.to_owned(),
            state: status.state,
            wanted: ServiceState::Stopped,
            waited_secs: 0,
        })
    }
}

/// Stops (when running) and starts the service, each step waited for.
pub fn restart(services: &dyn Services, name: &str, wait: Wait) -> Result<()> {
    stop(services, name, wait)?;
    start(services, name, wait)
}
