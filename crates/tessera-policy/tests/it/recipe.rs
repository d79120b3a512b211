//! The token-protection rollout recipe: scope to Windows desktop clients, include a group,
//! exclude the break-glass account, start in report-only, then enable.

use serde_json::json;
use tessera_policy::{Need, Outcome, PolicyResultKind, Requirement};

use crate::support::{ctx, policy, set};

fn token_protection(state: &str) -> tessera_policy::Policy {
    policy(
        "tp-windows",
        state,
        json!({
            "users": {"includeGroups": ["engineering"], "excludeUsers": ["break-glass"]},
            "applications": {"includeApplications": ["mail"]},
            "platforms": {"includePlatforms": ["windows"]},
            "clientAppTypes": ["mobileAppsAndDesktopClients"]
        }),
        serde_json::Value::Null,
        json!({"secureSignInSession": {"isEnabled": true}}),
    )
}

#[test]
fn report_only_measures_without_blocking() {
    let set = set(vec![token_protection("enabledForReportingButNotEnforced")]);
    // A token request from alice's laptop without a device-bound proof.
    let d = set.evaluate(&ctx(json!({"satisfied": {"tokenBinding": "missing"}})));
    assert_eq!(d.outcome, Outcome::Allow, "report-only never changes the outcome");
    assert!(!d.session.token_protection, "report-only sets no session control");
    assert_eq!(d.results[0].result, PolicyResultKind::ReportOnlyFailure);
    assert_eq!(d.results[0].unmet[0].any_of, [Need::DeviceBoundToken]);
    // With a bound proof it would have succeeded.
    let d = set.evaluate(&ctx(json!({"satisfied": {"tokenBinding": "boundToDevice"}})));
    assert_eq!(d.results[0].result, PolicyResultKind::ReportOnlySuccess);
}

#[test]
fn enabled_requires_a_device_bound_token() {
    let set = set(vec![token_protection("enabled")]);
    // Interactive step: nothing to judge yet, but the session will require binding.
    let d = set.evaluate(&ctx(json!({})));
    assert_eq!(d.outcome, Outcome::Allow);
    assert!(d.session.token_protection);
    // Token request without the device's proof: device proof needed.
    let d = set.evaluate(&ctx(json!({"satisfied": {"tokenBinding": "missing"}})));
    assert_eq!(
        d.outcome,
        Outcome::Interrupt {
            requirements: vec![Requirement {
                policy: "tp-windows".into(),
                any_of: vec![Need::DeviceBoundToken]
            }]
        }
    );
    assert_eq!(d.results[0].result, PolicyResultKind::Failure);
    // Token request with it: allowed, bound.
    let d = set.evaluate(&ctx(json!({"satisfied": {"tokenBinding": "boundToDevice"}})));
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(d.results[0].result, PolicyResultKind::Success);
}

#[test]
fn scoping_spares_browsers_other_platforms_outsiders_and_break_glass() {
    let set = set(vec![token_protection("enabled")]);
    let missing = json!({"satisfied": {"tokenBinding": "missing"}});
    for (name, patch) in [
        ("browser", json!({"clientAppType": "browser"})),
        ("macOS", json!({"device": {"platform": "macOS"}})),
        ("not in the group", json!({"user": {"groups": ["sales"]}})),
        ("break-glass", json!({"user": {"id": "break-glass"}})),
        ("another app", json!({"application": "calendar"})),
    ] {
        let mut p = patch.clone();
        p["satisfied"] = missing["satisfied"].clone();
        let d = set.evaluate(&ctx(p));
        assert_eq!(d.outcome, Outcome::Allow, "{name}");
        assert_eq!(d.results[0].result, PolicyResultKind::NotApplied, "{name}");
        assert!(!d.session.token_protection, "{name}");
    }
}

#[test]
fn a_compact_report_keeps_why_a_policy_did_not_apply() {
    let set = set(vec![token_protection("enabled")]);
    // Excluded by id: the users condition does not match, the others do.
    let decision = set.evaluate(&ctx(json!({"user": {"id": "break-glass"}})));
    let full = decision.explain(&set);
    assert!(full.policies[0].conditions.as_ref().unwrap().len() > 1);
    let compact = decision.explain(&set).compact();
    let kept = compact.policies[0].conditions.as_ref().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, "user is excluded by id");
    assert!(!kept[0].matched);
    // A policy that applies keeps every condition, matched or not.
    let decision = set.evaluate(&ctx(json!({})));
    assert!(decision.explain(&set).policies[0].applies);
    assert_eq!(decision.explain(&set).compact(), decision.explain(&set));
}

#[test]
fn explanation_names_the_group_and_the_excluded_user() {
    let set = set(vec![token_protection("enabled")]);
    let decision = set.evaluate(&ctx(json!({})));
    let report = decision.explain(&set);
    let users = &report.policies[0].conditions.as_ref().unwrap()[0];
    assert!(users.matched);
    assert_eq!(users.reason, "user is a member of included group engineering");
    let decision = set.evaluate(&ctx(json!({"user": {"id": "break-glass"}})));
    let report = decision.explain(&set);
    assert_eq!(
        report.policies[0].conditions.as_ref().unwrap()[0].reason,
        "user is excluded by id"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "allow");
    assert_eq!(json["policies"][0]["result"], "notApplied");
    assert_eq!(json["policies"][0]["conditions"][0]["condition"], "users");
}
