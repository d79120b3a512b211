//! What Conditional Access sees: the compiled policy set (cached, reloaded on change and every
//! few seconds so other nodes' changes arrive), the sign-in context built from the directory,
//! and the sign-in log entry that records the decision with every policy's result. The server
//! evaluates and writes the log with these; the what-if report runs the same context.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_policy::{
    AnyDirectory, ClientAppType, Decision, DeviceContext, NamedLocation, Platform, PolicySet, Satisfied,
    SignInContext, TokenBinding, UserContext,
};
use tessera_store::{
    Application, Compliance, Device, DeviceStatus, SignInDetails, SignInLog, Store, StoreError, Timestamp,
    User, UserId,
};

/// How long a node trusts its compiled copy of the policies before reading them again.
const RELOAD_AFTER: Duration = Duration::from_secs(5);

/// The compiled policies, shared by every request.
#[derive(Debug, Default)]
pub struct Policies {
    loaded: RwLock<Option<(Instant, Arc<PolicySet>)>>,
}

impl Policies {
    /// The current set, read from the store when older than a few seconds.
    ///
    /// # Errors
    /// `server_error` when the store fails or holds policies that no longer compile: evaluation
    /// fails closed.
    pub async fn current(&self, store: &dyn Store) -> Result<Arc<PolicySet>, StoreError> {
        if let Ok(guard) = self.loaded.read()
            && let Some((at, set)) = guard.as_ref()
            && at.elapsed() < RELOAD_AFTER
        {
            return Ok(set.clone());
        }
        self.reload(store).await
    }

    /// Reads and compiles the policies now (after a change made through this node).
    ///
    /// # Errors
    /// As [`Policies::current`].
    pub async fn reload(&self, store: &dyn Store) -> Result<Arc<PolicySet>, StoreError> {
        let set = Arc::new(load(store).await?);
        if let Ok(mut guard) = self.loaded.write() {
            *guard = Some((Instant::now(), set.clone()));
        }
        Ok(set)
    }
}

async fn load(store: &dyn Store) -> Result<PolicySet, StoreError> {
    let mut policies = Vec::new();
    for record in store.policies().await? {
        let bytes = record.document.to_string();
        let policy = tessera_policy::parse_policy(bytes.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("stored policy {}: {e:?}", record.id)))?;
        policies.push(policy);
    }
    let mut locations = Vec::new();
    for record in store.named_locations().await? {
        let ip_ranges = record
            .ip_ranges
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("stored location {}: {e}", record.id)))?;
        locations.push(NamedLocation {
            id: tessera_policy::LocationId(record.id),
            display_name: record.display_name,
            ip_ranges,
            is_trusted: record.trusted,
        });
    }
    // References were checked when the policies were written.
    PolicySet::new(policies, locations, &AnyDirectory)
        .map_err(|errors| StoreError::Corrupt(format!("stored policies do not compile: {errors:?}")))
}

/// Everything known about one sign-in or token request.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The user.
    pub user: &'a User,
    /// The application.
    pub app: &'a Application,
    /// The device whose key signed the request's DPoP proof, when it is one of the user's.
    pub device: Option<&'a Device>,
    /// The user's groups when already read (with the refresh token); otherwise read here.
    pub groups: Option<&'a [tessera_store::GroupId]>,
    /// The client's address.
    pub ip: IpAddr,
    /// Whether the user has completed multi-factor authentication in this session.
    pub mfa: bool,
    /// Whether the request is bound to a device key (token endpoint) or cannot be (browser).
    pub binding: TokenBinding,
    /// Browser or native/desktop client.
    pub client_app_type: ClientAppType,
    /// How the sign-in came from another device, when it did (the device code flow).
    pub flow: Option<tessera_policy::TransferMethod>,
}

/// What the application looks like to policy: a public client redirecting to a loopback or
/// custom-scheme URI is a native or desktop app; everything else is a browser sign-in.
#[must_use]
pub fn client_app_type(app: &Application, redirect_uri: Option<&str>) -> ClientAppType {
    let native = redirect_uri.is_some_and(|uri| {
        url::Url::parse(uri).is_ok_and(|u| {
            !matches!(u.scheme(), "http" | "https")
                || matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
        })
    });
    if app.kind == tessera_store::AppKind::Public && native {
        ClientAppType::MobileAppsAndDesktopClients
    } else {
        ClientAppType::Browser
    }
}

