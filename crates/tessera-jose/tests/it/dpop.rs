//! DPoP verification: one negative test per rule of RFC 9449 §4.3 and §7.1, each producing its
//! exact error and OAuth error code.

use serde_json::{Value, json};
use tessera_jose::dpop::{
    DpopConfig, DpopError, DpopRequest, DpopVerifier, MemoryReplayCache, NonceCheck, ProofOptions,
    access_token_hash, create_proof,
};
use tessera_jose::jws::{SignHeader, sign_with_header};
use tessera_jose::{Algorithm, Jkt, ManualClock, SigningKey, SystemRandom, UnixTime, b64};

const NOW: i64 = 1_700_000_000;
const URI: &str = "https://idp.example.com/token";
const AT: &str = "eyJhbGciOiJFUzI1NiJ9.access.token";

struct Fixture {
    key: SigningKey,
    clock: ManualClock,
    verifier: DpopVerifier<MemoryReplayCache>,
}

fn fixture(alg: Algorithm) -> Fixture {
    Fixture {
        key: SigningKey::generate(alg).unwrap(),
        clock: ManualClock::new(UnixTime(NOW)),
        verifier: DpopVerifier::new(DpopConfig::default(), MemoryReplayCache::new(1000)),
    }
}

fn request<'a>(proofs: &'a [&'a str]) -> DpopRequest<'a> {
    DpopRequest {
        proofs,
        method: "POST",
        uri: URI,
        access_token: None,
        bound_jkt: None,
        nonce: None,
    }
}

/// A proof with a custom header and claims, signed by `key`.
fn custom(key: &SigningKey, typ: Option<&str>, jwk: bool, claims: &Value) -> String {
    let header = SignHeader {
        alg: key.algorithm(),
        typ,
        kid: None,
        jwk: jwk.then(|| key.public_jwk()),
    };
    sign_with_header(key, &header, claims).unwrap()
}

fn claims() -> Value {
    json!({"jti": "id-1", "htm": "POST", "htu": URI, "iat": NOW})
}

#[test]
fn a_good_proof_passes_for_both_algorithms() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let f = fixture(alg);
        let proof = create_proof(
            &f.key,
            "POST",
            URI,
            ProofOptions::default(),
            &f.clock,
            &SystemRandom,
        )
        .unwrap();
        let ok = f.verifier.verify(&request(&[&proof]), &f.clock).unwrap();
        assert_eq!(&ok.jkt, f.key.thumbprint());
    }
}

#[test]
fn header_count_rules() {
    let f = fixture(Algorithm::Es256);
    let p = custom(&f.key, Some("dpop+jwt"), true, &claims());
    assert_eq!(
        f.verifier.verify(&request(&[]), &f.clock).unwrap_err(),
        DpopError::Missing
    );
    assert_eq!(
        f.verifier.verify(&request(&[&p, &p]), &f.clock).unwrap_err(),
        DpopError::MultipleHeaders
    );
}

