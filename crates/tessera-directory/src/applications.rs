//! Applications (OAuth clients). A confidential client authenticates with a secret, generated
//! here and shown once, or, when it registers a JWK Set, with `private_key_jwt`.

use serde::Deserialize;
use tessera_store::{AppKind, Application, Secret, Table};
use zeroize::Zeroizing;

use super::{Directory, DirectoryError, FieldError, Result, check_id, check_name, finish};

/// A grant type the token endpoint serves and an application may be given. A new grant is a
/// variant here and a module of `oauth` implementing `oauth::token::Grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE.
    AuthorizationCode,
    /// RFC 6749 §6, rotating.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628: for devices without a browser, approved by the user elsewhere.
    #[schema(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693: an API exchanges a user's token for one to call another API on their behalf.
    #[schema(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// Every grant type, in the order forms and metadata list them.
    pub const ALL: [Self; 5] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::TokenExchange,
    ];

    /// The `grant_type` value (RFC 6749).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// The grant type a `grant_type` value names, if Tessera serves it.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }

    /// Whether `app` was given this grant.
    #[must_use]
    pub fn allowed_for(self, app: &Application) -> bool {
        app.grant_types.iter().any(|g| g == self.as_str())
    }
}

/// The grant types an application may be given, as text.
pub const GRANT_TYPES: [&str; 5] = [
    GrantType::AuthorizationCode.as_str(),
    GrantType::RefreshToken.as_str(),
    GrantType::ClientCredentials.as_str(),
    GrantType::DeviceCode.as_str(),
    GrantType::TokenExchange.as_str(),
];

/// Access tokens live between 5 minutes and 28 hours (CAE-capable clients get day-long ones).
const ACCESS_TOKEN_MINUTES: std::ops::RangeInclusive<i64> = 5..=1680;
/// Refresh-token families live between 1 and 365 days.
const REFRESH_TOKEN_DAYS: std::ops::RangeInclusive<i64> = 1..=365;

/// How long a node trusts its copy of an application before reading it again. A change made
/// through a node applies there at once; other nodes see it within this time (as they see
/// policy changes).
pub const APPLICATION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Applications as client authentication reads them on every token request: kept for a few
/// seconds, forgotten at once when changed through this node.
#[derive(Clone)]
pub struct ApplicationCache(moka::sync::Cache<String, std::sync::Arc<Application>>);

impl std::fmt::Debug for ApplicationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationCache")
            .field("entries", &self.0.entry_count())
            .finish()
    }
}

impl Default for ApplicationCache {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(APPLICATION_CACHE_TTL)
                .build(),
        )
    }
}

impl ApplicationCache {
    /// The application `id`, from the cache or the store. Unknown ids are not remembered.
    ///
    /// # Errors
    /// The store's, `NotFound` included.
    pub async fn get(
        &self,
        store: &dyn tessera_store::Store,
        id: &str,
    ) -> tessera_store::Result<std::sync::Arc<Application>> {
        if let Some(app) = self.0.get(id) {
            return Ok(app);
        }
        let app = std::sync::Arc::new(store.application(id).await?);
        self.0.insert(id.to_owned(), app.clone());
        Ok(app)
    }

    /// Forgets `id` after a change.
    pub fn forget(&self, id: &str) {
        self.0.invalidate(id);
    }
}

/// An application as an administrator describes it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSpec {
    /// The `client_id`.
    pub id: String,
    /// A name shown on the sign-in page [default: the id].
    #[serde(default)]
    pub name: Option<String>,
    /// `public` or `confidential`.
    #[serde(default = "public")]
    #[schema(default = "public")]
    pub kind: AppKind,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant types [default: `authorization_code` and `refresh_token`].
    #[serde(default)]
    #[schema(value_type = Vec<GrantType>)]
    pub grant_types: Vec<String>,
    /// API scopes the client may request; OpenID scopes are always allowed.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A JWK Set of the client's public keys, for `private_key_jwt`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Access-token lifetime for clients that are not CAE-capable.
    #[serde(default = "sixty")]
    #[schema(default = 60, minimum = 5, maximum = 1680)]
    pub access_token_minutes: i64,
    /// Refresh-token family lifetime.
    #[serde(default = "thirty")]
    #[schema(default = 30, minimum = 1, maximum = 365)]
    pub refresh_token_days: i64,
    /// Treat the client as CAE-capable (`cp1`) even when it does not say so.
    #[serde(default)]
    pub cae_capable: bool,
    /// Refuse token requests without a DPoP proof.
    #[serde(default)]
    pub require_dpop: bool,
    /// Accept authorization requests only when pushed first (RFC 9126 `/par`).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Where the client takes OpenID Connect back-channel logout tokens (`https`; plain
    /// `http` only for a confidential client). Every session of the client's that ends, by
    /// sign-out, an administrator or a signal, is announced there.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Hold the client to the FAPI 2.0 Security Profile: confidential with keys (it
    /// authenticates with `private_key_jwt` only), its authorization requests pushed, its
    /// tokens DPoP-bound, its refresh tokens not rotated.
    #[serde(default)]
    pub fapi2: bool,
}

