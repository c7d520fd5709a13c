//! Reads an Apache httpd configuration the way httpd does, far enough to find its TLS
//! virtual hosts: `Include`/`IncludeOptional` (with wildcards), `Define` and `${VAR}`,
//! `ServerRoot`, `Listen`, and per `<VirtualHost>` the ServerName and the
//! `SSLCertificateFile` / `SSLCertificateKeyFile` / `SSLCertificateChainFile` (inherited from
//! the server config when the vhost does not set them). Works for Debian's
//! `/etc/apache2/apache2.conf` and the eSync / Apache Lounge `Apache24\conf\httpd.conf`.
//! Conditional sections (`<IfModule>`, `<IfDefine>`) are read as if true.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::config_files::{ConfigFiles, Disk};

/// One `<VirtualHost>` that serves TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualHost {
    pub file: PathBuf,
    pub line: usize,
    /// As written: `*:443`, `_default_:443`, `127.0.0.1:8443`, `[::1]:443`.
    pub addresses: Vec<String>,
    pub server_name: Option<String>,
    pub ssl_engine: bool,
    pub certificate_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub chain_file: Option<PathBuf>,
}

impl VirtualHost {
    /// The endpoint's name: ServerName, else the address probed.
    pub fn display_name(&self) -> String {
        self.server_name
            .clone()
            .unwrap_or_else(|| self.probe_address().unwrap_or_default())
    }

    /// Stable within the host; the console names deploy targets by it.
    pub fn endpoint_key(&self) -> String {
        format!(
            "apache:{}:{}",
            self.addresses.first().cloned().unwrap_or_default(),
            self.display_name()
        )
    }

    /// `host:port` to probe from this machine: wildcards become loopback.
    pub fn probe_address(&self) -> Option<String> {
        let address = self.addresses.first()?;
        let (host, port) = match address.rsplit_once(':') {
            Some((h, p))
                if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() =>
            {
                (h.to_owned(), p.to_owned())
            }
            _ => (address.clone(), "443".to_owned()),
        };
        let host = match host.as_str() {
            "*" | "_default_" | "0.0.0.0" => "127.0.0.1".to_owned(),
            "[::]" => "[::1]".to_owned(),
            _ => host,
        };
        Some(format!("{host}:{port}"))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApacheConfig {
    pub server_root: PathBuf,
    pub listens: Vec<String>,
    /// Virtual hosts with `SSLEngine on` or a certificate file.
    pub tls_hosts: Vec<VirtualHost>,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    /// Includes that matched nothing or could not be read (IncludeOptional is silent).
    pub problems: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApacheError {
    #[error("cannot read the Apache configuration {path}: {detail}")]
    Unreadable { path: String, detail: String },
}

#[derive(Default, Clone)]
struct SslSettings {
    engine: Option<bool>,
    certificate: Option<String>,
    key: Option<String>,
    chain: Option<String>,
}

struct Parser<'a> {
    source: &'a dyn ConfigFiles,
    /// Files and bytes read so far, against `MAX_FILES_READ` and `MAX_TOTAL_BYTES`.
    files_read: usize,
    bytes_read: usize,
    over_budget: bool,
    server_root: PathBuf,
    defines: HashMap<String, String>,
    global: SslSettings,
    current: Option<(VirtualHost, SslSettings)>,
    /// Virtual hosts with their own settings, resolved against the globals at the end.
    hosts: Vec<(VirtualHost, SslSettings)>,
    listens: Vec<String>,
    files: Vec<PathBuf>,
    problems: Vec<String>,
    visiting: HashSet<PathBuf>,
}

const MAX_INCLUDE_DEPTH: usize = 16;
/// Files read in one parse, counting a file included twice twice. A real configuration reads
/// a few hundred at most; without a bound, files that each include a wildcard matching the
/// others are read once per order they can nest in (the fuzzer's nine files took seconds,
/// a dozen would take hours).
const MAX_FILES_READ: usize = 4096;
/// Text read in one parse, for the same reason.
const MAX_TOTAL_BYTES: usize = 64 << 20;
/// A line `${VAR}` substitutions grow past this is skipped: `Define A ${A}${A}`, a few
/// times over, would otherwise double it each time.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Parses `main` and everything it includes. `server_root` overrides the `ServerRoot`
/// default (the folder above `conf/`, or the main file's folder).
pub fn parse(main: &Path, server_root: Option<&Path>) -> Result<ApacheConfig, ApacheError> {
    parse_in(&Disk, main, server_root)
}

/// `parse`, reading files from `source`.
pub fn parse_in(
    source: &dyn ConfigFiles,
    main: &Path,
    server_root: Option<&Path>,
) -> Result<ApacheConfig, ApacheError> {
    let default_root = server_root.map(Path::to_path_buf).unwrap_or_else(|| {
        let dir = main.parent().unwrap_or(Path::new("."));
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("conf") => dir.parent().unwrap_or(dir).to_path_buf(),
            _ => dir.to_path_buf(),
        }
    });
    let mut parser = Parser {
        source,
        files_read: 0,
        bytes_read: 0,
        over_budget: false,
        server_root: default_root,
        defines: HashMap::new(),
        global: SslSettings::default(),
        current: None,
        hosts: Vec::new(),
        listens: Vec::new(),
        files: Vec::new(),
        problems: Vec::new(),
        visiting: HashSet::new(),
    };
    let text = source.read(main).map_err(|e| ApacheError::Unreadable {
        path: main.display().to_string(),
        detail: e.to_string(),
    })?;
    parser.file(main, &text, 0);
    Ok(parser.finish())
}

impl Parser<'_> {
    fn file(&mut self, path: &Path, text: &str, depth: usize) {
        let canonical = self.source.canonical(path);
        if !self.visiting.insert(canonical.clone()) {
            self.problems
                .push(format!("{} includes itself; skipped", path.display()));
            return;
        }
        self.files.push(path.to_path_buf());
        for (line_no, line) in logical_lines(text) {
            self.directive(path, line_no, &line, depth);
        }
        self.visiting.remove(&canonical);
    }