#[test]
fn negative_table() {
    let f = fixture(Algorithm::Es256);
    let k = &f.key;
    let with = |patch: Value| {
        let mut c = claims();
        for (name, value) in patch.as_object().unwrap() {
            if value.is_null() {
                c.as_object_mut().unwrap().remove(name);
            } else {
                c[name] = value.clone();
            }
        }
        custom(k, Some("dpop+jwt"), true, &c)
    };
    // An HS256 "proof": alg refused at parse time.
    let hs = format!(
        "{}.{}.{}",
        b64::encode(br#"{"typ":"dpop+jwt","alg":"HS256"}"#),
        b64::encode(claims().to_string()),
        b64::encode([0u8; 32])
    );
    // A proof whose jwk carries the private scalar.
    let private_jwk: Value = serde_json::from_str(&k.to_private_jwk().unwrap()).unwrap();
    let with_private = format!(
        "{}.{}.{}",
        b64::encode(json!({"typ":"dpop+jwt","alg":"ES256","jwk":private_jwk}).to_string()),
        b64::encode(claims().to_string()),
        b64::encode([0u8; 64])
    );
    // A proof signed by another key than the one in its header.
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let mismatched = {
        let header = SignHeader {
            alg: Algorithm::Es256,
            typ: Some("dpop+jwt"),
            kid: None,
            jwk: Some(k.public_jwk()),
        };
        sign_with_header(&other, &header, &claims()).unwrap()
    };
    // An Ed25519 key in the header of an ES256 proof.
    let ed = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let confused = format!(
        "{}.{}.{}",
        b64::encode(json!({"typ":"dpop+jwt","alg":"ES256","jwk":ed.public_jwk()}).to_string()),
        b64::encode(claims().to_string()),
        b64::encode([0u8; 64])
    );

    let cases: Vec<(&str, String, DpopError)> = vec![
        (
            "not a JWS",
            "abc".into(),
            DpopError::Malformed(tessera_jose::jws::JwsError::NotCompact),
        ),
        (
            "alg HS256",
            hs,
            DpopError::Malformed(tessera_jose::jws::JwsError::AlgorithmNotAllowed("HS256".into())),
        ),
        (
            "typ missing",
            custom(k, None, true, &claims()),
            DpopError::WrongType,
        ),
        (
            "typ JWT",
            custom(k, Some("JWT"), true, &claims()),
            DpopError::WrongType,
        ),
        (
            "typ at+jwt",
            custom(k, Some("at+jwt"), true, &claims()),
            DpopError::WrongType,
        ),
        (
            "no jwk",
            custom(k, Some("dpop+jwt"), false, &claims()),
            DpopError::MissingKey,
        ),
        (
            "private jwk",
            with_private,
            DpopError::Malformed(tessera_jose::jws::JwsError::BadEmbeddedKey(
                tessera_jose::JwkError::PrivateMember("d"),
            )),
        ),
        ("signed by another key", mismatched, DpopError::BadSignature),
        (
            "jwk of another type",
            confused,
            DpopError::AlgorithmNotAllowed(Algorithm::Es256),
        ),
        (
            "jti missing",
            with(json!({"jti": null})),
            DpopError::BadClaim("jti"),
        ),
        ("jti empty", with(json!({"jti": ""})), DpopError::BadClaim("jti")),
        (
            "jti not a string",
            with(json!({"jti": 5})),
            DpopError::BadClaim("payload"),
        ),
        (
            "htm missing",
            with(json!({"htm": null})),
            DpopError::BadClaim("htm"),
        ),
        (
            "htu missing",
            with(json!({"htu": null})),
            DpopError::BadClaim("htu"),
        ),
        (
            "iat missing",
            with(json!({"iat": null})),
            DpopError::BadClaim("iat"),
        ),
        (
            "iat a string",
            with(json!({"iat": "now"})),
            DpopError::BadClaim("payload"),
        ),
        ("htm GET", with(json!({"htm": "GET"})), DpopError::HtmMismatch),
        (
            "htm lower case",
            with(json!({"htm": "post"})),
            DpopError::HtmMismatch,
        ),
        (
            "htu other path",
            with(json!({"htu": "https://idp.example.com/authorize"})),
            DpopError::HtuMismatch,
        ),
        (
            "htu other host",
            with(json!({"htu": "https://evil.example.com/token"})),
            DpopError::HtuMismatch,
        ),
        (
            "htu http",
            with(json!({"htu": "http://idp.example.com/token"})),
            DpopError::HtuMismatch,
        ),
        (
            "htu relative",
            with(json!({"htu": "/token"})),
            DpopError::BadClaim("htu"),
        ),
        (
            "iat too old",
            with(json!({"iat": NOW - 61})),
            DpopError::IatOutOfWindow,
        ),
        (
            "iat in the future",
            with(json!({"iat": NOW + 61})),
            DpopError::IatOutOfWindow,
        ),
    ];
    for (name, proof, want) in cases {
        let got = f.verifier.verify(&request(&[&proof]), &f.clock).unwrap_err();
        assert_eq!(got, want, "{name}");
        assert_eq!(got.error_code(), "invalid_dpop_proof", "{name}");
    }
    // Within the window on both edges, and htu with query/fragment or another spelling: fine.
    for (name, proof) in [
        ("iat 60 s old", with(json!({"iat": NOW - 60, "jti": "a"}))),
        ("iat 60 s ahead", with(json!({"iat": NOW + 60, "jti": "b"}))),
        (
            "htu with query",
            with(json!({"htu": format!("{URI}?x=1"), "jti": "c"})),
        ),
        (
            "htu upper-case host, default port",
            with(json!({"htu": "https://IDP.example.com:443/token", "jti": "d"})),
        ),
        (
            "iat fractional",
            with(json!({"iat": NOW as f64 + 0.5, "jti": "e"})),
        ),
    ] {
        f.verifier
            .verify(&request(&[&proof]), &f.clock)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn request_uri_query_is_ignored() {
    let f = fixture(Algorithm::Es256);
    let proof = create_proof(
        &f.key,
        "POST",
        URI,
        ProofOptions::default(),
        &f.clock,
        &SystemRandom,
    )
    .unwrap();
    let proofs = [proof.as_str()];
    let mut req = request(&proofs);
    let uri = format!("{URI}?client_id=app#x");
    req.uri = &uri;
    f.verifier.verify(&req, &f.clock).unwrap();
}

#[test]
fn replayed_jti_is_refused_but_a_refused_proof_does_not_burn_its_jti() {
    let f = fixture(Algorithm::Es256);
    let good = custom(&f.key, Some("dpop+jwt"), true, &claims());
    let mut bad_claims = claims();
    bad_claims["htm"] = json!("GET");
    let bad = custom(&f.key, Some("dpop+jwt"), true, &bad_claims);
    assert_eq!(
        f.verifier.verify(&request(&[&bad]), &f.clock).unwrap_err(),
        DpopError::HtmMismatch
    );
    f.verifier.verify(&request(&[&good]), &f.clock).unwrap();
    assert_eq!(
        f.verifier.verify(&request(&[&good]), &f.clock).unwrap_err(),
        DpopError::Replayed
    );
    // The same jti from another key is that key's own business.
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let theirs = custom(&other, Some("dpop+jwt"), true, &claims());
    f.verifier.verify(&request(&[&theirs]), &f.clock).unwrap();
}

#[test]
fn nonce_rules() {
    let f = fixture(Algorithm::Es256);
    let check = |n: &str, _now: UnixTime| n == "server-nonce-1";
    let nonce: &dyn NonceCheck = &check;
    let verify = |opts: ProofOptions<'_>| {
        let proof = create_proof(&f.key, "POST", URI, opts, &f.clock, &SystemRandom).unwrap();
        let mut req = request(&[]);
        let proofs = [proof.as_str()];
        req.proofs = &proofs;
        req.nonce = Some(nonce);
        f.verifier.verify(&req, &f.clock)
    };
    let missing = verify(ProofOptions::default()).unwrap_err();
    assert_eq!(missing, DpopError::UseNonce);
    assert_eq!(missing.error_code(), "use_dpop_nonce");
    assert_eq!(
        verify(ProofOptions {
            nonce: Some("stale"),
            ..Default::default()
        })
        .unwrap_err(),
        DpopError::UseNonce
    );
    verify(ProofOptions {
        nonce: Some("server-nonce-1"),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn resource_server_rules_ath_and_cnf_jkt() {
    let f = fixture(Algorithm::EdDsa);
    let jkt: Jkt = f.key.thumbprint().clone();
    let at_proof = |token: Option<&str>| {
        create_proof(
            &f.key,
            "GET",
            "https://api.example.com/mail",
            ProofOptions {
                access_token: token,
                nonce: None,
                ..Default::default()
            },
            &f.clock,
            &SystemRandom,
        )
        .unwrap()
    };
    let check = |proof: &str, bound: &Jkt| {
        let proofs = [proof];
        let req = DpopRequest {
            proofs: &proofs,
            method: "GET",
            uri: "https://api.example.com/mail?folder=inbox",
            access_token: Some(AT),
            bound_jkt: Some(bound),
            nonce: None,
        };
        f.verifier.verify(&req, &f.clock)
    };
    check(&at_proof(Some(AT)), &jkt).unwrap();
    assert_eq!(check(&at_proof(None), &jkt).unwrap_err(), DpopError::MissingAth);
    assert_eq!(
        check(&at_proof(Some("another.token")), &jkt).unwrap_err(),
        DpopError::AthMismatch
    );
    let elsewhere: Jkt = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .thumbprint()
        .clone();
    assert_eq!(
        check(&at_proof(Some(AT)), &elsewhere).unwrap_err(),
        DpopError::KeyMismatch
    );
    assert_eq!(access_token_hash(AT).len(), 43);
}

#[test]
fn algorithm_allowlist_is_configurable() {
    let f = fixture(Algorithm::EdDsa);
    let only_es256 = DpopVerifier::new(
        DpopConfig {
            algorithms: vec![Algorithm::Es256],
            ..DpopConfig::default()
        },
        MemoryReplayCache::new(10),
    );
    let proof = create_proof(
        &f.key,
        "POST",
        URI,
        ProofOptions::default(),
        &f.clock,
        &SystemRandom,
    )
    .unwrap();
    assert_eq!(
        only_es256.verify(&request(&[&proof]), &f.clock).unwrap_err(),
        DpopError::AlgorithmNotAllowed(Algorithm::EdDsa)
    );
}

#[test]
fn proof_shape_matches_rfc9449_section_4_2() {
    let f = fixture(Algorithm::Es256);
    let proof = create_proof(
        &f.key,
        "POST",
        "https://idp.example.com/token?x=1#frag",
        ProofOptions {
            access_token: Some(AT),
            nonce: Some("n"),
            ..Default::default()
        },
        &f.clock,
        &SystemRandom,
    )
    .unwrap();
    let jws = tessera_jose::jws::decode(&proof).unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("dpop+jwt"));
    assert!(jws.header().kid.is_none());
    let c: Value = serde_json::from_slice(jws.unverified_payload()).unwrap();
    assert_eq!(c["htu"], URI, "query and fragment are dropped");
    assert_eq!(c["htm"], "POST");
    assert_eq!(c["iat"], NOW);
    assert_eq!(c["nonce"], "n");
    assert_eq!(c["ath"], access_token_hash(AT));
    assert!(
        c["jti"].as_str().unwrap().len() >= 22,
        "at least 128 bits of randomness"
    );
}

#[test]
fn a_session_key_the_proof_vouches_for_is_read_and_a_malformed_one_refused() {
    let f = fixture(Algorithm::Es256);
    let session = SigningKey::generate(Algorithm::Es256).unwrap();
    let proof = create_proof(
        &f.key,
        "POST",
        URI,
        ProofOptions {
            session_jkt: Some(session.thumbprint().as_str()),
            ..Default::default()
        },
        &f.clock,
        &SystemRandom,
    )
    .unwrap();
    let verified = f.verifier.verify(&request(&[&proof]), &f.clock).unwrap();
    assert_eq!(
        verified.jkt,
        *f.key.thumbprint(),
        "the proof's key is still the one bound"
    );
    assert_eq!(verified.session_jkt.as_ref(), Some(session.thumbprint()));

    let plain = create_proof(
        &f.key,
        "POST",
        URI,
        ProofOptions::default(),
        &f.clock,
        &SystemRandom,
    )
    .unwrap();
    assert_eq!(
        f.verifier
            .verify(&request(&[&plain]), &f.clock)
            .unwrap()
            .session_jkt,
        None
    );

    for bad in [json!("not-a-thumbprint"), json!(7), json!("")] {
        let mut c = claims();
        c["jti"] = json!(format!("bad-{bad}"));
        c["tessera_session_jkt"] = bad;
        let proof = custom(&f.key, Some("dpop+jwt"), true, &c);
        assert!(
            matches!(
                f.verifier.verify(&request(&[&proof]), &f.clock),
                Err(DpopError::BadClaim(_))
            ),
            "{c}"
        );
    }
}
