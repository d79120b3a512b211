//! Costs of tessera-jose's hot paths, each next to a raw AWS-LC baseline measured in the same
//! run. After criterion's own report, a table of ratios is printed:
//! `cargo bench -p tessera-jose --bench jose`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom as AwsRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    UnparsedPublicKey,
};
use criterion::{BatchSize, Criterion};
use tessera_jose::dpop::{
    DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache, ProofOptions, create_proof,
};
use tessera_jose::jwt::{self, TokenKind, Validation};
use tessera_jose::{Algorithm, KeySet, PublicJwk, SigningKey, SystemClock, SystemRandom, jws};

const MESSAGE: &[u8] =
    b"eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Imh0dHBzOi8vYXBpIn0";
const URI: &str = "https://idp.example.com/token";

fn es256(c: &mut Criterion) {
    let rng = AwsRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let sig = pair.sign(&rng, MESSAGE).unwrap();
    let key = SigningKey::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk = key.public_jwk().clone();

    let mut g = c.benchmark_group("es256");
    g.bench_function("raw_sign", |b| {
        b.iter(|| pair.sign(&rng, black_box(MESSAGE)).unwrap())
    });
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
                .verify(black_box(MESSAGE), sig.as_ref())
                .unwrap()
        })
    });
    g.bench_function("tessera_sign", |b| {
        b.iter(|| key.sign(black_box(MESSAGE)).unwrap())
    });
    g.bench_function("tessera_verify", |b| {
        b.iter(|| {
            jwk.verify(Algorithm::Es256, black_box(MESSAGE), sig.as_ref())
                .unwrap()
        })
    });
    access_token(&mut g, &key);
    g.finish();
}

fn eddsa(c: &mut Criterion) {
    let rng = AwsRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let sig = pair.sign(MESSAGE);
    let key = SigningKey::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk = key.public_jwk().clone();

    let mut g = c.benchmark_group("eddsa");
    g.bench_function("raw_sign", |b| b.iter(|| pair.sign(black_box(MESSAGE))));
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ED25519, &public)
                .verify(black_box(MESSAGE), sig.as_ref())
                .unwrap()
        })
    });
    g.bench_function("tessera_sign", |b| {
        b.iter(|| key.sign(black_box(MESSAGE)).unwrap())
    });
    g.bench_function("tessera_verify", |b| {
        b.iter(|| {
            jwk.verify(Algorithm::EdDsa, black_box(MESSAGE), sig.as_ref())
                .unwrap()
        })
    });
    access_token(&mut g, &key);
    g.finish();
}

/// Signing and fully validating a typical JWT access token.
fn access_token(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, key: &SigningKey) {
    let now = jws_now();
    let claims = serde_json::json!({
        "iss": "https://idp.example.com", "sub": "alice", "aud": "https://api.example.com",
        "client_id": "mail", "scope": "mail.read", "iat": now, "exp": now + 3600, "jti": "b6e8c4",
        "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "xms_cc": ["cp1"],
    });
    let keys = KeySet::new(vec![key.public_jwk().clone()]);
    let rules = Validation::new(
        TokenKind::AccessToken,
        "https://idp.example.com",
        "https://api.example.com",
    );
    let token = jws::sign(key, Some("at+jwt"), &claims).unwrap();
    g.bench_function("access_token_sign", |b| {
        b.iter(|| jws::sign(key, Some("at+jwt"), black_box(&claims)).unwrap())
    });
    g.bench_function("access_token_verify", |b| {
        b.iter(|| jwt::verify(black_box(&token), &keys, &rules, &SystemClock).unwrap())
    });
}

fn jws_now() -> i64 {
    use tessera_jose::Clock;
    SystemClock.now().unix_time().as_secs()
}

