//! The block of httpd.conf that certfleet owns, between two marker comments: `Listen`,
//! loading mod_ssl, and one `<VirtualHost>` per managed site naming the files certfleet
//! writes; and, once an ACME HTTP-01 challenge needed it, the `Alias` that serves the
//! challenge folder at `/.well-known/acme-challenge/` on every site. Everything outside the
//! markers is left byte for byte as it was.

use std::path::Path;

use crate::config::ManagedSite;

pub const BEGIN: &str = "# BEGIN certfleet managed block: changed by certfleet-agent, do not edit";
pub const END: &str = "# END certfleet managed block";

/// The files of one managed site, under `dir`.
pub fn site_files(
    dir: &Path,
    site: &ManagedSite,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let base = format!("{}-{}", site.server_name, site.port);
    (
        dir.join(format!("{base}.crt")),
        dir.join(format!("{base}.key")),
        dir.join(format!("{base}.chain.crt")),
    )
}

fn quoted(path: &Path) -> String {
    // Apache takes forward slashes on Windows too, and backslashes would need escaping.
    format!("\"{}\"", path.display().to_string().replace('\\', "/"))
}

/// The `Alias` line that serves `dir` to ACME CAs; present in a configuration, the alias is.
pub fn challenge_alias(dir: &Path) -> String {
    let path = quoted(dir);
    format!(
        "    Alias /.well-known/acme-challenge/ {}/\"",
        &path[..path.len() - 1]
    )
}

/// The block for `sites`, with the challenge alias for `challenge_dir` when given.
/// `listening` are the ports the rest of the file already listens on (a second `Listen` for
/// a port stops Apache from starting).
pub fn render(
    sites: &[ManagedSite],
    dir: &Path,
    ssl_module: &Path,
    listening: &[u16],
    challenge_dir: Option<&Path>,
) -> String {
    let mut out = vec![BEGIN.to_owned()];
    let mut ports: Vec<u16> = sites.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports.iter().filter(|p| !listening.contains(p)) {
        out.push(format!("Listen {port}"));
    }
    if !sites.is_empty() {
        out.push("<IfModule !ssl_module>".into());
        out.push(format!("    LoadModule ssl_module {}", quoted(ssl_module)));
        out.push("</IfModule>".into());
    }
    if let Some(challenges) = challenge_dir {
        // In the main server's configuration, so every virtual host has it (mod_alias
        // merges the main server's aliases into each); a site that redirects to https is
        // followed there by the CA and answered by the same alias.
        out.push("<IfModule alias_module>".into());
        out.push(challenge_alias(challenges));
        out.push(format!("    <Directory {}>", quoted(challenges)));
        out.push("        Require all granted".into());
        out.push("        Options None".into());
        out.push("    </Directory>".into());
        out.push("</IfModule>".into());
    }
    for site in sites {
        let (cert, key, chain) = site_files(dir, site);
        out.push(format!("<VirtualHost *:{}>", site.port));
        out.push(format!("    ServerName {}", site.server_name));
        out.push("    SSLEngine on".into());
        out.push(format!("    SSLCertificateFile {}", quoted(&cert)));
        out.push(format!("    SSLCertificateKeyFile {}", quoted(&key)));
        out.push(format!("    SSLCertificateChainFile {}", quoted(&chain)));
        for line in &site.extra {
            out.push(format!("    {line}"));
        }
        out.push("</VirtualHost>".into());
    }
    out.push(END.to_owned());
    out.join("\n") + "\n"
}

