//! What a driver decides and the executor carries out. A plan is data: the files to write,
//! the Windows changes, and the endpoint's [`Reach`] (its commands, its address, and every
//! file and change a deployment to it may make). The journal records only how far a job
//! got; after a crash the driver is asked for the reach again, from the configuration.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use certfleet_winhost::{Services, Wait};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Error;
use super::windows_changes::WindowsChange;

/// Who may read a file the deployment writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Certificate, key and chain files: owner-only whatever they were.
    Private,
    /// Other files (a configuration): the mode they had, owner-only when new.
    Kept,
    /// Read by every program of the machine (a certificate its TLS clients trust): 0644.
    Public,
}

/// One file the deployment writes. Every kind keeps the owner and group it had.
pub struct FileWrite {
    pub path: PathBuf,
    pub contents: Zeroizing<Vec<u8>>,
    pub exposure: Exposure,
}

impl std::fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWrite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A program and its arguments, run without a shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine(pub Vec<String>);

impl std::fmt::Display for CommandLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl CommandLine {
    /// Runs it for at most `timeout`; `Err` carries its exit status and output, trimmed.
    /// Past the timeout the command is killed with everything it started (on Unix its own
    /// process group: a hung `apachectl` script leaves no `sleep` or `httpd -k` behind).
    pub async fn run(&self, timeout: Duration) -> Result<String, Error> {
        let Some((program, args)) = self.0.split_first() else {
            return Err(Error::Command("an empty command was configured".into()));
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| Error::Command(format!("cannot run `{self}`: {e}")))?;
        let group = child.id();
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| Error::Command(format!("`{self}` failed: {e}")))?,
            Err(_) => {
                kill_group(group);
                return Err(Error::Command(format!(
                    "`{self}` did not finish within {} s and was stopped; if it needs longer, \
                     raise command_timeout_secs in agent.toml",
                    timeout.as_secs()
                )));
            }
        };
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let text = text.trim().to_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(Error::Command(format!(
                "`{self}` failed ({}): {text}",
                output.status
            )))
        }
    }
}

/// Kills the process group a timed-out command leads (its own pid is the group's id); the
/// leader itself is killed again when its handle drops.
#[cfg(unix)]
fn kill_group(leader: Option<u32>) {
    let group = leader
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// On Windows the handle's drop ends the command itself (`kill_on_drop`).
#[cfg(not(unix))]
fn kill_group(_leader: Option<u32>) {}

/// How the server is made to load the new files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Restart {
    /// A program (`apache2ctl graceful`, `systemctl reload nginx`). Journals written before
    /// services existed hold only this form.
    Command(CommandLine),
    /// A Windows service, restarted through the service control manager and waited for.
    Service { service: String },
    /// Several, one after the other (connector installations sharing a port).
    Services { services: Vec<String> },
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restart::Command(command) => command.fmt(f),
            Restart::Service { service } => write!(f, "restart the service \"{service}\""),
            Restart::Services { services } => {
                write!(f, "restart the services \"{}\"", services.join("\", \""))
            }
        }
    }
}

impl Restart {
    /// Runs it; a command, or each service's stop and start, for at most `timeout`.
    pub async fn run(
        &self,
        services: &Arc<dyn Services>,
        timeout: Duration,
    ) -> Result<String, Error> {
        match self {
            Restart::Command(command) => command.run(timeout).await,
            Restart::Services { services: names } => {
                let mut done = Vec::new();
                for name in names {
                    let one = Restart::Service {
                        service: name.clone(),
                    };
                    done.push(Box::pin(one.run(services, timeout)).await?);
                }
                Ok(done.join("; "))
            }
            Restart::Service { service } => {
                let (services, name) = (services.clone(), service.clone());
                let wait = Wait {
                    overall: timeout,
                    ..Wait::default()
                };
                tokio::task::spawn_blocking(move || {
                    certfleet_winhost::services::restart(&*services, &name, wait)
                })
                .await
                .map_err(|e| {
                    Error::Service(format!("restarting the service \"{service}\" stopped: {e}"))
                })?
                .map(|()| format!("the service \"{service}\" is running"))
                .map_err(|e| Error::Service(e.to_string()))
            }
        }
    }
}

