//! What a DPoP proof costs per key store: a software key, a key in a TPM (a software TPM,
//! `swtpm`, on this machine: real TPMs are slower, tens of ms) and a key on a PKCS#11 token
//! (SoftHSM2). Run with the hardware stores:
//!
//! ```sh
//! cargo bench -p tessera-client --features tpm,pkcs11 --bench signing
//! ```
//!
//! Figures and what they mean for where the hardware key signs: `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_client::{DeviceKey, KeyStore as _, SoftwareMemoryKeyStore};
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{SystemClock, SystemRandom};

fn proof(key: &dyn DeviceKey) -> String {
    create_proof(
        key,
        "GET",
        "https://api.example/inbox",
        ProofOptions {
            access_token: Some("an-access-token"),
            nonce: None,
            ..Default::default()
        },
        &SystemClock,
        &SystemRandom,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop_proof");
    let software = SoftwareMemoryKeyStore::default().load_or_create("bench").unwrap();
    group.bench_function("software", |b| b.iter(|| proof(software.as_ref())));

    #[cfg(feature = "tpm")]
    {
        let tpm = tessera_client::SoftwareTpm::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = tessera_client::TpmKeyStore::new(dir.path(), tpm.config().unwrap())
            .load_or_create("bench")
            .unwrap();
        group.bench_function("swtpm", |b| b.iter(|| proof(key.as_ref())));
    }

    #[cfg(feature = "pkcs11")]
    {
        let label = format!("tessera-bench-{}", std::process::id());
        let init = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                &label,
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("softhsm2-util");
        assert!(init.success());
        let store = tessera_client::Pkcs11KeyStore::new(
            "/usr/lib/softhsm/libsofthsm2.so",
            &label,
            tessera_client::Pkcs11Pin::Callback(std::sync::Arc::new(|| "1234".into())),
        );
        let key = store.load_or_create("bench").unwrap();
        group.bench_function("softhsm2", |b| b.iter(|| proof(key.as_ref())));
        let _ = std::process::Command::new("softhsm2-util")
            .args(["--delete-token", "--token", &label])
            .stdout(std::process::Stdio::null())
            .status();
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
