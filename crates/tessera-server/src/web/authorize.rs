//! `GET /authorize` in the browser: the sign-in pages when there is no usable session, the MFA
//! step when policy asks for it, Conditional Access with what a browser sign-in knows, and the
//! code from [`crate::oauth::authorize`] at the end. Refusals are shown as a page or sent back
//! to the client, as [`Refusal`] says.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use tessera_directory::access::{Attempt, LogEntry, TokenProtection, client_app_type};
use tessera_policy::{Need, Outcome, TokenBinding};
use tessera_store::MfaKind;

use super::pages;
use crate::access;
use crate::oauth::authorize::{AuthRequest, Authenticated, Refusal, issue_code, response_location};
use crate::state::AppState;

/// The response for a refusal.
pub fn refuse(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page { message } => pages::message(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            &message,
            Some(
                "Go back to the application and try again. If this keeps happening, tell its administrator.",
            ),
        ),
        Refusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        } => {
            state.telemetry.oauth_error("authorize", error);
            let mut params = vec![("error", error), ("error_description", description.as_str())];
            if let Some(s) = client_state.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", state.config.issuer.as_str()));
            super::see_other(&response_location(&redirect_uri, &params), &[])
        }
    }
}

/// `GET /authorize`
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    let query = query.unwrap_or_default();
    match AuthRequest::parse(&state, &query).await {
        Ok(request) => proceed(&state, &headers, &extensions, request).await,
        Err(refusal) => refuse(&state, refusal),
    }
}

/// Given a valid request: sign the user in if needed, run Conditional Access, issue the code.
pub async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
    request: AuthRequest,
) -> Response {
    let query = request.query.as_str();
    let to_client = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error,
        description: description.to_owned(),
    };
    let current = match super::session::current(state, headers).await {
        Ok(c) => c,
        Err(_) => return refuse(state, to_client("server_error", "the sign-in service failed")),
    };
    let now = state.unix_time().as_secs();
    // `prompt=login` of a kept request is met by a sign-in after the request was made (the
    // query of a plain one loses its `prompt=login` when the sign-in returns here instead).
    let signed_in_since_request =
        |s: &super::session::BrowserSession| request.kept.as_ref().is_some_and(|k| s.signed_in() >= k.since);
    let usable = current.filter(|(s, _)| {
        (!request.prompt_login || signed_in_since_request(s))
            && request.max_age.is_none_or(|max| now - s.auth_time <= max)
    });
    let Some((session, user)) = usable else {
        if request.prompt_none {
            return refuse(state, to_client("login_required", "the user is not signed in"));
        }
        return pages::login(
            state,
            headers,
            StatusCode::OK,
            pages::SignInForm {
                app_name: &request.app.name,
                request: query,
                username: request.login_hint.as_deref().unwrap_or(""),
                error: None,
            },
        );
    };

    let ip = crate::http::client_ip(extensions);
    let attempt = Attempt {
        user: &user,
        app: &request.app,
        device: None,
        groups: None,
        ip,
        mfa: session.mfa(),
        binding: TokenBinding::NotApplicable,
        client_app_type: client_app_type(&request.app, Some(&request.redirect_uri)),
        flow: None,
    };
    let Ok((decision, set)) = access::evaluate(state, &attempt).await else {
        return refuse(state, to_client("server_error", "policy evaluation failed"));
    };
    let log = |outcome: &'static str, error: Option<&'static str>| LogEntry {
        stage: "authorize",
        user: Some(&user.id),
        client_id: Some(&request.app.id),
        ip,
        outcome,
        token_protection: TokenProtection::NotApplicable,
        device_id: None,
        jkt: None,
        error,
        key_binding: None,
        transfer: None,
    };

    // The sign-in pages for the user signed in, asked again.
    let signed_in_form = || pages::SignInForm {
        app_name: &request.app.name,
        request: query,
        username: &user.username,
        error: None,
    };
    // Sign-in frequency: a session older than the policy allows signs in again.
    if let Some(frequency) = decision.session.sign_in_frequency {
        let max = match frequency {
            tessera_policy::Frequency::EveryTime => 60,
            tessera_policy::Frequency::Seconds(s) => i64::try_from(s).unwrap_or(i64::MAX),
        };
        if now - session.auth_time > max {
            if request.prompt_none {
                return refuse(
                    state,
                    to_client("login_required", "policy requires signing in again"),
                );
            }
            return pages::login(state, headers, StatusCode::OK, signed_in_form());
        }
    }

    // A user who registered a one-time-code app is always asked for it; policy may ask too.
    let methods = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(_) => return refuse(state, to_client("server_error", "the sign-in service failed")),
    };
    let has_totp = methods.iter().any(|m| m.kind == MfaKind::Totp);
    let policy_wants_mfa = matches!(&decision.outcome, Outcome::Interrupt { requirements }
        if requirements.iter().any(|r| r.any_of.contains(&Need::Mfa)));
    match &decision.outcome {
        Outcome::Block { .. } => {
            access::log(
                state,
                &log("blocked", Some("access_denied")),
                Some((&decision, &set)),
            )
            .await;
            return refuse(state, to_client("access_denied", "access is blocked by policy"));
        }
        _ if !session.mfa() && (has_totp || policy_wants_mfa) => {
            if !has_totp {
                access::log(
                    state,
                    &log("blocked", Some("access_denied")),
                    Some((&decision, &set)),
                )
                .await;
                return refuse(
                    state,
                    to_client(
                        "access_denied",
                        "policy requires multi-factor authentication and the user has no method registered",
                    ),
                );
            }
            if request.prompt_none {
                return refuse(
                    state,
                    to_client("interaction_required", "multi-factor authentication is required"),
                );
            }
            access::log(state, &log("interrupted", None), Some((&decision, &set))).await;
            return pages::mfa(state, headers, StatusCode::OK, signed_in_form());
        }
        // Other needs (device, token protection) are checked at the token endpoint, where the
        // request carries the device's proof.
        _ => {}
    }

    let how = Authenticated {
        auth_time: session.auth_time,
        signed_in: session.signed_in(),
        amr: &session.amr,
        browser_sid: &session.sid,
    };
    match issue_code(state, &request, &user.id, &how).await {
        Ok(code) => {
            access::log(state, &log("success", None), Some((&decision, &set))).await;
            let mut params = vec![("code", code.as_str())];
            if let Some(s) = request.state.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", state.config.issuer.as_str()));
            super::see_other(&response_location(&request.redirect_uri, &params), &[])
        }
        Err(e) if e.code() == "invalid_request" => refuse(state, to_client(e.code(), e.description())),
        Err(e) => {
            tracing::error!(?e, "could not issue a code");
            refuse(state, to_client("server_error", "the code could not be issued"))
        }
    }
}
