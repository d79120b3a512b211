//! Typed JWT validation: each kind accepts only its own `typ` and claims.

use serde_json::{Value, json};
use tessera_jose::jwt::{Claim, JwtError, TokenKind, Validation, verify};
use tessera_jose::{Algorithm, KeySet, ManualClock, SigningKey, UnixTime, jws};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com";
const AUD: &str = "https://api.example.com";

fn access_claims() -> Value {
    json!({"iss": ISS, "sub": "alice", "aud": AUD, "client_id": "mail", "iat": NOW, "exp": NOW + 3600, "jti": "t1"})
}

fn setup() -> (SigningKey, KeySet, ManualClock) {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    (key, keys, ManualClock::new(UnixTime(NOW)))
}

#[test]
fn access_token_accepted_with_application_prefix_and_case() {
    let (key, keys, clock) = setup();
    let rules = Validation::new(TokenKind::AccessToken, ISS, AUD);
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let token = jws::sign(&key, Some(typ), &access_claims()).unwrap();
        let v = verify(&token, &keys, &rules, &clock).unwrap_or_else(|e| panic!("{typ}: {e}"));
        assert_eq!(v.registered.client_id.as_deref(), Some("mail"));
    }
}

#[test]
fn each_kind_refuses_every_other_kinds_typ() {
    let (key, keys, clock) = setup();
    let kinds = [
        TokenKind::AccessToken,
        TokenKind::IdToken,
        TokenKind::DpopProof,
        TokenKind::SecurityEvent,
        TokenKind::Logout,
    ];
    for signed_as in kinds {
        let token = jws::sign(&key, signed_as.typ(), &access_claims()).unwrap();
        for expected in kinds {
            if expected == signed_as || expected == TokenKind::DpopProof {
                continue;
            }
            let rules = Validation::new(expected, ISS, AUD);
            let err = verify(&token, &keys, &rules, &clock).unwrap_err();
            assert!(
                matches!(err, JwtError::WrongType { .. }),
                "{signed_as:?} as {expected:?}: {err}"
            );
        }
    }
    // An ID token may have no typ at all; an access token may not.
    let untyped = jws::sign(&key, None, &access_claims()).unwrap();
    verify(
        &untyped,
        &keys,
        &Validation::new(TokenKind::IdToken, ISS, AUD),
        &clock,
    )
    .unwrap();
    assert!(matches!(
        verify(
            &untyped,
            &keys,
            &Validation::new(TokenKind::AccessToken, ISS, AUD),
            &clock
        ),
        Err(JwtError::WrongType {
            found: None,
            expected: "at+jwt"
        })
    ));
}

#[test]
fn access_token_negative_table() {
    let (key, keys, clock) = setup();
    let rules = Validation::new(TokenKind::AccessToken, ISS, AUD);
    let with = |patch: Value| {
        let mut c = access_claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        jws::sign(&key, Some("at+jwt"), &c).unwrap()
    };
    let cases: Vec<(&str, String, JwtError)> = vec![
        (
            "no iss",
            with(json!({"iss": null})),
            JwtError::MissingClaim(Claim::Iss),
        ),
        (
            "no exp",
            with(json!({"exp": null})),
            JwtError::MissingClaim(Claim::Exp),
        ),
        (
            "no aud",
            with(json!({"aud": null})),
            JwtError::MissingClaim(Claim::Aud),
        ),
        (
            "no sub",
            with(json!({"sub": null})),
            JwtError::MissingClaim(Claim::Sub),
        ),
        (
            "no client_id",
            with(json!({"client_id": null})),
            JwtError::MissingClaim(Claim::ClientId),
        ),
        (
            "no iat",
            with(json!({"iat": null})),
            JwtError::MissingClaim(Claim::Iat),
        ),
        (
            "no jti",
            with(json!({"jti": null})),
            JwtError::MissingClaim(Claim::Jti),
        ),
        (
            "other issuer",
            with(json!({"iss": "https://evil.example"})),
            JwtError::WrongIssuer("https://evil.example".into()),
        ),
        (
            "issuer with trailing slash",
            with(json!({"iss": format!("{ISS}/")})),
            JwtError::WrongIssuer(format!("{ISS}/")),
        ),
        (
            "other audience",
            with(json!({"aud": "https://other.example"})),
            JwtError::WrongAudience(AUD.into()),
        ),
        (
            "audience list without us",
            with(json!({"aud": ["a", "b"]})),
            JwtError::WrongAudience(AUD.into()),
        ),
        (
            "expired beyond leeway",
            with(json!({"exp": NOW - 31})),
            JwtError::Expired(UnixTime(NOW - 31)),
        ),
        (
            "not yet valid",
            with(json!({"nbf": NOW + 31})),
            JwtError::NotYetValid(UnixTime(NOW + 31)),
        ),
        (
            "issued in the future",
            with(json!({"iat": NOW + 31})),
            JwtError::IssuedInFuture(UnixTime(NOW + 31)),
        ),
    ];
    for (name, token, want) in cases {
        assert_eq!(verify(&token, &keys, &rules, &clock).unwrap_err(), want, "{name}");
    }
    // Leeway edges and an audience list that includes us are accepted.
    for (name, token) in [
        ("expired within leeway", with(json!({"exp": NOW - 30}))),
        ("nbf within leeway", with(json!({"nbf": NOW + 30}))),
        ("audience list", with(json!({"aud": ["x", AUD]}))),
    ] {
        verify(&token, &keys, &rules, &clock).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Malformed claim types are refused, never coerced.
    for bad in [
        json!({"exp": "tomorrow"}),
        json!({"aud": 5}),
        json!({"iss": ["a"]}),
    ] {
        let err = verify(&with(bad.clone()), &keys, &rules, &clock).unwrap_err();
        assert!(
            matches!(err, JwtError::Jws(tessera_jose::jws::JwsError::BadPayload(_))),
            "{bad}: {err}"
        );
    }
}

#[test]
fn embedded_key_and_foreign_algorithms_are_refused() {
    let (key, keys, clock) = setup();
    let header = jws::SignHeader {
        alg: Algorithm::Es256,
        typ: Some("at+jwt"),
        kid: None,
        jwk: Some(key.public_jwk()),
    };
    let token = jws::sign_with_header(&key, &header, &access_claims()).unwrap();
    let rules = Validation::new(TokenKind::AccessToken, ISS, AUD);
    assert_eq!(
        verify(&token, &keys, &rules, &clock).unwrap_err(),
        JwtError::EmbeddedKey
    );

    let ed = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let ed_keys = KeySet::new(vec![ed.public_jwk().clone()]);
    let token = jws::sign(&ed, Some("at+jwt"), &access_claims()).unwrap();
    let mut es_only = rules.clone();
    es_only.algorithms = vec![Algorithm::Es256];
    assert_eq!(
        verify(&token, &ed_keys, &es_only, &clock).unwrap_err(),
        JwtError::AlgorithmNotAllowed(Algorithm::EdDsa)
    );
    // A token signed by a key that is not in the set.
    assert_eq!(
        verify(&token, &keys, &rules, &clock).unwrap_err(),
        JwtError::Jws(tessera_jose::jws::JwsError::UnknownKey(
            ed.kid().map(str::to_owned)
        ))
    );
}

#[test]
fn logout_token_rules() {
    let (key, keys, clock) = setup();
    let rules = Validation::new(TokenKind::Logout, ISS, AUD);
    let base = json!({
        "iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 120, "jti": "l1", "sid": "s1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
    });
    let sign = |c: &Value| jws::sign(&key, Some("logout+jwt"), c).unwrap();
    verify(&sign(&base), &keys, &rules, &clock).unwrap();
    let mut no_subject = base.clone();
    no_subject.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        verify(&sign(&no_subject), &keys, &rules, &clock).unwrap_err(),
        JwtError::MissingClaim(Claim::SubOrSid)
    );
    let mut with_nonce = base.clone();
    with_nonce["nonce"] = json!("n");
    assert_eq!(
        verify(&sign(&with_nonce), &keys, &rules, &clock).unwrap_err(),
        JwtError::ForbiddenClaim("nonce")
    );
    let mut wrong_event = base.clone();
    wrong_event["events"] = json!({"https://example.com/other": {}});
    assert_eq!(
        verify(&sign(&wrong_event), &keys, &rules, &clock).unwrap_err(),
        JwtError::MalformedClaim("events")
    );
}

