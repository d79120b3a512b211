//! The Conditional Access policy document.
//!
//! The JSON shape follows Microsoft Graph's `conditionalAccessPolicy`, so an administrator can
//! bring policies they know. Where Tessera differs, the field is marked *Tessera* below:
//!
//! - `grantControls.builtInControls` adds `registeredDevice` (a device registered with Tessera);
//! - `conditions.devices.deviceFilter` takes a structured `rule` object
//!   (`isRegistered`, `isCompliant`, `trustTypes`) instead of Graph's rule-language string;
//! - `sessionControls.accessTokenLifetime` (`isEnabled`, `minutes`) overrides the access-token
//!   lifetime;
//! - `sessionControls.secureSignInSession` is Graph's name for *token protection for sign-in
//!   sessions*: tokens bound to a registered device's key.
//!
//! Unknown members are refused. Graph members that Tessera does not implement are accepted only
//! when empty or `null`, so an exported Graph policy that does not rely on them imports cleanly.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A policy's identifier.
    PolicyId
);
id_type!(
    /// A user's identifier.
    UserId
);
id_type!(
    /// A group's identifier.
    GroupId
);
id_type!(
    /// An application's (OAuth client's) identifier.
    AppId
);
id_type!(
    /// A named location's identifier.
    LocationId
);

/// Whether a policy is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PolicyState {
    /// Enforced.
    Enabled,
    /// Ignored.
    Disabled,
    /// Report-only: evaluated and logged, never enforced.
    EnabledForReportingButNotEnforced,
}

/// A member Graph defines and Tessera does not implement: accepted only as `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unsupported;

impl utoipa::PartialSchema for Unsupported {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .description(Some(
                "A Graph setting Tessera does not implement: only null is accepted.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Unsupported {}

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "this setting is not supported by Tessera; remove it or set it to null",
        ))
    }
}

/// A list Graph defines and Tessera does not implement: accepted only when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmptyOnly;

impl utoipa::PartialSchema for EmptyOnly {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .max_items(Some(0))
            .description(Some(
                "A Graph list Tessera does not implement: only an empty one is accepted.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for EmptyOnly {}

impl<'de> Deserialize<'de> for EmptyOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<serde::de::IgnoredAny>::deserialize(d)?;
        if v.is_empty() {
            Ok(Self)
        } else {
            Err(serde::de::Error::custom(
                "this setting is not supported by Tessera; leave the list empty",
            ))
        }
    }
}

/// A Conditional Access policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The policy's id (in the admin API, the URL gives it and the body may leave it out).
    #[schema(required = false)]
    pub id: PolicyId,
    /// A name for people.
    pub display_name: String,
    /// Enabled, disabled or report-only.
    pub state: PolicyState,
    /// Who, what and under which circumstances.
    pub conditions: Conditions,
    /// What must be true to be let in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_controls: Option<GrantControls>,
    /// What applies to the session once let in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_controls: Option<SessionControls>,
    /// Graph's creation time, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// Graph's modification time, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date_time: Option<String>,
    /// Graph's template id, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

/// The conditions of a policy; it applies when every configured one matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conditions {
    /// Users and groups (required).
    pub users: UsersCondition,
    /// Applications (required).
    pub applications: ApplicationsCondition,
    /// Client app types; empty means any.
    #[serde(default)]
    pub client_app_types: Vec<ClientAppTypeCondition>,
    /// Device platforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<PlatformsCondition>,
    /// Named locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<LocationsCondition>,
    /// User risk levels; empty means any.
    #[serde(default)]
    pub user_risk_levels: Vec<RiskLevel>,
    /// Sign-in risk levels; empty means any.
    #[serde(default)]
    pub sign_in_risk_levels: Vec<RiskLevel>,
    /// Device filter (*Tessera*: structured rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DevicesCondition>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub client_applications: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub service_principal_risk_levels: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub insider_risk_levels: Option<Unsupported>,
    /// Authentication flows: sign-ins carried from one device to another (the device code
    /// flow), as Graph's `authenticationFlows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_flows: Option<AuthenticationFlowsCondition>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub times: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub device_states: Option<Unsupported>,
}

