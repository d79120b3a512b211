//! JWT validation by token kind. Each kind has its own `typ` (so one kind of token can never be
//! accepted as another, RFC 8725 §3.11) and its own required claims; times are checked against
//! an injected [`Clock`] with a leeway.
//!
//! | kind | `typ` | required claims |
//! |---|---|---|
//! | [`TokenKind::AccessToken`] (RFC 9068) | `at+jwt` | iss, exp, aud, sub, client_id, iat, jti |
//! | [`TokenKind::IdToken`] (OIDC Core §2) | absent or `JWT` | iss, sub, aud, exp, iat |
//! | [`TokenKind::Logout`] (OIDC Back-Channel Logout §2.4) | `logout+jwt` | iss, aud, iat, exp, jti, events, sub or sid; no nonce |
//! | [`TokenKind::SecurityEvent`] (RFC 8417) | `secevent+jwt` | iss, aud, iat, jti |
//! | [`TokenKind::DpopProof`] (RFC 9449) | `dpop+jwt` | see [`crate::dpop`] |
//! | [`TokenKind::ClientAssertion`] (RFC 7523 §3) | absent, `JWT` or `client-authentication+jwt` | iss, sub, aud, exp, jti |
//!
//! `typ` is compared case-insensitively and with an optional `application/` prefix, as
//! RFC 7515 §4.1.9 allows.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp, UnixTime};
use crate::jwk::PublicJwk;
use crate::jws::{self, JwsError};
use crate::keyset::KeySet;

/// The kinds of signed token Tessera issues or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A JWT access token, `typ: at+jwt` (RFC 9068).
    AccessToken,
    /// An OpenID Connect ID token, `typ` absent or `JWT`.
    IdToken,
    /// A DPoP proof, `typ: dpop+jwt` (RFC 9449).
    DpopProof,
    /// A Security Event Token, `typ: secevent+jwt` (RFC 8417).
    SecurityEvent,
    /// A back-channel logout token, `typ: logout+jwt`.
    Logout,
    /// A client's authentication assertion (`private_key_jwt`, RFC 7523 §2.2): `typ` absent,
    /// `JWT`, or `client-authentication+jwt` as RFC 7523bis recommends.
    ClientAssertion,
    /// A JWT-secured authorization request (RFC 9101): `typ` absent, `JWT`, or
    /// `oauth-authz-req+jwt` as §10.8 recommends. `iss`, when present, is the client.
    RequestObject,
}

impl TokenKind {
    /// The `typ` Tessera writes for this kind.
    #[must_use]
    pub const fn typ(self) -> Option<&'static str> {
        match self {
            Self::AccessToken => Some("at+jwt"),
            Self::IdToken => Some("JWT"),
            Self::DpopProof => Some("dpop+jwt"),
            Self::SecurityEvent => Some("secevent+jwt"),
            Self::Logout => Some("logout+jwt"),
            Self::ClientAssertion => Some("client-authentication+jwt"),
            Self::RequestObject => Some("oauth-authz-req+jwt"),
        }
    }

    /// Whether a header's `typ` denotes this kind.
    #[must_use]
    pub fn accepts_typ(self, typ: Option<&str>) -> bool {
        match (self, typ) {
            (Self::IdToken | Self::ClientAssertion | Self::RequestObject, None) => true,
            (Self::ClientAssertion | Self::RequestObject, Some(t))
                if strip_application_prefix(t).eq_ignore_ascii_case("JWT") =>
            {
                true
            }
            (_, None) => false,
            (kind, Some(t)) => {
                let t = strip_application_prefix(t);
                kind.typ().is_some_and(|want| t.eq_ignore_ascii_case(want))
            }
        }
    }

    const fn required(self) -> &'static [Claim] {
        use Claim::*;
        match self {
            Self::AccessToken => &[Iss, Exp, Aud, Sub, ClientId, Iat, Jti],
            Self::IdToken => &[Iss, Sub, Aud, Exp, Iat],
            Self::Logout => &[Iss, Aud, Iat, Exp, Jti],
            Self::SecurityEvent => &[Iss, Aud, Iat, Jti],
            Self::DpopProof => &[Jti, Iat],
            Self::ClientAssertion => &[Iss, Sub, Aud, Exp, Jti],
            // RFC 9101 §4: every parameter is in the object, `client_id` among them; `aud`
            // names the authorization server, so an object made for another one is refused.
            Self::RequestObject => &[Aud, ClientId],
        }
    }
}

fn strip_application_prefix(typ: &str) -> &str {
    match typ.get(..12) {
        Some(p) if p.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    }
}

/// A registered claim, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `iss`
    Iss,
    /// `sub`
    Sub,
    /// `aud`
    Aud,
    /// `exp`
    Exp,
    /// `iat`
    Iat,
    /// `jti`
    Jti,
    /// `client_id`
    ClientId,
    /// `events`
    Events,
    /// `sub` or `sid`
    SubOrSid,
}