#[test]
fn id_token_required_claims() {
    let (key, keys, clock) = setup();
    let rules = Validation::new(TokenKind::IdToken, ISS, AUD);
    let token = jws::sign(
        &key,
        Some("JWT"),
        &json!({"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 60}),
    )
    .unwrap();
    assert_eq!(
        verify(&token, &keys, &rules, &clock).unwrap_err(),
        JwtError::MissingClaim(Claim::Sub)
    );
}

#[test]
fn any_audience_skips_only_the_audience_comparison() {
    let (key, keys, clock) = setup();
    let rules = Validation::new(TokenKind::AccessToken, ISS, AUD).any_audience();
    let mut other = access_claims();
    other["aud"] = json!(["https://elsewhere.example", "https://x.example"]);
    verify(
        &jws::sign(&key, Some("at+jwt"), &other).unwrap(),
        &keys,
        &rules,
        &clock,
    )
    .unwrap();
    // aud is still a required claim of an access token, and the other rules still apply.
    let mut no_aud = access_claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        verify(
            &jws::sign(&key, Some("at+jwt"), &no_aud).unwrap(),
            &keys,
            &rules,
            &clock
        )
        .unwrap_err(),
        JwtError::MissingClaim(Claim::Aud)
    );
    let mut foreign = access_claims();
    foreign["iss"] = json!("https://evil.example");
    assert!(matches!(
        verify(
            &jws::sign(&key, Some("at+jwt"), &foreign).unwrap(),
            &keys,
            &rules,
            &clock
        ),
        Err(JwtError::WrongIssuer(_))
    ));
}

#[test]
fn client_assertions_accept_their_types_only_and_need_their_claims() {
    let (key, keys, clock) = setup();
    let claims = json!({"iss": "mail", "sub": "mail", "aud": AUD, "exp": NOW + 60, "jti": "a1"});
    let rules = Validation::new(TokenKind::ClientAssertion, "mail", AUD);
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("client-authentication+jwt"),
        Some("application/client-authentication+jwt"),
    ] {
        let token = jws::sign(&key, typ, &claims).unwrap();
        verify(&token, &keys, &rules, &clock).unwrap_or_else(|e| panic!("{typ:?}: {e}"));
    }
    for typ in ["at+jwt", "dpop+jwt", "secevent+jwt", "logout+jwt"] {
        let token = jws::sign(&key, Some(typ), &claims).unwrap();
        assert!(
            matches!(
                verify(&token, &keys, &rules, &clock),
                Err(JwtError::WrongType { .. })
            ),
            "{typ}"
        );
    }
    for missing in ["iss", "sub", "aud", "exp", "jti"] {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(missing);
        let token = jws::sign(&key, None, &c).unwrap();
        assert!(
            matches!(
                verify(&token, &keys, &rules, &clock),
                Err(JwtError::MissingClaim(_) | JwtError::WrongIssuer(_))
            ),
            "{missing}"
        );
    }
}
