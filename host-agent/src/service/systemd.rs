//! The agent as a systemd unit.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context, Result, bail};

use super::{Command, NAME, Where, run_arguments};

fn unit_path(unit_dir: Option<&Path>) -> PathBuf {
    unit_dir
        .unwrap_or(Path::new("/etc/systemd/system"))
        .join(format!("{NAME}.service"))
}

/// Quotes an argument for systemd's ExecStart= (which splits on spaces, honours quotes).
fn quote(arg: &str) -> String {
    if arg
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        arg.to_owned()
    }
}

pub fn unit(executable: &Path, at: &Where) -> String {
    let mut exec = vec![executable.display().to_string(), "run".to_owned()];
    exec.extend(run_arguments(at));
    let exec: Vec<String> = exec.iter().map(|a| quote(a)).collect();
    format!(
        "# Written by `certfleet-agent service install`; removed by `service uninstall`.\n\
         [Unit]\n\
         Description=certfleet agent (keeps this host's certificates valid)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=10\n\
         # The agent's key and journal are private to root.\n\
         UMask=0077\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        exec.join(" ")
    )
}

fn systemctl(args: &[&str]) -> Result<()> {
    let status = Process::new("systemctl")
        .args(args)
        .status()
        .with_context(|| {
            format!(
                "cannot run `systemctl {}` (is this a systemd host? use --no-start)",
                args.join(" ")
            )
        })?;
    if !status.success() {
        bail!("`systemctl {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

pub fn run(command: Command) -> Result<()> {
    let service = format!("{NAME}.service");
    match command {
        Command::Install {
            at,
            unit_dir,
            no_start,
        } => {
            let exe = std::env::current_exe().context("cannot tell where this program is")?;
            let path = unit_path(unit_dir.as_deref());
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let tmp = path.with_extension("service.tmp");
            std::fs::write(&tmp, unit(&exe, &at))
                .and_then(|()| std::fs::rename(&tmp, &path))
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
            if !no_start {
                systemctl(&["daemon-reload"])?;
                systemctl(&["enable", "--now", &service])?;
                println!("{service} enabled and started");
            }
        }
        Command::Uninstall { unit_dir, no_start } => {
            let path = unit_path(unit_dir.as_deref());
            if !no_start {
                systemctl(&["disable", "--now", &service])?;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => println!("removed {}", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    bail!(
                        "{} does not exist: the service is not installed there",
                        path.display()
                    )
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
            if !no_start {
                systemctl(&["daemon-reload"])?;
            }
        }
        Command::Start => systemctl(&["start", &service])?,
        Command::Stop => systemctl(&["stop", &service])?,
        Command::Status => systemctl(&["status", "--no-pager", &service])?,
        Command::Run { .. } => bail!(
            "`service run` is for the Windows service control manager; on Linux systemd runs `certfleet-agent run`"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_agent_with_its_folders_quoted() {
        let at = Where {
            data_dir: Some("/var/lib/cert fleet".into()),
            config: None,
        };
        let text = unit(Path::new("/usr/local/bin/certfleet-agent"), &at);
        assert!(
            text.contains(
                "ExecStart=/usr/local/bin/certfleet-agent run --data-dir \"/var/lib/cert fleet\"\n"
            ),
            "{text}"
        );
        assert!(text.contains("Restart=on-failure"));
        assert!(text.contains("WantedBy=multi-user.target"));
    }
}
