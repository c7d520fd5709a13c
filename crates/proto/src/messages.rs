//! The message bodies. Field names are the wire format: renaming one breaks old agents.

use serde::{Deserialize, Serialize};

use crate::frame::{Message, body_of};

/// Declares one direction's message enum with its explicit list of wire names.
macro_rules! messages {
    ($(#[$meta:meta])* $name:ident { $($variant:ident($body:ty) = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($variant($body),)*
        }

        impl $name {
            /// The wire names this side accepts; anything else is refused.
            pub const ACCEPTED: &'static [&'static str] = &[$($wire,)*];
        }

        impl Message for $name {
            fn kind(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $wire,)*
                }
            }

            fn body(&self) -> serde_json::Value {
                match self {
                    $($name::$variant(body) => serde_json::to_value(body).unwrap_or_default(),)*
                }
            }

            fn from_parts(kind: &str, body: serde_json::Value) -> Option<Result<Self, String>> {
                match kind {
                    $($wire => Some(body_of::<$body>(body).map($name::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

messages! {
    /// What an agent may send.
    AgentMessage {
        Hello(Hello) = "hello",
        Inventory(Inventory) = "inventory",
        Heartbeat(Heartbeat) = "heartbeat",
        JobProgress(JobProgress) = "job_progress",
        JobResult(JobResult) = "job_result",
        RenewRequest(RenewRequest) = "renew_request",
    }
}

messages! {
    /// What the console may send.
    ConsoleMessage {
        Welcome(Welcome) = "welcome",
        Job(Job) = "job",
        Ack(Ack) = "ack",
        Error(ErrorBody) = "error",
        Renewed(Renewed) = "renewed",
        TrustList(TrustList) = "trust_list",
    }
}

/// The servers the console says this machine must trust, besides its own `[[trust]]` tables
/// (a client host group attached to a server endpoint). Sent after `welcome` and whenever it
/// changes, whole. The agent checks them; it never installs anything for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustList {
    pub endpoints: Vec<AttachedEndpoint>,
}

/// One server endpoint a client must trust, by the name and port it is reached at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachedEndpoint {
    /// `host:port`.
    pub endpoint: String,
    pub server_name: String,
}

/// First frame after connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub agent_version: String,
    pub protocol: u32,
    pub hostname: String,
    pub fqdn: String,
    pub os: String,
    pub arch: String,
    /// Labels from the agent's config (`sage`, `esync`, `prod`, …).
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Seconds since the agent process started.
    pub uptime_secs: u64,
}

/// A full inventory snapshot. `hash` is the SHA-256 (hex) of the JSON of `snapshot` as the
/// agent serialised it; the console stores it and skips unchanged snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub hash: String,
    pub snapshot: Snapshot,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub endpoints: Vec<Endpoint>,
    /// Every certificate an endpoint names or serves, once each (by SHA-256).
    pub certificates: Vec<CertificateInfo>,
    /// A client machine's checks of the servers it must trust. Left out when empty, so a
    /// server's snapshot (and its hash) reads as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust: Vec<crate::TrustCheck>,
}

/// One place a certificate is used: a virtual host, a set of PEM files, a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Stable within the host, e.g. `apache:/etc/apache2/sites-enabled/sage.conf:443`.
    pub key: String,
    pub kind: EndpointKind,
    /// ServerName, or the name given in the agent's config.
    pub name: String,
    /// Where the live port is probed, `host:port`; `None` for files without a server.
    pub address: Option<String>,
    pub config_path: Option<String>,
    /// SHA-256 (uppercase hex) of the leaf the configuration names.
    pub configured_sha256: Option<String>,
    /// SHA-256 (uppercase hex) of the leaf the live port served when probed.
    pub served_sha256: Option<String>,
    /// Why the configured certificate or the live port could not be read.
    pub errors: Vec<String>,
    pub findings: Vec<Finding>,
}