const fn public() -> AppKind {
    AppKind::Public
}
const fn sixty() -> i64 {
    60
}
const fn thirty() -> i64 {
    30
}

/// An application just written, with its new client secret when one was made.
#[derive(Debug)]
pub struct CreatedApplication {
    /// The record.
    pub app: Application,
    /// The client secret, to be shown once.
    pub secret: Option<Zeroizing<String>>,
}

impl ApplicationSpec {
    /// A spec with the defaults for `id`.
    #[must_use]
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: None,
            kind: AppKind::Public,
            redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: Vec::new(),
            jwks: None,
            access_token_minutes: sixty(),
            refresh_token_days: thirty(),
            cae_capable: false,
            require_dpop: false,
            require_pushed_authorization_requests: false,
            backchannel_logout_uri: None,
            fapi2: false,
        }
    }

    /// Every problem with the spec, or the grant types to use.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`].
    pub fn validate(&self) -> Result<Vec<String>> {
        let mut errors = Vec::new();
        check_id("id", &self.id, &mut errors);
        if let Some(name) = &self.name {
            check_name("name", name, &mut errors);
        }
        let grants = if self.grant_types.is_empty() {
            vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
        } else {
            self.grant_types.clone()
        };
        for (i, g) in grants.iter().enumerate() {
            if !GRANT_TYPES.contains(&g.as_str()) {
                errors.push(FieldError::new(
                    format!("grant_types[{i}]"),
                    format!("unknown grant type {g}; use one of {}", GRANT_TYPES.join(", ")),
                ));
            }
        }
        let code = grants.iter().any(|g| g == "authorization_code");
        if code && self.redirect_uris.is_empty() {
            errors.push(FieldError::new(
                "redirect_uris",
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        if self.require_pushed_authorization_requests && !code {
            errors.push(FieldError::new(
                "require_pushed_authorization_requests",
                "applies to the authorization_code grant, which this client does not use",
            ));
        }
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            if let Some(problem) = redirect_uri_problem(uri) {
                errors.push(FieldError::new(format!("redirect_uris[{i}]"), problem));
            }
        }
        if self.kind == AppKind::Public && grants.iter().any(|g| g == "client_credentials") {
            errors.push(FieldError::new(
                "grant_types",
                "a public client cannot use client_credentials",
            ));
        }
        if self.kind == AppKind::Public && grants.iter().any(|g| g == GrantType::TokenExchange.as_str()) {
            errors.push(FieldError::new(
                "grant_types",
                "a public client cannot exchange tokens: only an API that authenticates may act for a user",
            ));
        }
        if self.fapi2 {
            if self.kind != AppKind::Confidential {
                errors.push(FieldError::new(
                    "fapi2",
                    "the FAPI 2.0 profile is for confidential clients",
                ));
            }
            if self.jwks.is_none() {
                errors.push(FieldError::new(
                    "fapi2",
                    "needs jwks: a FAPI 2.0 client authenticates with private_key_jwt",
                ));
            }
            if grants
                .iter()
                .any(|g| g != GrantType::AuthorizationCode.as_str() && g != GrantType::RefreshToken.as_str())
            {
                errors.push(FieldError::new(
                    "fapi2",
                    "a FAPI 2.0 client uses the authorization_code and refresh_token grants only",
                ));
            }
        }
        if let Some(uri) = &self.backchannel_logout_uri
            && let Some(problem) = logout_uri_problem(uri, self.kind)
        {
            errors.push(FieldError::new("backchannel_logout_uri", problem));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid = !s.is_empty()
                && s.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                errors.push(FieldError::new(
                    format!("scopes[{i}]"),
                    "is not a valid scope token",
                ));
            }
        }
        if let Some(jwks) = &self.jwks {
            if self.kind == AppKind::Public {
                errors.push(FieldError::new(
                    "jwks",
                    "a public client cannot authenticate with keys",
                ));
            }
            if let Some(problem) = jwks_problem(jwks) {
                errors.push(FieldError::new("jwks", problem));
            }
        }
        if !ACCESS_TOKEN_MINUTES.contains(&self.access_token_minutes) {
            errors.push(FieldError::new(
                "access_token_minutes",
                format!(
                    "must be from {} to {}",
                    ACCESS_TOKEN_MINUTES.start(),
                    ACCESS_TOKEN_MINUTES.end()
                ),
            ));
        }
        if !REFRESH_TOKEN_DAYS.contains(&self.refresh_token_days) {
            errors.push(FieldError::new(
                "refresh_token_days",
                format!(
                    "must be from {} to {}",
                    REFRESH_TOKEN_DAYS.start(),
                    REFRESH_TOKEN_DAYS.end()
                ),
            ));
        }
        finish(errors)?;
        Ok(grants)
    }
}