/// What the policies see of `attempt`: the user's groups and risk come from the directory, the
/// device's platform and compliance from its registration.
///
/// # Errors
/// `server_error` from the store.
pub async fn context(store: &dyn Store, attempt: &Attempt<'_>) -> Result<SignInContext, StoreError> {
    let groups = match attempt.groups {
        Some(groups) => groups.to_vec(),
        None => store.groups_of(&attempt.user.id).await?,
    };
    Ok(SignInContext {
        user: UserContext {
            id: tessera_policy::UserId(attempt.user.id.0.clone()),
            groups: groups.into_iter().map(|g| tessera_policy::GroupId(g.0)).collect(),
            risk: risk(attempt.user.risk),
        },
        application: tessera_policy::AppId(attempt.app.id.clone()),
        device: attempt.device.map(device_context),
        observed_platform: None,
        client_app_type: attempt.client_app_type,
        ip: attempt.ip,
        sign_in_risk: tessera_policy::RiskLevel::None,
        satisfied: Satisfied {
            mfa: attempt.mfa,
            token_binding: attempt.binding,
        },
        authentication_flow: attempt.flow,
    })
}

fn risk(r: tessera_store::RiskLevel) -> tessera_policy::RiskLevel {
    match r {
        tessera_store::RiskLevel::None => tessera_policy::RiskLevel::None,
        tessera_store::RiskLevel::Low => tessera_policy::RiskLevel::Low,
        tessera_store::RiskLevel::Medium => tessera_policy::RiskLevel::Medium,
        tessera_store::RiskLevel::High => tessera_policy::RiskLevel::High,
    }
}

fn device_context(d: &Device) -> DeviceContext {
    let platform = serde_json::from_value::<Platform>(serde_json::Value::String(d.platform.clone()))
        .unwrap_or(Platform::Linux);
    DeviceContext {
        id: d.id.clone(),
        platform,
        os_version: d.os_version.clone(),
        registered: d.status == DeviceStatus::Enabled,
        compliant: d.status == DeviceStatus::Enabled && d.compliance == Compliance::Compliant,
        trust_type: match d.trust_type {
            tessera_store::TrustType::Registered => tessera_policy::TrustType::Registered,
            tessera_store::TrustType::Joined => tessera_policy::TrustType::Joined,
            tessera_store::TrustType::Managed => tessera_policy::TrustType::Managed,
        },
        key_protection: match d.key_protection {
            tessera_store::KeyProtection::Software => tessera_policy::KeyProtection::Software,
            tessera_store::KeyProtection::Hardware => tessera_policy::KeyProtection::Hardware,
            tessera_store::KeyProtection::Attested => tessera_policy::KeyProtection::Attested,
        },
    }
}

/// The decision in one word, for metrics and the log.
#[must_use]
pub fn outcome_label(decision: &Decision) -> &'static str {
    match decision.outcome {
        tessera_policy::Outcome::Allow => "allow",
        tessera_policy::Outcome::Block { .. } => "block",
        tessera_policy::Outcome::Interrupt { .. } => "interrupt",
    }
}

/// What token protection saw of a request, as the sign-in log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProtection {
    /// A browser sign-in: there is no key to bind to.
    NotApplicable,
    /// No registered device's key signed the request.
    Missing,
    /// A registered device's key signed it.
    BoundToDevice,
    /// A token bound to a key came with no proof at all.
    Unbound,
    /// A token bound to a key came with a proof by another key.
    Replay,
}

impl TokenProtection {
    /// The log's word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotApplicable => "notApplicable",
            Self::Missing => "missing",
            Self::BoundToDevice => "boundToDevice",
            Self::Unbound => "unbound",
            Self::Replay => "replay",
        }
    }
}

impl From<TokenBinding> for TokenProtection {
    fn from(b: TokenBinding) -> Self {
        match b {
            TokenBinding::NotApplicable => Self::NotApplicable,
            TokenBinding::Missing => Self::Missing,
            TokenBinding::BoundToDevice => Self::BoundToDevice,
        }
    }
}

/// Why a token request's key binding is as strong as it is, for the sign-in log
/// (`details.keyBinding`): what an administrator reads in report-only mode to see who a
/// "require attested hardware keys" policy would stop, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBindingReason {
    /// The client sent no DPoP proof: it cannot bind tokens.
    ClientNotCapable,
    /// A proof by a key that is no registered device's of this user.
    NoDevice,
    /// Bound to a device whose key is in software.
    SoftwareKey,
    /// Bound to a device whose key the client says is in hardware, without evidence.
    UnattestedKey,
    /// Bound to a device whose attestation evidence did not verify.
    AttestationFailed,
    /// Bound to a software key on a platform whose key attestation Tessera cannot verify yet.
    PlatformNotSupported,
    /// Bound to a device whose key Tessera verified is in a TPM.
    AttestedHardwareKey,
}

