//! Properties that must hold for any policy set and any sign-in.

use proptest::prelude::*;
use serde_json::{Value, json};
use tessera_policy::{AnyDirectory, Outcome, Policy, PolicySet, PolicyState, SignInContext, parse_policy};

use crate::support::locations;

const USERS: [&str; 4] = ["alice", "bob", "carol", "break-glass"];
const GROUPS: [&str; 4] = ["engineering", "sales", "admins", "everyone"];
const APPS: [&str; 3] = ["mail", "calendar", "admin-console"];

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(pool.to_vec(), 0..=pool.len())
}

prop_compose! {
    fn any_policy(id: usize)(
        state in prop_oneof![Just("enabled"), Just("disabled"), Just("enabledForReportingButNotEnforced")],
        all_users in any::<bool>(),
        inc_users in pick(&USERS), exc_users in pick(&USERS),
        inc_groups in pick(&GROUPS), exc_groups in pick(&GROUPS),
        apps in pick(&APPS),
        client in proptest::sample::subsequence(vec!["browser", "mobileAppsAndDesktopClients", "other"], 0..=3),
        platforms in proptest::option::of(proptest::sample::subsequence(vec!["windows", "macOS", "linux", "iOS", "android"], 1..=5)),
        location in prop_oneof![Just(Value::Null), Just(json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]})), Just(json!({"includeLocations": ["vpn", "office"]}))],
        risk in proptest::sample::subsequence(vec!["none", "low", "medium", "high"], 0..=4),
        control in 0..6u8,
    ) -> Policy {
        let mut users = json!({"excludeUsers": exc_users, "excludeGroups": exc_groups});
        if all_users || (inc_users.is_empty() && inc_groups.is_empty()) {
            users["includeUsers"] = json!(["All"]);
        } else {
            users["includeUsers"] = json!(inc_users);
            users["includeGroups"] = json!(inc_groups);
        }
        let mut conditions = json!({
            "users": users,
            "applications": {"includeApplications": if apps.is_empty() { vec!["All"] } else { apps }},
            "clientAppTypes": client,
            "userRiskLevels": risk,
        });
        if let Some(p) = platforms { conditions["platforms"] = json!({"includePlatforms": p}); }
        if !location.is_null() { conditions["locations"] = location; }
        let mut doc = json!({"id": format!("p{id:02}"), "displayName": "x", "state": state, "conditions": conditions});
        match control {
            0 => doc["grantControls"] = json!({"builtInControls": ["block"]}),
            1 => doc["grantControls"] = json!({"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}),
            2 => doc["grantControls"] = json!({"operator": "AND", "builtInControls": ["mfa", "registeredDevice"]}),
            3 => doc["sessionControls"] = json!({"secureSignInSession": {"isEnabled": true}}),
            4 => doc["sessionControls"] = json!({"signInFrequency": {"isEnabled": true, "value": 3, "type": "hours"}, "continuousAccessEvaluation": {"mode": "strictLocation"}}),
            _ => doc["sessionControls"] = json!({"accessTokenLifetime": {"isEnabled": true, "minutes": 30}}),
        }
        parse_policy(doc.to_string().as_bytes()).unwrap()
    }
}

fn any_policies() -> impl Strategy<Value = Vec<Policy>> {
    (0..8usize).prop_flat_map(|n| (0..n).map(any_policy).collect::<Vec<_>>())
}

prop_compose! {
    fn any_context()(
        user in proptest::sample::select(USERS.to_vec()),
        groups in pick(&GROUPS),
        app in proptest::sample::select(APPS.to_vec()),
        client in proptest::sample::select(vec!["browser", "mobileAppsAndDesktopClients", "other"]),
        platform in proptest::sample::select(vec!["windows", "macOS", "linux", "iOS", "android"]),
        ip in proptest::sample::select(vec!["203.0.113.7", "198.51.100.3", "8.8.8.8", "2001:db8:1::1"]),
        risk in proptest::sample::select(vec!["none", "low", "medium", "high"]),
        mfa in any::<bool>(), compliant in any::<bool>(), registered in any::<bool>(),
        binding in proptest::sample::select(vec!["notApplicable", "missing", "boundToDevice"]),
    ) -> SignInContext {
        serde_json::from_value(json!({
            "user": {"id": user, "groups": groups, "risk": risk},
            "application": app,
            "device": {"id": "d", "platform": platform, "registered": registered, "compliant": compliant, "trustType": "registered"},
            "clientAppType": client, "ip": ip,
            "satisfied": {"mfa": mfa, "tokenBinding": binding}
        })).unwrap()
    }
}

fn compile(policies: Vec<Policy>) -> PolicySet {
    PolicySet::new(policies, locations(), &AnyDirectory).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn exclusion_beats_inclusion(mut policies in any_policies(), ctx in any_context(), by_group in any::<bool>()) {
        for p in &mut policies {
            // Include the user explicitly, and exclude them by id or by group.
            let users = &mut p.conditions.users;
            if !users.include_users.iter().any(|u| u == "All") {
                users.include_users.push(ctx.user.id.0.clone());
            }
            if by_group {
                users.exclude_groups.push("excluded-group".into());
            } else {
                users.exclude_users.push(ctx.user.id.clone());
            }
        }
        let mut ctx = ctx;
        ctx.user.groups.push("excluded-group".into());
        let set = compile(policies);
        let d = set.what_if(&ctx);
        prop_assert!(d.results.iter().all(|r| !r.applies));
        prop_assert_eq!(d.outcome, Outcome::Allow);
    }

    #[test]
    fn an_applying_block_policy_always_blocks(policies in any_policies(), ctx in any_context()) {
        let mut policies = policies;
        let block = json!({
            "id": "zz-block", "displayName": "b", "state": "enabled",
            "conditions": {"users": {"includeUsers": [ctx.user.id.0.clone()]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"builtInControls": ["block"]}
        });
        policies.push(parse_policy(block.to_string().as_bytes()).unwrap());
        let d = compile(policies).evaluate(&ctx);
        let blocked_by_it = matches!(&d.outcome, Outcome::Block { policies } if policies.iter().any(|p| p.0 == "zz-block"));
        prop_assert!(blocked_by_it, "{:?}", d.outcome);
    }

    #[test]
    fn report_only_policies_never_change_the_enforced_outcome(policies in any_policies(), ctx in any_context()) {
        let enforced: Vec<Policy> = policies.iter().filter(|p| p.state != PolicyState::EnabledForReportingButNotEnforced).cloned().collect();
        let with_report_only = compile(policies).evaluate(&ctx);
        let without = compile(enforced).evaluate(&ctx);
        prop_assert_eq!(with_report_only.outcome, without.outcome);
        prop_assert_eq!(with_report_only.session, without.session);
    }

    #[test]
    fn evaluation_is_deterministic_and_order_independent(policies in any_policies(), ctx in any_context(), seed in any::<u64>()) {
        let mut shuffled = policies.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let a = compile(policies);
        let b = compile(shuffled);
        prop_assert_eq!(a.evaluate(&ctx), b.evaluate(&ctx));
        prop_assert_eq!(a.evaluate(&ctx), a.evaluate(&ctx));
        let (wa, wb) = (a.what_if(&ctx), b.what_if(&ctx));
        prop_assert_eq!(wa.explain(&a), wb.explain(&b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn policy_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(p) = parse_policy(&bytes) {
            let _ = validate_policy_all(&p);
        }
    }
}

fn validate_policy_all(p: &Policy) -> usize {
    tessera_policy::validate_policy(p, &AnyDirectory, &locations()).len()
}
