//! Resource indicators (RFC 8707) end to end: the resource named at `/authorize` is the access
//! token's audience, the token request may repeat it but not change it, and a refresh keeps it.

use serde_json::Value;
use tessera_jose::SystemClock;
use tessera_jose::jwt::{TokenKind, Validation, verify};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{ALICE, ISSUER, Reply, Server, WEBAPP_CB, server, token_request};

const MAIL: &str = "https://mail.example";
const ARCHIVE: &str = "https://archive.example";

/// Alice's code at the web app, for `resource` when given.
async fn code(s: &Server, client: &Client, resource: Option<&str>) -> String {
    let extra = resource.map_or_else(String::new, |r| format!("&resource={}", urlencode(r)));
    let done = Browser::new(s)
        .sign_in(&client.authorize_url(&extra), ALICE.0, ALICE.1)
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    query_of(done.location())["code"].clone()
}

/// Redeems `code` with `extra` form parameters (already encoded) and a DPoP proof (a public
/// client gets a refresh token only when bound).
async fn redeem(s: &Server, client: &Client, code: &str, extra: &str) -> Reply {
    let body = format!(
        "grant_type=authorization_code&client_id={}&code={code}&redirect_uri={}&code_verifier={}{extra}",
        client.id,
        urlencode(&client.redirect_uri),
        client.verifier
    );
    let proof = client.proof(&format!("{ISSUER}/token"), None);
    s.send(token_request(&body, &[("dpop", &proof)])).await
}

fn audience(s: &Server, reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json["access_token"].as_str().unwrap();
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, "").any_audience();
    let claims: Value = verify(token, s.state.keys.published(), &rules, &SystemClock)
        .unwrap()
        .claims()
        .unwrap();
    claims["aud"].clone()
}

#[tokio::test]
async fn the_resource_is_the_audience_from_authorization_to_refresh() {
    let s = server().await;
    let client = Client::new("webapp", WEBAPP_CB);
    let mail = format!("&resource={}", urlencode(MAIL));

    // Named at /authorize only, or at both: the token is for it.
    let c = code(&s, &client, Some(MAIL)).await;
    assert_eq!(audience(&s, &redeem(&s, &client, &c, "").await), MAIL);
    let c = code(&s, &client, Some(MAIL)).await;
    let tokens = redeem(&s, &client, &c, &mail).await;
    assert_eq!(audience(&s, &tokens), MAIL);

    // A refresh keeps it, may repeat it, and cannot change it.
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();
    let r = client.refresh(&s, &refresh, Some(&client.key)).await;
    assert_eq!(audience(&s, &r), MAIL);
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    let body = format!(
        "grant_type=refresh_token&client_id=webapp&refresh_token={}&resource={}",
        urlencode(&refresh),
        urlencode(ARCHIVE)
    );
    let proof = client.proof(&format!("{ISSUER}/token"), None);
    let r = s.send(token_request(&body, &[("dpop", &proof)])).await;
    assert_eq!(r.json["error"], "invalid_target", "{}", r.body);

    // Without one at /authorize, the token request may name it; with neither, the audience is
    // Tessera itself.
    let c = code(&s, &client, None).await;
    assert_eq!(audience(&s, &redeem(&s, &client, &c, &mail).await), MAIL);
    let c = code(&s, &client, None).await;
    assert_eq!(audience(&s, &redeem(&s, &client, &c, "").await), ISSUER);
}

#[tokio::test]
async fn what_rfc_8707_refuses() {
    let s = server().await;
    let client = Client::new("webapp", WEBAPP_CB);
    let rows = [
        (
            "another resource than the authorized one",
            Some(MAIL),
            format!("&resource={}", urlencode(ARCHIVE)),
        ),
        (
            "two resources",
            None,
            format!("&resource={}&resource={}", urlencode(MAIL), urlencode(ARCHIVE)),
        ),
        ("a relative URI", None, "&resource=mail".to_owned()),
        (
            "a URI with a fragment",
            None,
            format!("&resource={}", urlencode("https://mail.example/#inbox")),
        ),
    ];
    for (case, authorized, extra) in &rows {
        let c = code(&s, &client, *authorized).await;
        let r = redeem(&s, &client, &c, extra).await;
        assert_eq!(
            (r.status.as_u16(), r.json["error"].as_str()),
            (400, Some("invalid_target")),
            "{case}: {}",
            r.body
        );
    }
    // At /authorize, a bad resource goes back to the client as invalid_target.
    let done = Browser::new(&s)
        .get(&client.authorize_url("&resource=mail"))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(query_of(done.location())["error"], "invalid_target");
}
