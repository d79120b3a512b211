//! Any bytes as a DPoP header value at a resource server: verification must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera_jose::dpop::{DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache};
use tessera_jose::{Jkt, ManualClock, UnixTime};

static VERIFIER: LazyLock<DpopVerifier<MemoryReplayCache>> =
    LazyLock::new(|| DpopVerifier::new(DpopConfig::default(), MemoryReplayCache::new(100_000)));
static JKT: LazyLock<Option<Jkt>> =
    LazyLock::new(|| "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".parse().ok());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line may carry the request URI, so htu comparison sees hostile input too.
    let (uri, proof) = match text.split_once('\n') {
        Some((u, p)) => (u, p),
        None => ("https://server.example.com/token", text),
    };
    let clock = ManualClock::new(UnixTime(1_562_262_616));
    for access_token in [None, Some("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")] {
        let request = DpopRequest {
            proofs: &[proof],
            method: "POST",
            uri,
            access_token,
            bound_jkt: JKT.as_ref(),
            nonce: None,
        };
        let _ = VERIFIER.verify(&request, &clock);
    }
});
