//! `certfleet-server init`: the files a console installed as a service needs — the commented
//! configuration (the example shipped with the source, with this console's data folder and
//! names filled in) and a systemd unit that runs it under its own account. Files that exist
//! are left alone, so running it again never undoes an admin's edits.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The commented configuration every key is documented in.
const EXAMPLE: &str = include_str!("../certfleet-server.example.toml");

/// The example configuration with `data_dir` and (when given) `names` set.
pub fn config_text(data_dir: &Path, names: &[String]) -> Result<String> {
    let data_dir = toml_string(&data_dir.display().to_string())?;
    let mut out = String::with_capacity(EXAMPLE.len());
    for line in EXAMPLE.lines() {
        if line.starts_with("data_dir = ") {
            out.push_str(&format!("data_dir = {data_dir}"));
        } else if line.starts_with("names = ") && !names.is_empty() {
            let quoted: Result<Vec<String>> = names.iter().map(|n| toml_string(n)).collect();
            out.push_str(&format!("names = [{}]", quoted?.join(", ")));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(out)
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> Result<String> {
    if text.chars().any(char::is_control) {
        bail!("{text:?} holds a control character: give a plain path or name");
    }
    Ok(toml::Value::String(text.to_owned()).to_string())
}

/// A systemd unit running `exe serve --config CONFIG` as the `certfleet` account, with only
/// `data_dir` writable.
pub fn unit_text(exe: &Path, config: &Path, data_dir: &Path) -> String {
    format!(
        "[Unit]
Description=certfleet console: certificate expiry, renewal and rollout for a fleet
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=\"{exe}\" serve --config \"{config}\"
User=certfleet
Group=certfleet
Restart=on-failure
RestartSec=5
# The key-encryption key can come from the environment instead of the data folder:
# EnvironmentFile=/etc/certfleet/kek.env   (CERTFLEET_KEK=..., owner-only)
UMask=0077
# One open file per connected agent, and then some.
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=\"{data_dir}\"

[Install]
WantedBy=multi-user.target
",
        exe = exe.display(),
        config = config.display(),
        data_dir = data_dir.display(),
    )
}

/// Writes `text` to `path` unless a file is there; true when it wrote.
pub fn write_new(path: &Path, text: &str) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    #[test]
    fn the_written_configuration_loads_with_the_folder_and_names_given() {
        let temp = tempfile::tempdir().expect("temp");
        let path = temp.path().join("etc/certfleet-server.toml");
        let text = config_text(
            Path::new("/var/lib/certfleet \"data\""),
            &["console.corp.example".into(), "10.0.0.5".into()],
        )
        .expect("text");
        assert!(write_new(&path, &text).expect("write"));
        let config =
            Config::load(Some(&path), std::iter::empty(), &Overrides::default()).expect("loads");
        assert_eq!(
            config.data_dir,
            Path::new("/var/lib/certfleet \"data\""),
            "quoted as TOML"
        );
        assert_eq!(config.names, ["console.corp.example", "10.0.0.5"]);
        assert!(
            text.contains("# Where the database"),
            "the comments are kept"
        );

        // Run again after an admin's edit: the file is theirs now.
        std::fs::write(&path, "heartbeat_secs = 45\n").expect("edit");
        assert!(!write_new(&path, &text).expect("second run"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "heartbeat_secs = 45\n"
        );
        assert!(config_text(Path::new("/x\ny"), &[]).is_err());
    }

    #[test]
    fn the_unit_runs_the_console_on_its_configuration_with_only_its_folder_writable() {
        let unit = unit_text(
            Path::new("/usr/local/bin/certfleet-server"),
            Path::new("/etc/certfleet/certfleet-server.toml"),
            Path::new("/var/lib/certfleet"),
        );
        assert!(unit.contains(
            "ExecStart=\"/usr/local/bin/certfleet-server\" serve --config \"/etc/certfleet/certfleet-server.toml\""
        ));
        assert!(unit.contains("ReadWritePaths=\"/var/lib/certfleet\""));
        assert!(unit.contains("User=certfleet"));
        assert!(unit.contains("WantedBy=multi-user.target"));
    }
}