/// Why a redirect URI cannot be registered: it must be absolute, without a fragment or
/// credentials (RFC 6749 §3.1.2), and one of (RFC 9700 §2.1, RFC 8252 §7): `https` with a
/// host, plain `http` on a loopback address, or a private-use scheme named after a domain the
/// app's publisher controls (`com.example.app:/cb`). Every other scheme (`javascript:`,
/// `data:`, `file:`, `vbscript:`, a bare `myapp:`) is refused: a browser would run or open it.
fn redirect_uri_problem(uri: &str) -> Option<String> {
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some("is not an absolute URI".into());
    };
    if parsed.fragment().is_some() {
        return Some("must not have a fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("must not carry credentials".into());
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => None,
        "https" => Some("has no host".into()),
        "http" if matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")) => None,
        "http" => Some("plain http is allowed only for loopback addresses; use https".into()),
        scheme if scheme.contains('.') => None,
        _ => Some(
            "must be https, http on a loopback address, or a private-use scheme named after a domain (com.example.app:/callback)"
                .into(),
        ),
    }
}

/// Why a back-channel logout URI cannot be registered (OpenID Connect Back-Channel Logout 1.0
/// §2.2): absolute, without a fragment or credentials, `https` with a host, or plain `http`
/// for a confidential client.
fn logout_uri_problem(uri: &str, kind: AppKind) -> Option<String> {
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some("is not an absolute URI".into());
    };
    if parsed.fragment().is_some() {
        return Some("must not have a fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("must not carry credentials".into());
    }
    let problem = match parsed.scheme() {
        "https" => None,
        "http" if kind == AppKind::Confidential => None,
        "http" => Some("plain http is allowed only for a confidential client; use https"),
        _ => Some("must be an https URL"),
    };
    if problem.is_none() && parsed.host_str().is_none_or(str::is_empty) {
        return Some("has no host".into());
    }
    problem.map(str::to_owned)
}

/// Why a JWK Set cannot be used for `private_key_jwt`.
fn jwks_problem(jwks: &serde_json::Value) -> Option<String> {
    let private = jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some() || k.get("k").is_some()));
    if private {
        return Some("holds private or symmetric key material; register public keys only".into());
    }
    let bytes = jwks.to_string();
    match tessera_jose::KeySet::from_jwks(bytes.as_bytes()) {
        Err(e) => Some(format!("is not a usable JWK Set: {e}")),
        Ok(set) if set.is_empty() => Some("holds no key Tessera can verify with".into()),
        Ok(set) if set.skipped() > 0 => Some(format!(
            "{} of its keys are not public EC, OKP or RSA signing keys",
            set.skipped()
        )),
        Ok(_) => None,
    }
}

impl Directory {
    /// Registers a new application. A confidential client without keys gets a secret.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`]; [`DirectoryError::Conflict`] when the id is taken.
    pub async fn create_application(&self, spec: &ApplicationSpec) -> Result<CreatedApplication> {
        self.create(spec, None).await
    }

    /// Registers a client that registered itself (RFC 7591), with how it did, in one commit.
    ///
    /// # Errors
    /// As [`Directory::create_application`].
    pub async fn create_registered_application(
        &self,
        spec: &ApplicationSpec,
        registration: &tessera_store::ClientRegistration,
    ) -> Result<CreatedApplication> {
        self.create(spec, Some(registration)).await
    }

