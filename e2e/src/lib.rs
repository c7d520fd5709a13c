//! The harness for whole-system tests: real `certfleet-server` and `certfleet-agent`
//! processes, a private Debian `apache2`, all on loopback, each in its own temp folder.
//! The binaries are the ones cargo built next to the test executable.

// Handles to processes and sockets; nothing useful to print.
#![allow(missing_debug_implementations)]

pub mod apache;
pub mod api;
pub mod browser;
pub mod disk;
pub mod held;
pub mod listener;
pub mod netns;
pub mod pebble;
pub mod pki;
pub mod smtp;
pub mod swarm;
pub mod wine;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// A binary built by this workspace (`target/<profile>/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p certfleet-server -p certfleet-agent` (or the whole \
         workspace's tests) first",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `log` (read again each time) contains `text`; the error carries the log.
pub fn wait_logged(what: &str, text: &str, secs: u64, log: impl Fn() -> String) -> Result<()> {
    wait_for(what, Duration::from_secs(secs), || {
        log().contains(text).then_some(())
    })
    .map_err(|e| anyhow!("{e}\n{}", log()))
}

/// An agent configuration watching certkit's fixture certificate and key as a PEM endpoint
/// named `name`, rescanned every minute.
pub fn pem_fixture_config(name: &str) -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/certkit/tests/fixtures");
    format!(
        "rescan_secs = 60\n[[pem]]\nname = \"{name}\"\ncertificate = \"{}\"\nkey = \"{}\"\n",
        fixtures.join("leaf.pem").display(),
        fixtures.join("key-pkcs8.pem").display()
    )
}

/// A running console.
pub struct Console {
    child: Option<Child>,
    pub dir: PathBuf,
    pub api: SocketAddr,
    pub gateway: SocketAddr,
    /// The one-time password printed at the first start.
    pub first_password: Option<String>,
    pub log: PathBuf,
    /// Extra environment (configuration as `CERTFLEET_…` variables), kept across restarts.
    env: Vec<(String, String)>,
}