/// The facts of one certificate, as certkit states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateInfo {
    pub sha256: String,
    pub thumbprint: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub key_algorithm: String,
    pub key_bits: u32,
    pub signature_algorithm: String,
    pub self_signed: bool,
    /// The DER, base64: public material, kept so the console can show and export it.
    pub der_base64: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobProgress {
    pub job_id: String,
    pub step: DeployStep,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    pub job_id: String,
    pub ok: bool,
    pub detail: String,
    /// For a deployment: `committed`, `rolled_back` or `failed` (nothing was changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<DeployOutcome>,
    /// For a `key_request`: the certificate request (PEM) for the key kept on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
}

impl JobResult {
    /// The answer to a job that is neither a deployment nor a key request.
    pub fn answer(job_id: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            ok,
            detail: detail.into(),
            outcome: None,
            csr_pem: None,
        }
    }
}

/// Where a deployment ended on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployOutcome {
    /// The live port serves the new certificate.
    Committed,
    /// Something failed after a live change; the previous files are back.
    RolledBack,
    /// Refused or failed before anything live changed.
    Failed,
}

/// A secret on the wire (a private key): never printed by `Debug`, wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(zeroize::Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// The agent asks for a new client certificate (at two thirds of the old one's life).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub csr_pem: String,
}

/// The console's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    pub agent_id: String,
    pub heartbeat_secs: u64,
    /// A heartbeat this many milliseconds apart instead, when the console is set to beat
    /// faster than once a second (load tests). Sent only then, so agents that predate it
    /// still read the welcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// Unix seconds, so the agent can notice a skewed clock.
    pub server_time: i64,
}

