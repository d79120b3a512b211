//! Server configuration: a TOML file, environment variables and flags, in rising precedence.
//! Unknown keys in the file are refused with their name; the resolved settings are printed at
//! start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration problem, for people.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for Tessera (unknown keys included).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Device settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// How many devices one user may register.
    pub max_per_user: u32,
    /// Key attestation at registration.
    pub attestation: AttestationConfig,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            max_per_user: 10,
            attestation: AttestationConfig::default(),
        }
    }
}

/// `[devices.attestation]`: which TPM manufacturers Tessera believes, and what it does with
/// evidence that does not verify.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttestationConfig {
    /// PEM files of the TPM manufacturers' root CA certificates that endorsement-key
    /// certificates must chain to. None: no TPM evidence verifies.
    pub tpm_roots: Vec<PathBuf>,
    /// PEM files of intermediate CA certificates (clients may also send theirs).
    pub tpm_intermediates: Vec<PathBuf>,
    /// How long a challenge from `POST /devices/attestation` may be answered, seconds.
    pub challenge_seconds: u64,
    /// `refuse` (the default): evidence that does not verify refuses the registration.
    /// `register_unattested`: the device is registered as `hardware` (unattested) with the
    /// reason kept, so a report-only rollout shows who would fail.
    pub on_failure: AttestationFailure,
    /// The roots and intermediates, read from the files at start.
    #[serde(skip)]
    pub trusted: std::sync::Arc<tessera_attest::tpm::TrustedRoots>,
}

impl Default for AttestationConfig {
    fn default() -> Self {
        Self {
            tpm_roots: Vec::new(),
            tpm_intermediates: Vec::new(),
            challenge_seconds: 300,
            on_failure: AttestationFailure::Refuse,
            trusted: std::sync::Arc::default(),
        }
    }
}

impl std::fmt::Debug for AttestationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationConfig")
            .field("tpm_roots", &self.tpm_roots)
            .field("tpm_intermediates", &self.tpm_intermediates)
            .field("challenge_seconds", &self.challenge_seconds)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// What to do with evidence that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationFailure {
    /// Refuse the registration.
    Refuse,
    /// Register the device as unattested hardware, keeping the reason.
    RegisterUnattested,
}

impl AttestationConfig {
    /// Reads the PEM files named (done when the configuration is resolved; call it again
    /// after changing the paths).
    ///
    /// # Errors
    /// [`ConfigError`] when a file cannot be read or holds no certificate.
    pub fn load(mut self) -> Result<Self, ConfigError> {
        let mut trusted = tessera_attest::tpm::TrustedRoots::default();
        for (setting, paths, roots) in [
            ("devices.attestation.tpm_roots", &self.tpm_roots, true),
            (
                "devices.attestation.tpm_intermediates",
                &self.tpm_intermediates,
                false,
            ),
        ] {
            for path in paths {
                let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let added = if roots {
                    trusted.add_roots_pem(&pem)
                } else {
                    trusted.add_intermediates_pem(&pem)
                };
                added.map_err(|e| ConfigError::Invalid {
                    setting,
                    message: format!("{}: {e}", path.display()),
                })?;
            }
        }
        if self.challenge_seconds == 0 || self.challenge_seconds > 3600 {
            return Err(ConfigError::Invalid {
                setting: "devices.attestation.challenge_seconds",
                message: "must be 1 to 3600".into(),
            });
        }
        self.trusted = std::sync::Arc::new(trusted);
        Ok(self)
    }
}

