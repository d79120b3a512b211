//! What an evaluation decides and why: each condition's verdict with its reason, each policy's
//! result, what is still needed, the merged session controls and the overall outcome. Built
//! by [`crate::PolicySet::evaluate`]; put into words by [`crate::explain`].

use serde::Serialize;

use crate::model::{BuiltInControl, PolicyId};

/// The conditions, in the order they are checked and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConditionKind {
    /// Users and groups.
    Users,
    /// Applications.
    Applications,
    /// Client app types.
    ClientAppTypes,
    /// Device platforms.
    Platforms,
    /// Network locations.
    Locations,
    /// User risk.
    UserRisk,
    /// Sign-in risk.
    SignInRisk,
    /// Device filter.
    Devices,
    /// Authentication flows (the device code flow).
    AuthenticationFlows,
}

impl ConditionKind {
    /// All kinds, in report order.
    pub const ALL: [Self; 9] = [
        Self::Users,
        Self::Applications,
        Self::ClientAppTypes,
        Self::Platforms,
        Self::Locations,
        Self::UserRisk,
        Self::SignInRisk,
        Self::Devices,
        Self::AuthenticationFlows,
    ];
}

/// Why a condition matched or not. Indices refer to the policy's own lists (for example the
/// n-th entry of `includeGroups`) or to the policy set's named locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The condition is not configured, so it matches everything.
    NotConfigured,
    /// `includeUsers: ["All"]`.
    AllUsers,
    /// The user is listed in `includeUsers`.
    UserIncluded,
    /// The user is a member of `includeGroups[n]`.
    UserInIncludedGroup(u16),
    /// The user is listed in `excludeUsers`.
    UserExcluded,
    /// The user is a member of `excludeGroups[n]`.
    UserInExcludedGroup(u16),
    /// The user is in no included user or group (or `includeUsers: ["None"]`).
    UserNotIncluded,
    /// `includeApplications: ["All"]`.
    AllApplications,
    /// The application is listed in `includeApplications`.
    ApplicationIncluded,
    /// The application is listed in `excludeApplications`.
    ApplicationExcluded,
    /// The application is not included.
    ApplicationNotIncluded,
    /// The client app type is included.
    ClientAppIncluded,
    /// The client app type is not included.
    ClientAppNotIncluded,
    /// The platform is included.
    PlatformIncluded,
    /// The platform is excluded.
    PlatformExcluded,
    /// The platform is not included.
    PlatformNotIncluded,
    /// No platform is known for this request, so a platform condition cannot match.
    PlatformUnknown,
    /// `includeLocations: ["All"]`.
    AnyLocation,
    /// The IP is in trusted location n (for `AllTrusted`).
    InTrustedLocation(u16),
    /// The IP is in named location n.
    InLocation(u16),
    /// The IP is in excluded location n.
    InExcludedLocation(u16),
    /// The IP is in a trusted location, and `AllTrusted` is excluded.
    InExcludedTrustedLocation(u16),
    /// The IP is in no included location.
    LocationNotIncluded,
    /// The risk level is one of the listed levels.
    RiskIncluded,
    /// The risk level is not listed.
    RiskNotIncluded,
    /// The device matches an `include` filter.
    DeviceFilterIncluded,
    /// The device matches an `exclude` filter.
    DeviceFilterExcluded,
    /// The device does not match an `include` filter.
    DeviceFilterNotMatched,
    /// The device does not match an `exclude` filter, so the policy applies.
    DeviceFilterNotExcluded,
    /// The sign-in came by a listed authentication flow.
    FlowIncluded,
    /// The sign-in did not come by a listed authentication flow.
    FlowNotIncluded,
}

/// One condition's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConditionCheck {
    /// Whether it matched (or is not configured).
    pub matched: bool,
    /// Why.
    pub reason: Reason,
}

impl ConditionCheck {
    pub(crate) const fn yes(reason: Reason) -> Self {
        Self {
            matched: true,
            reason,
        }
    }
    pub(crate) const fn no(reason: Reason) -> Self {
        Self {
            matched: false,
            reason,
        }
    }
}