/// Where the live port is checked after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyAt {
    /// `host:port`.
    pub address: String,
    /// Sent as SNI (Apache picks the virtual host by it).
    pub server_name: Option<String>,
    /// An `IP:port` also checked without SNI (HTTP.sys answers such clients from its IP
    /// bindings, which may hold another certificate than the host-name one).
    #[serde(default)]
    pub without_sni: Option<String>,
}

/// What a deployment to one endpoint may touch and what it runs, from the agent's
/// configuration alone. A plan stays inside it, and recovery after a crash takes its
/// commands and paths from here, never from the journal: a journal file is data a local
/// user might have written, and must not choose what runs as the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Every live file a deployment may replace.
    pub files: Vec<PathBuf>,
    /// A folder where a deployment may add and remove files of certfleet's own naming
    /// (`certfleet-*.crt`: a client's trusted certificates), whose names come from the
    /// certificate rather than the configuration.
    pub owned_in: Option<PathBuf>,
    /// Whether a deployment may add certificates to LocalMachine\Root and take out those
    /// it added (a client machine's trust).
    pub root_store: bool,
    /// The port whose HTTP.sys SSL bindings and URL reservation a deployment may change,
    /// and whose certificate it may add to the machine's stores; `None`: no Windows change.
    pub windows_port: Option<u16>,
    /// A configuration test: on failure the files are put back and nothing is restarted.
    pub check: Option<CommandLine>,
    pub restart: Option<Restart>,
    /// Read for new lines when the check or restart fails.
    pub error_log: Option<PathBuf>,
    pub verify: Option<VerifyAt>,
}

impl Reach {
    pub fn allows_file(&self, path: &Path) -> bool {
        self.files.iter().any(|f| f == path)
            || self
                .owned_in
                .as_deref()
                .is_some_and(|dir| owned_name(dir, path))
    }

    /// A Windows change touches only this endpoint's port (a certificate import or trust is
    /// judged by the port's reach as a whole: a driver without Windows changes has none).
    pub fn allows(&self, change: &WindowsChange) -> bool {
        if matches!(
            change,
            WindowsChange::Trust { .. } | WindowsChange::Untrust { .. }
        ) && self.root_store
        {
            return true;
        }
        let Some(port) = self.windows_port else {
            return false;
        };
        match change {
            WindowsChange::Import { .. } | WindowsChange::Trust { .. } => true,
            WindowsChange::Untrust { .. } => false,
            WindowsChange::Reserve { url } => *url == reservation_url(port),
            WindowsChange::Bind { key, .. } => {
                super::windows_changes::parse_key(key).is_ok_and(|k| k.port() == port)
            }
        }
    }

    /// Why `plan` leaves this reach, if it does (a driver's mistake, refused before
    /// anything is staged).
    pub fn overstepped_by(&self, plan: &Plan) -> Option<String> {
        if let Some(file) = plan.files.iter().find(|f| !self.allows_file(&f.path)) {
            return Some(format!("it would write {}", file.path.display()));
        }
        if let Some(path) = plan.removes.iter().find(|p| !self.allows_file(p)) {
            return Some(format!("it would remove {}", path.display()));
        }
        let windows = &plan.windows;
        windows
            .iter()
            .find(|c| !self.allows(c))
            .map(|c| format!("it would make the Windows change {c:?}"))
    }
}

