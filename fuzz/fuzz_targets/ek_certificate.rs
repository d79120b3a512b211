//! Endorsement-key certificates and their chains, as clients send them, against the roots of a
//! software TPM's local CA. Nothing may panic; nothing but the genuine chain may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_attest::tpm::{TrustedRoots, verify_endorsement};

const ROOT: &[u8] = include_bytes!("../../crates/tessera-attest/tests/data/swtpm-root.pem");
const INTERMEDIATE: &[u8] = include_bytes!("../../crates/tessera-attest/tests/data/swtpm-intermediate.pem");

fuzz_target!(|data: &[u8]| {
    let mut roots = TrustedRoots::default();
    roots.add_roots_pem(ROOT).expect("the root parses");
    roots.add_intermediates_pem(INTERMEDIATE).expect("the intermediate parses");
    let (certificate, chain) = data.split_at(data.len().min(data.len() / 2 + 1));
    let _ = verify_endorsement(certificate, &[chain.to_vec()], &roots, 1_798_761_600);
    let _ = roots.add_roots_pem(data);
});
