//! Introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::json;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, SigningKey, SystemClock, SystemRandom, jws};
use tessera_store::{SubjectKind, Timestamp};

use crate::support::{ISSUER, SECRET, Server, basic, server, token_request};

async fn token(s: &Server, client: &str, dpop: Option<&SigningKey>) -> String {
    let auth = basic(client, SECRET);
    let mut headers = vec![("authorization", auth.clone())];
    if let Some(key) = dpop {
        let proof = create_proof(
            key,
            "POST",
            &format!("{ISSUER}/token"),
            ProofOptions::default(),
            &SystemClock,
            &SystemRandom,
        )
        .unwrap();
        headers.push(("dpop", proof));
    }
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.send(token_request("grant_type=client_credentials", &h)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(s: &Server, token: &str) -> serde_json::Value {
    let auth = basic("service", SECRET);
    let request = axum::http::Request::post("/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", auth)
        .body(axum::body::Body::from(format!("token={token}")))
        .unwrap();
    let r = s.send(request).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    r.json
}

#[tokio::test]
async fn an_issued_token_is_active_with_its_claims() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let at = token(&s, "dpop-service", Some(&key)).await;
    let r = introspect(&s, &at).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["client_id"], "dpop-service");
    assert_eq!(r["sub"], "dpop-service");
    assert_eq!(r["scope"], "mail.read mail.send");
    assert_eq!(r["token_type"], "DPoP");
    assert_eq!(
        r["cnf"],
        json!({"jkt": key.thumbprint().as_str()}),
        "bound tokens carry cnf"
    );
    assert_eq!(r["iss"], ISSUER);
}

#[tokio::test]
async fn anything_else_is_inactive() {
    let s = server().await;
    // Expired, signed by a stranger, the wrong kind of token, garbage.
    let now = tessera_jose::Clock::now(&SystemClock).unix_time().as_secs();
    let claims = json!({"iss": ISSUER, "sub": "service", "aud": ISSUER, "client_id": "service", "iat": now - 7200, "exp": now - 3600, "jti": "x"});
    let expired = jws::sign(s.state.keys.active(), Some("at+jwt"), &claims).unwrap();
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut fresh = claims.clone();
    fresh["iat"] = json!(now);
    fresh["exp"] = json!(now + 600);
    let foreign = jws::sign(&stranger, Some("at+jwt"), &fresh).unwrap();
    let id_token = jws::sign(s.state.keys.active(), Some("JWT"), &fresh).unwrap();
    for t in [
        expired.as_str(),
        foreign.as_str(),
        id_token.as_str(),
        "not-a-token",
        "a.b.c",
    ] {
        assert_eq!(introspect(&s, t).await, json!({"active": false}), "{t}");
    }
}

#[tokio::test]
async fn a_token_issued_before_its_subjects_not_before_is_inactive() {
    let s = server().await;
    let at = token(&s, "service", None).await;
    assert_eq!(introspect(&s, &at).await["active"], true);
    let later = Timestamp(s.state.now().0 + 5_000);
    let mut uow = s.state.store.begin().await.unwrap();
    uow.set_not_before(SubjectKind::User, "service", later)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(introspect(&s, &at).await, json!({"active": false}));
}

#[tokio::test]
async fn introspection_needs_a_confidential_client() {
    let s = server().await;
    let at = token(&s, "service", None).await;
    let send = |auth: Option<String>, body: String| {
        let mut r = axum::http::Request::post("/introspect")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.body(axum::body::Body::from(body)).unwrap()
    };
    let r = s.send(send(None, format!("token={at}"))).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = s
        .send(send(Some(basic("service", "wrong")), format!("token={at}")))
        .await;
    assert_eq!(r.status, 401);
    let r = s.send(send(None, format!("token={at}&client_id=desktop"))).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = s.send(send(Some(basic("service", SECRET)), String::new())).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn revocation() {
    let s = server().await;
    let at = token(&s, "service", None).await;
    let revoke = |client: &str, body: String| {
        axum::http::Request::post("/revoke")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic(client, SECRET))
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    // Unknown tokens: 200, as RFC 7009 §2.2 requires.
    let r = s
        .send(revoke(
            "service",
            "token=unknown-token&token_type_hint=refresh_token".into(),
        ))
        .await;
    assert_eq!(r.status, 200);
    // Our access token: not revocable one by one.
    let r = s.send(revoke("service", format!("token={at}"))).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (400, Some("unsupported_token_type"))
    );
    // Someone else's token.
    let r = s.send(revoke("dpop-service", format!("token={at}"))).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // No client authentication.
    let unauthenticated = axum::http::Request::post("/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("token={at}")))
        .unwrap();
    assert_eq!(s.send(unauthenticated).await.status, 401);
}
