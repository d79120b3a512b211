//! Any bytes as a request object (RFC 9101): a compact JWS whose payload becomes authorization
//! request parameters. Neither step may panic, and every parameter read must be one a query
//! could carry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_jose::{jws, request_object};

fuzz_target!(|data: &[u8]| {
    // The payload alone, as JSON bytes of any shape.
    if let Ok(params) = request_object::parameters(data) {
        assert!(!params.contains_key("request") && !params.contains_key("request_uri"));
    }
    // And inside a JWS, as the authorization endpoint receives it.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(token) = jws::decode(text)
    {
        let _ = request_object::parameters(token.unverified_payload());
    }
});
