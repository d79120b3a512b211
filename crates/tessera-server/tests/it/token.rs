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