/// A transmitter whose SETs Tessera accepts at `/ssf/receive` (or polls): the operator's
/// explicit trust, naming who it is, how its SETs are verified, and which events it may send.
/// SETs from anyone else are refused with `403`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransmitterConfig {
    /// Its issuer, as its SETs' `iss`: another vendor's issuer URL, or the client id of an
    /// application registered with a JWK Set (an API that signals back).
    pub issuer: String,
    /// Where its signing keys are. Without one, `issuer` must be an application registered with
    /// keys, and those verify its SETs.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The event types (their URIs) it may send; any other is refused. For example
    /// `["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]`.
    pub events: Vec<String>,
    /// The `aud` its SETs carry for Tessera [default: Tessera's issuer].
    #[serde(default)]
    pub audience: Option<String>,
    /// A poll endpoint (RFC 8936) of a stream it keeps for Tessera: Tessera polls it. Without
    /// one, the transmitter pushes to `/ssf/receive`.
    #[serde(default)]
    pub poll_url: Option<String>,
    /// The exact `Authorization` header value to poll with.
    #[serde(default)]
    pub authorization_header: Option<String>,
}

/// Shared Signals transmitter and receiver settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsfConfig {
    /// Transmitters whose SETs Tessera accepts (besides applications with keys).
    pub transmitters: Vec<TransmitterConfig>,
    /// `ALL` or `NONE`: which subjects a new stream carries before the receiver adds any.
    pub default_subjects: String,
    /// The least time between two verification requests of a stream, seconds.
    pub min_verification_interval_seconds: u64,
    /// How long a poll without `returnImmediately` waits for events, seconds.
    pub poll_wait_seconds: u64,
    /// Failed push attempts of one SET after which the stream is paused.
    pub push_attempts_before_pause: u32,
    /// How long a receiver has to answer a push, seconds.
    pub push_timeout_seconds: u64,
    /// How long a node's claim on a push delivery lasts: if the node dies mid-delivery, another
    /// (or the same, restarted) takes the delivery over after this many seconds.
    pub push_lease_seconds: u64,
    /// How long delivered events, and the `jti`s of received SETs, are kept, days. Undelivered
    /// events are kept however old.
    pub retention_days: u32,
    /// Networks push endpoints may be in although they are internal (loopback, private,
    /// link-local …), for development: for example `["127.0.0.0/8", "::1/128"]`. Empty: push
    /// endpoints must be public addresses.
    pub push_allowed_networks: Vec<ipnet::IpNet>,
    /// Streams one receiver may have at once.
    pub max_streams_per_receiver: u32,
}

impl Default for SsfConfig {
    fn default() -> Self {
        Self {
            transmitters: Vec::new(),
            default_subjects: "ALL".into(),
            min_verification_interval_seconds: 30,
            poll_wait_seconds: 10,
            push_attempts_before_pause: 10,
            push_timeout_seconds: 10,
            push_lease_seconds: 15,
            retention_days: 7,
            push_allowed_networks: Vec::new(),
            max_streams_per_receiver: 25,
        }
    }
}

impl SsfConfig {
    /// Whether new streams carry every subject.
    #[must_use]
    pub fn default_subjects_all(&self) -> bool {
        self.default_subjects == "ALL"
    }
}

/// Where the key-encryption key that seals the private signing keys comes from (see
/// `keys::sealing`). `TESSERA_KEY_ENCRYPTION_KEY` in the environment wins over both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    /// A file holding the key [default: `key-encryption.key` in the data directory].
    pub encryption_key_file: Option<PathBuf>,
    /// A program and its arguments whose standard output is the key (a KMS or secret manager).
    pub encryption_key_command: Option<Vec<String>>,
}

/// Protection of the server's own files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Start even when the data directory, the database files or the key-encryption key file
    /// can be read by other users of the machine. Off: Tessera refuses to start then.
    pub allow_readable_data_dir: bool,
}

/// Who may introspect which tokens (RFC 7662 §4 leaves it to the server): a token's own client,
/// a client whose id is in the token's `aud`, and the resource servers listed here for the
/// audiences they serve. Anyone else is told `{"active": false}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionConfig {
    /// Client id → the audiences (resource URIs) it serves, for example
    /// `{ "mail-api" = ["https://mail.example.com"] }`.
    pub resource_servers: std::collections::BTreeMap<String, Vec<String>>,
}

