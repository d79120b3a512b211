//! Device keys in a (software) TPM: made and used inside it, useless elsewhere, attested to
//! the IdP.

use tessera_client::{KeyProtection, KeyStore as _, TpmKeyStore};
use tessera_jose::jws;

use super::swtpm::SoftwareTpm;

#[test]
fn a_tpm_key_signs_inside_the_tpm_and_its_files_are_useless_elsewhere() {
    let tpm = SoftwareTpm::start();
    let dir = tempfile::tempdir().unwrap();
    let store = TpmKeyStore::new(dir.path(), tpm.config());
    let key = store.load_or_create("laptop").unwrap();
    assert_eq!(
        key.protection(),
        KeyProtection::Hardware(tessera_client::HardwareKind::Tpm2)
    );
    // The TPM's ES256 signature verifies with the public key, as a DPoP proof's does.
    let token = jws::sign_with_header(
        key.as_ref(),
        &jws::SignHeader {
            alg: key.algorithm(),
            typ: Some("dpop+jwt"),
            kid: None,
            jwk: Some(key.public_jwk()),
        },
        &serde_json::json!({"htm": "POST"}),
    )
    .unwrap();
    jws::decode(&token).unwrap().verify(key.public_jwk()).unwrap();
    let again = store.load_or_create("laptop").unwrap();
    assert_eq!(again.thumbprint(), key.thumbprint());
    let blob = std::fs::read_to_string(dir.path().join("laptop/tpm-device-key.json")).unwrap();
    assert!(!blob.contains("\"d\""), "no private scalar on disk");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("laptop/tpm-device-key.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Every file of the client, copied to a machine with another TPM, loads nothing.
    let other = SoftwareTpm::start();
    let thief = TpmKeyStore::new(dir.path(), other.config());
    let e = thief.load_or_create("laptop").unwrap_err();
    assert!(e.to_string().contains("another TPM"), "{e}");
}
