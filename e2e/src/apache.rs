//! A private Debian `apache2` instance on a high loopback port, configured from its own
//! folder (no Debian scaffolding), serving one TLS virtual host.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::netns::Netns;
use crate::pki::ServerCert;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

pub struct Apache {
    child: Option<Child>,
    pub dir: PathBuf,
    /// Where it listens: loopback, or the namespace's address on its link.
    pub ip: IpAddr,
    pub port: u16,
    pub server_name: String,
    /// The network namespace it runs in, if not this one.
    netns: Option<String>,
}

impl Apache {
    pub fn available() -> bool {
        Path::new(APACHE).exists()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("httpd.conf")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ssl/server.crt")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("ssl/server.key")
    }

    /// Writes the configuration and `cert`, and starts httpd in the foreground.
    pub fn start(
        dir: &Path,
        port: u16,
        server_name: &str,
        cert: &ServerCert,
        chain_pem: &str,
    ) -> Result<Self> {
        Self::start_with_http(dir, port, None, server_name, cert, chain_pem)
    }

    /// `start`, also serving plain HTTP for `server_name` on `http_port` when given (the
    /// port 80 an eSync Apache holds).
    pub fn start_with_http(
        dir: &Path,
        port: u16,
        http_port: Option<u16>,
        server_name: &str,
        cert: &ServerCert,
        chain_pem: &str,
    ) -> Result<Self> {
        Apache::new(dir, Ipv4Addr::LOCALHOST.into(), port, server_name, None)
            .configure(http_port, cert, chain_pem)?
            .launch()
    }

    /// `start` inside `netns`, listening on its end of the link (what the host sees there).
    pub fn start_in(
        netns: &Netns,
        dir: &Path,
        port: u16,
        server_name: &str,
        cert: &ServerCert,
        chain_pem: &str,
    ) -> Result<Self> {
        let ip = netns.inner_ip.into();
        Apache::new(dir, ip, port, server_name, Some(netns.name.clone()))
            .configure(None, cert, chain_pem)?
            .launch()
    }

    /// Not yet configured or started.
    fn new(dir: &Path, ip: IpAddr, port: u16, server_name: &str, netns: Option<String>) -> Self {
        Apache {
            child: None,
            dir: dir.to_path_buf(),
            ip,
            port,
            server_name: server_name.to_owned(),
            netns,
        }
    }

    /// Writes the configuration and the certificate.
    fn configure(self, http_port: Option<u16>, cert: &ServerCert, chain_pem: &str) -> Result<Self> {
        if !Self::available() {
            bail!("{APACHE} is missing: install Debian's apache2 (.ci/run does)");
        }
        let (dir, ip, port, server_name) = (&self.dir, self.ip, self.port, &self.server_name);
        std::fs::create_dir_all(dir.join("ssl"))?;
        self.write_certificate(cert, chain_pem)?;
        let d = dir.display();
        let http = http_port.map_or(String::new(), |http| {
            format!(
                "Listen 127.0.0.1:{http}\n<VirtualHost 127.0.0.1:{http}>\n    ServerName \
                 {server_name}\n</VirtualHost>\n"
            )
        });
        let config = format!(
            r#"# A private httpd for certfleet's tests.
ServerRoot "{d}"
PidFile "{d}/httpd.pid"
Mutex file:{d}
DefaultRuntimeDir "{d}"
ErrorLog "{d}/error.log"
LogLevel warn
ServerName localhost
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule socache_shmcb_module {MODULES}/mod_socache_shmcb.so
LoadModule ssl_module {MODULES}/mod_ssl.so
Listen {ip}:{port}
<VirtualHost {ip}:{port}>
    ServerName {server_name}
    SSLEngine on
    SSLCertificateFile "ssl/server.crt"
    SSLCertificateKeyFile "ssl/server.key"
    SSLCertificateChainFile "ssl/chain.crt"
</VirtualHost>
{http}"#
        );
        std::fs::write(self.config_path(), config)?;
        Ok(self)
    }

    pub fn write_certificate(&self, cert: &ServerCert, chain_pem: &str) -> Result<()> {
        std::fs::write(self.cert_path(), &cert.cert_pem)?;
        std::fs::write(self.key_path(), &cert.key_pem)?;
        std::fs::write(self.dir.join("ssl/chain.crt"), chain_pem)?;
        Ok(())
    }

    /// `apache2`, in this instance's namespace.
    fn command(&self) -> Command {
        match &self.netns {
            Some(name) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", name, APACHE]);
                command
            }
            None => Command::new(APACHE),
        }
    }

    fn launch(mut self) -> Result<Self> {
        let child = self
            .command()
            .arg("-f")
            .arg(self.config_path())
            .args(["-DFOREGROUND", "-k", "start"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr.log"))?)
            .spawn()
            .context("cannot start apache2")?;
        self.child = Some(child);
        let at = (self.ip, self.port);
        crate::wait_for("apache2 to listen", Duration::from_secs(15), || {
            std::net::TcpStream::connect(at).ok()
        })
        .with_context(|| {
            format!(
                "apache2 did not start: {}{}",
                std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default(),
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            )
        })?;
        Ok(self)
    }

    /// An agent configuration watching this httpd, with the config test and error log of
    /// this instance, restarting it with `restart` (default: a graceful restart of it).
    pub fn agent_config(&self, restart: Option<Vec<String>>) -> String {
        let conf = self.config_path().display().to_string();
        let restart = restart.unwrap_or_else(|| {
            vec![
                APACHE.into(),
                "-f".into(),
                conf.clone(),
                "-k".into(),
                "graceful".into(),
            ]
        });
        let quoted = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", items.join(", "))
        };
        format!(
            "rescan_secs = 2\ngroups = [\"esync\"]\n[[apache]]\nconfig = {conf:?}\nconfig_test = {}\nrestart = {}\nerror_log = {:?}\n",
            quoted(&[APACHE.into(), "-f".into(), conf.clone(), "-t".into()]),
            quoted(&restart),
            self.dir.join("error.log").display().to_string()
        )
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self
                .command()
                .arg("-f")
                .arg(self.config_path())
                .args(["-k", "stop"])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.stop();
    }
}
