//! `/account`: users adding and removing their own sign-in methods; the passkey endpoints'
//! refusals (a real passkey ceremony needs an authenticator: `tests/console/passkeys.mjs`
//! drives Chromium's virtual one).

use axum::http::StatusCode;
use serde_json::json;
use tessera_store::{MfaKind, UserId};

use crate::browser::{Browser, hidden_fields};
use crate::support::{ALICE, Reply, Server, server, server_with, totp_now};

const CB: &str = "http://127.0.0.1:8080/account/callback?";

async fn open_account(b: &mut Browser<'_>) -> Reply {
    let start = b.get("/account").await;
    assert_eq!(start.location(), "/account/sign-in");
    let authorize = b.get(start.location()).await;
    assert!(authorize.location().contains("client_id=tessera-account"));
    let done = b.sign_in(authorize.location(), ALICE.0, ALICE.1).await;
    assert!(done.location().starts_with(CB), "{} {}", done.status, done.body);
    let back = b
        .get(done.location().trim_start_matches("http://127.0.0.1:8080"))
        .await;
    assert_eq!(back.location(), "/account");
    b.get("/account").await
}

fn csrf(page: &Reply) -> String {
    hidden_fields(&page.body)
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
        .unwrap()
}

fn secret_on(page: &Reply) -> String {
    let at = page.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    page.body[at..].split('<').next().unwrap().to_owned()
}

async fn methods(server: &Server) -> Vec<tessera_store::MfaMethod> {
    server
        .state
        .store
        .mfa_methods_of(&UserId("u-alice".into()))
        .await
        .unwrap()
}

#[tokio::test]
async fn users_add_an_authenticator_app_by_proving_it_and_remove_it_after_confirming() {
    let server = server().await;
    let mut b = Browser::new(&server);
    let page = open_account(&mut b).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your account") && page.body.contains("Passkeys need Tessera"));
    let c = csrf(&page);

    assert_eq!(
        b.post("/account/totp", &[]).await.status,
        StatusCode::FORBIDDEN,
        "CSRF"
    );
    let setup = b.post("/account/totp", &[("csrf", &c)]).await;
    assert_eq!(setup.status, StatusCode::OK);
    let secret = secret_on(&setup);
    assert!(setup.body.contains("otpauth://totp/127.0.0.1:alice?secret="));
    assert!(
        methods(&server).await.is_empty(),
        "nothing counts before the first code"
    );

    let wrong = b
        .post("/account/totp/confirm", &[("csrf", &c), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains("not right") && wrong.body.contains(&secret),
        "the key stays on the page"
    );
    let events = server.state.store.events_created().await.unwrap();
    let right = b
        .post(
            "/account/totp/confirm",
            &[("csrf", &c), ("code", &totp_now(&secret)), ("label", "Phone")],
        )
        .await;
    assert_eq!(right.location(), "/account?added=totp", "{}", right.body);
    let added = methods(&server).await;
    assert_eq!(
        (added.len(), added[0].kind, added[0].label.as_str()),
        (1, MfaKind::Totp, "Phone")
    );
    assert!(
        server.state.store.events_created().await.unwrap() > events,
        "credential-change raised"
    );
    let shown = b.get("/account?added=totp").await;
    assert!(shown.body.contains("Your authenticator app is set up.") && shown.body.contains("Phone"));
    // The enrolment cookie is gone: confirming again starts nothing.
    let again = b
        .post(
            "/account/totp/confirm",
            &[("csrf", &c), ("code", &totp_now(&secret))],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    let url = format!("/account/methods/{}/remove", added[0].id);
    let ask = b.post(&url, &[("csrf", &c)]).await;
    assert!(ask.body.contains("Remove Phone?"));
    assert_eq!(methods(&server).await.len(), 1);
    let done = b.post(&url, &[("csrf", &c), ("confirm", "yes")]).await;
    assert_eq!(done.location(), "/account?removed=1");
    assert!(methods(&server).await.is_empty());
}

#[tokio::test]
async fn changing_methods_needs_a_recent_sign_in() {
    let server = server().await;
    let mut b = Browser::new(&server);
    let page = open_account(&mut b).await;
    let c = csrf(&page);
    // A browser session from an hour ago: the page shows, but changes ask for a new sign-in.
    let mut old =
        tessera_server::web::session::start(&server.state, &UserId("u-alice".into()), vec!["pwd".into()])
            .unwrap();
    old.auth_time -= 3600;
    let cookie = tessera_server::web::session::issue(&server.state, &old).unwrap();
    b.jar.insert(tessera_server::web::SESSION_COOKIE.into(), cookie);
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    let r = b.post("/account/totp", &[("csrf", &c)]).await;
    assert_eq!(r.location(), "/account/sign-in?again=true");
    let reauth = b.get(r.location()).await;
    assert!(reauth.location().contains("prompt=login"));
}

#[tokio::test]
async fn passkey_endpoints_refuse_what_they_cannot_check() {
    // On an IP-address issuer there are no passkeys at all.
    let server = server().await;
    let r = server
        .send(json_post(
            "/login/passkey/options",
            json!({"csrf": "x", "request": ""}),
            "",
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["error"], "passkey_refused");

    // On a domain-name issuer: the sign-in page offers them; bad requests are refused in JSON.
    let server = server_with(|c| {
        c.issuer = "http://localhost:8080".into();
        c.issuer_derived = false;
    })
    .await;
    assert!(server.state.passkeys.is_some());
    let mut b = Browser::new(&server);
    let start = b
        .get("/authorize?response_type=code&client_id=webapp&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
        .await;
    assert!(start.body.contains("data-passkey=\"signin\""), "{}", start.body);
    let csrf = b.jar["tessera_csrf"].clone();
    let request = hidden_fields(&start.body)
        .into_iter()
        .find(|(k, _)| k == "request")
        .unwrap()
        .1;
    let cookies = format!("tessera_csrf={csrf}");
    for (body, status) in [
        (
            json!({"csrf": "wrong", "request": request}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"csrf": csrf, "request": "client_id=nobody"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"csrf": csrf, "request": request, "username": "alice"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"csrf": csrf, "request": request, "username": "ghost"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"csrf": csrf, "request": request}), StatusCode::BAD_REQUEST),
        (json!("not an object"), StatusCode::BAD_REQUEST),
    ] {
        let r = server
            .send(json_post("/login/passkey/options", body.clone(), &cookies))
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.json["error_description"].is_string());
    }
    let assertion = json!({"csrf": csrf, "request": request, "credential": {
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null},
        "extensions": {}}});
    let r = server
        .send(json_post("/login/passkey", assertion, &cookies))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "no ceremony in progress: {}",
        r.body
    );
    let r = server
        .send(json_post("/login/passkey", json!({"csrf": csrf}), &cookies))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = server
        .send(json_post(
            "/account/passkeys/options",
            json!({"csrf": csrf}),
            &cookies,
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "not signed in");
}

fn json_post(path: &str, body: serde_json::Value, cookie: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(path)
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}