    async fn create(
        &self,
        spec: &ApplicationSpec,
        registration: Option<&tessera_store::ClientRegistration>,
    ) -> Result<CreatedApplication> {
        let grants = spec.validate()?;
        if self.store.application(&spec.id).await.is_ok() {
            return Err(DirectoryError::Conflict(format!(
                "an application with id {} exists already",
                spec.id
            )));
        }
        let secret = (spec.kind == AppKind::Confidential && spec.jwks.is_none())
            .then(new_secret)
            .transpose()?;
        let app = self.record(spec, grants, secret.as_deref().map(|s| hashed(s)), self.now);
        let mut uow = self.store.begin().await?;
        uow.put_application(&app).await?;
        if let Some(registration) = registration {
            uow.put_client_registration(registration).await?;
        }
        uow.commit().await?;
        self.forget_application(&app.id);
        Ok(CreatedApplication { app, secret })
    }

    /// Replaces an application's settings; its secret stays (see [`Directory::rotate_secret`]).
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`], [`DirectoryError::NotFound`].
    pub async fn replace_application(&self, spec: &ApplicationSpec) -> Result<Application> {
        self.replace(spec, None).await
    }

    /// Replaces a self-registered client's settings and registration (RFC 7592 §2.2).
    ///
    /// # Errors
    /// As [`Directory::replace_application`].
    pub async fn replace_registered_application(
        &self,
        spec: &ApplicationSpec,
        registration: &tessera_store::ClientRegistration,
    ) -> Result<Application> {
        self.replace(spec, Some(registration)).await
    }

    async fn replace(
        &self,
        spec: &ApplicationSpec,
        registration: Option<&tessera_store::ClientRegistration>,
    ) -> Result<Application> {
        let grants = spec.validate()?;
        let existing = self.store.application(&spec.id).await?;
        if existing.kind != spec.kind {
            return Err(DirectoryError::field(
                "kind",
                "cannot change between public and confidential; register a new application",
            ));
        }
        // A FAPI 2.0 client authenticates with its keys only: a secret it had goes.
        let secret_hash = existing.secret_hash.filter(|_| !spec.fapi2);
        let app = self.record(spec, grants, secret_hash, existing.created_at);
        let mut uow = self.store.begin().await?;
        uow.put_application(&app).await?;
        if let Some(registration) = registration {
            uow.put_client_registration(registration).await?;
        }
        uow.commit().await?;
        self.forget_application(&app.id);
        Ok(app)
    }

    /// Gives a confidential application a new secret; the old one stops working at once.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`]; [`DirectoryError::Invalid`] for a public client.
    pub async fn rotate_secret(&self, id: &str) -> Result<Zeroizing<String>> {
        let mut app = self.store.application(id).await?;
        if app.kind == AppKind::Public {
            return Err(DirectoryError::field("kind", "a public client has no secret"));
        }
        let secret = new_secret()?;
        app.secret_hash = Some(hashed(&secret));
        app.changed_at = self.now;
        let mut uow = self.store.begin().await?;
        uow.put_application(&app).await?;
        uow.commit().await?;
        self.forget_application(id);
        Ok(secret)
    }

    /// Deletes an application.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn delete_application(&self, id: &str) -> Result<()> {
        let mut uow = self.store.begin().await?;
        uow.delete(Table::Applications, id).await?;
        uow.commit().await?;
        self.forget_application(id);
        Ok(())
    }

    fn record(
        &self,
        spec: &ApplicationSpec,
        grants: Vec<String>,
        secret_hash: Option<Secret>,
        created_at: tessera_store::Timestamp,
    ) -> Application {
        Application {
            id: spec.id.clone(),
            name: spec.name.clone().unwrap_or_else(|| spec.id.clone()),
            kind: spec.kind,
            secret_hash,
            redirect_uris: spec.redirect_uris.clone(),
            grant_types: grants,
            scopes: spec.scopes.clone(),
            jwks: spec.jwks.clone(),
            access_token_minutes: spec.access_token_minutes,
            refresh_token_days: spec.refresh_token_days,
            cae_capable: spec.cae_capable,
            // The profile needs both, whatever else the spec says.
            require_dpop: spec.require_dpop || spec.fapi2,
            require_pushed_authorization_requests: spec.require_pushed_authorization_requests || spec.fapi2,
            backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
            fapi2: spec.fapi2,
            created_at,
            changed_at: self.now,
        }
    }
}

fn new_secret() -> Result<Zeroizing<String>> {
    Ok(crate::secrets::new_client_secret().map(Zeroizing::new)?)
}

