//! The entry points of the agent's fuzz targets (`fuzz/`), shared with the tests that replay
//! their committed corpora: the Apache configuration reader and the Sage 300 connector's
//! `exe.config` editor, the two parsers of files the agent finds on a host.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::inventory::apache;
use crate::sage300::{ConnectorConfig, ServiceUri};

/// The folder the Apache target writes its files into: one per process, reused.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("certfleet-fuzz-apache-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf/extra")).expect("the fuzz scratch folder");
        dir
    })
}

/// An Apache configuration: the input, split at NUL bytes, is `conf/httpd.conf` and then
/// `conf/extra/1.conf`, `2.conf`, … (so `Include`, wildcards, `Define` across files and
/// include loops are all reachable), read with the scratch folder as its ServerRoot.
pub fn apache_config(data: &[u8]) {
    let root = scratch();
    let extra = root.join("conf/extra");
    for entry in std::fs::read_dir(&extra).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    let mut parts = data.split(|&b| b == 0);
    let main = root.join("conf/httpd.conf");
    std::fs::write(&main, parts.next().unwrap_or_default()).expect("httpd.conf");
    for (n, part) in parts.take(8).enumerate() {
        std::fs::write(extra.join(format!("{}.conf", n + 1)), part).expect("an included file");
    }
    match apache::parse(&main, Some(root)) {
        Ok(config) => {
            assert!(
                config.files.first() == Some(&main),
                "the main file is read first"
            );
            for host in &config.tls_hosts {
                assert!(host.ssl_engine || host.certificate_file.is_some());
            }
        }
        // Only a main file that is not UTF-8 text is refused; everything else is a problem
        // reported beside what could be read.
        Err(error) => assert!(
            std::str::from_utf8(data.split(|&b| b == 0).next().unwrap_or_default()).is_err(),
            "{error}"
        ),
    }
}

/// A connector `exe.config`: what parses is edited to another address and reads back with
/// that address, every byte outside the value as it was.
pub fn connector_config(data: &[u8]) {
    let Ok(config) = ConnectorConfig::parse(data.to_vec()) else {
        return;
    };
    let uri = config.service_uri();
    let printed = uri.to_string();
    assert_eq!(ServiceUri::parse(&printed).as_ref(), Ok(uri), "{printed}");
    let moved = uri.as_https("sage-300.fuzz.example");
    let edited = config.with_service_uri(&moved);
    let again = ConnectorConfig::parse(edited.clone()).expect("an edited configuration parses");
    assert_eq!(again.service_uri(), &moved);
    // Only the value changed: the bytes before it and after it are the file's own.
    let span = config.value_span();
    assert_eq!(edited[..span.start], data[..span.start]);
    assert_eq!(
        edited[edited.len() - (data.len() - span.end)..],
        data[span.end..]
    );
}

#[cfg(test)]
mod tests {
    use certfleet_fuzz_corpus::replay;

    #[test]
    fn the_committed_corpora_replay() {
        assert!(replay("apache_config", super::apache_config) > 0);
        let _ = std::fs::remove_dir_all(super::scratch());
        assert!(replay("connector_config", super::connector_config) > 0);
    }
}
