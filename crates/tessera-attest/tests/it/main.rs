//! The endorsement-key chain against certificates made by `swtpm_setup --create-ek-cert` with
//! `swtpm-localca` (a root, an intermediate and the EK certificate of one software TPM), and
//! the root of a second, unrelated software TPM.
#![allow(clippy::unwrap_used)]

use tessera_attest::AttestError;
use tessera_attest::tpm::{TrustedRoots, verify_endorsement};

const EK: &[u8] = include_bytes!("../data/swtpm-ek.der");
const ROOT: &[u8] = include_bytes!("../data/swtpm-root.pem");
const INTERMEDIATE: &[u8] = include_bytes!("../data/swtpm-intermediate.pem");
const OTHER_ROOT: &[u8] = include_bytes!("../data/other-root.pem");
/// 2027-01-01, inside every certificate's validity.
const NOW: u64 = 1_798_761_600;

fn der_of(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::from_pem_slice(pem)
        .unwrap()
        .to_vec()
}

fn roots(pem: &[u8]) -> TrustedRoots {
    let mut r = TrustedRoots::default();
    r.add_roots_pem(pem).unwrap();
    r
}

#[test]
fn an_ek_certificate_chains_with_the_intermediate_sent_or_configured() {
    let sent = verify_endorsement(EK, &[der_of(INTERMEDIATE)], &roots(ROOT), NOW).unwrap();
    assert_eq!(sent.manufacturer, "id:00001014");
    assert_eq!(sent.model, "swtpm");
    assert_eq!(sent.version, "id:20191023");
    assert!(sent.public_key_der().len() > 256);

    let mut configured = roots(ROOT);
    configured.add_intermediates_pem(INTERMEDIATE).unwrap();
    assert_eq!(verify_endorsement(EK, &[], &configured, NOW).unwrap(), sent);
}

#[test]
fn untrusted_chains_are_refused() {
    let chain = [der_of(INTERMEDIATE)];
    let cases: [(&str, Result<_, AttestError>); 5] = [
        (
            "another manufacturer's root",
            verify_endorsement(EK, &chain, &roots(OTHER_ROOT), NOW),
        ),
        ("no intermediate", verify_endorsement(EK, &[], &roots(ROOT), NOW)),
        (
            "before the certificate",
            verify_endorsement(EK, &chain, &roots(ROOT), 1_700_000_000),
        ),
        (
            "a CA certificate as the EK",
            verify_endorsement(&der_of(INTERMEDIATE), &[], &roots(ROOT), NOW),
        ),
        (
            "garbage",
            verify_endorsement(b"\x30\x03\x02\x01\x00", &chain, &roots(ROOT), NOW),
        ),
    ];
    for (case, result) in cases {
        assert!(
            matches!(result, Err(AttestError::Endorsement(_))),
            "{case}: {result:?}"
        );
    }
    let mut tampered = EK.to_vec();
    let i = tampered.len() - 10;
    tampered[i] ^= 1;
    assert!(verify_endorsement(&tampered, &chain, &roots(ROOT), NOW).is_err());
}