impl IntrospectionConfig {
    /// Whether `client` serves audience `aud`.
    #[must_use]
    pub fn serves(&self, client: &str, aud: &str) -> bool {
        self.resource_servers
            .get(client)
            .is_some_and(|audiences| audiences.iter().any(|a| a == aud))
    }
}

/// Which APIs may exchange a user's token for one to call another API on the user's behalf
/// (RFC 8693), and for which audiences. A client not listed exchanges for none, whatever grant
/// types it has; the token it exchanges must be meant for it (its client id in `aud`, or an
/// audience `[introspection] resource_servers` says it serves).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenExchangeConfig {
    /// Client id → the audiences (resource URIs) it may get tokens for, for example
    /// `{ "mail-api" = ["https://calendar.example.com"] }`.
    pub audiences: std::collections::BTreeMap<String, Vec<String>>,
}

impl TokenExchangeConfig {
    /// Whether `client` may exchange a token for audience `aud`.
    #[must_use]
    pub fn allows(&self, client: &str, aud: &str) -> bool {
        self.audiences
            .get(client)
            .is_some_and(|audiences| audiences.iter().any(|a| a == aud))
    }
}

/// Who may read `/metrics` (which names streams and shows load). By default only clients on
/// loopback; with `token`, anyone presenting it as a Bearer token; with `listen`, `/metrics`
/// is served only on that address (a management network, say) and not on the main one.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A separate `ADDR:PORT` for `/metrics`.
    pub listen: Option<SocketAddr>,
    /// A Bearer token a scraper presents (for example from Prometheus' `authorization`).
    pub token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// HTTP limits: what a client may hold and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Open connections at most; 0 = what the file-descriptor limit allows, less a reserve
    /// (at most 10,000). Past it, new connections wait in the listen backlog.
    pub max_connections: u32,
    /// How long a client has to send a request's headers, seconds.
    pub header_read_timeout_seconds: u64,
    /// How long a request body may go without sending anything, seconds.
    pub body_read_timeout_seconds: u64,
    /// How long a connection may send and receive nothing before it is closed, seconds.
    pub idle_timeout_seconds: u64,
    /// How long a request may take to be answered (a long poll: its wait, plus this), seconds.
    pub request_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 0,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            request_timeout_seconds: 30,
        }
    }
}

/// Sign-in settings: how much password verification the server does at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// Password verifications (argon2id, 19 MiB each) that may run at once; 0 = one per core,
    /// fewer when memory is short.
    pub max_concurrent_password_checks: u32,
    /// How long a sign-in waits for a free verification before it is answered `503`,
    /// milliseconds.
    pub password_check_queue_ms: u64,
    /// How many sign-ins may wait; past that they are answered `503` at once.
    pub max_queued_password_checks: u32,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            max_concurrent_password_checks: 0,
            password_check_queue_ms: 2_000,
            max_queued_password_checks: 256,
        }
    }
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Access-token lifetime for clients without CAE, in minutes.
    pub access_token_minutes: u32,
    /// Access-token lifetime for CAE-capable (`cp1`) clients, in minutes.
    pub cae_access_token_minutes: u32,
    /// How old a DPoP proof may be, in seconds.
    pub dpop_proof_max_age_seconds: u64,
    /// Whether DPoP proofs at the token endpoint must carry a server nonce (RFC 9449 §8).
    pub require_dpop_nonce: bool,
    /// Unexpired `private_key_jwt` assertion ids one client may have remembered at once;
    /// a client that sends more is refused (`invalid_client`) until some expire, the others
    /// unaffected.
    pub assertion_ids_per_client: usize,
    /// Unexpired DPoP proof ids one key may have remembered at once (likewise).
    pub dpop_proofs_per_key: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            cae_access_token_minutes: 24 * 60,
            dpop_proof_max_age_seconds: 60,
            require_dpop_nonce: false,
            assertion_ids_per_client: 10_000,
            dpop_proofs_per_key: 10_000,
        }
    }
}

