//! `Sage300IntegrationService.exe.config`: where the connector reads the address it listens
//! on (`<appSettings><add key="ServiceUri" value="https://FQDN:4207" /></appSettings>`).
//! Read with a real XML parser; changed by replacing the bytes of that one value and
//! nothing else, so comments, the BOM, line endings, the encoding and every other key stay
//! as they were. A file this cannot parse is refused, never rewritten.

use std::ops::Range;
use std::path::{Path, PathBuf};

use quick_xml::XmlVersion;
use quick_xml::events::Event;

use super::ServiceUri;

const KEY: &str = "ServiceUri";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the connector's configuration is not UTF-8 (a UTF-16 file?); certfleet edits only \
         UTF-8 files: save it as UTF-8 in a text editor, or set ServiceUri by hand"
    )]
    NotUtf8,
    #[error(
        "the connector's configuration is not well-formed XML ({detail}, at byte {at}): the \
         connector cannot read it either; restore it from a backup and run the scan again"
    )]
    NotXml { at: u64, detail: String },
    #[error(
        "the connector's configuration has no <add key=\"ServiceUri\" value=\"...\"/> under \
         <configuration><appSettings>: is this the Sage 300 Connector's .exe.config?"
    )]
    NoServiceUri,
    #[error(
        "the connector's configuration has ServiceUri {count} times; the connector reads one: \
         remove the extra ones by hand"
    )]
    Repeated { count: usize },
    #[error("ServiceUri {value:?} is not an http:// or https:// address with a host: {why}")]
    BadUri { value: String, why: String },
}

/// The file as read, with where its ServiceUri value sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    bytes: Vec<u8>,
    /// The attribute value's bytes, between its quotes.
    value: Range<usize>,
    uri: ServiceUri,
}

impl ConnectorConfig {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(bytes)
    }

    pub fn parse(bytes: Vec<u8>) -> Result<Self, ConfigError> {
        let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
        if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
            return Err(ConfigError::NotUtf8);
        }
        std::str::from_utf8(body).map_err(|_| ConfigError::NotUtf8)?;
        let offset = bytes.len() - body.len();
        let found = find_service_uri(body)?;
        let value = found.start + offset..found.end + offset;
        let text = String::from_utf8_lossy(&bytes[value.clone()]);
        let unescaped = quick_xml::escape::unescape(&text)
            .map_err(|e| ConfigError::BadUri {
                value: text.to_string(),
                why: e.to_string(),
            })?
            .into_owned();
        let uri = ServiceUri::parse(&unescaped).map_err(|why| ConfigError::BadUri {
            value: unescaped.clone(),
            why,
        })?;
        Ok(ConnectorConfig { bytes, value, uri })
    }

    pub fn service_uri(&self) -> &ServiceUri {
        &self.uri
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the ServiceUri value sits in `bytes`, between its quotes.
    pub fn value_span(&self) -> Range<usize> {
        self.value.clone()
    }

    /// The file with ServiceUri set to `uri`; every other byte as it was.
    pub fn with_service_uri(&self, uri: &ServiceUri) -> Vec<u8> {
        let escaped = quick_xml::escape::escape(uri.to_string()).into_owned();
        let mut out = Vec::with_capacity(self.bytes.len() + escaped.len());
        out.extend_from_slice(&self.bytes[..self.value.start]);
        out.extend_from_slice(escaped.as_bytes());
        out.extend_from_slice(&self.bytes[self.value.end..]);
        out
    }
}

/// The byte range of the one ServiceUri value under configuration/appSettings.
fn find_service_uri(body: &[u8]) -> Result<Range<usize>, ConfigError> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut found = Vec::new();
    let bad = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| ConfigError::NotXml {
        at: reader.error_position(),
        detail: e.to_string(),
    };
    loop {
        let event = reader.read_event().map_err(|e| bad(&reader, &e))?;
        let (start, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = start.name().as_ref().to_owned();
        let in_settings = path.len() == 2 && path[0] == "configuration" && path[1] == "appSettings";
        if in_settings && name == "add" {
            let mut key = None;
            let mut value = None;
            for attribute in start.attributes().with_checks(true) {
                let attribute = attribute.map_err(|e| bad(&reader, &e))?;
                match attribute.key.as_ref() {
                    "key" => {
                        key = Some(
                            attribute
                                .normalized_value(XmlVersion::Implicit1_0)
                                .map_err(|e| bad(&reader, &e))?
                                .into_owned(),
                        )
                    }
                    "value" => value = Some(span_in(body, attribute.value.as_bytes())),
                    _ => {}
                }
            }
            if key.as_deref() == Some(KEY) {
                found.push(value.flatten().ok_or(ConfigError::NoServiceUri)?);
            }
        }
        if !empty {
            path.push(name);
        }
    }
    if !path.is_empty() {
        return Err(ConfigError::NotXml {
            at: body.len() as u64,
            detail: format!(
                "<{}> is never closed",
                path.last().map(String::as_str).unwrap_or_default()
            ),
        });
    }
    match found.len() {
        0 => Err(ConfigError::NoServiceUri),
        1 => Ok(found.remove(0)),
        count => Err(ConfigError::Repeated { count }),
    }
}

