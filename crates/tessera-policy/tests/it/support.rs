//! Builders for policies and contexts.

use serde_json::{Value, json};
use tessera_policy::{AnyDirectory, NamedLocation, Policy, PolicySet, SignInContext, parse_policy};

/// A policy from JSON, with defaults for what the test does not care about.
pub fn policy(id: &str, state: &str, conditions: Value, grant: Value, session: Value) -> Policy {
    let mut doc = json!({"id": id, "displayName": id, "state": state, "conditions": conditions});
    if !grant.is_null() {
        doc["grantControls"] = grant;
    }
    if !session.is_null() {
        doc["sessionControls"] = session;
    }
    parse_policy(doc.to_string().as_bytes()).unwrap()
}

/// Conditions targeting every user and app, merged with `extra`.
pub fn all(extra: Value) -> Value {
    let mut c = json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

pub fn mfa() -> Value {
    json!({"operator": "OR", "builtInControls": ["mfa"]})
}

pub fn block() -> Value {
    json!({"builtInControls": ["block"]})
}

pub fn locations() -> Vec<NamedLocation> {
    serde_json::from_value(json!([
        {"id": "office", "displayName": "Office", "ipRanges": ["203.0.113.0/24", "2001:db8:1::/48"], "isTrusted": true},
        {"id": "vpn", "displayName": "VPN", "ipRanges": ["198.51.100.0/24"]},
        {"id": "blocked-country", "displayName": "Blocked", "ipRanges": ["192.0.2.0/24"]}
    ]))
    .unwrap()
}

pub fn set(policies: Vec<Policy>) -> PolicySet {
    PolicySet::new(policies, locations(), &AnyDirectory).unwrap()
}

/// A desktop sign-in by alice (member of `engineering`) from the office, merged with `patch`.
pub fn ctx(patch: Value) -> SignInContext {
    let mut c = json!({
        "user": {"id": "alice", "groups": ["engineering", "everyone"], "risk": "none"},
        "application": "mail",
        "device": {"id": "laptop-1", "platform": "windows", "registered": true, "compliant": true, "trustType": "registered"},
        "clientAppType": "mobileAppsAndDesktopClients",
        "ip": "203.0.113.10",
        "signInRisk": "none",
        "satisfied": {"mfa": false, "tokenBinding": "notApplicable"}
    });
    merge(&mut c, patch);
    serde_json::from_value(c).unwrap()
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if v.is_object() && slot.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}
