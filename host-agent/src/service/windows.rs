//! The agent as a Windows service: installed with recovery actions, run under the service
//! control manager (a stop request ends the connection), logging to a rotating file in the
//! data folder and to the Application event log.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use certfleet_winhost::windows::{self as win, eventlog};
use certfleet_winhost::{Host, Services, Wait, services};

use super::{Command, NAME, Where, run_arguments};
use crate::{config, connection, identity, logfile};

fn wait() -> Wait {
    Wait {
        overall: Duration::from_secs(60),
        ..Wait::default()
    }
}

pub fn run(command: Command) -> Result<()> {
    let scm = win::ScmServices;
    match command {
        Command::Install { at, .. } => {
            let exe = std::env::current_exe().context("cannot tell where this program is")?;
            let mut arguments = vec!["service".into(), "run".into()];
            arguments.extend(run_arguments(&at).into_iter().map(Into::into));
            let warnings = win::install(&win::Install {
                name: NAME.into(),
                display_name: "certfleet agent".into(),
                description: "Keeps this server's certificates valid for the certfleet console."
                    .into(),
                executable: exe,
                arguments,
            })?;
            println!("installed the service {NAME} (automatic start, restarts on failure)");
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            services::start(&scm, NAME, wait())?;
            println!("{NAME} is running");
        }
        Command::Uninstall { .. } => {
            match services::stop(&scm, NAME, wait()) {
                Ok(()) => {}
                Err(e) if e.code() == Some(certfleet_winhost::Code::SERVICE_DOES_NOT_EXIST) => {
                    bail!("the service {NAME} is not installed")
                }
                Err(e) => return Err(e.into()),
            }
            win::uninstall(NAME)?;
            println!("removed the service {NAME}");
        }
        Command::Start => {
            services::start(&scm, NAME, wait())?;
            println!("{NAME} is running");
        }
        Command::Stop => {
            services::stop(&scm, NAME, wait())?;
            println!("{NAME} is stopped");
        }
        Command::Status => {
            let status = scm.status(NAME)?;
            let recovery = match win::recovery(NAME) {
                Ok(delays) if delays.is_empty() => "never".to_owned(),
                Ok(delays) => delays
                    .iter()
                    .map(|d| format!("{} s", d.as_secs()))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("unknown ({e})"),
            };
            let process = status
                .process_id
                .map(|p| format!(" (process {p})"))
                .unwrap_or_default();
            println!(
                "{NAME}: {}{process}; on failure restarts after {recovery}",
                status.state
            );
        }
        Command::Run { at } => serve(at)?,
    }
    Ok(())
}

/// The service body: the same `run` loop as the console-attached agent, until the SCM asks
/// it to stop.
fn serve(at: Where) -> Result<()> {
    let dir = at
        .data_dir
        .clone()
        .unwrap_or_else(identity::default_data_dir);
    let config_path = at.config.clone().unwrap_or_else(|| dir.join("agent.toml"));
    win::service_host::run(
        NAME,
        Box::new(move |stop| {
            let _ = logfile::init(&dir);
            eventlog::report(
                NAME,
                eventlog::Level::Information,
                1,
                "certfleet agent started",
            );
            let result = (|| -> Result<()> {
                let identity = identity::Identity::load(&dir)?;
                let agent_config = config::AgentConfig::load(&config_path)?;
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                let stop = Arc::new(std::sync::Mutex::new(stop));
                let result = rt.block_on(async move {
                    let stopped = tokio::task::spawn_blocking(move || {
                        let _ = stop.lock().map(|rx| rx.recv());
                    });
                    tokio::select! {
                        result = connection::run(identity, agent_config, Host::native()) => result,
                        _ = stopped => {
                            tracing::info!("stop requested by the service control manager");
                            Ok(())
                        }
                    }
                });
                // The stop waiter may still block on its channel: do not wait for it.
                rt.shutdown_background();
                result
            })();
            match &result {
                Ok(()) => eventlog::report(
                    NAME,
                    eventlog::Level::Information,
                    2,
                    "certfleet agent stopped",
                ),
                Err(e) => {
                    tracing::error!("{e:#}");
                    eventlog::report(
                        NAME,
                        eventlog::Level::Error,
                        3,
                        &format!("certfleet agent failed: {e:#}"),
                    );
                }
            }
            result.map_err(|e| format!("{e:#}"))
        }),
    )?;
    Ok(())
}