/// Which ways of carrying a sign-in from one device to another a policy targets (Graph's
/// `conditionalAccessAuthenticationFlows`). A policy with it applies only to such sign-ins:
/// "block the device code flow" is this condition with a block grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationFlowsCondition {
    /// Comma-separated, as Graph writes it: `deviceCodeFlow`, `authenticationTransfer`.
    pub transfer_methods: String,
}

impl AuthenticationFlowsCondition {
    /// The methods listed, and the first word that is not one.
    #[must_use]
    pub fn methods(&self) -> (Vec<crate::context::TransferMethod>, Option<&str>) {
        let mut methods = Vec::new();
        let mut unknown = None;
        for word in self
            .transfer_methods
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            match crate::context::TransferMethod::parse(word) {
                Some(m) => methods.push(m),
                None => unknown = unknown.or(Some(word)),
            }
        }
        (methods, unknown)
    }
}

/// Which users a policy targets. Exclusions always win over inclusions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsersCondition {
    /// User ids, or the single value `All` or `None`.
    #[serde(default)]
    pub include_users: Vec<String>,
    /// User ids never targeted (break-glass accounts).
    #[serde(default)]
    pub exclude_users: Vec<UserId>,
    /// Groups whose members are targeted.
    #[serde(default)]
    pub include_groups: Vec<GroupId>,
    /// Groups whose members are never targeted.
    #[serde(default)]
    pub exclude_groups: Vec<GroupId>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub include_roles: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub exclude_roles: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub include_guests_or_external_users: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub exclude_guests_or_external_users: Option<Unsupported>,
}

/// Which applications a policy targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationsCondition {
    /// Application ids, or the single value `All` or `None`.
    #[serde(default)]
    pub include_applications: Vec<String>,
    /// Applications never targeted.
    #[serde(default)]
    pub exclude_applications: Vec<AppId>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub include_user_actions: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub include_authentication_context_class_references: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub application_filter: Option<Unsupported>,
}

/// Client app type, as a condition value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientAppTypeCondition {
    /// Any client.
    All,
    /// Web browsers.
    Browser,
    /// Native apps on phones and desktops.
    MobileAppsAndDesktopClients,
    /// Anything else (legacy protocols, services).
    Other,
}

/// Device platform, as a condition value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PlatformCondition {
    /// Any platform.
    #[serde(rename = "all")]
    All,
    /// Android.
    #[serde(rename = "android")]
    Android,
    /// iOS and iPadOS.
    #[serde(rename = "iOS")]
    Ios,
    /// Windows.
    #[serde(rename = "windows")]
    Windows,
    /// macOS.
    #[serde(rename = "macOS")]
    MacOs,
    /// Linux.
    #[serde(rename = "linux")]
    Linux,
}

/// Which device platforms a policy targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformsCondition {
    /// Platforms targeted (`all` for any).
    #[serde(default)]
    pub include_platforms: Vec<PlatformCondition>,
    /// Platforms never targeted.
    #[serde(default)]
    pub exclude_platforms: Vec<PlatformCondition>,
}

/// Which network locations a policy targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationsCondition {
    /// Named location ids, or `All` (any address), or `AllTrusted` (any trusted location).
    #[serde(default)]
    pub include_locations: Vec<String>,
    /// Locations never targeted; may also be `AllTrusted`.
    #[serde(default)]
    pub exclude_locations: Vec<String>,
}

/// A risk level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
#[schema(as = policy::RiskLevel)]
pub enum RiskLevel {
    /// No risk detected.
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// The device filter (*Tessera*: structured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevicesCondition {
    /// The filter.
    pub device_filter: DeviceFilter,
}

/// Include or exclude the devices a rule matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceFilter {
    /// `include`: the policy applies only to matching devices; `exclude`: never to them.
    pub mode: FilterMode,
    /// Every member given must hold.
    pub rule: DeviceRule,
}