/// `certfleet-<hex>.crt` directly inside `dir`: a file certfleet named itself.
fn owned_name(dir: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    path.parent() == Some(dir)
        && name
            .strip_prefix("certfleet-")
            .and_then(|rest| rest.strip_suffix(".crt"))
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What proves a change worked when no port serves it: a client machine's trust, judged
/// after its store changed. `Ok` says what was proved; `Err` why the change is undone.
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// What is checked, for the progress line.
    fn describe(&self) -> String;
    fn run(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// The URL a Sage 300 port is reserved under for HTTP.sys.
pub fn reservation_url(port: u16) -> String {
    format!("https://+:{port}/")
}

/// Everything a deployment does, in order: write `files`, take out `removes`, make the
/// `windows` changes, run the reach's check, its restart, then check that its `verify`
/// address serves the new certificate and that the `probe` passes.
#[derive(Debug)]
pub struct Plan {
    pub files: Vec<FileWrite>,
    /// Files taken out (a copy is kept, so a rollback puts them back), after the writes.
    pub removes: Vec<PathBuf>,
    /// Windows configuration changes, made after the files and before the check.
    pub windows: Vec<WindowsChange>,
    /// The commands and the address, with every file and change the endpoint may have.
    pub reach: Reach,
    /// The leaf the endpoint served before, when known: a rollback is verified against it.
    pub old_sha256: Option<String>,
    /// On Windows, the accounts besides SYSTEM and Administrators that may read the private
    /// files (an explicit, protected ACL); `None` keeps what the folder gives.
    pub private_readers: Option<Vec<String>>,
    /// Checked after the restart instead of (or besides) the live port; a failure rolls back.
    pub probe: Option<Box<dyn Probe>>,
}

#[cfg(test)]
mod tests {
    use certfleet_winhost::fake::Behaviour;

    use super::*;

    const T: Duration = Duration::from_secs(120);

    #[tokio::test]
    async fn a_service_restart_goes_through_the_service_control_manager() {
        let (host, _, scm) = certfleet_winhost::Host::fake();
        scm.install(
            "eSync Apache Web Server",
            "LocalSystem",
            "httpd.exe",
            Behaviour::Normal { pending_polls: 1 },
        );
        let restart = Restart::Service {
            service: "eSync Apache Web Server".into(),
        };
        restart.run(&host.services, T).await.unwrap();
        assert_eq!(
            scm.requests("eSync Apache Web Server"),
            (1, 0),
            "stopped: started only"
        );
        restart.run(&host.services, T).await.unwrap();
        assert_eq!(scm.requests("eSync Apache Web Server"), (2, 1));
        let missing = Restart::Service {
            service: "Apache2.4".into(),
        };
        let err = missing.run(&host.services, T).await.unwrap_err();
        assert!(matches!(err, Error::Service(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("1060") && err.contains("Apache2.4"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_command_past_its_timeout_is_stopped_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        // A restart script that hangs in a child of its own, as `apachectl` waiting on a
        // stuck `httpd -k graceful` does.
        let hung = CommandLine(vec![
            "sh".into(),
            "-c".into(),
            format!("sleep 300 & echo $! > {}; wait", pid_file.display()),
        ]);
        let started = std::time::Instant::now();
        let err = hung.run(Duration::from_secs(1)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = err.to_string();
        assert!(
            err.contains("did not finish within 1 s") && err.contains("command_timeout_secs"),
            "{err}"
        );
        let child = std::fs::read_to_string(&pid_file).unwrap();
        let child = child.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        use certfleet_e2e::swarm::running;
        while running(child) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!running(child), "the command's child {child} still runs");

        let quick = CommandLine(vec!["sh".into(), "-c".into(), "echo done".into()]);
        assert_eq!(quick.run(Duration::from_secs(5)).await.unwrap(), "done");
    }

    #[test]
    fn journals_written_before_services_existed_still_read() {
        let old: Restart = serde_json::from_str(r#"["apache2ctl","graceful"]"#).unwrap();
        assert_eq!(
            old,
            Restart::Command(CommandLine(vec!["apache2ctl".into(), "graceful".into()]))
        );
        let new = Restart::Service {
            service: "eSync Apache Web Server".into(),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Restart>(&text).unwrap(), new);
    }
}