/// `text` with its managed block replaced by `block` (or `block` appended when there is
/// none yet). A BEGIN without an END, or two blocks, is refused: someone edited the file
/// by hand and certfleet must not guess.
pub fn replace(text: &str, block: &str) -> Result<String, super::Error> {
    let begin = text
        .match_indices(BEGIN)
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    let end = text.match_indices(END).map(|(i, _)| i).collect::<Vec<_>>();
    match (begin.as_slice(), end.as_slice()) {
        ([], []) => {
            let mut out = text.to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(block);
            Ok(out)
        }
        ([b], [e]) if b < e => {
            let mut after = e + END.len();
            if text[after..].starts_with("\r\n") {
                after += 2;
            } else if text[after..].starts_with('\n') {
                after += 1;
            }
            Ok(format!("{}{}{}", &text[..*b], block, &text[after..]))
        }
        _ => Err(super::Error::Endpoint(format!(
            "the certfleet block markers in the Apache configuration are damaged (a \"{BEGIN}\" \
             line needs exactly one \"{END}\" after it): fix or remove them by hand"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, port: u16) -> ManagedSite {
        ManagedSite {
            server_name: name.into(),
            port,
            extra: vec!["ProxyPass / http://127.0.0.1:8080/".into()],
        }
    }

    #[test]
    fn the_block_is_added_once_then_replaced_leaving_the_rest_as_it_was() {
        let original = "ServerRoot \"C:/eSync/Apache24\"\r\nListen 80\r\n# a comment\r\n";
        let dir = Path::new("C:\\eSync\\Apache24\\conf\\certfleet");
        let block = render(
            &[site("esync.example.com", 443)],
            dir,
            Path::new("modules/mod_ssl.so"),
            &[80],
            None,
        );
        assert!(block.contains("Listen 443\n"));
        assert!(block.contains(
            "SSLCertificateFile \"C:/eSync/Apache24/conf/certfleet/esync.example.com-443.crt\""
        ));
        assert!(block.contains("    ProxyPass / http://127.0.0.1:8080/"));
        let once = replace(original, &block).expect("add");
        assert!(once.starts_with(original), "the rest is untouched");
        let again = render(
            &[
                site("esync.example.com", 443),
                site("files.example.com", 8443),
            ],
            dir,
            Path::new("modules/mod_ssl.so"),
            &[80],
            None,
        );
        let twice = replace(&once, &again).expect("replace");
        assert!(twice.starts_with(original));
        assert_eq!(twice.matches(BEGIN).count(), 1);
        assert!(twice.contains("ServerName files.example.com"));
        assert_eq!(replace(&twice, &again).expect("same"), twice, "idempotent");
        // A port the file already listens on gets no second Listen.
        assert!(
            !render(
                &[site("a.example.com", 80)],
                dir,
                Path::new("m"),
                &[80],
                None
            )
            .contains("Listen 80")
        );
    }

    #[test]
    fn damaged_markers_are_refused() {
        let block = render(&[], Path::new("/x"), Path::new("m"), &[], None);
        let only_begin = format!("Listen 80\n{BEGIN}\nListen 443\n");
        assert!(matches!(
            replace(&only_begin, &block),
            Err(crate::deploy::Error::Endpoint(m)) if m.contains("damaged")
        ));
        let reversed = format!("{END}\n{BEGIN}\n");
        assert!(replace(&reversed, &block).is_err());
    }

    #[test]
    fn the_challenge_alias_serves_only_its_folder_and_needs_no_site() {
        let challenges = Path::new("C:\\eSync\\Apache24\\conf\\certfleet\\acme-challenge");
        let block = render(
            &[],
            Path::new("/x"),
            Path::new("m"),
            &[80],
            Some(challenges),
        );
        assert!(
            block.contains(
                "    Alias /.well-known/acme-challenge/ \"C:/eSync/Apache24/conf/certfleet/acme-challenge/\"\n"
            ),
            "{block}"
        );
        assert!(block.contains(&challenge_alias(challenges)));
        assert!(block.contains("<Directory \"C:/eSync/Apache24/conf/certfleet/acme-challenge\">"));
        // No site: no mod_ssl, no Listen.
        assert!(
            !block.contains("ssl_module") && !block.contains("Listen"),
            "{block}"
        );
    }
}
