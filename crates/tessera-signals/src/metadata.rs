//! Transmitter metadata (SSF 1.0 §7): the document at `/.well-known/ssf-configuration`.

use serde::{Deserialize, Serialize};

use crate::stream::{POLL, PUSH};

/// The transmitter configuration metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransmitterMetadata {
    /// `1_0`.
    pub spec_version: String,
    /// The issuer of SETs.
    pub issuer: String,
    /// Where the SET signing keys are.
    pub jwks_uri: String,
    /// `urn:ietf:rfc:8935` and/or `urn:ietf:rfc:8936`.
    pub delivery_methods_supported: Vec<String>,
    /// Stream management.
    pub configuration_endpoint: String,
    /// Stream status.
    pub status_endpoint: String,
    /// Adding subjects.
    pub add_subject_endpoint: String,
    /// Removing subjects.
    pub remove_subject_endpoint: String,
    /// Verification requests.
    pub verification_endpoint: String,
    /// Members of complex subjects a receiver must understand.
    pub critical_subject_members: Vec<String>,
    /// How receivers authenticate.
    pub authorization_schemes: Vec<serde_json::Value>,
    /// `ALL` or `NONE`: which subjects a new stream carries before any are added.
    pub default_subjects: String,
}

impl TransmitterMetadata {
    /// Tessera's metadata for `issuer` (no trailing slash), with endpoints under `/ssf/…`.
    #[must_use]
    pub fn for_issuer(issuer: &str, default_subjects_all: bool) -> Self {
        let issuer = issuer.trim_end_matches('/');
        let at = |p: &str| format!("{issuer}{p}");
        Self {
            spec_version: "1_0".into(),
            issuer: issuer.into(),
            jwks_uri: at("/jwks"),
            delivery_methods_supported: vec![PUSH.into(), POLL.into()],
            configuration_endpoint: at("/ssf/streams"),
            status_endpoint: at("/ssf/status"),
            add_subject_endpoint: at("/ssf/subjects:add"),
            remove_subject_endpoint: at("/ssf/subjects:remove"),
            verification_endpoint: at("/ssf/verify"),
            critical_subject_members: vec!["user".into()],
            authorization_schemes: vec![serde_json::json!({"spec_urn": "urn:ietf:rfc:6749"})],
            default_subjects: if default_subjects_all {
                "ALL".into()
            } else {
                "NONE".into()
            },
        }
    }
}

/// The metadata URL for an issuer: `/.well-known/ssf-configuration` goes between the host and
/// the issuer's path (`https://idp.example/tenant1` → `https://idp.example/.well-known/ssf-configuration/tenant1`).
///
/// # Errors
/// When `issuer` is not an absolute URL.
pub fn well_known_url(issuer: &str) -> Result<String, url::ParseError> {
    let url = url::Url::parse(issuer)?;
    let path = url.path().trim_end_matches('/');
    let mut origin = url.origin().ascii_serialization();
    origin.push_str("/.well-known/ssf-configuration");
    origin.push_str(path);
    Ok(origin)
}
