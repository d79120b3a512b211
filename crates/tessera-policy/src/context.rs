//! What a policy is evaluated against: one sign-in or token refresh, fully described.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::{AppId, GroupId, RiskLevel, TrustType, UserId};

/// A device platform as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Platform {
    /// Android.
    #[serde(rename = "android")]
    Android,
    /// iOS / iPadOS.
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

/// The kind of client making the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientAppType {
    /// A web browser.
    Browser,
    /// A native app on a phone or desktop.
    MobileAppsAndDesktopClients,
    /// Anything else.
    Other,
}

/// How a sign-in was carried from the device that asks to the one the user signs in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TransferMethod {
    /// The device authorization grant (RFC 8628): a device shows a code, the user approves it
    /// in a browser elsewhere.
    DeviceCodeFlow,
    /// A sign-in handed from one signed-in device to another (Graph's term; Tessera has none).
    AuthenticationTransfer,
}

impl TransferMethod {
    /// Graph's word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DeviceCodeFlow => "deviceCodeFlow",
            Self::AuthenticationTransfer => "authenticationTransfer",
        }
    }

    /// The method Graph's word names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [Self::DeviceCodeFlow, Self::AuthenticationTransfer]
            .into_iter()
            .find(|m| m.as_str() == word)
    }
}

/// The user signing in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserContext {
    /// The user's id.
    pub id: UserId,
    /// Every group the user is a member of.
    #[serde(default)]
    pub groups: Vec<GroupId>,
    /// The user's current risk level.
    #[serde(default = "no_risk")]
    pub risk: RiskLevel,
}

const fn no_risk() -> RiskLevel {
    RiskLevel::None
}

/// Where a device's key lives, as Tessera's record says: ordered from weakest to strongest.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
#[schema(as = policy::KeyProtection)]
pub enum KeyProtection {
    /// A key in the client's files or memory.
    #[default]
    Software,
    /// The client says the key is in hardware; no evidence was verified.
    Hardware,
    /// Tessera verified evidence that the key cannot leave the hardware (TPM 2.0).
    Attested,
}

/// The device, as Tessera's registration record describes it (never as the client claims).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceContext {
    /// The device id.
    pub id: String,
    /// Its platform.
    pub platform: Platform,
    /// Its OS version.
    #[serde(default)]
    pub os_version: Option<String>,
    /// Whether it is registered with Tessera.
    pub registered: bool,
    /// Whether it is marked compliant.
    pub compliant: bool,
    /// How it is known.
    pub trust_type: TrustType,
    /// Where its key lives.
    #[serde(default)]
    pub key_protection: KeyProtection,
}

/// How the request stands with respect to device-bound tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TokenBinding {
    /// Not decided at this step (the interactive part of a sign-in, before any token).
    #[default]
    NotApplicable,
    /// A token request without a proof by a registered device key of this user.
    Missing,
    /// A token request with a proof by the key of a registered device of this user.
    BoundToDevice,
}

/// What the user has already done in this sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Satisfied {
    /// Multi-factor authentication is done.
    #[serde(default)]
    pub mfa: bool,
    /// Proof of a device key.
    #[serde(default)]
    pub token_binding: TokenBinding,
}

/// Everything a policy may look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInContext {
    /// The user.
    pub user: UserContext,
    /// The application (client) the sign-in is for.
    pub application: AppId,
    /// The registered device, when the request proved one.
    #[serde(default)]
    pub device: Option<DeviceContext>,
    /// The platform seen for an unregistered device (for example from the user agent).
    #[serde(default)]
    pub observed_platform: Option<Platform>,
    /// The client app type.
    pub client_app_type: ClientAppType,
    /// The client's IP address.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// The risk of this sign-in.
    #[serde(default = "no_risk")]
    pub sign_in_risk: RiskLevel,
    /// What has been satisfied already.
    #[serde(default)]
    pub satisfied: Satisfied,
    /// How the sign-in came from another device, when it did (the device code flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_flow: Option<TransferMethod>,
}

impl SignInContext {
    /// The platform to judge by: the registered device's, else the observed one.
    #[must_use]
    pub fn platform(&self) -> Option<Platform> {
        self.device
            .as_ref()
            .map(|d| d.platform)
            .or(self.observed_platform)
    }
}
