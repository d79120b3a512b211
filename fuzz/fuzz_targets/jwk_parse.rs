//! Any bytes as a JWK or a JWKS document: parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_jose::{KeySet, PublicJwk, SigningKey};

fuzz_target!(|data: &[u8]| {
    let _ = PublicJwk::from_json(data);
    let _ = KeySet::from_jwks(data);
    let _ = SigningKey::from_private_jwk(data);
    let _ = SigningKey::from_pkcs8(data);
});
