//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): an API that
//! received a user's access token exchanges it for a token to call another API on the user's
//! behalf.
//!
//! What Tessera accepts, and why:
//! - The client is confidential, was given the grant, and `[token_exchange] audiences` lets it
//!   reach the one audience it asks for (`audience` or `resource`; several are `invalid_target`).
//! - The subject token is one of Tessera's access tokens for a user, meant for the client (its
//!   client id in `aud`, or an audience `[introspection] resource_servers` says it serves),
//!   unexpired and not revoked, whose user is still enabled. A token issued by anyone else, to a
//!   client for itself, or to another API is refused (`invalid_request`, §2.2.2).
//! - An actor token, when sent, must be the client's own (its client-credentials token): the
//!   party acting is the one that authenticated, and no one else can be named.
//! - The new token keeps the subject's `sub` and `sid`, so revoking the user or the session
//!   reaches every token of the chain through continuous access evaluation; it names the client
//!   in `act` (with the previous actors nested inside, §4.1), its scopes are the subject token's
//!   that the client may have, it expires no later than the subject token, and it is bound to
//!   the client's own DPoP key when the request carries a proof; how the user signed in (`acr`,
//!   `amr`, `auth_time`) is carried as it was.
//! - Conditional Access decided at the sign-in and decides again at every refresh; the exchange
//!   cannot outlive that decision and is logged in the sign-in log with the client that made it.
//!   The location policies of the subject token are not carried over: the next API sees only the
//!   calling API's address, and the API that received the user's token has enforced them.

use serde_json::{Value, json};
use tessera_directory::GrantType;
use tessera_directory::access::{LogEntry, TokenProtection};
use tessera_jose::Jkt;
use tessera_jose::jwt::{TokenKind, Validation, VerifiedJwt, verify};
use tessera_store::{AppKind, StoreError, SubjectKind, Timestamp, User, UserStatus};

use super::access_token::{self, Grant};
use super::client_auth::Client;
use super::token::GrantRequest;
use crate::access;
use crate::error::OAuthError;
use crate::state::AppState;

/// RFC 8693 §3: an OAuth 2.0 access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: a JWT (Tessera's access tokens are JWTs, so either name is accepted for them).
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// How many actors a chain may name (`act` nested in `act`…) before an exchange is refused: a
/// bound on the token's size and on how far a user's authority travels.
pub const MAX_ACTORS: usize = 4;

