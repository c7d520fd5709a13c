//! A network that can be cut: a network namespace joined to this one by a veth pair, so a
//! process started inside it (an agent, its Apache) reaches the console only over that link.
//! Taking the host's end down cuts it: packets are dropped, nothing is reset, as when a
//! cable is pulled or a firewall starts dropping. The namespace (and with it the pair) is
//! removed when dropped. Needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN, and `ip`
//! (iproute2), which `.ci/run` installs.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// The benchmarking range (RFC 2544): no real network uses it.
const RANGE: [u8; 2] = [198, 18];

pub struct Netns {
    pub name: String,
    host_end: String,
    /// This side's address on the link (where the console listens).
    pub host_ip: Ipv4Addr,
    /// The namespace's address on the link (where its Apache listens).
    pub inner_ip: Ipv4Addr,
}

impl Netns {
    /// Makes the namespace and the link, both ends up, loopback up inside.
    pub fn create() -> Result<Netns> {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // One /30 per namespace, from the 2^15 in 198.18.0.0/15; tests run in their own
        // processes, so the pid keeps two at once apart.
        let block = ((pid.wrapping_mul(4).wrapping_add(n)) % (1 << 15)) * 4;
        let ip = |last: u32| {
            let host = block + last;
            Ipv4Addr::new(
                RANGE[0],
                RANGE[1] + (host >> 16) as u8,
                (host >> 8) as u8,
                host as u8,
            )
        };
        let netns = Netns {
            name: format!("certfleet-{pid}-{n}"),
            host_end: format!("cfh{pid}{n}"),
            host_ip: ip(1),
            inner_ip: ip(2),
        };
        let inner_end = format!("cfn{pid}{n}");
        ip_command(&["netns", "add", &netns.name]).context(
            "cannot make a network namespace: the network cells need root with CAP_SYS_ADMIN \
             and iproute2",
        )?;
        // From here on, Drop removes what was made.
        let (host, inner) = (
            format!("{}/30", netns.host_ip),
            format!("{}/30", netns.inner_ip),
        );
        let steps: [&[&str]; 5] = [
            &[
                "link",
                "add",
                &netns.host_end,
                "type",
                "veth",
                "peer",
                "name",
                &inner_end,
            ],
            &["link", "set", &inner_end, "netns", &netns.name],
            &["addr", "add", &host, "dev", &netns.host_end],
            &["link", "set", &netns.host_end, "up"],
            &["-n", &netns.name, "addr", "add", &inner, "dev", &inner_end],
        ];
        for step in steps {
            ip_command(step)?;
        }
        ip_command(&["-n", &netns.name, "link", "set", &inner_end, "up"])?;
        ip_command(&["-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// `program` to be run inside the namespace (`ip netns exec`, which execs it: the
    /// child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Cuts the link: nothing passes until [`Netns::restore`].
    pub fn cut(&self) -> Result<()> {
        ip_command(&["link", "set", &self.host_end, "down"])
    }

    pub fn restore(&self) -> Result<()> {
        ip_command(&["link", "set", &self.host_end, "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the pair's inner end, and with it the host's; the
        // second delete is for a pair that never got its end moved in (`create` failed).
        let _ = ip_command(&["netns", "delete", &self.name]);
        let _ = ip_command(&["link", "delete", &self.host_end]);
    }
}

fn ip_command(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip`: install iproute2")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
