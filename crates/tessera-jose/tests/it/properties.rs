//! Property tests: hostile bytes never panic a parser, and what is signed always verifies.

use proptest::prelude::*;
use tessera_jose::dpop::{DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache};
use tessera_jose::{Algorithm, KeySet, ManualClock, PublicJwk, SigningKey, UnixTime, jws, jwt, set};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn jws_decode_never_panics(s in "\\PC{0,300}") {
        let _ = jws::decode(&s);
    }

    #[test]
    fn dotted_base64_never_panics(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,90}") {
        let token = format!("{a}.{b}.{c}");
        let _ = jws::decode(&token);
        let verifier = DpopVerifier::new(DpopConfig::default(), MemoryReplayCache::new(16));
        let req = DpopRequest { proofs: &[&token], method: "GET", uri: "https://h/x", access_token: None, bound_jkt: None, nonce: None };
        let _ = verifier.verify(&req, &ManualClock::new(UnixTime(0)));
    }

    #[test]
    fn jwk_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = PublicJwk::from_json(&bytes);
        let _ = KeySet::from_jwks(&bytes);
    }

    #[test]
    fn header_json_never_panics(header in "\\{(\"[a-z]{1,4}\":(\"[A-Za-z0-9+/]{0,8}\"|[0-9]{1,3}|null|\\[\\]),?){0,5}\\}") {
        let token = format!("{}.e30.AA", tessera_jose::b64::encode(header));
        let _ = jws::decode(&token);
    }

    #[test]
    fn signed_payloads_verify(sub in "\\PC{0,64}", n in any::<i64>()) {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let token = jws::sign(&key, Some("at+jwt"), &serde_json::json!({"sub": sub, "n": n})).unwrap();
            let decoded = jws::decode(&token).unwrap();
            prop_assert!(decoded.verify(key.public_jwk()).is_ok());
        }
    }
}

#[test]
fn set_and_jwt_validation_survive_garbage_payloads() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    let clock = ManualClock::new(UnixTime(0));
    let rules = set::SetValidation {
        issuer: "i".into(),
        audience: "a".into(),
        leeway: 0,
    };
    for payload in [
        serde_json::json!(null),
        serde_json::json!([]),
        serde_json::json!("x"),
        serde_json::json!({"iss": "i", "aud": "a", "iat": 1e300, "jti": "j"}),
        serde_json::json!({"iss": "i", "aud": "a", "iat": -1, "jti": "j", "events": [], "sub_id": []}),
    ] {
        let token = jws::sign(&key, Some("secevent+jwt"), &payload).unwrap();
        assert!(set::validate(&token, &keys, &rules, &clock).is_err(), "{payload}");
        let v = jwt::Validation::new(jwt::TokenKind::SecurityEvent, "i", "a");
        let _ = jwt::verify(&token, &keys, &v, &clock);
    }
}