/// Authorization-request settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Accept authorization requests from every client only when pushed to `/par` first
    /// (RFC 9126 §5); without it, clients registered with the same setting still must.
    pub require_pushed_authorization_requests: bool,
    /// How long a pushed request's `request_uri` waits for its first use at `/authorize`.
    pub pushed_request_seconds: u64,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            require_pushed_authorization_requests: false,
            pushed_request_seconds: 60,
        }
    }
}

/// Dynamic client registration (RFC 7591/7592) settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Serve `/register` at all.
    pub enabled: bool,
    /// Let anyone register, without an initial access token. Off: a registration needs an
    /// access token with the `tessera.register` (or `tessera.admin`) scope.
    pub open: bool,
    /// The API scopes a registered client may ask for (OpenID scopes always).
    pub scopes: Vec<String>,
    /// The grant types a registered client may use.
    pub grant_types: Vec<String>,
    /// A JWK Set file of the software publishers whose software statements Tessera accepts.
    pub software_statement_keys: Option<PathBuf>,
    /// Refuse registrations without a software statement.
    pub require_software_statement: bool,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            open: false,
            scopes: Vec::new(),
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "urn:ietf:params:oauth:grant-type:device_code".into(),
            ],
            software_statement_keys: None,
            require_software_statement: false,
        }
    }
}

/// OpenID Connect back-channel logout settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogoutConfig {
    /// Attempts to deliver one logout token before giving up (the sign-in log says so). They
    /// are 1 s, 2 s, 4 s … apart, at most five minutes.
    pub backchannel_attempts: u32,
    /// How long a client has to answer, seconds.
    pub backchannel_timeout_seconds: u64,
}

impl Default for LogoutConfig {
    fn default() -> Self {
        Self {
            backchannel_attempts: 10,
            backchannel_timeout_seconds: 5,
        }
    }
}

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `ADDR:PORT` to listen on.
    pub listen: Option<String>,
    /// Where the embedded database lives.
    pub data_dir: Option<PathBuf>,
    /// The issuer URL.
    pub issuer: Option<String>,
    /// A database URL (`sqlite:…` or `postgres://…`).
    pub database_url: Option<String>,
    /// Token settings.
    #[serde(default)]
    pub tokens: TokenConfig,
    /// Authorization-request settings.
    #[serde(default)]
    pub authorization: AuthorizationConfig,
    /// Device settings.
    #[serde(default)]
    pub devices: DeviceConfig,
    /// Shared Signals transmitter settings.
    #[serde(default)]
    pub ssf: SsfConfig,
    /// The signing keys' protection at rest.
    #[serde(default)]
    pub keys: KeyConfig,
    /// Sign-in settings.
    #[serde(default)]
    pub sign_in: SignInConfig,
    /// HTTP limits.
    #[serde(default)]
    pub http: HttpConfig,
    /// Who may introspect which tokens.
    #[serde(default)]
    pub introspection: IntrospectionConfig,
    /// Who may exchange tokens for which audiences.
    #[serde(default)]
    pub token_exchange: TokenExchangeConfig,
    /// Back-channel logout.
    #[serde(default)]
    pub logout: LogoutConfig,
    /// Dynamic client registration.
    #[serde(default)]
    pub registration: RegistrationConfig,
    /// Who may read `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Protection of the server's files.
    #[serde(default)]
    pub security: SecurityConfig,
}

