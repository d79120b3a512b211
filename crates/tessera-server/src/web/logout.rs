//! `GET`/`POST /logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! With a valid `id_token_hint` (one of our ID tokens, expired or not) about the user signed in
//! in this browser, the browser session ends with every token session started from it and the
//! token session named by the hint's `sid` (each announced by `session-revoked` to subscribed
//! APIs, and by a logout token to a client that registered a `backchannel_logout_uri`), and the
//! user returns to `post_logout_redirect_uri` when it is one of that client's registered
//! redirect URIs. Without a hint, or with one about someone else, the user is asked
//! to confirm, and only this browser's own session ends: a page cannot sign anyone out, and an
//! ID token of someone else's ends nothing of theirs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tessera_jose::jws;
use tessera_store::SessionId;

use super::pages;
use crate::state::AppState;

struct Hint {
    client_id: String,
    sub: String,
    sid: Option<String>,
}

fn read_hint(state: &AppState, token: &str) -> Option<Hint> {
    let jws = jws::decode(token).ok()?;
    if !matches!(jws.header().typ.as_deref(), None | Some("JWT")) {
        return None;
    }
    jws.verify_with_set(state.keys.published()).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(jws.unverified_payload()).ok()?;
    if claims["iss"] != state.config.issuer.as_str() {
        return None;
    }
    Some(Hint {
        client_id: claims["aud"].as_str()?.to_owned(),
        sub: claims["sub"].as_str()?.to_owned(),
        sid: claims["sid"].as_str().map(str::to_owned),
    })
}

/// `GET /logout`
pub async fn logout_get(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    handle(&state, &headers, query.unwrap_or_default().as_bytes(), false).await
}

/// `POST /logout` (the confirmation form, or a client posting the same parameters)
pub async fn logout_post(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, &headers, &body, true).await
}

async fn handle(state: &AppState, headers: &HeaderMap, params: &[u8], posted: bool) -> Response {
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(params).into_owned().collect();
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let hint = match get("id_token_hint") {
        Some(token) => match read_hint(state, token) {
            Some(h) => Some(h),
            None => {
                return pages::message(
                    StatusCode::BAD_REQUEST,
                    "Cannot sign out",
                    "The application's sign-out request is not valid.",
                    None,
                );
            }
        },
        None => None,
    };
    if let (Some(h), Some(client_id)) = (&hint, get("client_id"))
        && h.client_id != client_id
    {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            "The sign-out request names two different applications.",
            None,
        );
    }
    let current = super::session::current(state, headers).await.ok().flatten();
    // The hint speaks for the browser's own user only.
    let hint_is_theirs = match (&hint, &current) {
        (Some(h), Some((_, user))) => h.sub == user.id.0,
        _ => false,
    };
    let confirmed = hint_is_theirs || (posted && pages::csrf_ok(headers, get("csrf")));
    if !confirmed {
        return match &current {
            Some((_, user)) => pages::logout(state, headers, &user.username),
            None => signed_out(&[]),
        };
    }

    if let Some((session, user)) = &current {
        // The browser session, every session an application started from it, and the session
        // the hint named: each is announced to subscribed APIs (`session-revoked`) and to its
        // application by back-channel logout.
        let also = hint
            .as_ref()
            .filter(|_| hint_is_theirs)
            .and_then(|h| h.sid.clone())
            .map(SessionId);
        if let Err(e) = state
            .directory(tessera_directory::InitiatingEntity::User)
            .sign_out(&user.id, &session.sid, also.as_ref())
            .await
        {
            tracing::error!(%e, "could not end the sessions at sign-out");
        }
    }
    let clear = (
        header::SET_COOKIE,
        super::set_cookie(
            super::SESSION_COOKIE,
            "",
            0,
            state.config.issuer.starts_with("https:"),
        ),
    );
    // Return to the client only at an address it registered.
    if let (Some(h), Some(uri)) = (
        hint.as_ref().filter(|_| hint_is_theirs),
        get("post_logout_redirect_uri"),
    ) && let Ok(app) = state.store.application(&h.client_id).await
        && app.redirect_uris.iter().any(|r| r == uri)
    {
        let mut params = Vec::new();
        if let Some(s) = get("state") {
            params.push(("state", s));
        }
        return super::see_other(
            &crate::oauth::authorize::response_location(uri, &params),
            &[clear],
        );
    }
    signed_out(&[clear])
}

fn signed_out(extra: &[(header::HeaderName, HeaderValue)]) -> Response {
    let mut response = pages::message(
        StatusCode::OK,
        "Signed out",
        "You have signed out. You can close this window.",
        None,
    );
    for (k, v) in extra {
        response.headers_mut().append(k.clone(), v.clone());
    }
    response
}