fn hashed(secret: &str) -> Secret {
    Secret::new(crate::secrets::hash_client_secret(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounds the OpenAPI document states are the ones `validate` applies.
    #[test]
    fn the_documented_bounds_are_the_checked_ones() {
        let schema = serde_json::to_value(<ApplicationSpec as utoipa::PartialSchema>::schema()).unwrap();
        for (field, range) in [
            ("access_token_minutes", ACCESS_TOKEN_MINUTES),
            ("refresh_token_days", REFRESH_TOKEN_DAYS),
        ] {
            let documented = &schema["properties"][field];
            assert_eq!(documented["minimum"], *range.start(), "{field}");
            assert_eq!(documented["maximum"], *range.end(), "{field}");
        }
    }

    fn problems(spec: &ApplicationSpec) -> Vec<String> {
        match spec.validate() {
            Ok(_) => vec![],
            Err(DirectoryError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn negative_table() {
        let ok = ApplicationSpec {
            redirect_uris: vec!["https://app.example/cb".into()],
            ..ApplicationSpec::new("app")
        };
        assert!(problems(&ok).is_empty());
        let native = ApplicationSpec {
            redirect_uris: vec!["http://127.0.0.1/cb".into(), "com.example.app:/cb".into()],
            ..ApplicationSpec::new("app")
        };
        assert!(problems(&native).is_empty());
        let logout = ApplicationSpec {
            backchannel_logout_uri: Some("https://app.example/logout?from=idp".into()),
            ..ok.clone()
        };
        assert!(problems(&logout).is_empty());
        let internal = ApplicationSpec {
            kind: AppKind::Confidential,
            backchannel_logout_uri: Some("http://app.internal:8080/logout".into()),
            ..ok.clone()
        };
        assert!(
            problems(&internal).is_empty(),
            "plain http for a confidential client"
        );
        let cases: Vec<(ApplicationSpec, &str)> = vec![
            (ApplicationSpec::new("app"), "redirect_uris"),
            (
                ApplicationSpec {
                    id: "a b".into(),
                    ..ok.clone()
                },
                "id",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["/cb".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["https://app.example/cb#x".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["http://app.example/cb".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            // Hardening item 11: schemes a browser would run or open.
            (
                ApplicationSpec {
                    redirect_uris: vec!["javascript:alert(document.cookie)//".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["data:text/html,<script>alert(1)</script>".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["file:///etc/passwd".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["myapp:/cb".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    redirect_uris: vec!["https://user:pw@app.example/cb".into()],
                    ..ok.clone()
                },
                "redirect_uris[0]",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("javascript:alert(1)".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("http://rp.example/logout".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("https://rp.example/logout#frag".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("https://u:p@rp.example/logout".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("/logout".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    backchannel_logout_uri: Some("ftp://rp.example/logout".into()),
                    ..ok.clone()
                },
                "backchannel_logout_uri",
            ),
            (
                ApplicationSpec {
                    fapi2: true,
                    ..ok.clone()
                },
                "fapi2",
            ),
            (
                ApplicationSpec {
                    kind: AppKind::Confidential,
                    fapi2: true,
                    ..ok.clone()
                },
                "fapi2",
            ),
            (
                ApplicationSpec {
                    grant_types: vec!["password".into()],
                    ..ok.clone()
                },
                "grant_types[0]",
            ),
            (
                ApplicationSpec {
                    grant_types: vec!["client_credentials".into()],
                    ..ok.clone()
                },
                "grant_types",
            ),
            (
                ApplicationSpec {
                    scopes: vec!["mail read".into()],
                    ..ok.clone()
                },
                "scopes[0]",
            ),
            (
                ApplicationSpec {
                    kind: AppKind::Confidential,
                    jwks: Some(serde_json::json!({"keys": [{"kty": "oct", "k": "AAAA"}]})),
                    ..ok.clone()
                },
                "jwks",
            ),
            (
                ApplicationSpec {
                    kind: AppKind::Confidential,
                    jwks: Some(
                        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "d": "AAAA"}]}),
                    ),
                    ..ok.clone()
                },
                "jwks",
            ),
            (
                ApplicationSpec {
                    jwks: Some(serde_json::json!({"keys": []})),
                    ..ok.clone()
                },
                "jwks",
            ),
            (
                ApplicationSpec {
                    access_token_minutes: 0,
                    ..ok.clone()
                },
                "access_token_minutes",
            ),
            (
                ApplicationSpec {
                    refresh_token_days: 1000,
                    ..ok.clone()
                },
                "refresh_token_days",
            ),
        ];
        for (spec, field) in cases {
            let found = problems(&spec);
            assert!(
                found.iter().any(|f| f == field),
                "{field}: {found:?} for {spec:?}"
            );
        }
    }
}
