//! `/authorize` and the sign-in pages with hostile or broken input: every refusal lands where
//! RFC 6749 §4.1.2.1 says (a page when the client or redirect URI is untrusted, the client's
//! redirect URI otherwise) with the exact error, and the pages defend themselves.

use axum::http::StatusCode;
use tessera_jose::{Algorithm, SigningKey};
use tessera_store::{NewCode, Timestamp};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{ALICE, ISSUER, PORTAL_CB, WEBAPP_CB, server};

#[tokio::test]
async fn authorization_request_errors_table() {
    let s = server().await;
    let c = Client::new("webapp", WEBAPP_CB);
    let challenge = c.challenge();
    let cb = urlencode(WEBAPP_CB);
    let ok = format!(
        "response_type=code&client_id=webapp&redirect_uri={cb}&code_challenge={challenge}&code_challenge_method=S256&state=s"
    );
    // (name, query, Some(error) = redirect with that error, None = a page with 400)
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "no client_id",
            format!("response_type=code&redirect_uri={cb}"),
            None,
        ),
        (
            "unknown client",
            ok.replace("client_id=webapp", "client_id=nobody"),
            None,
        ),
        (
            "no redirect_uri",
            ok.replace(&format!("redirect_uri={cb}"), ""),
            None,
        ),
        (
            "redirect not registered",
            ok.replace(&cb, &urlencode("http://127.0.0.1:9999/cb/evil")),
            None,
        ),
        (
            "redirect differs only by a trailing slash",
            ok.replace(&cb, &urlencode("http://127.0.0.1:9999/cb/")),
            None,
        ),
        ("repeated redirect_uri", format!("{ok}&redirect_uri={cb}"), None),
        (
            "no response_type",
            ok.replace("response_type=code&", ""),
            Some("invalid_request"),
        ),
        (
            "implicit flow",
            ok.replace("response_type=code", "response_type=token"),
            Some("unsupported_response_type"),
        ),
        (
            "no PKCE",
            ok.replace(&format!("&code_challenge={challenge}"), ""),
            Some("invalid_request"),
        ),
        (
            "PKCE plain",
            ok.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            Some("invalid_request"),
        ),
        (
            "PKCE method missing",
            ok.replace("&code_challenge_method=S256", ""),
            Some("invalid_request"),
        ),
        (
            "challenge not a digest",
            ok.replace(&challenge, "short"),
            Some("invalid_request"),
        ),
        ("repeated state", format!("{ok}&state=t"), Some("invalid_request")),
        (
            "scope not allowed",
            format!("{ok}&scope=openid%20admin"),
            Some("invalid_scope"),
        ),
        (
            "unknown prompt",
            format!("{ok}&prompt=maybe"),
            Some("invalid_request"),
        ),
        (
            "prompt none with login",
            format!("{ok}&prompt=none%20login"),
            Some("invalid_request"),
        ),
        (
            "max_age not a number",
            format!("{ok}&max_age=soon"),
            Some("invalid_request"),
        ),
        (
            "claims not JSON",
            format!("{ok}&claims=%7Bnope"),
            Some("invalid_request"),
        ),
        (
            "claims not an object",
            format!("{ok}&claims=%5B%5D"),
            Some("invalid_request"),
        ),
        (
            "request object from a client without keys",
            format!("{ok}&request=eyJ"),
            None,
        ),
        (
            "request_uri Tessera did not issue",
            format!("{ok}&request_uri=urn%3Ax"),
            None,
        ),
        (
            "resource relative",
            format!("{ok}&resource=%2Fapi"),
            Some("invalid_target"),
        ),
        (
            "dpop_jkt malformed",
            format!("{ok}&dpop_jkt=abc"),
            Some("invalid_request"),
        ),
        (
            "fragment response mode",
            format!("{ok}&response_mode=fragment"),
            Some("invalid_request"),
        ),
        (
            "prompt none, not signed in",
            format!("{ok}&prompt=none"),
            Some("login_required"),
        ),
        (
            "client without the code grant",
            format!(
                "response_type=code&client_id=service&redirect_uri={cb}&code_challenge={challenge}&code_challenge_method=S256"
            ),
            None,
        ),
    ];
    for (name, query, expected) in cases {
        let r = s.get(&format!("/authorize?{query}")).await;
        match expected {
            None => {
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.location());
                assert!(r.body.contains("Cannot sign in"), "{name}");
                assert!(
                    r.headers.get("location").is_none(),
                    "{name}: never redirect to an untrusted URI"
                );
            }
            Some(error) => {
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{name}: {}", r.body);
                assert!(r.location().starts_with(WEBAPP_CB), "{name}");
                let q = query_of(r.location());
                assert_eq!(q.get("error").map(String::as_str), Some(error), "{name}");
                assert_eq!(q["iss"], ISSUER, "{name}: RFC 9207 on errors too");
                assert!(q.contains_key("error_description"), "{name}");
                if !name.starts_with("repeated state") {
                    assert_eq!(q.get("state").map(String::as_str), Some("s"), "{name}");
                }
            }
        }
    }
}