/// Settings given on the command line or in the environment; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--issuer`.
    pub issuer: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--admin-password`: the first-run administrator's password.
    pub admin_password: Option<String>,
}

/// The resolved configuration.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The issuer, without a trailing slash.
    pub issuer: String,
    /// Whether the issuer was derived from the listen address (and so follows the bound port).
    pub issuer_derived: bool,
    /// The database URL.
    pub database_url: String,
    /// The first-run administrator's password, if given.
    pub admin_password: Option<zeroize::Zeroizing<String>>,
    /// Token settings.
    pub tokens: TokenConfig,
    /// Authorization-request settings.
    pub authorization: AuthorizationConfig,
    /// Device settings.
    pub devices: DeviceConfig,
    /// Shared Signals transmitter settings.
    pub ssf: SsfConfig,
    /// Where the key-encryption key comes from.
    pub key_encryption: tessera_directory::keys::KekSource,
    /// Protection of the server's files.
    pub security: SecurityConfig,
    /// Sign-in settings.
    pub sign_in: SignInConfig,
    /// HTTP limits.
    pub http: HttpConfig,
    /// Who may introspect which tokens.
    pub introspection: IntrospectionConfig,
    /// Who may exchange tokens for which audiences.
    pub token_exchange: TokenExchangeConfig,
    /// Back-channel logout.
    pub logout: LogoutConfig,
    /// Dynamic client registration.
    pub registration: RegistrationConfig,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("issuer", &self.issuer)
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "[redacted]"),
            )
            .field("tokens", &self.tokens)
            .field("authorization", &self.authorization)
            .field("devices", &self.devices)
            .field("ssf", &self.ssf)
            .field("key_encryption", &self.key_encryption)
            .field("security", &self.security)
            .field("sign_in", &self.sign_in)
            .field("http", &self.http)
            .field("introspection", &self.introspection)
            .field("token_exchange", &self.token_exchange)
            .field("logout", &self.logout)
            .field("registration", &self.registration)
            .field("metrics", &self.metrics)
            .finish()
    }
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServerConfig {
    /// Reads `file` (if any) and applies `overrides`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting or file key at fault.
    pub fn resolve(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let from_file = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        let listen_text = overrides
            .listen
            .or(from_file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Invalid {
            setting: "listen",
            message: format!("{listen_text:?} is not ADDR:PORT (for example 127.0.0.1:8080)"),
        })?;
        let data_dir = overrides
            .data_dir
            .or(from_file.data_dir)
            .unwrap_or_else(|| PathBuf::from("tessera-data"));
        let explicit = overrides.issuer.or(from_file.issuer);
        let issuer_derived = explicit.is_none();
        let issuer = explicit.unwrap_or_else(|| issuer_for(listen));
        let issuer = check_issuer(&issuer)?;
        let database_url = overrides
            .database_url
            .or(from_file.database_url)
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("tessera.db").display()));
        let tokens = from_file.tokens;
        if tokens.access_token_minutes == 0 || tokens.cae_access_token_minutes == 0 {
            return Err(ConfigError::Invalid {
                setting: "tokens",
                message: "lifetimes must be at least a minute".into(),
            });
        }
        let ssf = from_file.ssf;
        if !matches!(ssf.default_subjects.as_str(), "ALL" | "NONE") {
            return Err(ConfigError::Invalid {
                setting: "ssf.default_subjects",
                message: format!("{:?}: must be ALL or NONE", ssf.default_subjects),
            });
        }
        if ssf.push_attempts_before_pause == 0 || ssf.push_timeout_seconds == 0 {
            return Err(ConfigError::Invalid {
                setting: "ssf",
                message: "push_attempts_before_pause and push_timeout_seconds must be at least 1".into(),
            });
        }
        if ssf.push_lease_seconds <= ssf.push_timeout_seconds {
            return Err(ConfigError::Invalid {
                setting: "ssf.push_lease_seconds",
                message:
                    "must be longer than push_timeout_seconds, or a slow push could be sent twice at once"
                        .into(),
            });
        }
        for t in &ssf.transmitters {
            let web = |u: &str| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
            if t.events.is_empty() {
                return Err(ConfigError::Invalid {
                    setting: "ssf.transmitters.events",
                    message: format!("{:?}: name the event types it may send", t.issuer),
                });
            }
            if let Some(bad) = t
                .events
                .iter()
                .find(|e| tessera_signals::SecurityEvent::known_type(e).is_none())
            {
                return Err(ConfigError::Invalid {
                    setting: "ssf.transmitters.events",
                    message: format!("{bad:?} is not a CAEP, RISC or SSF event type Tessera knows"),
                });
            }
            for (setting, value) in [
                ("ssf.transmitters.jwks_uri", t.jwks_uri.as_ref()),
                ("ssf.transmitters.poll_url", t.poll_url.as_ref()),
            ] {
                if let Some(v) = value
                    && !web(v)
                {
                    return Err(ConfigError::Invalid {
                        setting,
                        message: format!("{v:?} is not an http(s) URL"),
                    });
                }
            }
        }
        if from_file
            .keys
            .encryption_key_command
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            return Err(ConfigError::Invalid {
                setting: "keys.encryption_key_command",
                message: "name a program (and its arguments), for example [\"/usr/local/bin/tessera-kek\"]"
                    .into(),
            });
        }
        if !(1..=600).contains(&from_file.authorization.pushed_request_seconds) {
            return Err(ConfigError::Invalid {
                setting: "authorization.pushed_request_seconds",
                message: "must be from 1 to 600 (RFC 9126 asks for short-lived request URIs)".into(),
            });
        }
        let http = from_file.http;
        if http.header_read_timeout_seconds == 0
            || http.body_read_timeout_seconds == 0
            || http.request_timeout_seconds == 0
            || http.idle_timeout_seconds <= http.request_timeout_seconds + ssf.poll_wait_seconds
        {
            return Err(ConfigError::Invalid {
                setting: "http",
                message: "timeouts must be at least a second, and idle_timeout_seconds longer than request_timeout_seconds \
                          plus ssf.poll_wait_seconds (the longest a request may take)"
                    .into(),
            });
        }
        let key_encryption = tessera_directory::keys::KekSource::resolve(
            &data_dir,
            from_file.keys.encryption_key_file,
            from_file.keys.encryption_key_command,
            from_file.security.allow_readable_data_dir,
        );
        Ok(Self {
            key_encryption,
            security: from_file.security,
            sign_in: from_file.sign_in,
            http,
            introspection: from_file.introspection,
            token_exchange: from_file.token_exchange,
            logout: from_file.logout,
            registration: from_file.registration,
            metrics: from_file.metrics,
            ssf,
            listen,
            data_dir,
            issuer,
            issuer_derived,
            database_url,
            admin_password: overrides.admin_password.map(zeroize::Zeroizing::new),
            tokens,
            authorization: from_file.authorization,
            devices: DeviceConfig {
                attestation: from_file.devices.attestation.load()?,
                ..from_file.devices
            },
        })
    }

    /// A summary for the start-up banner (secrets left out).
    #[must_use]
    pub fn summary(&self, bound: SocketAddr) -> String {
        format!(
            "  issuer          {}\n  listening on    {bound}\n  database        {}\n  data directory  {}\n  access tokens   {} min ({} min for CAE clients)\n  DPoP nonces     {}\n  shared signals  {}/.well-known/ssf-configuration; receiving from {} configured transmitter(s)\n  key encryption  {:?}",
            self.issuer,
            redact_url(&self.database_url),
            self.data_dir.display(),
            self.tokens.access_token_minutes,
            self.tokens.cae_access_token_minutes,
            if self.tokens.require_dpop_nonce {
                "required at the token endpoint"
            } else {
                "off"
            },
            self.issuer,
            self.ssf.transmitters.len(),
            self.key_encryption,
        )
    }
}

/// The issuer a server listening on `addr` has when none is configured.
#[must_use]
pub fn issuer_for(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    format!("http://{host}:{}", addr.port())
}

fn check_issuer(issuer: &str) -> Result<String, ConfigError> {
    let bad = |m: &str| ConfigError::Invalid {
        setting: "issuer",
        message: format!("{issuer:?}: {m}"),
    };
    let url = url::Url::parse(issuer).map_err(|_| bad("not an absolute URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("an issuer has no query or fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be https (http only on a loopback address)")),
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