impl Claim {
    /// The claim name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Iss => "iss",
            Self::Sub => "sub",
            Self::Aud => "aud",
            Self::Exp => "exp",
            Self::Iat => "iat",
            Self::Jti => "jti",
            Self::ClientId => "client_id",
            Self::Events => "events",
            Self::SubOrSid => "sub or sid",
        }
    }
}

/// Why a JWT was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The JWS layer refused it (format, header rules, key, signature).
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// The `typ` is not the one this kind requires.
    #[error("typ {found:?} is not valid for this token (expected {expected:?})")]
    WrongType {
        /// The `typ` found.
        found: Option<String>,
        /// The `typ` wanted.
        expected: &'static str,
    },
    /// The algorithm is not in this validation's allowlist.
    #[error("algorithm {0} is not allowed for this token")]
    AlgorithmNotAllowed(crate::alg::Algorithm),
    /// An embedded `jwk` header in a token that must be verified by the issuer's keys.
    #[error("embedded jwk headers are not accepted for this token")]
    EmbeddedKey,
    /// A required claim is absent.
    #[error("claim {} is missing", .0.name())]
    MissingClaim(Claim),
    /// A claim has the wrong JSON type or a value that makes no sense.
    #[error("claim {0} is malformed")]
    MalformedClaim(&'static str),
    /// A claim that this kind must not carry.
    #[error("claim {0} is not allowed in this token")]
    ForbiddenClaim(&'static str),
    /// `iss` is not the expected issuer.
    #[error("issuer {0:?} is not trusted")]
    WrongIssuer(String),
    /// `aud` does not include the expected audience.
    #[error("audience does not include {0:?}")]
    WrongAudience(String),
    /// `exp` has passed (beyond leeway).
    #[error("token expired at {0}")]
    Expired(UnixTime),
    /// `nbf` is in the future (beyond leeway).
    #[error("token not valid before {0}")]
    NotYetValid(UnixTime),
    /// `iat` is in the future (beyond leeway).
    #[error("token issued in the future ({0})")]
    IssuedInFuture(UnixTime),
}

/// One string or an array of strings, as `aud` may be (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` is among the audiences.
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(a) => a == aud,
            Self::Many(v) => v.iter().any(|a| a == aud),
        }
    }

    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::One(a) => (Some(a.as_str()), &[][..]),
            Self::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

impl From<&str> for Audience {
    fn from(s: &str) -> Self {
        Self::One(s.to_owned())
    }
}

/// Parses a `NumericDate`: a JSON number of seconds, integer or not (fractions are dropped).
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixTime>, D::Error> {
    let n = Option::<serde_json::Number>::deserialize(d)?;
    n.map(|n| {
        if let Some(i) = n.as_i64() {
            Ok(UnixTime(i))
        } else {
            match n.as_f64() {
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(UnixTime(f.floor() as i64)),
                _ => Err(de::Error::custom("NumericDate out of range")),
            }
        }
    })
    .transpose()
}

/// The registered claims every kind may use. Unknown claims are ignored here; read them with
/// [`VerifiedJwt::claims`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegisteredClaims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Audience(s).
    pub aud: Option<Audience>,
    /// Expiry.
    #[serde(default, deserialize_with = "numeric_date")]
    pub exp: Option<UnixTime>,
    /// Not before.
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: Option<UnixTime>,
    /// Issued at.
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: Option<UnixTime>,
    /// Issued at, to the millisecond (`tessera_iat_ms`, a Tessera extension beside `iat`; see
    /// [`RegisteredClaims::issued_at_earliest`]).
    #[serde(default, rename = "tessera_iat_ms")]
    pub iat_ms: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
    /// OAuth client (RFC 9068).
    pub client_id: Option<String>,
    /// Session id (OIDC).
    pub sid: Option<String>,
    /// Present only to be refused where forbidden.
    nonce: Option<serde_json::Value>,
    events: Option<serde_json::Map<String, serde_json::Value>>,
}

impl RegisteredClaims {
    /// The first millisecond the token may have been issued at, for comparing with a
    /// revocation instant: `tessera_iat_ms` when it falls within `iat`'s second (Tessera's own
    /// tokens), else the start of `iat`'s second; `None` without `iat`.
    #[must_use]
    pub fn issued_at_earliest(&self) -> Option<Timestamp> {
        let iat = self.iat?;
        Some(
            self.iat_ms
                .map(Timestamp)
                .filter(|ms| ms.unix_time() == iat)
                .unwrap_or_else(|| Timestamp::from(iat)),
        )
    }

    fn has(&self, claim: Claim) -> bool {
        match claim {
            Claim::Iss => self.iss.is_some(),
            Claim::Sub => self.sub.is_some(),
            Claim::Aud => self.aud.is_some(),
            Claim::Exp => self.exp.is_some(),
            Claim::Iat => self.iat.is_some(),
            Claim::Jti => self.jti.is_some(),
            Claim::ClientId => self.client_id.is_some(),
            Claim::Events => self.events.is_some(),
            Claim::SubOrSid => self.sub.is_some() || self.sid.is_some(),
        }
    }
}

