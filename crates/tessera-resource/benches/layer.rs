//! What the resource layer costs per request, next to a raw AWS-LC ES256 verify measured in the
//! same run: a token seen for the first time (signature checked), a token seen before (the
//! verified-token cache), and a DPoP-bound token seen before with a fresh proof each time.
//! `cargo bench -p tessera-resource --bench layer`; a table of ratios follows criterion's report.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::http::{HeaderMap, Method, header};
use criterion::{BatchSize, Criterion};
use serde_json::json;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, Clock as _, SigningKey, SystemClock, SystemRandom, jws};
use tessera_resource::{Resource, ResourceConfig};

const ISSUER: &str = "https://idp.example";
const API: &str = "https://mail.example";

fn token(key: &SigningKey, n: u64, jkt: Option<&str>) -> String {
    let now = SystemClock.now().0;
    let mut claims = json!({
        "iss": ISSUER, "sub": format!("user-{n}"), "aud": API, "client_id": "mail-client",
        "iat": now, "exp": now + 3600, "jti": format!("t-{n}"), "scope": "mail.read"
    });
    if let Some(j) = jkt {
        claims["cnf"] = json!({"jkt": j});
    }
    jws::sign(key, Some("at+jwt"), &claims).unwrap()
}

fn headers(scheme: &str, token: &str, proof: Option<String>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        format!("{scheme} {token}").parse().unwrap(),
    );
    if let Some(p) = proof {
        h.insert("dpop", p.parse().unwrap());
    }
    h
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = SigningKey::generate(Algorithm::Es256).unwrap().with_kid("k1");
    let jwks = json!({"keys": [key.public_jwk().to_json()]});
    let jwks_uri = rt.block_on(async {
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    });
    let resource = Resource::new(ResourceConfig {
        jwks_uri: Some(jwks_uri),
        public_url: Some(API.into()),
        ..ResourceConfig::new(ISSUER, API)
    })
    .unwrap();
    let method = Method::GET;
    let warm = headers("Bearer", &token(&key, 0, None), None);
    rt.block_on(resource.authenticate(&method, "/inbox", &warm))
        .unwrap();

    // The baseline: the signature check alone.
    let signed = token(&key, 1, None);
    let (input, sig) = signed.rsplit_once('.').unwrap();
    let sig = tessera_jose::b64::decode(sig).unwrap();
    // The uncompressed P-256 point (0x04 ‖ x ‖ y) AWS-LC verifies with.
    let jwk = key.public_jwk().to_json();
    let mut public = vec![4u8];
    for coordinate in ["x", "y"] {
        public.extend(tessera_jose::b64::decode(jwk[coordinate].as_str().unwrap()).unwrap());
    }

    let mut g = c.benchmark_group("resource");
    g.bench_function("raw_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
                .verify(black_box(input.as_bytes()), &sig)
                .unwrap()
        })
    });
    let mut n = 10u64;
    g.bench_function("first_sight", |b| {
        b.iter_batched(
            || {
                n += 1;
                headers("Bearer", &token(&key, n, None), None)
            },
            |h| rt.block_on(resource.authenticate(&method, "/inbox", &h)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let seen = headers("Bearer", &token(&key, 2, None), None);
    g.bench_function("cached", |b| {
        b.iter(|| {
            rt.block_on(resource.authenticate(&method, "/inbox", black_box(&seen)))
                .unwrap()
        })
    });
    let device = SigningKey::generate(Algorithm::Es256).unwrap();
    let bound = token(&key, 3, Some(device.thumbprint().as_str()));
    g.bench_function("cached_dpop", |b| {
        b.iter_batched(
            || {
                let proof = create_proof(
                    &device,
                    "GET",
                    &format!("{API}/inbox"),
                    ProofOptions {
                        access_token: Some(&bound),
                        ..ProofOptions::default()
                    },
                    &SystemClock,
                    &SystemRandom,
                )
                .unwrap();
                headers("DPoP", &bound, Some(proof))
            },
            |h| rt.block_on(resource.authenticate(&method, "/inbox", &h)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn mean_ns(dir: &std::path::Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("resource").join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn criterion_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();
    layer(&mut c);
    c.final_summary();
    let Some(dir) = criterion_dir() else { return };
    let Some(raw) = mean_ns(&dir, "raw_verify") else {
        return;
    };
    println!(
        "\n{:<58} {:>10} {:>12} {:>14}",
        "per request", "time", "vs raw verify", "per core"
    );
    for (label, id) in [
        ("raw ES256 verify (baseline)", "raw_verify"),
        (
            "token seen for the first time (signature + claims)",
            "first_sight",
        ),
        ("token seen before (verified-token cache)", "cached"),
        ("DPoP-bound token seen before, fresh proof", "cached_dpop"),
    ] {
        if let Some(t) = mean_ns(&dir, id) {
            println!(
                "{label:<58} {:>8.2}µs {:>11.2}× {:>11.0}/s",
                t / 1e3,
                t / raw,
                1e9 / t
            );
        }
    }
}
