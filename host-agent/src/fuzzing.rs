//! The entry points of the agent's fuzz targets (`fuzz/`), shared with the tests that replay
//! their committed corpora: the Apache configuration reader and the Sage 300 connector's
//! `exe.config` editor, the two parsers of files the agent finds on a host.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::inventory::apache;
use crate::inventory::config_files::{self, ConfigFiles};
use crate::sage300::{ConnectorConfig, ServiceUri};

/// A folder of configuration files held in memory: what the Apache target reads instead of
/// the disk (writing each input as files cost more than parsing it).
struct InMemory(BTreeMap<PathBuf, Vec<u8>>);

/// `path` with `.` and `..` folded away, as the disk's canonical name would be.
fn folded(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl ConfigFiles for InMemory {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        let bytes = self
            .0
            .get(&folded(path))
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))?;
        if bytes.len() as u64 > config_files::MAX_FILE_BYTES {
            return Err(config_files::too_large());
        }
        String::from_utf8(bytes.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    fn files_in(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = folded(dir);
        self.0
            .keys()
            .filter(|p| p.parent() == Some(dir.as_path()))
            .cloned()
            .collect()
    }

    fn is_dir(&self, path: &Path) -> bool {
        let path = folded(path);
        self.0.keys().any(|p| p.starts_with(&path) && *p != path)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(&folded(path))
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        folded(path)
    }
}

/// An Apache configuration: the input, split at NUL bytes, is `conf/httpd.conf` and then
/// `conf/extra/1.conf`, `2.conf`, … (so `Include`, wildcards, `Define` across files and
/// include loops are all reachable), read with `/fuzz` as its ServerRoot.
pub fn apache_config(data: &[u8]) {
    let root = Path::new("/fuzz");
    let main = root.join("conf/httpd.conf");
    let mut parts = data.split(|&b| b == 0);
    let mut files = BTreeMap::new();
    files.insert(main.clone(), parts.next().unwrap_or_default().to_vec());
    for (n, part) in parts.take(8).enumerate() {
        files.insert(
            root.join(format!("conf/extra/{}.conf", n + 1)),
            part.to_vec(),
        );
    }
    match apache::parse_in(&InMemory(files), &main, Some(root)) {
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
        assert!(replay("connector_config", super::connector_config) > 0);
    }
}
