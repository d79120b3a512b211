//! The token endpoint: client credentials, DPoP binding, and every error it answers with.

use serde_json::Value;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Algorithm, SigningKey, SystemClock, SystemRandom};

use crate::support::{ISSUER, SECRET, basic, server, token_request};

const CC: &str = "grant_type=client_credentials";

/// Extra headers, expected status, expected error code.
type ProofCase = (Vec<(&'static str, String)>, u16, &'static str);
/// Name, body, headers, expected status, expected error code.
type ErrorCase<'a> = (
    &'static str,
    String,
    Vec<(&'static str, &'a str)>,
    u16,
    &'static str,
);

#[tokio::test]
async fn client_credentials_with_basic_and_post() {
    let s = server().await;
    for (body, headers) in [
        (CC.to_owned(), vec![("authorization", basic("service", SECRET))]),
        (format!("{CC}&client_id=service&client_secret={SECRET}"), vec![]),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = s.send(token_request(&body, &h)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.headers["cache-control"], "no-store");
        assert_eq!(r.json["token_type"], "Bearer");
        assert_eq!(r.json["expires_in"], 15 * 60);
        assert_eq!(
            r.json["scope"], "mail.read mail.send",
            "no scope asked: everything the client may have"
        );
        // The token verifies as an RFC 9068 access token against the published keys.
        let rules = Validation::new(TokenKind::AccessToken, ISSUER, ISSUER);
        let token = r.json["access_token"].as_str().unwrap();
        let v = verify(token, s.state.keys.published(), &rules, &SystemClock).unwrap();
        assert_eq!(v.registered.sub.as_deref(), Some("service"));
        assert_eq!(v.registered.client_id.as_deref(), Some("service"));
        let claims: Value = v.claims().unwrap();
        assert!(claims.get("cnf").is_none());
    }
}

#[tokio::test]
async fn scope_and_resource() {
    let s = server().await;
    let auth = basic("service", SECRET);
    let r = s
        .send(token_request(
            &format!("{CC}&scope=mail.read&resource=https://mail.example/api"),
            &[("authorization", &auth)],
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["scope"], "mail.read");
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, "https://mail.example/api");
    verify(
        r.json["access_token"].as_str().unwrap(),
        s.state.keys.published(),
        &rules,
        &SystemClock,
    )
    .unwrap();
}

#[tokio::test]
async fn dpop_binds_the_token_to_the_key() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let proof = |uri: &str| {
        create_proof(
            &key,
            "POST",
            uri,
            ProofOptions::default(),
            &SystemClock,
            &SystemRandom,
        )
        .unwrap()
    };
    let auth = basic("dpop-service", SECRET);
    let good = proof(&format!("{ISSUER}/token"));
    let r = s
        .send(token_request(CC, &[("authorization", &auth), ("dpop", &good)]))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, ISSUER);
    let v = verify(
        r.json["access_token"].as_str().unwrap(),
        s.state.keys.published(),
        &rules,
        &SystemClock,
    )
    .unwrap();
    let claims: Value = v.claims().unwrap();
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint().as_str());

    // The same proof again, a proof for another URI, two proofs, no proof for a DPoP-only client.
    let cases: Vec<ProofCase> = vec![
        (vec![("dpop", good.clone())], 400, "invalid_dpop_proof"),
        (
            vec![("dpop", proof(&format!("{ISSUER}/other")))],
            400,
            "invalid_dpop_proof",
        ),
        (
            vec![
                ("dpop", proof(&format!("{ISSUER}/token"))),
                ("dpop", proof(&format!("{ISSUER}/token"))),
            ],
            400,
            "invalid_request",
        ),
        (vec![("dpop", "not-a-jwt".into())], 400, "invalid_dpop_proof"),
        (vec![], 400, "invalid_dpop_proof"),
    ];
    for (extra, status, code) in cases {
        let mut h: Vec<(&str, &str)> = vec![("authorization", auth.as_str())];
        h.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let r = s.send(token_request(CC, &h)).await;
        assert_eq!(
            (r.status.as_u16(), r.json["error"].as_str().unwrap()),
            (status, code),
            "{extra:?}: {}",
            r.json
        );
    }
}

