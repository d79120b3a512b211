//! The client-credentials grant (RFC 6749 §4.4): a confidential client gets a token for itself.

use std::collections::BTreeSet;

use tessera_directory::GrantType;

use super::access_token::{self, Grant};
use super::client_auth::Client;
use super::form::Form;
use crate::error::OAuthError;
use crate::state::AppState;

/// The scopes to grant: the requested ones if the client may have them all, or every scope it
/// may have when it asked for none (RFC 6749 §3.3).
///
/// # Errors
/// `invalid_scope` naming a scope the client may not have.
pub fn granted_scopes(allowed: &[String], requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let mut out = BTreeSet::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        let valid = s
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(OAuthError::invalid_scope(
                "a scope contains characters RFC 6749 does not allow",
            ));
        }
        if !allowed.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(format!(
                "this client may not request scope {s}"
            )));
        }
        out.insert(s);
    }
    Ok(out.into_iter().collect::<Vec<_>>().join(" "))
}

/// Checks a `resource` parameter (RFC 8707 §2): an absolute URI without a fragment.
///
/// # Errors
/// `invalid_target`.
pub fn check_resource(resource: &str) -> Result<String, OAuthError> {
    match url::Url::parse(resource) {
        Ok(url) if url.fragment().is_none() => Ok(resource.to_owned()),
        _ => Err(OAuthError::invalid_target(
            "resource must be an absolute URI without a fragment",
        )),
    }
}

/// The audience of a user's access token at the token endpoint (RFC 8707 §2.2): the resource the
/// token request names, which must be the one the authorization was for when it named one; else
/// the authorization's.
///
/// # Errors
/// `invalid_target` for a resource that is malformed, repeated or not the authorized one.
pub fn token_resource(form: &Form, authorized: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(asked) = form.one_resource()? else {
        return Ok(authorized.map(str::to_owned));
    };
    let asked = check_resource(asked)?;
    match authorized {
        Some(granted) if granted != asked => Err(OAuthError::invalid_target(format!(
            "the authorization was for resource {granted}; a token for another cannot come of it"
        ))),
        _ => Ok(Some(asked)),
    }
}

/// `grant_type=client_credentials`.
#[derive(Debug)]
pub struct ClientCredentials;

impl super::token::Grant for ClientCredentials {
    const TYPE: GrantType = GrantType::ClientCredentials;
    const NOT_GIVEN: &'static str = "this client may not use client credentials";

    /// Public clients never; others when given the grant.
    fn check_client(client: &Client) -> Result<(), OAuthError> {
        if client.app.kind != tessera_store::AppKind::Confidential {
            return Err(OAuthError::unauthorized_client(
                "public clients cannot use client credentials",
            ));
        }
        Self::given(client)
    }

    async fn serve(r: &super::token::GrantRequest<'_>) -> Result<serde_json::Value, OAuthError> {
        grant(r.state, r.client, r.form, r.caller.jkt)
    }
}

/// Handles `grant_type=client_credentials`.
///
/// # Errors
/// `unauthorized_client` for public clients or clients without the grant, `invalid_scope`,
/// `invalid_request` for a bad `resource`.
pub fn grant(
    state: &AppState,
    client: &Client,
    form: &Form,
    jkt: Option<&tessera_jose::Jkt>,
) -> Result<serde_json::Value, OAuthError> {
    <ClientCredentials as super::token::Grant>::check_client(client)?;
    let app = &client.app;
    let scope = granted_scopes(&app.scopes, form.get("scope"))?;
    // RFC 8707: the audience is the resource asked for, an absolute URI without a fragment.
    let audience = match form.one_resource()? {
        None => state.config.issuer.clone(),
        Some(r) => check_resource(r)?,
    };
    let lifetime = u64::try_from(app.access_token_minutes.max(1)).unwrap_or(60) * 60;
    let issued = access_token::issue(
        state,
        &Grant {
            subject: &app.id,
            client_id: &app.id,
            audience: &audience,
            scope: &scope,
            lifetime,
            jkt,
            sid: None,
            device_id: None,
            cp1: false,
            location_policies: &[],
            location_strict: false,
            act: None,
            authentication: None,
        },
    )?;
    let mut body = serde_json::json!({
        "access_token": issued.token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": issued.expires_in,
    });
    if !scope.is_empty() {
        body["scope"] = serde_json::Value::String(scope);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        let allowed = vec!["mail.read".to_owned(), "mail.send".to_owned()];
        assert_eq!(granted_scopes(&allowed, None).unwrap(), "mail.read mail.send");
        assert_eq!(
            granted_scopes(&allowed, Some("mail.send  mail.read mail.send")).unwrap(),
            "mail.read mail.send"
        );
        assert_eq!(
            granted_scopes(&allowed, Some("admin")).unwrap_err().code(),
            "invalid_scope"
        );
        assert_eq!(
            granted_scopes(&allowed, Some("mail.read \"x\""))
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
    }
}
