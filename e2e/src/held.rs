//! The fault matrix's common scene (RELIABILITY.md): one console, one Apache endpoint with
//! its agent, a renewal uploaded and rolled out, and the agent's deploy held at a step by
//! `CERTFLEET_PAUSE_AT` — so a test can kill something at that exact step.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::apache::Apache;
use crate::api::Api;
use crate::disk::SmallDisk;
use crate::netns::Netns;
use crate::pki::{ServerCert, TestCa};
use crate::{Agent, Console, free_port, wait_for, wait_logged};

/// The endpoint's name.
pub const NAME: &str = "esync.example.test";

pub struct HeldDeploy {
    pub agent: Agent,
    pub agent_dir: PathBuf,
    pub apache: Apache,
    /// Where Apache serves TLS.
    pub address: SocketAddr,
    pub api: Api,
    pub console: Console,
    pub ca: TestCa,
    /// What Apache serves at the start (20 days left).
    pub old: ServerCert,
    /// The renewal rolled out (365 days).
    pub new: ServerCert,
    pub rollout: i64,
    /// The uploaded renewal the rollout deploys.
    pub renewal: i64,
    /// Dropped after the processes, before the folder.
    pub agent_disk: Option<SmallDisk>,
    pub console_disk: Option<SmallDisk>,
    /// The link between the agent's side and the console's, when the scene has one.
    pub netns: Option<Netns>,
    pub temp: tempfile::TempDir,
}

/// How a scene differs from the plain one.
#[derive(Default)]
pub struct Setup {
    /// Where the agent holds its deploy (`<step>` or `<step>:<secs>`, as
    /// `CERTFLEET_PAUSE_AT` takes it); the scene returns once it is held there.
    pub pause_at: Option<String>,
    /// Added to the rollout's request (`{"start_at": …}`, say).
    pub rollout: Option<serde_json::Value>,
    /// Apache's restart command in the agent's configuration, instead of a graceful one.
    pub restart: Option<Vec<String>>,
    /// Lines put first in the agent's configuration (`command_timeout_secs = 3`).
    pub agent_settings: String,
    /// The agent's data folder on a disk of this many bytes, which the test can fill.
    pub agent_disk: Option<u64>,
    /// The console's data folder (its database) on a disk of this many bytes.
    pub console_disk: Option<u64>,
    /// Fills the agent's disk after the renewal is uploaded, before the rollout starts.
    pub agent_disk_full: bool,
    /// The agent and its Apache in a network namespace, reaching the console over a link
    /// the test can cut; the console's heartbeat is 1 s, so an agent is offline after 3.
    pub netns: bool,
    /// With `netns`: the link cut before the rollout is created, and the console past
    /// noticing (it has let the silent connection go).
    pub cut_before_rollout: bool,
}

/// The console's heartbeat in a scene with a link: short, so a cut shows within seconds.
pub const LINKED_HEARTBEAT_SECS: u64 = 1;

/// What the console logs when it lets a silent agent's connection go.
pub const LET_GO: &str = "no word from the agent";

impl HeldDeploy {
    /// Everything started, the rollout created, and the agent's deploy at `pause_at`
    /// (`<step>` or `<step>:<secs>`, as `CERTFLEET_PAUSE_AT` takes it).
    pub fn start(pause_at: &str) -> Result<HeldDeploy> {
        Self::with(Setup {
            pause_at: Some(pause_at.to_owned()),
            ..Setup::default()
        })
    }

    /// Everything started and the rollout created with `options` added to its request
    /// (`{"start_at": …}`, say), the agent deploying without a hold: nothing has run yet
    /// when it returns.
    pub fn scheduled(options: serde_json::Value) -> Result<HeldDeploy> {
        Self::with(Setup {
            rollout: Some(options),
            ..Setup::default()
        })
    }