#[tokio::test]
async fn dpop_nonces_when_required() {
    let s = crate::support::server_with(|c| c.tokens.require_dpop_nonce = true).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let proof = |nonce: Option<&str>| {
        create_proof(
            &key,
            "POST",
            &format!("{ISSUER}/token"),
            ProofOptions {
                nonce,
                ..ProofOptions::default()
            },
            &SystemClock,
            &SystemRandom,
        )
        .unwrap()
    };
    let auth = basic("dpop-service", SECRET);
    // Without a nonce: use_dpop_nonce, and the nonce to use (RFC 9449 §8).
    let r = s
        .send(token_request(
            CC,
            &[("authorization", &auth), ("dpop", &proof(None))],
        ))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let nonce = r.headers["dpop-nonce"].to_str().unwrap().to_owned();
    // With it: a token, and a nonce for next time.
    let r = s
        .send(token_request(
            CC,
            &[("authorization", &auth), ("dpop", &proof(Some(&nonce)))],
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "DPoP");
    assert!(r.headers.contains_key("dpop-nonce"));
    // A nonce Tessera did not issue.
    let r = s
        .send(token_request(
            CC,
            &[("authorization", &auth), ("dpop", &proof(Some("made-up")))],
        ))
        .await;
    assert_eq!(r.json["error"], "use_dpop_nonce");
    // A client that sends no proof needs no nonce.
    let r = s
        .send(token_request(CC, &[("authorization", &basic("service", SECRET))]))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Another node of the same deployment accepts the nonce: the key is shared in the store.
    let twin = tessera_server::oauth::dpop_nonce::DpopNonces::shared(
        s.state.store.as_ref(),
        300,
        tessera_store::Timestamp(0),
    )
    .await
    .unwrap();
    assert!(tessera_jose::dpop::NonceCheck::is_valid(
        &twin,
        &nonce,
        tessera_jose::Clock::now(&SystemClock).unix_time()
    ));
}

#[tokio::test]
async fn errors_table() {
    let s = server().await;
    let good = basic("service", SECRET);
    let wrong = basic("service", "nope");
    let ghost = basic("ghost", SECRET);
    let no_cc = basic("no-cc", SECRET);
    let post = format!("{CC}&client_id=service&client_secret={SECRET}");
    let cases: Vec<ErrorCase<'_>> = vec![
        (
            "wrong content type",
            CC.into(),
            vec![("authorization", &good), ("content-type", "application/json")],
            400,
            "invalid_request",
        ),
        (
            "repeated parameter",
            format!("{CC}&grant_type=client_credentials"),
            vec![("authorization", &good)],
            400,
            "invalid_request",
        ),
        (
            "no grant_type",
            "scope=mail.read".into(),
            vec![("authorization", &good)],
            400,
            "invalid_request",
        ),
        (
            "unsupported grant",
            "grant_type=password&username=a&password=b".into(),
            vec![("authorization", &good)],
            400,
            "unsupported_grant_type",
        ),
        (
            "no client authentication",
            CC.into(),
            vec![],
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            CC.into(),
            vec![("authorization", &ghost)],
            401,
            "invalid_client",
        ),
        (
            "wrong secret",
            CC.into(),
            vec![("authorization", &wrong)],
            401,
            "invalid_client",
        ),
        (
            "malformed basic",
            CC.into(),
            vec![("authorization", "Basic %%%")],
            401,
            "invalid_client",
        ),
        (
            "two methods",
            post.clone(),
            vec![("authorization", &good)],
            400,
            "invalid_request",
        ),
        (
            "public client",
            format!("{CC}&client_id=desktop"),
            vec![],
            400,
            "unauthorized_client",
        ),
        (
            "grant not allowed",
            CC.into(),
            vec![("authorization", &no_cc)],
            400,
            "unauthorized_client",
        ),
        (
            "scope not allowed",
            format!("{CC}&scope=admin"),
            vec![("authorization", &good)],
            400,
            "invalid_scope",
        ),
        (
            "relative resource",
            format!("{CC}&resource=/api"),
            vec![("authorization", &good)],
            400,
            "invalid_target",
        ),
        (
            "garbage body",
            "%ff%fe=\u{0}&&&=".into(),
            vec![("authorization", &good)],
            400,
            "invalid_request",
        ),
    ];
    for (name, body, headers, status, code) in cases {
        // A header given twice replaces the default content type.
        let mut request = token_request(&body, &[]);
        for (k, v) in &headers {
            request.headers_mut().insert(*k, v.parse().unwrap());
        }
        let r = s.send(request).await;
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.json);
        assert_eq!(r.json["error"], code, "{name}");
        assert!(
            r.json["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert_eq!(r.headers["cache-control"], "no-store", "{name}");
        if name == "wrong secret" {
            assert_eq!(
                r.headers["www-authenticate"],
                "Basic realm=\"tessera\", charset=\"UTF-8\""
            );
        }
        if name == "no client authentication" {
            assert!(
                r.headers.get("www-authenticate").is_none(),
                "no Basic challenge unless Basic was tried"
            );
        }
    }
}

mod private_key_jwt {
    use serde_json::{Value, json};
    use tessera_jose::{Algorithm, SigningKey, b64, jws};

    use crate::support::{ISSUER, SECRET, Server, basic, server, token_request};

    const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    /// Name, body, headers, expected status, expected error code.
    type Case = (
        &'static str,
        String,
        Vec<(&'static str, String)>,
        u16,
        &'static str,
    );

    async fn keyed_server(key: &SigningKey) -> Server {
        let s = server().await;
        crate::support::app_with_key(&s, "keyed", key).await;
        s
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn claims(jti: &str) -> Value {
        json!({"iss": "keyed", "sub": "keyed", "aud": format!("{ISSUER}/token"), "exp": now() + 60, "iat": now(), "jti": jti})
    }

    fn body(assertion: &str) -> String {
        format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"
        )
    }

    #[tokio::test]
    async fn a_signed_assertion_authenticates_once() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let s = keyed_server(&key).await;
        let assertion = jws::sign(&key, None, &claims("a-1")).unwrap();
        let r = s.send(token_request(&body(&assertion), &[])).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["scope"], "mail.read");
        // With client_id in the body too, the RFC 7523bis typ, and the issuer as audience.
        let mut c = claims("a-2");
        c["aud"] = json!(ISSUER);
        let assertion2 = jws::sign(&key, Some("client-authentication+jwt"), &c).unwrap();
        let r = s
            .send(token_request(
                &format!("{}&client_id=keyed", body(&assertion2)),
                &[],
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        // The first assertion again: a replay.
        let r = s.send(token_request(&body(&assertion), &[])).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json["error"], "invalid_client");
        assert!(r.json["error_description"].as_str().unwrap().contains("jti"));
        // Discovery says so.
        let d = s.get("/.well-known/openid-configuration").await;
        assert!(
            d.json["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt"))
        );
    }

    #[tokio::test]
    async fn negative_table() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let other = SigningKey::generate(Algorithm::Es256).unwrap();
        let s = keyed_server(&key).await;
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(&format!("n-{}", rand_suffix()));
            f(&mut c);
            jws::sign(&key, None, &c).unwrap()
        };
        let unsigned = format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none"}"#),
            b64::encode(claims("n-none").to_string().as_bytes())
        );
        let cases: Vec<Case> = vec![
            (
                "expired",
                body(&with(&|c| c["exp"] = json!(now() - 120))),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "valid for two hours",
                body(&with(&|c| c["exp"] = json!(now() + 7200))),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "another audience",
                body(&with(&|c| c["aud"] = json!("https://elsewhere.example"))),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "iss is not sub",
                body(&with(&|c| c["iss"] = json!("service"))),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "unknown client",
                body(&with(&|c| {
                    c["iss"] = json!("ghost");
                    c["sub"] = json!("ghost");
                })),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "no jti",
                body(&with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                })),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "no exp",
                body(&with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "another key",
                body(&jws::sign(&other, None, &claims("n-other")).unwrap()),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "an access token's typ",
                body(&jws::sign(&key, Some("at+jwt"), &claims("n-typ")).unwrap()),
                vec![],
                401,
                "invalid_client",
            ),
            ("alg none", body(&unsigned), vec![], 401, "invalid_client"),
            ("not a JWT", body("garbage"), vec![], 401, "invalid_client"),
            (
                "a client with a secret only",
                body(&with(&|c| {
                    c["iss"] = json!("service");
                    c["sub"] = json!("service");
                })),
                vec![],
                401,
                "invalid_client",
            ),
            (
                "unknown assertion type",
                format!(
                    "grant_type=client_credentials&client_assertion_type=urn:x&client_assertion={}",
                    with(&|_| {})
                ),
                vec![],
                400,
                "invalid_request",
            ),
            (
                "assertion without its type",
                format!("grant_type=client_credentials&client_assertion={}", with(&|_| {})),
                vec![],
                400,
                "invalid_request",
            ),
            (
                "type without assertion",
                format!("grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}"),
                vec![],
                400,
                "invalid_request",
            ),
            (
                "assertion and a secret",
                format!("{}&client_secret={SECRET}", body(&with(&|_| {}))),
                vec![],
                400,
                "invalid_request",
            ),
            (
                "assertion and Basic",
                body(&with(&|_| {})),
                vec![("authorization", basic("keyed", SECRET))],
                400,
                "invalid_request",
            ),
            (
                "client_id differs",
                format!("{}&client_id=service", body(&with(&|_| {}))),
                vec![],
                400,
                "invalid_request",
            ),
        ];
        for (name, body, headers, status, error) in cases {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s.send(token_request(&body, &h)).await;
            assert_eq!(r.status, status, "{name}: {}", r.json);
            assert_eq!(r.json["error"], error, "{name}");
        }
        // Introspection accepts the same method.
        let at = s.send(token_request(&body(&with(&|_| {})), &[])).await.json["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut c = claims("n-introspect");
        c["aud"] = json!(format!("{ISSUER}/introspect"));
        let assertion = jws::sign(&key, None, &c).unwrap();
        let r = s
            .send(
                axum::http::Request::post("/introspect")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from(format!(
                        "token={at}&{}",
                        &body(&assertion)[30..]
                    )))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["active"], true);
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }
}