/// Include or exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FilterMode {
    /// Apply only to matching devices.
    Include,
    /// Never apply to matching devices.
    Exclude,
}

/// A device rule: every member that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRule {
    /// The device is registered with Tessera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_registered: Option<bool>,
    /// The device is marked compliant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_compliant: Option<bool>,
    /// The device's trust type is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_types: Vec<TrustType>,
    /// *Tessera*: the device's key protection is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_protections: Vec<crate::context::KeyProtection>,
}

/// How a device is known to Tessera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = policy::TrustType)]
pub enum TrustType {
    /// Registered by its user.
    Registered,
    /// Joined to the organisation.
    Joined,
    /// Managed by the organisation's device management.
    Managed,
}

/// Grant controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantControls {
    /// `AND`: all controls; `OR`: any one.
    #[serde(default)]
    pub operator: Operator,
    /// The controls.
    #[serde(default)]
    pub built_in_controls: Vec<BuiltInControl>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub custom_authentication_factors: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub terms_of_use: EmptyOnly,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub authentication_strength: Option<Unsupported>,
}

/// How grant controls combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Operator {
    /// Any one control suffices.
    #[default]
    #[serde(rename = "OR")]
    Or,
    /// Every control is required.
    #[serde(rename = "AND")]
    And,
}

/// A built-in grant control.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum BuiltInControl {
    /// Refuse access.
    Block,
    /// Require multi-factor authentication.
    Mfa,
    /// Require a device marked compliant.
    CompliantDevice,
    /// *Tessera*: require a device registered with Tessera.
    RegisteredDevice,
}

/// Session controls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionControls {
    /// Token protection for sign-in sessions: tokens bound to a registered device's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_sign_in_session: Option<SecureSignInSession>,
    /// How often the user must sign in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_frequency: Option<SignInFrequency>,
    /// Continuous access evaluation behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuous_access_evaluation: Option<ContinuousAccessEvaluation>,
    /// *Tessera*: access-token lifetime override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<AccessTokenLifetime>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub application_enforced_restrictions: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub cloud_app_security: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub persistent_browser: Option<Unsupported>,
    /// Graph: not supported.
    #[serde(default, skip_serializing)]
    pub disable_resilience_defaults: Option<Unsupported>,
}

/// A session control that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toggle {
    /// Whether it is on.
    pub is_enabled: bool,
}

/// Token protection for sign-in sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecureSignInSession {
    /// Whether it is on.
    pub is_enabled: bool,
    /// *Tessera*: the key the token is bound to must be at least this well protected:
    /// `hardware` (in hardware, by the client's word or by evidence) or `attested` (evidence
    /// verified). Absent: any registered device's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_key_protection: Option<crate::context::KeyProtection>,
}

/// Sign-in frequency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInFrequency {
    /// Whether it is on.
    pub is_enabled: bool,
    /// `timeBased` (default) or `everyTime`.
    #[serde(default)]
    pub frequency_interval: FrequencyInterval,
    /// The amount, for `timeBased`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// The unit of `value`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub unit: Option<FrequencyUnit>,
    /// Graph: which authentications count; Tessera counts both factors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
}

/// `timeBased` or `everyTime`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyInterval {
    /// After a period.
    #[default]
    TimeBased,
    /// At every sign-in.
    EveryTime,
}

/// Unit of a time-based frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyUnit {
    /// Hours.
    Hours,
    /// Days.
    Days,
}

/// The continuous access evaluation session control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContinuousAccessEvaluation {
    /// The mode.
    pub mode: CaeMode,
}

/// CAE modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CaeMode {
    /// APIs enforce the location policy on every request and refuse outside it.
    StrictEnforcement,
    /// As `strictEnforcement`, limited to the network-location check.
    StrictLocation,
    /// No CAE: clients get short-lived tokens.
    Disabled,
}

/// *Tessera*: the access-token lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenLifetime {
    /// Whether it is on.
    pub is_enabled: bool,
    /// Lifetime in minutes (5 to 1440).
    pub minutes: u32,
}