    /// `text` with `${VAR}` replaced (by a Define, else the environment); `None` when that
    /// grows it past `MAX_LINE_BYTES`.
    fn substitute(&self, text: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if out.len() > MAX_LINE_BYTES {
                return None;
            }
            out.push_str(&rest[..start]);
            match rest[start + 2..].find('}') {
                Some(end) => {
                    let name = &rest[start + 2..start + 2 + end];
                    match self
                        .defines
                        .get(name)
                        .cloned()
                        .or_else(|| std::env::var(name).ok())
                    {
                        Some(value) => out.push_str(&value),
                        None => out.push_str(&rest[start..start + 3 + end]),
                    }
                    rest = &rest[start + 3 + end..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        (out.len() <= MAX_LINE_BYTES).then_some(out)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if is_absolute(path) {
            path.to_path_buf()
        } else {
            self.server_root.join(path)
        }
    }

    fn directive(&mut self, file: &Path, line: usize, text: &str, depth: usize) {
        let Some(text) = self.substitute(text) else {
            self.problems.push(format!(
                "line {line} of {} grows past {} MiB with its ${{...}} substitutions; skipped",
                file.display(),
                MAX_LINE_BYTES >> 20
            ));
            return;
        };
        let words = split_words(&text);
        let Some(first) = words.first() else { return };
        let name = first.to_ascii_lowercase();
        let args = &words[1..];
        match name.as_str() {
            "<virtualhost" => {
                let addresses = args
                    .iter()
                    .map(|a| a.trim_end_matches('>').to_owned())
                    .filter(|a| !a.is_empty())
                    .collect();
                self.current = Some((
                    VirtualHost {
                        file: file.to_path_buf(),
                        line,
                        addresses,
                        ..VirtualHost::default()
                    },
                    SslSettings::default(),
                ));
            }
            "</virtualhost>" => {
                if let Some(host) = self.current.take() {
                    self.hosts.push(host);
                }
            }
            "define" => {
                if let Some(key) = args.first() {
                    self.defines
                        .insert(key.clone(), args.get(1).cloned().unwrap_or_default());
                }
            }
            "serverroot" => {
                if let Some(root) = args.first() {
                    self.server_root = PathBuf::from(root);
                }
            }
            "listen" => {
                if let Some(address) = args.first() {
                    self.listens.push(address.clone());
                }
            }
            "include" | "includeoptional" => {
                for pattern in args {
                    self.include(pattern, name == "includeoptional", depth);
                }
            }
            "servername" => {
                if let (Some((host, _)), Some(value)) = (self.current.as_mut(), args.first()) {
                    // `ServerName host:port` names the port too; the name is what matters.
                    let name = match value.rsplit_once(':') {
                        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
                        _ => value.as_str(),
                    };
                    host.server_name = Some(name.to_owned());
                }
            }
            "sslengine" => {
                let on = args.first().is_some_and(|v| v.eq_ignore_ascii_case("on"));
                self.ssl_mut().engine = Some(on);
            }
            "sslcertificatefile" => self.ssl_mut().certificate = args.first().cloned(),
            "sslcertificatekeyfile" => self.ssl_mut().key = args.first().cloned(),
            "sslcertificatechainfile" => self.ssl_mut().chain = args.first().cloned(),
            _ => {}
        }
    }

    fn ssl_mut(&mut self) -> &mut SslSettings {
        match self.current.as_mut() {
            Some((_, settings)) => settings,
            None => &mut self.global,
        }
    }

    fn include(&mut self, pattern: &str, optional: bool, depth: usize) {
        if depth >= MAX_INCLUDE_DEPTH {
            self.problems.push(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH}; {pattern} skipped"
            ));
            return;
        }
        let resolved = self.resolve(pattern);
        let paths = expand(self.source, &resolved);
        if paths.is_empty() && !optional {
            self.problems
                .push(format!("Include {pattern} matches no file"));
        }
        for path in paths {
            if self.files_read >= MAX_FILES_READ || self.bytes_read > MAX_TOTAL_BYTES {
                if !self.over_budget {
                    self.over_budget = true;
                    self.problems.push(format!(
                        "the includes read more than {MAX_FILES_READ} files or {} MiB (do \
                         included files include each other by a wildcard?); {} and every \
                         include after it skipped",
                        MAX_TOTAL_BYTES >> 20,
                        path.display()
                    ));
                }
                return;
            }
            match self.source.read(&path) {
                Ok(text) => {
                    self.files_read += 1;
                    self.bytes_read += text.len();
                    self.file(&path, &text, depth + 1)
                }
                Err(e) => self
                    .problems
                    .push(format!("cannot read {}: {e}", path.display())),
            }
        }
    }

    fn finish(self) -> ApacheConfig {
        let mut tls_hosts = Vec::new();
        for (mut host, own) in self.hosts.clone() {
            let engine = own.engine.or(self.global.engine).unwrap_or(false);
            let certificate = own.certificate.or_else(|| self.global.certificate.clone());
            if !engine && certificate.is_none() {
                continue;
            }
            host.ssl_engine = engine;
            host.certificate_file = certificate.map(|p| self.resolve(&p));
            host.key_file = own
                .key
                .or_else(|| self.global.key.clone())
                .map(|p| self.resolve(&p));
            host.chain_file = own
                .chain
                .or_else(|| self.global.chain.clone())
                .map(|p| self.resolve(&p));
            tls_hosts.push(host);
        }
        ApacheConfig {
            server_root: self.server_root,
            listens: self.listens,
            tls_hosts,
            files: self.files,
            problems: self.problems,
        }
    }
}

fn is_absolute(path: &Path) -> bool {
    let text = path.to_string_lossy();
    // Windows paths read on any platform: `C:/…`, `C:\…`, `\\server\…`.
    path.is_absolute()
        || text.starts_with('/')
        || text.starts_with("\\\\")
        || (text.len() > 2
            && text.as_bytes()[1] == b':'
            && text.as_bytes()[0].is_ascii_alphabetic())
}

/// Lines with continuations joined and comments dropped, with their first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if pending.is_empty() {
            start = index + 1;
            if line.trim_start().starts_with('#') {
                continue;
            }
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                let trimmed = pending.trim();
                if !trimmed.is_empty() {
                    out.push((start, trimmed.to_owned()));
                }
                pending.clear();
            }
        }
    }
    out
}