fn dpop(c: &mut Criterion) {
    let mut g = c.benchmark_group("dpop");
    for (name, alg) in [("es256", Algorithm::Es256), ("eddsa", Algorithm::EdDsa)] {
        let key = SigningKey::generate(alg).unwrap();
        let verifier = DpopVerifier::new(DpopConfig::default(), MemoryReplayCache::default());
        g.bench_function(format!("{name}_create"), |b| {
            b.iter(|| {
                create_proof(
                    &key,
                    "POST",
                    URI,
                    ProofOptions::default(),
                    &SystemClock,
                    &SystemRandom,
                )
                .unwrap()
            })
        });
        // Every iteration verifies a fresh proof (made outside the timed section), so the replay
        // cache does its real work: a first-use insert.
        g.bench_function(format!("{name}_verify"), |b| {
            b.iter_batched(
                || {
                    create_proof(
                        &key,
                        "POST",
                        URI,
                        ProofOptions::default(),
                        &SystemClock,
                        &SystemRandom,
                    )
                    .unwrap()
                },
                |proof| {
                    let proofs = [proof.as_str()];
                    let req = DpopRequest {
                        proofs: &proofs,
                        method: "POST",
                        uri: URI,
                        access_token: None,
                        bound_jkt: None,
                        nonce: None,
                    };
                    verifier.verify(&req, &SystemClock).unwrap()
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

fn thumbprint(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let json = serde_json::to_vec(key.public_jwk()).unwrap();
    let mut g = c.benchmark_group("jwk");
    g.bench_function("thumbprint", |b| {
        b.iter(|| black_box(key.public_jwk().material()).thumbprint())
    });
    g.bench_function("parse_p256", |b| {
        b.iter(|| PublicJwk::from_json(black_box(&json)).unwrap())
    });
    g.finish();
}

fn mean_ns(dir: &std::path::Path, group: &str, id: &str) -> Option<f64> {
    let path = dir.join(group).join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn criterion_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir).join("criterion"));
    }
    // The bench runs as <target>/release/deps/jose-<hash>.
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

fn print_ratios() {
    let Some(dir) = criterion_dir() else { return };
    let rows = [
        ("ES256 sign", "es256", "tessera_sign", "es256", "raw_sign"),
        (
            "ES256 verify (parsed key)",
            "es256",
            "tessera_verify",
            "es256",
            "raw_verify",
        ),
        (
            "ES256 access token verify (full JWT rules)",
            "es256",
            "access_token_verify",
            "es256",
            "raw_verify",
        ),
        ("EdDSA sign", "eddsa", "tessera_sign", "eddsa", "raw_sign"),
        (
            "EdDSA verify (parsed key)",
            "eddsa",
            "tessera_verify",
            "eddsa",
            "raw_verify",
        ),
        (
            "EdDSA access token verify (full JWT rules)",
            "eddsa",
            "access_token_verify",
            "eddsa",
            "raw_verify",
        ),
        (
            "DPoP proof verify, ES256 (all checks + replay cache)",
            "dpop",
            "es256_verify",
            "es256",
            "raw_verify",
        ),
        (
            "DPoP proof verify, EdDSA (all checks + replay cache)",
            "dpop",
            "eddsa_verify",
            "eddsa",
            "raw_verify",
        ),
        (
            "DPoP proof create, ES256",
            "dpop",
            "es256_create",
            "es256",
            "raw_sign",
        ),
        (
            "JWK thumbprint (RFC 7638)",
            "jwk",
            "thumbprint",
            "es256",
            "raw_verify",
        ),
    ];
    println!(
        "\n{:<54} {:>12} {:>12} {:>8}",
        "operation vs raw aws-lc-rs baseline", "tessera", "baseline", "ratio"
    );
    for (label, g, id, bg, bid) in rows {
        if let (Some(t), Some(b)) = (mean_ns(&dir, g, id), mean_ns(&dir, bg, bid)) {
            println!(
                "{label:<54} {:>10.2}µs {:>10.2}µs {:>7.2}×",
                t / 1e3,
                b / 1e3,
                t / b
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();
    es256(&mut c);
    eddsa(&mut c);
    dpop(&mut c);
    thumbprint(&mut c);
    c.final_summary();
    print_ratios();
}