    /// The scene as `setup` describes it.
    pub fn with(setup: Setup) -> Result<HeldDeploy> {
        let pause_at = setup.pause_at.as_deref();
        let options = setup.rollout.unwrap_or_else(|| json!({}));
        let temp = tempfile::tempdir()?;
        let ca = TestCa::new("Fault CA");
        let old = ca.server(&[NAME], 20);
        let console_disk = setup
            .console_disk
            .map(|bytes| SmallDisk::mount(&temp.path().join("console/data"), bytes))
            .transpose()?;
        let netns = setup.netns.then(Netns::create).transpose()?;
        let console_dir = temp.path().join("console");
        let console = match &netns {
            Some(netns) => Console::start_on_with_env(
                &console_dir,
                "127.0.0.1:0".parse()?,
                SocketAddr::from((netns.host_ip, 0)),
                &[
                    ("CERTFLEET_NAMES", &format!("[\"{}\"]", netns.host_ip)),
                    (
                        "CERTFLEET_HEARTBEAT_SECS",
                        &LINKED_HEARTBEAT_SECS.to_string(),
                    ),
                ],
            )?,
            None => Console::start(&console_dir)?,
        };
        let api = Api::admin(&console)?;
        let apache_dir = temp.path().join("apache");
        let apache = match &netns {
            Some(netns) => Apache::start_in(netns, &apache_dir, free_port()?, NAME, &old, &ca.pem)?,
            None => Apache::start(&apache_dir, free_port()?, NAME, &old, &ca.pem)?,
        };
        let address = SocketAddr::from((apache.ip, apache.port));
        let agent_dir = temp.path().join("agent");
        let agent_disk = setup
            .agent_disk
            .map(|bytes| SmallDisk::mount(&agent_dir, bytes))
            .transpose()?;
        let config = format!(
            "{}\n{}",
            setup.agent_settings,
            apache.agent_config(setup.restart)
        );
        let env = pause_at
            .map(|at| vec![("CERTFLEET_PAUSE_AT", at)])
            .unwrap_or_default();
        let agent = match &netns {
            Some(netns) => Agent::start_in(netns, &console, &agent_dir, &config, &env)?,
            None => Agent::start_with(&console, &agent_dir, &config, &env)?,
        };
        wait_for("the endpoint", Duration::from_secs(30), || {
            let hosts = api.get("/api/v1/hosts").ok()?.body;
            (hosts.as_array()?.len() == 1).then_some(())
        })?;
        let new = ca.server(&[NAME], 365);
        let renewal = api.upload_renewal(&ca, &new)?;
        if let (true, Some(disk)) = (setup.agent_disk_full, &agent_disk) {
            disk.fill()?;
        }
        if let (true, Some(link)) = (setup.cut_before_rollout, &netns) {
            link.cut()?;
            wait_logged("the console to let the connection go", LET_GO, 20, || {
                console.log_text()
            })?;
        }
        let mut request = json!({ "renewal_id": renewal });
        if let (Some(request), Some(options)) = (request.as_object_mut(), options.as_object()) {
            request.extend(options.clone());
        }
        let created = api.post("/api/v1/rollouts", request)?;
        anyhow::ensure!(created.status == 201, "the rollout: {}", created.body);
        let rollout = created.body["id"].as_i64().unwrap_or_default();
        // Across a cut link the deploy cannot have begun.
        if let Some(pause_at) = pause_at.filter(|_| !setup.cut_before_rollout) {
            let step = pause_at.split(':').next().unwrap_or_default();
            let paused = format!("deploy paused at {step}");
            wait_logged(&paused, &paused, 30, || agent.log_text())?;
        }
        Ok(HeldDeploy {
            agent,
            agent_dir,
            apache,
            address,
            api,
            console,
            ca,
            old,
            new,
            rollout,
            renewal,
            agent_disk,
            console_disk,
            netns,
            temp,
        })
    }

    /// Waits for the rollout to end (succeeded or failed); on a timeout the error carries
    /// the console's and the agent's logs.
    pub fn outcome(&self, secs: u64) -> Result<serde_json::Value> {
        self.api
            .wait_for_rollout(self.rollout, &["succeeded", "failed"], secs)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}\nconsole:\n{}\nagent:\n{}",
                    self.console.log_text(),
                    self.agent.log_text()
                )
            })
    }

    /// Checks that the rollout ended as a fault must not change: succeeded, its target
    /// verified, the renewal served, and the agent's deploy held at `step` once — the job
    /// was not sent again.
    pub fn ends_verified_once(&self, done: &serde_json::Value, step: &str) -> Result<()> {
        anyhow::ensure!(
            done["state"] == "succeeded" && done["targets"][0]["state"] == "verified",
            "{done}\nconsole:\n{}",
            self.console.log_text()
        );
        anyhow::ensure!(
            self.served()? == self.new.sha256,
            "the renewal is not served"
        );
        let log = self.agent.log_text();
        let held = log.matches(&format!("deploy paused at {step}")).count();
        anyhow::ensure!(held == 1, "deployed {held} times:\n{log}");
        Ok(())
    }

    /// Whether the console counts the agent online (heard from within three heartbeats).
    pub fn agent_online(&self) -> Option<bool> {
        let hosts = self.api.get("/api/v1/hosts").ok()?.body;
        hosts.as_array()?.first()?["online"].as_bool()
    }

    /// The SHA-256 of the leaf the endpoint serves now (a TLS handshake trusting the test CA).
    pub fn served(&self) -> Result<String> {
        crate::api::served_sha256(self.address, NAME, &self.ca.pem)
    }

    /// Waits until the endpoint serves `cert`.
    pub fn wait_served(&self, what: &str, cert: &ServerCert, secs: u64) -> Result<()> {
        wait_for(what, Duration::from_secs(secs), || {
            (self.served().ok()? == cert.sha256).then_some(())
        })
    }
}