/// Work for the agent; idempotent by `job_id`, which the agent accepts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub job_id: String,
    pub action: JobAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobAction {
    /// Read the configuration again and send a fresh inventory.
    Rescan,
    /// Put a renewed certificate on one endpoint (by its inventory key), verify it on the
    /// live port, or roll back.
    Deploy {
        endpoint: String,
        /// Leaf first, then its issuers.
        chain_pem: String,
        /// Unencrypted PKCS#8; travels only inside the mutually authenticated channel. Absent
        /// when the key was made on this host (`pending_key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_pem: Option<Secret>,
        /// The leaf's SHA-256 (uppercase hex) the port must serve afterwards.
        sha256: String,
        /// The job id of the `key_request` whose key this host kept pending: the key to pair
        /// the chain with, which never left the host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending_key: Option<String>,
    },
    /// Answer an ACME HTTP-01 challenge for one endpoint's name: serve `key_authorization` at
    /// `/.well-known/acme-challenge/<token>` on the agent's challenge listener until
    /// `end_challenge` or ten minutes. The result says whether it is being served.
    ServeChallenge {
        endpoint: String,
        token: String,
        key_authorization: String,
    },
    /// Stop serving a challenge token (validated, or given up).
    EndChallenge { token: String },
    /// Make a new private key for one endpoint, keep it pending on this host and answer with
    /// a certificate request only (`JobResult::csr_pem`). Asked again with the same job id
    /// (the console restarted before it had the certificate), the kept key answers again.
    KeyRequest {
        endpoint: String,
        key_type: KeyType,
        /// The names the certificate will carry (the console decides them; the request
        /// names them so the host can say which certificate a pending key is for).
        names: Vec<String>,
    },
    /// Only the checks a deployment would start with (names, purpose, the port), changing
    /// nothing: the plan's verdict from the host itself. No key travels for it.
    Preflight {
        endpoint: String,
        chain_pem: String,
        sha256: String,
    },
    /// On a client machine: trust one certificate (a server's self-signed certificate, or
    /// the CA that issued it) for one endpoint of its trust list, then check that the
    /// server's new chain is trusted. The agent decides what it accepts; no key travels.
    Trust {
        /// `host:port` of the server, as the client's trust list names it.
        endpoint: String,
        /// The server's new chain, leaf first: what must be trusted afterwards.
        chain_pem: String,
        /// SHA-256 (uppercase hex) of the certificate of `chain_pem` to trust.
        sha256: String,
    },
    /// On a client machine: take out a certificate certfleet itself installed for the
    /// endpoint, once nothing needs it; the endpoint must still be trusted afterwards.
    Untrust { endpoint: String, sha256: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// The id of the frame acknowledged.
    pub of: String,
    /// For an inventory: the hash the console now holds.
    pub hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The frame this answers, when its id could be read.
    pub of: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

words! {
    /// What an endpoint is: the place a certificate is used, and the driver that renews it.
    EndpointKind {
        /// An Apache httpd virtual host (eSync).
        Apache = "apache",
        /// A pair of PEM files for any other TLS server.
        Pem = "pem",
        /// A certificate in the LocalMachine\\My store (Windows).
        Store = "store",
        /// A Sage 300 Connector Agent's HTTP.sys binding.
        Sage300 = "sage300",
        /// A kind a newer agent reports and this console does not know.
        #[serde(other)]
        Other = "other",
    }
}

words! {
    /// How bad a finding is, worst first.
    Severity {
        /// Deploying would break the endpoint, or it is broken already.
        Error = "error",
        /// Works today, but is fragile or will break.
        Warning = "warning",
        /// Worth knowing; nothing to fix.
        Info = "info",
        /// A severity a newer agent knows and this console does not.
        #[serde(other)]
        Other = "other",
    }
}

words! {
    /// The kind of private key a host makes for a certificate request.
    KeyType {
        /// ECDSA on P-256: the default.
        EcdsaP256 = "ecdsa_p256",
        /// RSA 2048: what Sage 300's .NET stack and older Windows need.
        Rsa2048 = "rsa2048",
        Rsa3072 = "rsa3072",
    }
}

words! {
    /// Where a deployment on the host is, as its progress reports it.
    DeployStep {
        /// Accepted, waiting behind another deployment on the host.
        Queued = "queued",
        /// Begun before a restart of the agent; still going.
        Running = "running",
        Preflight = "preflight",
        Stage = "stage",
        Apply = "apply",
        Check = "check",
        Restart = "restart",
        Verify = "verify",
        Rollback = "rollback",
        /// Verified and kept; the result follows.
        Committed = "committed",
        /// A step a newer agent knows and this console does not.
        #[serde(other)]
        Other = "other",
    }
}

words! {
    /// Why the console refused a frame or a request in it.
    ErrorCode {
        FrameTooLarge = "frame_too_large",
        FrameMalformed = "frame_malformed",
        FrameBinary = "frame_binary",
        VersionUnsupported = "version_unsupported",
        TypeUnknown = "type_unknown",
        BodyInvalid = "body_invalid",
        HelloFirst = "hello_first",
        HelloTimeout = "hello_timeout",
        InventoryInvalid = "inventory_invalid",
        /// A certificate in an inventory that is not what it claims to be.
        CertificateInvalid = "certificate_invalid",
        /// An inventory over the console's per-agent limits.
        InventoryTooLarge = "inventory_too_large",
        /// An inventory whose hash is not its content's.
        HashMismatch = "hash_mismatch",
        CsrInvalid = "csr_invalid",
        /// A renewal asked for with a certificate that is not the agent's newest.
        CertificateOld = "certificate_old",
        /// The console ends this connection (revoked, shutting down, replaced).
        Disconnected = "disconnected",
        Internal = "internal",
        /// A code a newer console sends and this agent does not know.
        #[serde(other)]
        Other = "other",
    }
}

/// The renewed client certificate, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewed {
    pub certificate_pem: String,
}

impl Snapshot {
    /// SHA-256 (lowercase hex) of the snapshot's JSON: the `hash` of an `Inventory`. Both
    /// sides serialise the same structs, so both compute the same value.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

impl Inventory {
    /// An inventory message for `snapshot`, with its hash.
    pub fn of(snapshot: Snapshot) -> Self {
        Inventory {
            hash: snapshot.content_hash(),
            snapshot,
        }
    }
}
