//! Tessera's own pages that need a signed-in user (`/account`, `/device`) sign in through
//! `/authorize` as a built-in client of their own, so the same password, MFA and Conditional
//! Access apply; only the browser session it leaves is used. The flow's `state` is kept in a
//! short cookie with what the page wants back afterwards (a user code, say).

use axum::http::header;
use axum::response::Response;
use tessera_directory::bootstrap::BuiltinClient;

use super::{cookie, see_other, set_cookie};
use crate::state::AppState;

/// How long a sign-in started by a page may take.
const FLOW_SECONDS: u64 = 600;

/// Off to `/authorize` as `client` (with `prompt=login` when `again`), remembering `carried`
/// in the cookie `flow_cookie` until the callback.
///
/// # Errors
/// `None` when the random source fails.
pub fn start(
    state: &AppState,
    client: &BuiltinClient<'_>,
    flow_cookie: &str,
    carried: &str,
    again: bool,
) -> Option<Response> {
    let random = || tessera_jose::random::random_id::<32>(state.rng.as_ref()).ok();
    let (verifier, flow_state) = (random()?, random()?);
    let challenge = crate::oauth::pkce_challenge(&verifier);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client.id)
        .append_pair("redirect_uri", &state.endpoint(client.redirect_path))
        .append_pair("scope", "openid")
        .append_pair("state", &flow_state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if again {
        query.append_pair("prompt", "login");
    }
    let secure = state.config.issuer.starts_with("https:");
    let value: String = url::form_urlencoded::byte_serialize(carried.as_bytes()).collect();
    Some(see_other(
        &format!("/authorize?{}", query.finish()),
        &[(
            header::SET_COOKIE,
            set_cookie(
                flow_cookie,
                &format!("{flow_state}.{value}"),
                FLOW_SECONDS,
                secure,
            ),
        )],
    ))
}

/// At the callback: what was carried, when the flow's `state` is the one this browser started;
/// and the cookie that forgets it.
#[must_use]
pub fn finish(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    flow_cookie: &str,
    returned_state: Option<&str>,
) -> (Option<String>, axum::http::HeaderValue) {
    let secure = state.config.issuer.starts_with("https:");
    let forget = set_cookie(flow_cookie, "", 0, secure);
    let carried = cookie(headers, flow_cookie)
        .and_then(|v| v.split_once('.'))
        .filter(|(expected, _)| Some(*expected) == returned_state)
        .map(|(_, carried)| {
            url::form_urlencoded::parse(format!("c={carried}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        });
    (carried, forget)
}
