//! A transmitter's SET signed by a trusted key but with any payload: claim parsing and SSF
//! profile checks must never panic. Also feeds the raw bytes in as a token.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera_jose::set::{SetValidation, validate};
use tessera_jose::{Algorithm, KeySet, ManualClock, SigningKey, UnixTime, b64};

static KEY: LazyLock<Option<SigningKey>> = LazyLock::new(|| SigningKey::generate(Algorithm::EdDsa).ok());

fuzz_target!(|data: &[u8]| {
    let Some(key) = KEY.as_ref() else { return };
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    let rules = SetValidation {
        issuer: "https://idp.example/".into(),
        audience: "https://api.example/".into(),
        leeway: 30,
    };
    let clock = ManualClock::new(UnixTime(1_700_000_000));
    // Signed garbage: exercises everything after the signature check.
    let mut token = format!(
        "{}.{}",
        b64::encode(br#"{"alg":"EdDSA","typ":"secevent+jwt"}"#),
        b64::encode(data)
    );
    if let Ok(sig) = key.sign(token.as_bytes()) {
        token.push('.');
        token.push_str(&b64::encode(sig));
        let _ = validate(&token, &keys, &rules, &clock);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate(text, &keys, &rules, &clock);
    }
    let _ = serde_json::from_slice::<tessera_jose::SubjectId>(data).map(|s| s.validate());
});
