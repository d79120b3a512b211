//! Evaluating 200 Conditional Access policies for users with 20 groups each, next to one raw
//! ES256 verification measured in the same run (the target is to cost less than it).
//! `cargo bench -p tessera-policy --bench evaluate`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use criterion::Criterion;
use serde_json::{Value, json};
use tessera_policy::{AnyDirectory, NamedLocation, PolicySet, SignInContext, parse_policy};

const POLICIES: usize = 200;
const USERS: usize = 10_000;
const GROUPS_PER_USER: usize = 20;
const GROUPS: usize = 2_000;
const APPS: usize = 50;

/// A small deterministic generator, so every run measures the same data.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn locations() -> Vec<NamedLocation> {
    (0..50)
        .map(|i| {
            serde_json::from_value(json!({
                "id": format!("loc{i}"), "displayName": format!("Location {i}"),
                "ipRanges": [format!("10.{i}.0.0/16"), format!("172.16.{i}.0/24"), format!("2001:db8:{i:x}::/48")],
                "isTrusted": i % 5 == 0
            }))
            .unwrap()
        })
        .collect()
}

fn policies(rng: &mut Lcg) -> Vec<tessera_policy::Policy> {
    let platforms = ["windows", "macOS", "linux", "iOS", "android"];
    (0..POLICIES)
        .map(|i| {
            let users = if i % 5 == 0 {
                json!({"includeUsers": ["All"], "excludeUsers": ["break-glass"], "excludeGroups": [format!("g{}", rng.next(GROUPS))]})
            } else {
                let inc: Vec<String> = (0..4).map(|_| format!("g{}", rng.next(GROUPS))).collect();
                json!({"includeGroups": inc, "excludeGroups": [format!("g{}", rng.next(GROUPS))], "excludeUsers": ["break-glass"]})
            };
            let apps = if i % 3 == 0 { json!(["All"]) } else { json!([format!("app{}", rng.next(APPS)), format!("app{}", rng.next(APPS))]) };
            let mut conditions = json!({"users": users, "applications": {"includeApplications": apps}});
            if i % 2 == 0 {
                conditions["platforms"] = json!({"includePlatforms": [platforms[rng.next(5)], platforms[rng.next(5)]]});
                conditions["clientAppTypes"] = json!(["mobileAppsAndDesktopClients"]);
            }
            if i % 4 == 0 {
                conditions["locations"] = json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]});
            }
            if i % 7 == 0 {
                conditions["userRiskLevels"] = json!(["medium", "high"]);
            }
            let state = if i % 6 == 0 { "enabledForReportingButNotEnforced" } else { "enabled" };
            let mut doc = json!({"id": format!("p{i:03}"), "displayName": format!("Policy {i}"), "state": state, "conditions": conditions});
            match i % 4 {
                0 => doc["grantControls"] = json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
                1 => doc["sessionControls"] = json!({"secureSignInSession": {"isEnabled": true}}),
                2 => doc["grantControls"] = json!({"operator": "AND", "builtInControls": ["mfa", "registeredDevice"]}),
                _ => doc["sessionControls"] = json!({"signInFrequency": {"isEnabled": true, "value": 8, "type": "hours"}}),
            }
            parse_policy(doc.to_string().as_bytes()).unwrap()
        })
        .collect()
}

fn contexts(rng: &mut Lcg) -> Vec<SignInContext> {
    let platforms = ["windows", "macOS", "linux", "iOS", "android"];
    (0..USERS)
        .map(|u| {
            let groups: Vec<String> = (0..GROUPS_PER_USER).map(|_| format!("g{}", rng.next(GROUPS))).collect();
            let ip = match u % 3 {
                0 => format!("10.{}.3.4", rng.next(60)),
                1 => format!("2001:db8:{:x}::9", rng.next(60)),
                _ => format!("198.51.100.{}", rng.next(250)),
            };
            let risk = ["none", "low", "medium", "high"][u % 4];
            let v: Value = json!({
                "user": {"id": format!("user{u}"), "groups": groups, "risk": risk},
                "application": format!("app{}", rng.next(APPS)),
                "device": {"id": "d", "platform": platforms[u % 5], "registered": true, "compliant": u % 2 == 0, "trustType": "registered"},
                "clientAppType": if u % 3 == 0 { "browser" } else { "mobileAppsAndDesktopClients" },
                "ip": ip,
                "satisfied": {"mfa": u % 2 == 1, "tokenBinding": "missing"}
            });
            serde_json::from_value(v).unwrap()
        })
        .collect()
}

fn mean(c: &mut Criterion, name: &str, mut f: impl FnMut()) -> f64 {
    c.bench_function(name, |b| b.iter(&mut f));
    // Criterion reports; this independent mean feeds the ratio line.
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(1500) {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();
    let mut rng = Lcg(42);
    let set = PolicySet::new(policies(&mut rng), locations(), &AnyDirectory).unwrap();
    let ctxs = contexts(&mut rng);

    let rng_sys = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng_sys).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let msg = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
    let sig = pair.sign(&rng_sys, msg).unwrap();

    let baseline = mean(&mut c, "raw_es256_verify", || {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(black_box(msg), sig.as_ref())
            .unwrap();
    });
    let mut i = 0;
    let evaluate = mean(&mut c, "evaluate_200_policies", || {
        i = (i + 1) % ctxs.len();
        black_box(set.evaluate(black_box(&ctxs[i])));
    });
    let mut j = 0;
    let explain = mean(&mut c, "evaluate_and_explain_200_policies", || {
        j = (j + 1) % ctxs.len();
        black_box(set.evaluate(&ctxs[j]).explain(&set));
    });
    c.final_summary();

    let applied: usize = ctxs
        .iter()
        .take(1000)
        .map(|x| set.evaluate(x).results.iter().filter(|r| r.applies).count())
        .sum();
    println!(
        "\n{POLICIES} policies, {USERS} users × {GROUPS_PER_USER} groups, {APPS} apps, 50 named locations"
    );
    println!(
        "policies applying per sign-in (mean of 1000): {:.1}",
        applied as f64 / 1000.0
    );
    println!("{:<44} {:>10}", "operation", "mean");
    println!("{:<44} {:>8.2}µs", "raw ES256 verify (baseline)", baseline * 1e6);
    println!(
        "{:<44} {:>8.2}µs  {:.2}× baseline",
        "evaluate 200 policies",
        evaluate * 1e6,
        evaluate / baseline
    );
    println!(
        "{:<44} {:>8.2}µs  {:.2}× baseline",
        "evaluate + explain (for the sign-in log)",
        explain * 1e6,
        explain / baseline
    );
}
