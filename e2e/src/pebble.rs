//! A real ACME CA for the tests: Debian's pebble on loopback, with its own HTTPS certificate
//! from a test CA, resolving names through pebble-challtestsrv's DNS (every A query answers
//! 127.0.0.1; TXT records set through its management API for DNS-01). Validation is real:
//! pebble fetches HTTP-01 answers from `http_port` and looks DNS-01 records up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::free_port;
use crate::pki::TestCa;

pub struct Pebble {
    pebble: Child,
    challtestsrv: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The test CA that issued pebble's own HTTPS certificate (PEM file).
    pub ca_file: PathBuf,
    pub ca_pem: String,
    pub management: u16,
    /// challtestsrv's management API (plain HTTP), for DNS-01 records.
    pub dns_management: String,
}

impl Pebble {
    pub fn available() -> bool {
        Path::new("/usr/bin/pebble").exists() && Path::new("/usr/bin/pebble-challtestsrv").exists()
    }

    /// Starts challtestsrv and pebble; HTTP-01 answers are fetched from `http_port`.
    pub fn start(dir: &Path, http_port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (dns, dns_mgmt, listen, management, tls) = (
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
        );
        let log = |name: &str| -> Result<std::fs::File> {
            Ok(std::fs::File::create(dir.join(format!("{name}.log")))?)
        };
        let challtestsrv = Command::new("/usr/bin/pebble-challtestsrv")
            .args([
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
            ])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{dns_mgmt}")])
            .stdout(Stdio::null())
            .stderr(log("challtestsrv")?)
            .spawn()
            .context("cannot start pebble-challtestsrv: install pebble (scripts/tools.sh does)")?;
        let ca = TestCa::new("Pebble HTTPS test CA");
        let own = ca.server(&["localhost", "127.0.0.1"], 30);
        let ca_file = dir.join("pebble-https-ca.pem");
        std::fs::write(&ca_file, &ca.pem)?;
        std::fs::write(dir.join("pebble.crt"), &own.cert_pem)?;
        std::fs::write(dir.join("pebble.key"), &own.key_pem)?;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": dir.join("pebble.crt"),
                "privateKey": dir.join("pebble.key"),
                "httpPort": http_port,
                "tlsPort": tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        std::fs::write(dir.join("pebble.json"), serde_json::to_vec_pretty(&config)?)?;
        let pebble = Command::new("/usr/bin/pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random waits before validating; no nonces refused on purpose.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble")?)
            .stderr(log("pebble-err")?)
            .spawn()
            .context("cannot start pebble: install pebble (scripts/tools.sh does)")?;
        let mut this = Pebble {
            pebble,
            challtestsrv,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            ca_file,
            ca_pem: ca.pem.clone(),
            management,
            dns_management: format!("http://127.0.0.1:{dns_mgmt}"),
        };
        for port in [listen, dns_mgmt] {
            let mut up = false;
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                if let Ok(Some(status)) = this.pebble.try_wait() {
                    bail!("pebble exited at start ({status}); see {}", dir.display());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !up {
                this.stop();
                bail!("pebble did not start listening; see {}", dir.display());
            }
        }
        Ok(this)
    }

    /// The root pebble issues under in this run (it makes a new one at every start).
    pub fn root_pem(&self) -> Result<String> {
        let api = crate::api::Api::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], self.management)),
            &self.ca_pem,
        )?;
        let reply = api.get("/roots/0")?;
        if reply.status != 200 || !reply.text.contains("BEGIN CERTIFICATE") {
            bail!("pebble's root: {} {}", reply.status, reply.text);
        }
        Ok(reply.text)
    }

    /// A DNS hook for `[acme] dns_hook`: a Python script that sets and clears TXT records in
    /// challtestsrv (`HOOK present NAME VALUE`, `HOOK cleanup NAME VALUE`).
    pub fn dns_hook(&self, dir: &Path) -> Result<Vec<String>> {
        let script = dir.join("dns-hook.py");
        std::fs::write(
            &script,
            r#"import json, sys, urllib.request
base, verb, name, value = sys.argv[1:5]
path, body = ("/set-txt", {"host": name + ".", "value": value}) if verb == "present" \
    else ("/clear-txt", {"host": name + "."})
urllib.request.urlopen(urllib.request.Request(base + path, data=json.dumps(body).encode(),
                       method="POST"), timeout=10).read()
with open(sys.argv[0] + ".calls", "a") as log:
    log.write(f"{verb} {name}\n")
"#,
        )?;
        Ok(vec![
            "/usr/bin/python3".into(),
            script.display().to_string(),
            self.dns_management.clone(),
        ])
    }

    pub fn stop(&mut self) {
        for child in [&mut self.pebble, &mut self.challtestsrv] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