#[tokio::test]
async fn pages_forbid_framing_and_scripts_and_forms_need_their_csrf_token() {
    let s = server().await;
    let c = Client::new("webapp", WEBAPP_CB);
    let mut b = Browser::new(&s);
    let page = b.get(&c.authorize_url("")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    let csrf_cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("tessera_csrf="))
        .unwrap();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));

    // Without the cookie's token in the form: refused.
    let request = crate::browser::hidden_fields(&page.body)
        .into_iter()
        .find(|(k, _)| k == "request")
        .unwrap()
        .1;
    for csrf in ["", "forged-token-forged-token-forged"] {
        let r = b
            .post(
                "/login",
                &[
                    ("csrf", csrf),
                    ("request", &request),
                    ("username", ALICE.0),
                    ("password", ALICE.1),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(!b.jar.contains_key("tessera_session"));
    }
    // A form tampered to another redirect URI is validated again.
    let tampered = request.replace(&urlencode(WEBAPP_CB), &urlencode(PORTAL_CB));
    let r = b
        .submit(&page, &[("username", ALICE.0), ("password", ALICE.1)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = b
        .post(
            "/login",
            &[
                ("csrf", b.jar["tessera_csrf"].clone().as_str()),
                ("request", &tampered),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_and_say_nothing_about_which_part_was_wrong() {
    let s = server().await;
    let c = Client::new("webapp", WEBAPP_CB);
    let mut b = Browser::new(&s);
    let page = b.get(&c.authorize_url("")).await;
    let unknown = b
        .submit(&page, &[("username", "nobody"), ("password", "whatever")])
        .await;
    let wrong = b
        .submit(&page, &[("username", ALICE.0), ("password", "nope")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("The username or password is incorrect."));
    assert!(wrong.body.contains("The username or password is incorrect."));
    for _ in 0..4 {
        b.submit(&page, &[("username", ALICE.0), ("password", "nope")])
            .await;
    }
    let locked = b
        .submit(&page, &[("username", ALICE.0), ("password", ALICE.1)])
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    assert!(locked.body.contains("Too many failed attempts"));
    let failures = s
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("failure".into()),
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failures.len(), 6, "every failed password is in the sign-in log");
}

#[tokio::test]
async fn code_redemption_errors_table() {
    let s = server().await;
    let c = Client::new("webapp", WEBAPP_CB);
    let mut b = Browser::new(&s);
    let mut fresh_code = async |extra: &str| {
        let r = b.sign_in(&c.authorize_url(extra), ALICE.0, ALICE.1).await;
        query_of(r.location())["code"].clone()
    };
    let cb = urlencode(WEBAPP_CB);
    let body = |code: &str, verifier: &str, redirect: &str, client: &str| {
        format!(
            "grant_type=authorization_code&client_id={client}&code={code}&redirect_uri={redirect}&code_verifier={verifier}"
        )
    };
    let proof = || c.proof(&format!("{ISSUER}/token"), None);
    let send = async |body: String, dpop: Option<String>| {
        let headers: Vec<(&str, &str)> = dpop.iter().map(|p| ("dpop", p.as_str())).collect();
        s.send(crate::support::token_request(&body, &headers)).await
    };

    let code = fresh_code("").await;
    let r = send(body(&code, &"w".repeat(43), &cb, "webapp"), Some(proof())).await;
    assert_eq!(r.json["error"], "invalid_grant", "wrong verifier");

    let code = fresh_code("").await;
    let r = send(body(&code, "short", &cb, "webapp"), Some(proof())).await;
    assert_eq!(r.json["error"], "invalid_grant", "malformed verifier");

    let code = fresh_code("").await;
    let r = send(
        format!("grant_type=authorization_code&client_id=webapp&code={code}&redirect_uri={cb}"),
        Some(proof()),
    )
    .await;
    assert_eq!(r.json["error"], "invalid_request", "missing verifier");

    let code = fresh_code("").await;
    let r = send(
        body(
            &code,
            &c.verifier,
            &urlencode("http://127.0.0.1:9999/other"),
            "webapp",
        ),
        Some(proof()),
    )
    .await;
    assert_eq!(r.json["error"], "invalid_grant", "redirect mismatch");

    let code = fresh_code("").await;
    let r = send(body(&code, &c.verifier, &cb, "desktop"), Some(proof())).await;
    assert_eq!(
        r.json["error"], "invalid_grant",
        "another client's code: {}",
        r.json
    );

    let r = send(body("made-up-code", &c.verifier, &cb, "webapp"), Some(proof())).await;
    assert_eq!(r.json["error"], "invalid_grant", "unknown code");

    // A code bound to a DPoP key (dpop_jkt) needs a proof by that key.
    let jkt = c.key.public_jwk().thumbprint();
    let code = fresh_code(&format!("&dpop_jkt={}", jkt.as_str())).await;
    let r = send(body(&code, &c.verifier, &cb, "webapp"), None).await;
    assert_eq!(r.json["error"], "invalid_grant", "bound code without a proof");
    let code = fresh_code(&format!("&dpop_jkt={}", jkt.as_str())).await;
    let thief = SigningKey::generate(Algorithm::Es256).unwrap();
    let stolen = c.proof_by(&thief, &format!("{ISSUER}/token"), None);
    let r = send(body(&code, &c.verifier, &cb, "webapp"), Some(stolen)).await;
    assert_eq!(r.json["error"], "invalid_grant", "bound code with another key");
    let admin = s.admin_token().await;
    let logs = s.admin("GET", "/sign-ins?outcome=replay", &admin, None).await;
    let rows = logs.json["items"].as_array().unwrap();
    let mut seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["token_protection"].as_str().unwrap(),
                r["jkt"].as_str().unwrap_or(""),
            )
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [("replay", thief.thumbprint().as_str()), ("unbound", "")],
        "both attempts on a bound code are logged: {}",
        logs.json
    );
    let code = fresh_code(&format!("&dpop_jkt={}", jkt.as_str())).await;
    let r = send(body(&code, &c.verifier, &cb, "webapp"), Some(proof())).await;
    assert_eq!(r.status, StatusCode::OK, "bound code with its key: {}", r.json);

    // An expired code.
    s.state
        .store
        .insert_code(&NewCode {
            hash: tessera_server::oauth::token_hash("stale-code"),
            client_id: "webapp".into(),
            user_id: "u-alice".into(),
            grant: serde_json::json!({"redirect_uri": WEBAPP_CB, "scope": "openid", "code_challenge": c.challenge()}),
            created_at: Timestamp(0),
            expires_at: Timestamp(1000),
        })
        .await
        .unwrap();
    let r = send(body("stale-code", &c.verifier, &cb, "webapp"), Some(proof())).await;
    assert_eq!(r.json["error"], "invalid_grant", "expired code");
    assert!(r.json["error_description"].as_str().unwrap().contains("expired"));

    // A public client without a proof gets no refresh token (it could not be sender-constrained).
    let code = fresh_code("").await;
    let r = send(body(&code, &c.verifier, &cb, "webapp"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.json.get("refresh_token").is_none(), "{}", r.json);
}