/// Where `part` (borrowed from `whole` by the parser) sits in `whole`.
fn span_in(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start + part.len();
    (end <= whole.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sage300::Scheme;

    /// As the connector's installer writes it, with the CRLF line endings and the BOM a
    /// Windows editor keeps.
    fn installed(value: &str) -> Vec<u8> {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <!-- Sage 300 \
             Connector: do not edit below -->\r\n  <startup>\r\n    <supportedRuntime \
             version=\"v4.0\" sku=\".NETFramework,Version=v4.7.2\" />\r\n  </startup>\r\n  \
             <appSettings>\r\n    <add key=\"LogLevel\" value=\"Info\"/>\r\n    <add \
             key=\"ServiceUri\"   value='{value}' />\r\n    <add key=\"Company\" \
             value=\"SAMLTD &amp; Co\" />\r\n  </appSettings>\r\n</configuration>\r\n"
        );
        let mut bytes = UTF8_BOM.to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }

    #[test]
    fn a_service_uri_names_a_real_host_and_port_or_is_refused() {
        let ok = |text: &str| ServiceUri::parse(text).map(|u| (u.host, u.port));
        assert_eq!(
            ok("https://Sage01.MyDomain.local:4207"),
            Ok(("sage01.mydomain.local".into(), 4207))
        );
        assert_eq!(ok("http://10.0.0.5"), Ok(("10.0.0.5".into(), 80)));
        assert_eq!(ok("https://[FE80::1]:4207/x"), Ok(("fe80::1".into(), 4207)));
        assert_eq!(ok("http://+:4207/"), Ok(("+".into(), 4207)));
        // Found by fuzzing: hyper alone read a host `o[fe80` on the default port.
        for bad in [
            "https://o[fe80::1]:420(7/pathHx=1",
            "https://[fe80::1:4207",
            "https://[not-v6]:4207",
            "https://sage01:0",
            "https://sage01:99999",
            "https://user@sage01:4207",
            "https://sage..local:4207",
        ] {
            assert!(ServiceUri::parse(bad).is_err(), "{bad} was taken");
        }
        // What is taken prints back to itself.
        for text in ["https://sage01:4207", "https://[fe80::1]:4207/p?q=1"] {
            let uri = ServiceUri::parse(text).unwrap();
            assert_eq!(ServiceUri::parse(&uri.to_string()), Ok(uri));
        }
    }

    #[test]
    fn reads_the_service_uri_and_changes_only_its_bytes() {
        let before = installed("http://sage01:4207");
        let config = ConnectorConfig::parse(before.clone()).unwrap();
        let uri = config.service_uri();
        assert_eq!(uri.scheme, Scheme::Http);
        assert_eq!(uri.host, "sage01");
        assert_eq!(uri.port, 4207);
        let https = ServiceUri::https("sage01.example.com", 4207);
        let after = config.with_service_uri(&https);
        let expected = installed("https://sage01.example.com:4207");
        assert_eq!(after, expected, "byte for byte outside the value");
        assert!(after.starts_with(UTF8_BOM));
        let again = ConnectorConfig::parse(after).unwrap();
        assert_eq!(again.service_uri(), &https);
    }

    #[test]
    fn a_port_left_out_is_the_scheme_default_and_a_custom_port_is_kept() {
        let config = ConnectorConfig::parse(installed("https://sage01.example.com/")).unwrap();
        assert_eq!(config.service_uri().port, 443);
        let config = ConnectorConfig::parse(installed("https://SAGE01.example.com:4300")).unwrap();
        assert_eq!(config.service_uri().port, 4300);
        assert_eq!(config.service_uri().host, "sage01.example.com");
    }

    #[test]
    fn files_it_cannot_parse_are_refused() {
        let cut = installed("http://sage01:4207");
        let truncated = cut[..cut.len() - 40].to_vec();
        assert!(matches!(
            ConnectorConfig::parse(truncated),
            Err(ConfigError::NotXml { .. })
        ));
        let mismatched = b"<configuration><appSettings><add key=\"ServiceUri\" value=\"http://a:1\"/></appsettings></configuration>".to_vec();
        assert!(matches!(
            ConnectorConfig::parse(mismatched),
            Err(ConfigError::NotXml { .. })
        ));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<configuration/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(matches!(
            ConnectorConfig::parse(utf16),
            Err(ConfigError::NotUtf8)
        ));
        let none = b"<configuration><appSettings><add key=\"Other\" value=\"x\"/></appSettings></configuration>".to_vec();
        assert!(matches!(
            ConnectorConfig::parse(none),
            Err(ConfigError::NoServiceUri)
        ));
        let elsewhere = b"<configuration><other><add key=\"ServiceUri\" value=\"http://a:1\"/></other></configuration>".to_vec();
        assert!(matches!(
            ConnectorConfig::parse(elsewhere),
            Err(ConfigError::NoServiceUri)
        ));
        let twice = b"<configuration><appSettings><add key=\"ServiceUri\" value=\"http://a:1\"/><add key=\"ServiceUri\" value=\"http://a:2\"/></appSettings></configuration>".to_vec();
        assert!(matches!(
            ConnectorConfig::parse(twice),
            Err(ConfigError::Repeated { count: 2 })
        ));
        let ftp = installed("ftp://sage01:21");
        assert!(matches!(
            ConnectorConfig::parse(ftp),
            Err(ConfigError::BadUri { .. })
        ));
    }

    #[test]
    fn an_escaped_value_is_read_unescaped() {
        let bytes = b"<configuration><appSettings><add key=\"ServiceUri\" value=\"https://sage01:4207/a&amp;b\"/></appSettings></configuration>".to_vec();
        let config = ConnectorConfig::parse(bytes).unwrap();
        assert_eq!(config.service_uri().path, "/a&b");
    }
}