/// The rules a token must satisfy.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The kind, which fixes `typ` and required claims.
    pub kind: TokenKind,
    /// The only accepted `iss`.
    pub issuer: String,
    /// `aud` must contain this value; `None` accepts any audience (for an authorization server
    /// introspecting its own tokens). The `aud` claim stays required where the kind requires it.
    pub audience: Option<String>,
    /// Algorithms accepted (each key further restricts to its own).
    pub algorithms: Vec<crate::alg::Algorithm>,
    /// Tolerance for clock skew on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
}

impl Validation {
    /// Default rules for `kind`: ES256, EdDSA and RS256 and PS256 accepted, 30 s leeway.
    #[must_use]
    pub fn new(kind: TokenKind, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        use crate::alg::Algorithm::*;
        Self {
            kind,
            issuer: issuer.into(),
            audience: Some(audience.into()),
            algorithms: vec![Es256, EdDsa, Rs256, Ps256],
            leeway: 30,
        }
    }

    /// The same rules, accepting any audience. Only for a party that is not itself the
    /// audience, such as the issuer answering an introspection request.
    #[must_use]
    pub fn any_audience(mut self) -> Self {
        self.audience = None;
        self
    }
}

/// A token whose signature, type and claims have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// The header.
    pub header: jws::Header,
    /// The registered claims.
    pub registered: RegisteredClaims,
    /// The key that verified it.
    pub key: PublicJwk,
    payload: Vec<u8>,
}

impl VerifiedJwt {
    /// Deserialises the payload into `T` (for claims beyond the registered ones).
    ///
    /// # Errors
    /// [`JwtError::MalformedClaim`] when the payload does not fit `T`.
    pub fn claims<'a, T: Deserialize<'a>>(&'a self) -> Result<T, JwtError> {
        serde_json::from_slice(&self.payload).map_err(|_| JwtError::MalformedClaim("payload"))
    }

    /// The raw payload.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Verifies a JWT of a given kind against the issuer's key set.
///
/// Order: structure and header rules, `typ`, algorithm allowlist, signature, then claims. The
/// signature is checked before any claim is believed.
///
/// # Errors
/// [`JwtError`] naming the first rule the token breaks.
pub fn verify(
    token: &str,
    keys: &KeySet,
    rules: &Validation,
    clock: &dyn Clock,
) -> Result<VerifiedJwt, JwtError> {
    let jws = jws::decode(token)?;
    let header = jws.header();
    if !rules.kind.accepts_typ(header.typ.as_deref()) {
        return Err(JwtError::WrongType {
            found: header.typ.clone(),
            expected: rules.kind.typ().unwrap_or("JWT"),
        });
    }
    if !rules.algorithms.contains(&header.alg) {
        return Err(JwtError::AlgorithmNotAllowed(header.alg));
    }
    if header.jwk.is_some() {
        return Err(JwtError::EmbeddedKey);
    }
    let key = jws.verify_with_set(keys)?.clone();
    let header = jws.header().clone();
    let payload = jws.into_payload();
    let registered: RegisteredClaims =
        serde_json::from_slice(&payload).map_err(|e| JwtError::Jws(JwsError::BadPayload(e.to_string())))?;
    check_claims(&registered, rules, clock.now().unix_time())?;
    Ok(VerifiedJwt {
        header,
        registered,
        key,
        payload,
    })
}

fn check_claims(c: &RegisteredClaims, rules: &Validation, now: UnixTime) -> Result<(), JwtError> {
    for claim in rules.kind.required() {
        if !c.has(*claim) {
            return Err(JwtError::MissingClaim(*claim));
        }
    }
    if let Some(iss) = &c.iss
        && *iss != rules.issuer
    {
        return Err(JwtError::WrongIssuer(iss.clone()));
    }
    if let (Some(aud), Some(want)) = (&c.aud, &rules.audience)
        && !aud.contains(want)
    {
        return Err(JwtError::WrongAudience(want.clone()));
    }
    if let Some(exp) = c.exp
        && now > exp.plus(rules.leeway)
    {
        return Err(JwtError::Expired(exp));
    }
    if let Some(nbf) = c.nbf
        && now.plus(rules.leeway) < nbf
    {
        return Err(JwtError::NotYetValid(nbf));
    }
    if let Some(iat) = c.iat
        && now.plus(rules.leeway) < iat
    {
        return Err(JwtError::IssuedInFuture(iat));
    }
    if rules.kind == TokenKind::Logout {
        const BACKCHANNEL: &str = "http://schemas.openid.net/event/backchannel-logout";
        if !c.has(Claim::SubOrSid) {
            return Err(JwtError::MissingClaim(Claim::SubOrSid));
        }
        match &c.events {
            None => return Err(JwtError::MissingClaim(Claim::Events)),
            Some(events) if !events.get(BACKCHANNEL).is_some_and(serde_json::Value::is_object) => {
                return Err(JwtError::MalformedClaim("events"));
            }
            Some(_) => {}
        }
        if c.nonce.is_some() {
            return Err(JwtError::ForbiddenClaim("nonce"));
        }
    }
    Ok(())
}