/// The per-policy result, in the vocabulary of sign-in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PolicyResultKind {
    /// Applied, and its controls are met.
    Success,
    /// Applied, and it blocks or its controls are not met.
    Failure,
    /// Did not apply.
    NotApplied,
    /// Disabled.
    NotEnabled,
    /// Report-only: would have succeeded.
    ReportOnlySuccess,
    /// Report-only: would have blocked, or required something that cannot be done now.
    ReportOnlyFailure,
    /// Report-only: would not have applied.
    ReportOnlyNotApplied,
    /// Report-only: would have interrupted the user (for MFA).
    ReportOnlyInterrupted,
}

/// Something the user or client must still provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Need {
    /// Multi-factor authentication.
    Mfa,
    /// A device marked compliant.
    CompliantDevice,
    /// A device registered with Tessera.
    RegisteredDevice,
    /// A token request signed by the key of a registered device (token protection).
    DeviceBoundToken,
    /// *Tessera*: the same, the key in hardware (by the client's word or by evidence).
    HardwareBoundToken,
    /// *Tessera*: the same, with the key attested to be in a TPM.
    AttestedBoundToken,
}

impl Need {
    /// Whether the user can satisfy it interactively, in the sign-in itself.
    #[must_use]
    pub const fn is_interactive(self) -> bool {
        matches!(self, Self::Mfa)
    }

    pub(crate) fn from_control(c: BuiltInControl) -> Option<Self> {
        match c {
            BuiltInControl::Mfa => Some(Self::Mfa),
            BuiltInControl::CompliantDevice => Some(Self::CompliantDevice),
            BuiltInControl::RegisteredDevice => Some(Self::RegisteredDevice),
            BuiltInControl::Block => None,
        }
    }
}

/// A requirement of one policy: any one of the needs satisfies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// The policy that requires it.
    pub policy: PolicyId,
    /// Any one of these satisfies the requirement.
    pub any_of: Vec<Need>,
}

/// One policy's evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    /// Position of the policy in the set (sorted by id).
    pub index: u16,
    /// The result.
    pub result: PolicyResultKind,
    /// Whether every condition matched.
    pub applies: bool,
    /// Each condition's verdict, in [`ConditionKind::ALL`] order; `None` for disabled policies
    /// outside what-if.
    pub conditions: Option<[ConditionCheck; 9]>,
    /// Whether the policy blocks (when it applies).
    pub blocks: bool,
    /// What the policy still requires (when it applies).
    pub unmet: Vec<Requirement>,
}

/// The overall outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// Let in.
    Allow,
    /// Refused by these enabled policies.
    Block {
        /// The blocking policies.
        policies: Vec<PolicyId>,
    },
    /// Not yet: each requirement must be met, then evaluate again.
    Interrupt {
        /// What is needed.
        requirements: Vec<Requirement>,
    },
}

/// How often the user must sign in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Frequency {
    /// At every sign-in.
    EveryTime,
    /// After this many seconds.
    Seconds(u64),
}

/// Session controls merged over every applying enabled policy; the most restrictive wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOutcome {
    /// Tokens must be bound to a registered device's key.
    pub token_protection: bool,
    /// Sign-in frequency, if any policy sets one.
    pub sign_in_frequency: Option<Frequency>,
    /// APIs must enforce the location policy strictly.
    pub cae_strict_location: bool,
    /// CAE is disabled: short-lived tokens only.
    pub cae_disabled: bool,
    /// Access-token lifetime cap in minutes.
    pub access_token_lifetime_minutes: Option<u32>,
}

/// A decision with the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow, block or interrupt.
    pub outcome: Outcome,
    /// Merged session controls.
    pub session: SessionOutcome,
    /// One result per policy, ordered by policy id.
    pub results: Vec<PolicyResult>,
    /// Named locations (indices into the set) containing the client's IP.
    pub matched_locations: Vec<u16>,
    /// Enabled policies that did not apply only because the client's address is outside their
    /// locations condition. A token issued on this decision names them, so an API that sees
    /// the token used from another address can tell whether one of them would apply there.
    pub location_dependent: Vec<PolicyId>,
}
