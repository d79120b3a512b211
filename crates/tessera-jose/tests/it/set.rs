//! Security Event Token validation against the SSF 1.0 profile, and what a receiver answers.

use serde_json::{Value, json};
use tessera_jose::jws::JwsError;
use tessera_jose::jwt::{Claim, JwtError};
use tessera_jose::set::{SetError, SetValidation, validate};
use tessera_jose::{Algorithm, KeySet, ManualClock, SigningKey, UnixTime, jws};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/";
const AUD: &str = "https://api.example.com/";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "iat": NOW, "jti": "set-1",
        "sub_id": {"format": "iss_sub", "iss": ISS, "sub": "alice"},
        "events": {REVOKED: {"event_timestamp": NOW}}
    })
}

fn rules() -> SetValidation {
    SetValidation {
        issuer: ISS.into(),
        audience: AUD.into(),
        leeway: 30,
    }
}

#[test]
fn negative_table_with_rfc8935_codes() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    let clock = ManualClock::new(UnixTime(NOW));
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let sign = |c: &Value| jws::sign(&key, Some("secevent+jwt"), c).unwrap();
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        sign(&c)
    };
    let id_token = jws::sign(
        &key,
        Some("JWT"),
        &json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW, "exp": NOW + 60}),
    )
    .unwrap();
    let access_token = jws::sign(&key, Some("at+jwt"), &claims()).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("an ID token posted as a SET", id_token, "invalid_request"),
        ("an access token posted as a SET", access_token, "invalid_request"),
        (
            "signed by an unknown key",
            jws::sign(&stranger, Some("secevent+jwt"), &claims()).unwrap(),
            "invalid_key",
        ),
        (
            "wrong issuer",
            with(json!({"iss": "https://evil.example/"})),
            "invalid_issuer",
        ),
        (
            "wrong audience",
            with(json!({"aud": "https://other.example/"})),
            "invalid_audience",
        ),
        ("carries sub", with(json!({"sub": "alice"})), "invalid_request"),
        ("carries exp", with(json!({"exp": NOW + 60})), "invalid_request"),
        ("no jti", with(json!({"jti": null})), "invalid_request"),
        ("no iat", with(json!({"iat": null})), "invalid_request"),
        ("no sub_id", with(json!({"sub_id": null})), "invalid_request"),
        (
            "bad sub_id",
            with(json!({"sub_id": {"format": "email", "email": "nobody"}})),
            "invalid_request",
        ),
        (
            "unknown sub_id format",
            with(json!({"sub_id": {"format": "martian", "id": "x"}})),
            "invalid_request",
        ),
        ("no events", with(json!({"events": null})), "invalid_request"),
        (
            "two events",
            with(json!({"events": {REVOKED: {}, "https://example.com/x": {}}})),
            "invalid_request",
        ),
        ("zero events", with(json!({"events": {}})), "invalid_request"),
        (
            "event payload not an object",
            with(json!({"events": {REVOKED: true}})),
            "invalid_request",
        ),
        (
            "iat in the future",
            with(json!({"iat": NOW + 600})),
            "invalid_request",
        ),
    ];
    for (name, token, code) in cases {
        let err = validate(&token, &keys, &rules(), &clock).unwrap_err();
        assert_eq!(err.rfc8935_code(), code, "{name}: {err}");
    }
    // Specific errors for the SSF profile rules.
    assert_eq!(
        validate(&with(json!({"sub": "a"})), &keys, &rules(), &clock).unwrap_err(),
        SetError::HasSub
    );
    assert_eq!(
        validate(&with(json!({"exp": NOW})), &keys, &rules(), &clock).unwrap_err(),
        SetError::HasExp
    );
    assert_eq!(
        validate(&with(json!({"jti": null})), &keys, &rules(), &clock).unwrap_err(),
        SetError::Jwt(JwtError::MissingClaim(Claim::Jti))
    );
    assert!(matches!(
        validate(
            &jws::sign(&stranger, Some("secevent+jwt"), &claims()).unwrap(),
            &keys,
            &rules(),
            &clock
        )
        .unwrap_err(),
        SetError::Jwt(JwtError::Jws(JwsError::UnknownKey(_)))
    ));
}

#[test]
fn accepts_an_old_set_and_an_audience_list() {
    let key = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    // SETs do not expire: one fetched by poll a day later is still valid.
    let clock = ManualClock::new(UnixTime(NOW + 86_400));
    let mut c = claims();
    c["aud"] = json!(["https://a.example/", AUD]);
    c["txn"] = json!("t-1");
    let set = validate(
        &jws::sign(&key, Some("secevent+jwt"), &c).unwrap(),
        &keys,
        &rules(),
        &clock,
    )
    .unwrap();
    assert_eq!(set.events.event_type, REVOKED);
    assert_eq!(set.txn.as_deref(), Some("t-1"));
}

#[test]
fn ssf_verification_event_subject() {
    // SSF 1.0 §8.1.4: a verification SET names the stream as an opaque subject.
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    let clock = ManualClock::new(UnixTime(NOW));
    let c = json!({
        "iss": ISS, "aud": AUD, "iat": NOW, "jti": "v-1",
        "sub_id": {"format": "opaque", "id": "stream-1"},
        "events": {"https://schemas.openid.net/secevent/ssf/event-type/verification": {"state": "VGhpcyBpcyBhbiBleGFtcGxl"}}
    });
    let set = validate(
        &jws::sign(&key, Some("secevent+jwt"), &c).unwrap(),
        &keys,
        &rules(),
        &clock,
    )
    .unwrap();
    assert_eq!(set.sub_id, tessera_jose::SubjectId::opaque("stream-1"));
    assert_eq!(set.events.payload["state"], "VGhpcyBpcyBhbiBleGFtcGxl");
}