impl Console {
    /// Starts a console on free loopback ports with its data in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_on(dir, "127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?)
    }

    /// Starts a console with configuration given as environment variables.
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> Result<Self> {
        Self::start_on_with_env(dir, "127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?, env)
    }

    pub fn start_on(dir: &Path, api: SocketAddr, gateway: SocketAddr) -> Result<Self> {
        Self::launch(dir, api, gateway, Vec::new())
    }

    /// `start_on` with configuration given as environment variables.
    pub fn start_on_with_env(
        dir: &Path,
        api: SocketAddr,
        gateway: SocketAddr,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::launch(dir, api, gateway, env)
    }

    fn launch(
        dir: &Path,
        api: SocketAddr,
        gateway: SocketAddr,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = dir.join(format!("console-{}.log", std::process::id()));
        let mut child = Command::new(bin("certfleet-server"))
            .args(["serve", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--api-listen",
                &api.to_string(),
                "--gateway-listen",
                &gateway.to_string(),
            ])
            .env("CERTFLEET_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            )
            .spawn()
            .context("cannot start certfleet-server")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first_password = None;
        let mut api_addr = None;
        let mut gateway_addr = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while api_addr.is_none() || gateway_addr.is_none() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(remaining) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!("the console did not start:\n{log}");
                }
            };
            if let Some(rest) = line.split("one-time password ").nth(1) {
                first_password = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("certfleet-server: web UI and API on https://") {
                api_addr = Some(rest.trim().parse()?);
            }
            if let Some(rest) = line.strip_prefix("certfleet-server: agent gateway on https://") {
                gateway_addr = Some(rest.split_whitespace().next().unwrap_or("").parse()?);
            }
        }
        Ok(Console {
            child: Some(child),
            dir: dir.to_path_buf(),
            api: api_addr.ok_or_else(|| anyhow!("no API address"))?,
            gateway: gateway_addr.ok_or_else(|| anyhow!("no gateway address"))?,
            first_password,
            log,
            env,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn gateway_url(&self) -> String {
        format!("https://{}", self.gateway)
    }

    /// `certfleet-server token create`, as an admin would run it.
    pub fn create_token(&self) -> Result<String> {
        let out = Command::new(bin("certfleet-server"))
            .args(["token", "create", "--data-dir"])
            .arg(self.dir.join("data"))
            .args(["--gateway-listen", &self.gateway.to_string()])
            .output()?;
        if !out.status.success() {
            bail!(
                "token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    pub fn ca_pem(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.dir.join("data/agent-ca.crt"))?)
    }

    /// Stops the console (SIGKILL: a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data and ports.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let again = Console::launch(&self.dir, self.api, self.gateway, self.env.clone())?;
        *self = again;
        Ok(())
    }

    /// Starts it again on the same data and ports with `env` added to its configuration.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) -> Result<()> {
        self.env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.restart()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An enrolled agent process.
pub struct Agent {
    child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Agent {
    /// `certfleet-agent enroll`; returns the agent's data folder on success, the error text
    /// on failure.
    pub fn enroll(
        console_url: &str,
        token: &str,
        dir: &Path,
    ) -> std::result::Result<PathBuf, String> {
        // Beside the data folder, as an admin would save it; never on the command line.
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let token_file = dir.with_extension("token");
        std::fs::write(&token_file, token).map_err(|e| e.to_string())?;
        let out = Command::new(bin("certfleet-agent"))
            .args(["enroll", "--server", console_url, "--token-file"])
            .arg(&token_file)
            .arg("--data-dir")
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(dir.to_path_buf())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Enrols with a fresh token and starts `run` with `config` as agent.toml.
    pub fn start(console: &Console, dir: &Path, config: &str) -> Result<Agent> {
        Agent::start_binary(&bin("certfleet-agent"), console, dir, config)
    }

    /// `start` with the agent binary at `exe` running (another profile's build).
    pub fn start_binary(exe: &Path, console: &Console, dir: &Path, config: &str) -> Result<Agent> {
        Agent::enrolled(console, dir, config)?;
        Agent::run_binary(exe, dir)
    }

    /// `start` with `env` added to the agent's environment.
    pub fn start_with(
        console: &Console,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Agent> {
        Agent::enrolled(console, dir, config)?;
        Agent::run_with(dir, env)
    }

    /// `start_with`, the agent running inside `netns` (enrolled from this side of it).
    pub fn start_in(
        netns: &netns::Netns,
        console: &Console,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Agent> {
        Agent::enrolled(console, dir, config)?;
        Agent::spawn(netns.command(bin("certfleet-agent")), dir, env)
    }

    /// Enrols `dir` with a fresh token and writes `config` as its agent.toml.
    fn enrolled(console: &Console, dir: &Path, config: &str) -> Result<()> {
        let token = console.create_token()?;
        Agent::enroll(&console.gateway_url(), &token, dir).map_err(|e| anyhow!(e))?;
        std::fs::write(dir.join("agent.toml"), config)?;
        Ok(())
    }

    pub fn run(dir: &Path) -> Result<Agent> {
        Agent::run_binary(&bin("certfleet-agent"), dir)
    }

    /// `run` of the agent binary at `exe` (another profile's build).
    pub fn run_binary(exe: &Path, dir: &Path) -> Result<Agent> {
        Agent::run_binary_with(exe, dir, &[])
    }

    /// `run` with `env` added to the agent's environment (a fault to inject, say).
    pub fn run_with(dir: &Path, env: &[(&str, &str)]) -> Result<Agent> {
        Agent::run_binary_with(&bin("certfleet-agent"), dir, env)
    }

    fn run_binary_with(exe: &Path, dir: &Path, env: &[(&str, &str)]) -> Result<Agent> {
        Agent::spawn(Command::new(exe), dir, env)
    }

    /// `run` with `command` as the agent binary (it, or a wrapper that execs it).
    fn spawn(mut command: Command, dir: &Path, env: &[(&str, &str)]) -> Result<Agent> {
        std::fs::create_dir_all(dir)?;
        // Beside the data folder, so a full data folder (the disk-full cells) keeps its log.
        let log = dir.with_extension("log");
        let child = command
            .args(["run", "--data-dir"])
            .arg(dir)
            .env("CERTFLEET_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot start certfleet-agent")?;
        Ok(Agent {
            child: Some(child),
            dir: dir.to_path_buf(),
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn id(&self) -> Result<String> {
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(self.dir.join("agent.json"))?)?;
        Ok(state["agent_id"].as_str().unwrap_or_default().to_owned())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port (bound then released; fine for tests on one machine).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