/// Scopes of the sign-in itself, which say nothing an API could be given.
const SIGN_IN_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`.
#[derive(Debug)]
pub struct TokenExchange;

impl super::token::Grant for TokenExchange {
    const TYPE: GrantType = GrantType::TokenExchange;
    const NOT_GIVEN: &'static str = "this client may not exchange tokens";

    /// Confidential clients given the grant: an API acting for a user must authenticate.
    fn check_client(client: &Client) -> Result<(), OAuthError> {
        if client.app.kind != AppKind::Confidential {
            return Err(OAuthError::unauthorized_client(
                "only a confidential client can exchange tokens",
            ));
        }
        Self::given(client)
    }

    async fn serve(r: &GrantRequest<'_>) -> Result<Value, OAuthError> {
        let exchange = Exchange::read(r)?;
        let subject = subject(r.state, r.client, exchange.subject_token).await?;
        match subject.refusal() {
            Some(refusal) => {
                log(r, &subject.user.id, "refused", Some("invalid_request")).await;
                Err(refusal)
            }
            None => {
                let body = issue(r, &exchange, &subject)?;
                log(r, &subject.user.id, "success", None).await;
                Ok(body)
            }
        }
    }
}

/// The request's parameters, checked.
struct Exchange<'a> {
    subject_token: &'a str,
    /// The one audience asked for.
    audience: String,
}

impl<'a> Exchange<'a> {
    /// Reads and checks everything that needs no token verified.
    fn read(r: &GrantRequest<'a>) -> Result<Self, OAuthError> {
        let form = r.form;
        let subject_token = form.require("subject_token")?;
        token_type("subject_token_type", form.require("subject_token_type")?)?;
        match (form.get("actor_token"), form.get("actor_token_type")) {
            (Some(actor), Some(kind)) => {
                token_type("actor_token_type", kind)?;
                actor_is_the_client(r.state, r.client, actor)?;
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type is required with actor_token",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type must not be sent without actor_token",
                ));
            }
            (None, None) => {}
        }
        if let Some(requested) = form.get("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(format!(
                "Tessera exchanges tokens for access tokens only: requested_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
        let audience = target(r.state, &r.client.app.id, form)?;
        Ok(Self {
            subject_token,
            audience,
        })
    }
}

/// Checks a `…_token_type`: an access token, which Tessera's are, also called a JWT.
fn token_type(parameter: &str, value: &str) -> Result<(), OAuthError> {
    if value == ACCESS_TOKEN_TYPE || value == JWT_TYPE {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(format!(
            "{parameter} {value} is not supported: Tessera exchanges its own access tokens ({ACCESS_TOKEN_TYPE})"
        )))
    }
}

/// The one audience of the request (`audience` and `resource` together, RFC 8693 §2.1), which
/// the client must be allowed to reach.
fn target(state: &AppState, client: &str, form: &super::form::Form) -> Result<String, OAuthError> {
    let mut targets: Vec<String> = form.all("audience").into_iter().map(str::to_owned).collect();
    for resource in form.all("resource") {
        targets.push(super::client_credentials::check_resource(resource)?);
    }
    targets.sort();
    targets.dedup();
    let audience = match targets.as_slice() {
        [] => {
            return Err(OAuthError::invalid_request(
                "name the API the new token is for, with audience or resource",
            ));
        }
        [one] => one.clone(),
        _ => {
            return Err(OAuthError::invalid_target(
                "one audience per exchange: each access token has a single audience",
            ));
        }
    };
    if !state.config.token_exchange.allows(client, &audience) {
        return Err(OAuthError::invalid_target(format!(
            "client {client} may not exchange tokens for audience {audience}"
        )));
    }
    Ok(audience)
}

/// One of Tessera's access tokens, whatever its audience, checked to the second.
fn verified_access_token(state: &AppState, token: &str) -> Option<VerifiedJwt> {
    let mut rules = Validation::new(TokenKind::AccessToken, &state.config.issuer, "").any_audience();
    rules.leeway = 0;
    verify(token, state.keys.published(), &rules, state.clock.as_ref()).ok()
}

/// An actor token must be the client's own access token (its client credentials).
fn actor_is_the_client(state: &AppState, client: &Client, token: &str) -> Result<(), OAuthError> {
    let Some(actor) = verified_access_token(state, token) else {
        return Err(OAuthError::invalid_request(
            "the actor token is not a valid access token of this server",
        ));
    };
    let own = actor.registered.sub.as_deref() == Some(client.app.id.as_str())
        && actor.registered.client_id.as_deref() == Some(client.app.id.as_str());
    if own {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the actor token must be the authenticated client's own",
        ))
    }
}

/// The user a subject token speaks for, and what the token says.
struct Subject {
    user: User,
    claims: Value,
    sid: String,
    /// The subject token's expiry.
    exp: tessera_jose::UnixTime,
    /// Whether anything it belongs to was revoked since it was issued.
    revoked: bool,
}

impl Subject {
    /// Why the exchange is refused once the user is known, if it is.
    fn refusal(&self) -> Option<OAuthError> {
        if self.user.status != UserStatus::Enabled {
            return Some(OAuthError::invalid_request(
                "the subject token's user account is disabled",
            ));
        }
        if self.revoked {
            return Some(OAuthError::invalid_request("the subject token has been revoked"));
        }
        if actors(&self.claims["act"]) >= MAX_ACTORS {
            return Some(OAuthError::invalid_request(format!(
                "the subject token already names {MAX_ACTORS} actors: the chain ends here"
            )));
        }
        None
    }
}

/// How many actors an `act` claim names.
fn actors(act: &Value) -> usize {
    let mut n = 0;
    let mut at = act;
    while at.is_object() {
        n += 1;
        at = &at["act"];
    }
    n
}

/// Verifies the subject token: Tessera's, a user's, meant for `client`; reads its user and
/// whether it was revoked.
async fn subject(state: &AppState, client: &Client, token: &str) -> Result<Subject, OAuthError> {
    let invalid = |m: &str| OAuthError::invalid_request(format!("subject_token: {m}"));
    let Some(verified) = verified_access_token(state, token) else {
        return Err(invalid(
            "not a valid access token of this server (unknown signer, wrong type, or expired)",
        ));
    };
    let claims: Value = verified.claims().unwrap_or(Value::Null);
    let me = client.app.id.as_str();
    let meant_for_client = verified.registered.aud.as_ref().is_some_and(|aud| {
        aud.iter()
            .any(|aud| aud == me || state.config.introspection.serves(me, aud))
    });
    if !meant_for_client {
        return Err(invalid("the token is not meant for this client"));
    }
    let (Some(sub), Some(sid), Some(exp)) = (
        verified.registered.sub.as_deref(),
        claims["sid"].as_str(),
        verified.registered.exp,
    ) else {
        return Err(invalid("only a user's token (with a session) can be exchanged"));
    };
    let user = match state.store.user(&sub.into()).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(invalid("the token's user no longer exists")),
        Err(e) => return Err(e.into()),
    };
    let issued = verified.registered.issued_at_earliest().unwrap_or(Timestamp(0));
    let mut subjects = vec![(SubjectKind::User, sub), (SubjectKind::Session, sid)];
    if let Some(device) = claims["device_id"].as_str() {
        subjects.push((SubjectKind::Device, device));
    }
    let revoked = crate::revocation::revoked_since(state.store.as_ref(), &subjects, issued).await?;
    Ok(Subject {
        user,
        sid: sid.to_owned(),
        exp,
        revoked,
        claims,
    })
}

/// Issues the exchanged token; the response body (RFC 8693 §2.2.1).
fn issue(r: &GrantRequest<'_>, exchange: &Exchange<'_>, subject: &Subject) -> Result<Value, OAuthError> {
    let app = &r.client.app;
    let state = r.state;
    // The scopes the user granted that this client may pass on.
    let allowed: Vec<String> = subject.claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty() && !SIGN_IN_SCOPES.contains(s))
        .filter(|s| app.scopes.iter().any(|a| a == s))
        .map(str::to_owned)
        .collect();
    let scope = super::client_credentials::granted_scopes(&allowed, r.form.get("scope")).map_err(|_| {
        OAuthError::invalid_scope(
            "an exchange cannot widen the subject token's scope, nor pass on a scope this client may not have",
        )
    })?;
    let cp1 = app.cae_capable
        && subject.claims["xms_cc"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "cp1"));
    let minutes = if cp1 {
        i64::from(state.config.tokens.cae_access_token_minutes)
    } else {
        app.access_token_minutes
    };
    let own = u64::try_from(minutes.max(1)).unwrap_or(60) * 60;
    let left = u64::try_from(subject.exp.as_secs() - state.unix_time().as_secs()).unwrap_or(0);
    let lifetime = own.min(left).max(1);
    // How the user signed in stays what it was: an API asking for a step-up judges the user.
    let amr: Vec<String> = subject.claims["amr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let authentication = match (
        subject.claims["acr"].as_str(),
        subject.claims["auth_time"].as_i64(),
    ) {
        (Some(acr), Some(auth_time)) => Some(access_token::Authentication {
            acr,
            auth_time,
            amr: &amr,
        }),
        _ => None,
    };
    let mut act = json!({ "sub": app.id });
    if subject.claims["act"].is_object() {
        act["act"] = subject.claims["act"].clone();
    }
    let issued = access_token::issue(
        state,
        &Grant {
            subject: &subject.user.id.0,
            client_id: &app.id,
            audience: &exchange.audience,
            scope: &scope,
            lifetime,
            jkt: r.caller.jkt,
            sid: Some(&subject.sid),
            device_id: None,
            cp1,
            location_policies: &[],
            location_strict: false,
            act: Some(&act),
            authentication,
        },
    )?;
    Ok(json!({
        "access_token": issued.token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": if r.caller.jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": issued.expires_in,
        "scope": scope,
    }))
}

/// The sign-in log's entry for an exchange of `user`'s token.
async fn log(
    r: &GrantRequest<'_>,
    user: &tessera_store::UserId,
    outcome: &'static str,
    error: Option<&'static str>,
) {
    let entry = LogEntry {
        stage: r.caller.stage,
        user: Some(user),
        client_id: Some(&r.client.app.id),
        ip: r.caller.ip,
        outcome,
        // The key, if any, is the API's own: no device is involved.
        token_protection: TokenProtection::NotApplicable,
        device_id: None,
        jkt: r.caller.jkt.map(Jkt::as_str),
        error,
        key_binding: None,
        transfer: None,
    };
    access::log(r.state, &entry, None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_count_the_nesting() {
        assert_eq!(actors(&Value::Null), 0);
        assert_eq!(actors(&json!({"sub": "a"})), 1);
        assert_eq!(
            actors(&json!({"sub": "a", "act": {"sub": "b", "act": {"sub": "c"}}})),
            3
        );
        assert_eq!(actors(&json!({"sub": "a", "act": "not an object"})), 1);
    }

    #[test]
    fn token_types() {
        assert!(token_type("subject_token_type", ACCESS_TOKEN_TYPE).is_ok());
        assert!(token_type("subject_token_type", JWT_TYPE).is_ok());
        for other in [
            "urn:ietf:params:oauth:token-type:refresh_token",
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:oauth:token-type:saml2",
            "access_token",
        ] {
            assert_eq!(
                token_type("subject_token_type", other).unwrap_err().code(),
                "invalid_request",
                "{other}"
            );
        }
    }
}
