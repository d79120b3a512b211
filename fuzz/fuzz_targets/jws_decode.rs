//! Any bytes as a compact JWS: decoding must never panic, and whatever decodes must survive
//! verification attempts with keys of every type.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera_jose::{Algorithm, KeySet, SigningKey, jws};

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let keys = [Algorithm::Es256, Algorithm::EdDsa]
        .into_iter()
        .filter_map(|a| SigningKey::generate(a).ok())
        .map(|k| k.public_jwk().clone())
        .collect();
    KeySet::new(keys)
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = jws::decode(text) {
        let _ = token.verify_with_set(&KEYS);
        if let Some(jwk) = &token.header().jwk {
            let _ = token.verify(jwk);
        }
    }
});