impl KeyBindingReason {
    /// The reason for a request whose proof had key `jkt` and came from `device`.
    #[must_use]
    pub fn of(jkt: Option<&str>, device: Option<&Device>) -> Self {
        let Some(d) = device else {
            return if jkt.is_some() {
                Self::NoDevice
            } else {
                Self::ClientNotCapable
            };
        };
        match d.key_protection {
            tessera_store::KeyProtection::Attested => Self::AttestedHardwareKey,
            tessera_store::KeyProtection::Hardware
                if d.key_attestation.as_ref().is_some_and(|a| a.error.is_some()) =>
            {
                Self::AttestationFailed
            }
            tessera_store::KeyProtection::Hardware => Self::UnattestedKey,
            tessera_store::KeyProtection::Software
                if matches!(d.platform.as_str(), "macOS" | "iOS" | "android") =>
            {
                Self::PlatformNotSupported
            }
            tessera_store::KeyProtection::Software => Self::SoftwareKey,
        }
    }

    /// The log's word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientNotCapable => "clientNotCapable",
            Self::NoDevice => "noDevice",
            Self::SoftwareKey => "softwareKey",
            Self::UnattestedKey => "unattestedKey",
            Self::AttestationFailed => "attestationFailed",
            Self::PlatformNotSupported => "platformNotSupported",
            Self::AttestedHardwareKey => "attestedHardwareKey",
        }
    }

    /// Whether the tokens are bound to a registered device's key at all.
    #[must_use]
    pub const fn bound(self) -> bool {
        !matches!(self, Self::ClientNotCapable | Self::NoDevice)
    }
}

/// One sign-in log entry about to be written.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// Where in the flow: `authorize`, `authorization_code`, `refresh_token`, `login`.
    pub stage: &'static str,
    /// The user, when known.
    pub user: Option<&'a UserId>,
    /// The client, when known.
    pub client_id: Option<&'a str>,
    /// The client's address.
    pub ip: IpAddr,
    /// `success`, `failure`, `blocked`, `interrupted`, `replay`.
    pub outcome: &'static str,
    /// What token protection saw.
    pub token_protection: TokenProtection,
    /// The device, when the request was signed by one.
    pub device_id: Option<&'a str>,
    /// The DPoP key thumbprint, when there was a proof.
    pub jkt: Option<&'a str>,
    /// The OAuth error returned, if any.
    pub error: Option<&'a str>,
    /// At the token endpoint: how strongly the tokens are bound, and why.
    pub key_binding: Option<KeyBindingReason>,
    /// A sign-in approved on another machine than the one receiving the tokens.
    pub transfer: Option<Transfer>,
}

/// A sign-in carried from one machine to another: the device code flow, where the machine that
/// receives the tokens is not the one the user approved on (RFC 8628 §5.4's phishing case is
/// two addresses far apart).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// How (`deviceCodeFlow`).
    pub method: tessera_policy::TransferMethod,
    /// The address the device asked from.
    pub requested_from: IpAddr,
    /// The address the user approved from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_from: Option<IpAddr>,
    /// When the user approved, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
}

impl LogEntry<'_> {
    /// The record to store as `id` at `at`, with the explained decision when there was one.
    ///
    /// # Errors
    /// When the report does not serialise.
    pub fn record(
        &self,
        id: String,
        at: Timestamp,
        decision: Option<(&Decision, &PolicySet)>,
    ) -> Result<SignInLog, serde_json::Error> {
        /// What a sign-in log entry keeps beside its columns.
        #[derive(serde::Serialize)]
        struct Details<'a> {
            stage: &'a str,
            #[serde(rename = "keyBinding", skip_serializing_if = "Option::is_none")]
            key_binding: Option<serde_json::Value>,
            #[serde(rename = "conditionalAccess", skip_serializing_if = "Option::is_none")]
            conditional_access: Option<tessera_policy::Report<'a>>,
            #[serde(rename = "authenticationTransfer", skip_serializing_if = "Option::is_none")]
            transfer: Option<&'a Transfer>,
        }
        let details = Details {
            stage: self.stage,
            key_binding: self.key_binding.map(|r| {
                serde_json::json!({
                    "status": if r.bound() { "bound" } else { "unbound" },
                    "reason": r.as_str(),
                })
            }),
            conditional_access: decision.map(|(decision, set)| decision.explain(set).compact()),
            transfer: self.transfer.as_ref(),
        };
        Ok(SignInLog {
            id,
            at,
            user_id: self.user.cloned(),
            client_id: self.client_id.map(str::to_owned),
            ip: self.ip.to_string(),
            outcome: self.outcome.to_owned(),
            token_protection: self.token_protection.as_str().to_owned(),
            device_id: self.device_id.map(str::to_owned),
            jkt: self.jkt.map(str::to_owned),
            error: self.error.map(str::to_owned),
            details: SignInDetails::to_json(&details)?,
        })
    }
}
