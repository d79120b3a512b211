//! Key stores in real hardware: a software TPM (`swtpm`, started per test with its own state
//! and an EK certificate from its own local CA) and a PKCS#11 token (SoftHSM2, its own token
//! directory). `scripts/test` installs both; these tests run with the `tpm` and `pkcs11`
//! features.

#[cfg(feature = "pkcs11")]
mod pkcs11;
#[cfg(feature = "tpm")]
mod tpm;

/// Signs a DPoP-shaped JWS with `key` and checks it verifies with its public JWK, as Tessera
/// verifies the proofs a hardware key signs.
#[cfg(any(feature = "tpm", feature = "pkcs11"))]
fn assert_signs_verifiable_proofs(key: &dyn tessera_client::DeviceKey) {
    use tessera_jose::jws;
    let proof = jws::sign_with_header(
        key,
        &jws::SignHeader {
            alg: key.algorithm(),
            typ: Some("dpop+jwt"),
            kid: None,
            jwk: Some(key.public_jwk()),
        },
        &serde_json::json!({"htm": "POST"}),
    )
    .unwrap();
    jws::decode(&proof).unwrap().verify(key.public_jwk()).unwrap();
}