/// Splits a directive into words; double quotes group, `>` closing a section stays with
/// its last word.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut had_quote = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                had_quote = true;
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() || had_quote {
                    words.push(std::mem::take(&mut current));
                }
                had_quote = false;
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() || had_quote {
        words.push(current);
    }
    // `<VirtualHost *:443>`: the `>` belongs to the section, not the address.
    if let Some(last) = words.last_mut()
        && last.ends_with('>')
        && words.len() > 1
        && words[0].starts_with('<')
    {
        let trimmed = words
            .last()
            .map(|w| w.trim_end_matches('>').to_owned())
            .unwrap_or_default();
        if let Some(last) = words.last_mut() {
            *last = trimmed;
        }
        if words.last().is_some_and(String::is_empty) {
            words.pop();
        }
    }
    words
}

/// A path, a directory (all its files, sorted), or a wildcard in the last component.
fn expand(source: &dyn ConfigFiles, path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = if name.contains(['*', '?', '[']) {
        let dir = path.parent().unwrap_or(Path::new("."));
        source
            .files_in(dir)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
            })
            .collect()
    } else if source.is_dir(path) {
        source.files_in(path)
    } else if source.is_file(path) {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    };
    files.sort();
    files
}

/// `*` and `?` wildcards (character classes are treated literally). Greedy with one
/// backtrack point, so time stays linear in the name for each star (a recursive matcher took
/// exponential time on `*a*a*a*…b`).
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // The last star seen, and where in the name its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((star_pi, star_ni)) => {
                    pi = star_pi + 1;
                    ni = star_ni + 1;
                    star = Some((star_pi, star_ni + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::config_files::MAX_FILE_BYTES;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn debian_layout_with_sites_enabled_and_inherited_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        let main = write(
            root,
            "apache2.conf",
            "# Debian style\nServerRoot \"ROOT\"\nInclude ports.conf\nIncludeOptional mods-enabled/*.conf\nIncludeOptional sites-enabled/*.conf\n"
                .replace("ROOT", &root.display().to_string())
                .as_str(),
        );
        write(
            root,
            "ports.conf",
            "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n",
        );
        write(
            root,
            "mods-enabled/ssl.conf",
            "SSLCertificateChainFile /etc/ssl/chain.pem\n",
        );
        write(
            root,
            "sites-enabled/default-ssl.conf",
            "<IfModule mod_ssl.c>\n<VirtualHost _default_:443>\n  ServerName esync.example.test:443\n  SSLEngine on\n  SSLCertificateFile /etc/ssl/certs/esync.pem\n  SSLCertificateKeyFile \\\n      /etc/ssl/private/esync.key\n</VirtualHost>\n</IfModule>\n",
        );
        write(
            root,
            "sites-enabled/plain.conf",
            "<VirtualHost *:80>\nServerName www.example.test\n</VirtualHost>\n",
        );
        let config = parse(&main, None).expect("parse");
        assert_eq!(config.listens, vec!["80", "443"]);
        assert_eq!(config.tls_hosts.len(), 1, "{:?}", config.tls_hosts);
        let host = &config.tls_hosts[0];
        assert_eq!(host.server_name.as_deref(), Some("esync.example.test"));
        assert_eq!(
            host.certificate_file,
            Some(PathBuf::from("/etc/ssl/certs/esync.pem"))
        );
        assert_eq!(
            host.key_file,
            Some(PathBuf::from("/etc/ssl/private/esync.key"))
        );
        assert_eq!(host.chain_file, Some(PathBuf::from("/etc/ssl/chain.pem")));
        assert_eq!(host.probe_address().as_deref(), Some("127.0.0.1:443"));
        assert!(config.problems.is_empty(), "{:?}", config.problems);
    }

    #[test]
    fn esync_layout_with_srvroot_define_and_relative_paths() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("Apache24");
        let main = write(
            &root,
            "conf/httpd.conf",
            &format!(
                "Define SRVROOT \"{}\"\nServerRoot \"${{SRVROOT}}\"\nListen 80\nLoadModule ssl_module modules/mod_ssl.so\nInclude conf/extra/httpd-ssl.conf\n",
                root.display()
            ),
        );
        write(
            &root,
            "conf/extra/httpd-ssl.conf",
            "Listen 443\n<VirtualHost *:443>\r\nServerName eSync.Example.COM\r\nSSLEngine on\r\nSSLCertificateFile \"${SRVROOT}/conf/ssl/server.crt\"\r\nSSLCertificateKeyFile \"conf/ssl/server.key\"\r\nSSLCertificateChainFile \"C:/eSync/Apache24/conf/ssl/chain.crt\"\r\n</VirtualHost>\r\n",
        );
        let config = parse(&main, None).expect("parse");
        assert_eq!(config.server_root, root);
        let host = &config.tls_hosts[0];
        assert_eq!(host.server_name.as_deref(), Some("eSync.Example.COM"));
        assert_eq!(
            host.certificate_file,
            Some(root.join("conf/ssl/server.crt"))
        );
        assert_eq!(host.key_file, Some(root.join("conf/ssl/server.key")));
        assert_eq!(
            host.chain_file,
            Some(PathBuf::from("C:/eSync/Apache24/conf/ssl/chain.crt"))
        );
        assert_eq!(config.files.len(), 2);
    }

    #[test]
    fn missing_includes_are_reported_and_loops_do_not_hang() {
        let dir = tempfile::tempdir().expect("dir");
        let main = write(
            dir.path(),
            "httpd.conf",
            "Include missing.conf\nIncludeOptional nothing/*.conf\nInclude httpd.conf\n",
        );
        let config = parse(&main, Some(dir.path())).expect("parse");
        assert!(
            config.problems.iter().any(|p| p.contains("missing.conf")),
            "{:?}",
            config.problems
        );
        assert!(
            config
                .problems
                .iter()
                .any(|p| p.contains("includes itself")),
            "{:?}",
            config.problems
        );
        assert!(
            !config.problems.iter().any(|p| p.contains("nothing")),
            "IncludeOptional is silent"
        );
    }

    #[test]
    fn an_unreadable_main_file_is_an_error_naming_it() {
        let err = parse(Path::new("/nonexistent/httpd.conf"), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/httpd.conf"), "{err}");
    }

    #[test]
    fn probe_addresses() {
        let host = |a: &str| VirtualHost {
            addresses: vec![a.into()],
            ..VirtualHost::default()
        };
        assert_eq!(
            host("10.1.2.3:8443").probe_address().as_deref(),
            Some("10.1.2.3:8443")
        );
        assert_eq!(host("*").probe_address().as_deref(), Some("127.0.0.1:443"));
        assert_eq!(
            host("[::]:443").probe_address().as_deref(),
            Some("[::1]:443")
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "ssl.conf"));
        assert!(!wildcard("*.conf", "ssl.load"));
        assert!(wildcard("site?.conf", "site1.conf"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "axxbyyc"));
        assert!(!wildcard("a*b*c", "axxbyy"));
        assert!(wildcard("*ssl*", "000-ssl-default.conf"));
        assert!(!wildcard("?", ""));
        // Exponential for a recursive matcher; here, one pass per star.
        let name = "a".repeat(200);
        assert!(!wildcard(&format!("{}b", "*a".repeat(30)), &name));
    }

    #[test]
    fn substitutions_that_grow_without_bound_are_skipped_not_followed() {
        let dir = tempfile::tempdir().expect("dir");
        let mut text = String::from("Define A 0123456789abcdef\n");
        for _ in 0..24 {
            text.push_str("Define A ${A}${A}\n");
        }
        text.push_str("Listen 443\n");
        let main = write(dir.path(), "httpd.conf", &text);
        let config = parse(&main, Some(dir.path())).expect("parse");
        assert!(
            config
                .problems
                .iter()
                .any(|p| p.contains("grows past 1 MiB")),
            "{:?}",
            config.problems
        );
        // What follows is still read.
        assert_eq!(config.listens, ["443"]);
    }

    /// Found by fuzzing: files that each include a wildcard matching the others are read
    /// once per order they can nest in — 8! paths for eight. The parse stops at its budget,
    /// says why, and keeps what it read.
    #[test]
    fn includes_that_include_each_other_by_a_wildcard_stop_at_the_budget() {
        let dir = tempfile::tempdir().expect("dir");
        for n in 1..=8 {
            write(
                dir.path(),
                &format!("extra/{n}.conf"),
                "Include extra/*.conf\n",
            );
        }
        let main = write(
            dir.path(),
            "httpd.conf",
            "Listen 443\n<VirtualHost *:443>\nServerName a.example\nSSLEngine on\n\
             SSLCertificateFile a.crt\n</VirtualHost>\nInclude extra/*.conf\n",
        );
        let config = parse(&main, Some(dir.path())).expect("parse");
        assert!(
            config
                .problems
                .iter()
                .any(|p| p.contains("more than 4096 files") && p.contains("include each other")),
            "{:?}",
            config.problems
        );
        assert_eq!(config.tls_hosts.len(), 1);
        assert_eq!(config.listens, ["443"]);
    }

    #[test]
    fn an_include_of_a_file_too_large_to_be_a_configuration_is_refused_unread() {
        let dir = tempfile::tempdir().expect("dir");
        let big = std::fs::File::create(dir.path().join("access.log")).expect("log");
        big.set_len(MAX_FILE_BYTES + 1).expect("size");
        let main = write(dir.path(), "httpd.conf", "Include access.log\nListen 80\n");
        let config = parse(&main, Some(dir.path())).expect("parse");
        assert!(
            config
                .problems
                .iter()
                .any(|p| p.contains("access.log") && p.contains("not an Apache configuration")),
            "{:?}",
            config.problems
        );
        assert_eq!(config.listens, ["80"]);
    }
}
