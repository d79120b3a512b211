//! One table per condition and per control.

use serde_json::{Value, json};
use tessera_policy::{
    ConditionKind, Frequency, Need, Outcome, PolicyResultKind, PolicySet, Reason, Requirement, SignInContext,
};

use crate::support::{all, block, ctx, mfa, policy, set};

/// Evaluates one enabled MFA policy with `conditions` against `ctx`; returns whether it applied
/// and the check of `kind`.
fn check(conditions: Value, context: &SignInContext, kind: ConditionKind) -> (bool, Reason) {
    let s = set(vec![policy("p", "enabled", conditions, mfa(), Value::Null)]);
    let d = s.evaluate(context);
    let i = ConditionKind::ALL.iter().position(|k| *k == kind).unwrap();
    let checks = d.results[0].conditions.unwrap();
    assert_eq!(
        d.results[0].applies,
        checks.iter().all(|c| c.matched),
        "applies iff every condition matched"
    );
    (checks[i].matched, checks[i].reason)
}

#[test]
fn users() {
    let k = ConditionKind::Users;
    let apps = json!({"includeApplications": ["All"]});
    let cases = [
        (
            json!({"includeUsers": ["All"]}),
            json!({}),
            true,
            Reason::AllUsers,
        ),
        (
            json!({"includeUsers": ["None"]}),
            json!({}),
            false,
            Reason::UserNotIncluded,
        ),
        (
            json!({"includeUsers": ["alice"]}),
            json!({}),
            true,
            Reason::UserIncluded,
        ),
        (
            json!({"includeUsers": ["bob"]}),
            json!({}),
            false,
            Reason::UserNotIncluded,
        ),
        (
            json!({"includeGroups": ["sales", "engineering"]}),
            json!({}),
            true,
            Reason::UserInIncludedGroup(1),
        ),
        (
            json!({"includeUsers": ["All"], "excludeUsers": ["alice"]}),
            json!({}),
            false,
            Reason::UserExcluded,
        ),
        (
            json!({"includeUsers": ["alice"], "excludeUsers": ["alice"]}),
            json!({}),
            false,
            Reason::UserExcluded,
        ),
        (
            json!({"includeUsers": ["All"], "excludeGroups": ["everyone"]}),
            json!({}),
            false,
            Reason::UserInExcludedGroup(0),
        ),
        (
            json!({"includeGroups": ["engineering"], "excludeGroups": ["engineering"]}),
            json!({}),
            false,
            Reason::UserInExcludedGroup(0),
        ),
        (
            json!({"includeGroups": ["engineering"]}),
            json!({"user": {"groups": []}}),
            false,
            Reason::UserNotIncluded,
        ),
    ];
    for (users, patch, matched, reason) in cases {
        let got = check(json!({"users": users, "applications": apps}), &ctx(patch), k);
        assert_eq!(got, (matched, reason), "{users}");
    }
}

#[test]
fn applications() {
    let k = ConditionKind::Applications;
    let users = json!({"includeUsers": ["All"]});
    for (apps, matched, reason) in [
        (
            json!({"includeApplications": ["All"]}),
            true,
            Reason::AllApplications,
        ),
        (
            json!({"includeApplications": ["None"]}),
            false,
            Reason::ApplicationNotIncluded,
        ),
        (
            json!({"includeApplications": ["mail"]}),
            true,
            Reason::ApplicationIncluded,
        ),
        (
            json!({"includeApplications": ["calendar"]}),
            false,
            Reason::ApplicationNotIncluded,
        ),
        (
            json!({"includeApplications": ["All"], "excludeApplications": ["mail"]}),
            false,
            Reason::ApplicationExcluded,
        ),
    ] {
        assert_eq!(
            check(json!({"users": users, "applications": apps}), &ctx(json!({})), k),
            (matched, reason),
            "{apps}"
        );
    }
}

#[test]
fn client_app_types() {
    let k = ConditionKind::ClientAppTypes;
    for (types, client, matched) in [
        (json!([]), "browser", true),
        (json!(["all"]), "other", true),
        (json!(["browser"]), "browser", true),
        (json!(["browser"]), "mobileAppsAndDesktopClients", false),
        (
            json!(["mobileAppsAndDesktopClients"]),
            "mobileAppsAndDesktopClients",
            true,
        ),
        (json!(["mobileAppsAndDesktopClients", "other"]), "other", true),
    ] {
        let (got, _) = check(
            all(json!({"clientAppTypes": types})),
            &ctx(json!({"clientAppType": client})),
            k,
        );
        assert_eq!(got, matched, "{types} vs {client}");
    }
}

#[test]
fn platforms() {
    let k = ConditionKind::Platforms;
    let no_device = |p: Option<&str>| {
        let mut c = ctx(json!({}));
        c.device = None;
        c.observed_platform = p.map(|p| serde_json::from_value(json!(p)).unwrap());
        c
    };
    let cases: Vec<(Value, SignInContext, bool, Reason)> = vec![
        (
            json!({"includePlatforms": ["all"]}),
            ctx(json!({})),
            true,
            Reason::PlatformIncluded,
        ),
        (
            json!({"includePlatforms": ["windows"]}),
            ctx(json!({})),
            true,
            Reason::PlatformIncluded,
        ),
        (
            json!({"includePlatforms": ["iOS", "android"]}),
            ctx(json!({})),
            false,
            Reason::PlatformNotIncluded,
        ),
        (
            json!({"includePlatforms": ["all"], "excludePlatforms": ["windows"]}),
            ctx(json!({})),
            false,
            Reason::PlatformExcluded,
        ),
        (
            json!({"includePlatforms": ["linux"]}),
            no_device(Some("linux")),
            true,
            Reason::PlatformIncluded,
        ),
        (
            json!({"includePlatforms": ["all"]}),
            no_device(None),
            false,
            Reason::PlatformUnknown,
        ),
    ];
    for (platforms, context, matched, reason) in cases {
        assert_eq!(
            check(all(json!({"platforms": platforms})), &context, k),
            (matched, reason),
            "{platforms}"
        );
    }
    // The registered device's platform wins over what the client reports.
    let mut c = ctx(json!({}));
    c.observed_platform = Some(tessera_policy::Platform::Linux);
    assert!(!check(all(json!({"platforms": {"includePlatforms": ["linux"]}})), &c, k).0);
}

#[test]
fn locations() {
    let k = ConditionKind::Locations;
    let at = |ip: &str| ctx(json!({"ip": ip}));
    // Indices are positions in support::locations(): office 0 (trusted), vpn 1, blocked-country 2.
    let cases = [
        (
            json!({"includeLocations": ["All"]}),
            "8.8.8.8",
            true,
            Reason::AnyLocation,
        ),
        (
            json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}),
            "203.0.113.9",
            false,
            Reason::InExcludedTrustedLocation(0),
        ),
        (
            json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}),
            "8.8.8.8",
            true,
            Reason::AnyLocation,
        ),
        (
            json!({"includeLocations": ["AllTrusted"]}),
            "2001:db8:1::5",
            true,
            Reason::InTrustedLocation(0),
        ),
        (
            json!({"includeLocations": ["AllTrusted"]}),
            "198.51.100.1",
            false,
            Reason::LocationNotIncluded,
        ),
        (
            json!({"includeLocations": ["blocked-country"]}),
            "192.0.2.44",
            true,
            Reason::InLocation(2),
        ),
        (
            json!({"includeLocations": ["blocked-country"]}),
            "192.0.3.44",
            false,
            Reason::LocationNotIncluded,
        ),
        (
            json!({"includeLocations": ["All"], "excludeLocations": ["vpn"]}),
            "198.51.100.200",
            false,
            Reason::InExcludedLocation(1),
        ),
        (
            json!({"includeLocations": ["All"], "excludeLocations": ["vpn"]}),
            "::ffff:198.51.100.200",
            false,
            Reason::InExcludedLocation(1),
        ),
    ];
    for (locations, ip, matched, reason) in cases {
        assert_eq!(
            check(all(json!({"locations": locations})), &at(ip), k),
            (matched, reason),
            "{locations} at {ip}"
        );
    }
}

#[test]
fn risk_levels() {
    let user_risk: fn(&str) -> Value = |r| json!({"user": {"risk": r}});
    let sign_in_risk: fn(&str) -> Value = |r| json!({"signInRisk": r});
    for (field, kind, ctx_patch) in [
        ("userRiskLevels", ConditionKind::UserRisk, user_risk),
        ("signInRiskLevels", ConditionKind::SignInRisk, sign_in_risk),
    ] {
        for (levels, actual, matched) in [
            (json!([]), "high", true),
            (json!(["high"]), "high", true),
            (json!(["high"]), "medium", false),
            (json!(["medium", "high"]), "medium", true),
            (json!(["none"]), "none", true),
            (json!(["low"]), "none", false),
        ] {
            let (got, _) = check(all(json!({field: levels})), &ctx(ctx_patch(actual)), kind);
            assert_eq!(got, matched, "{field} {levels} vs {actual}");
        }
    }
}

#[test]
fn device_filter() {
    let k = ConditionKind::Devices;
    let non_compliant = ctx(json!({"device": {"compliant": false}}));
    let mut unregistered = ctx(json!({}));
    unregistered.device = None;
    let cases: Vec<(Value, &SignInContext, bool, Reason)> = vec![
        (
            json!({"mode": "include", "rule": {"isCompliant": false}}),
            &non_compliant,
            true,
            Reason::DeviceFilterIncluded,
        ),
        (
            json!({"mode": "include", "rule": {"isCompliant": false}}),
            &unregistered,
            true,
            Reason::DeviceFilterIncluded,
        ),
        (
            json!({"mode": "include", "rule": {"isRegistered": true}}),
            &unregistered,
            false,
            Reason::DeviceFilterNotMatched,
        ),
        (
            json!({"mode": "exclude", "rule": {"trustTypes": ["registered"]}}),
            &non_compliant,
            false,
            Reason::DeviceFilterExcluded,
        ),
        (
            json!({"mode": "exclude", "rule": {"trustTypes": ["joined"]}}),
            &non_compliant,
            true,
            Reason::DeviceFilterNotExcluded,
        ),
        (
            json!({"mode": "include", "rule": {"isRegistered": true, "isCompliant": true}}),
            &non_compliant,
            false,
            Reason::DeviceFilterNotMatched,
        ),
    ];
    for (filter, context, matched, reason) in cases {
        let got = check(all(json!({"devices": {"deviceFilter": filter}})), context, k);
        assert_eq!(got, (matched, reason), "{filter}");
    }
}

fn outcome(s: &PolicySet, patch: Value) -> Outcome {
    s.evaluate(&ctx(patch)).outcome
}

#[test]
fn grant_controls() {
    let needs = |v: &[Need]| Outcome::Interrupt {
        requirements: vec![Requirement {
            policy: "p".into(),
            any_of: v.to_vec(),
        }],
    };
    let grant = |op: &str, c: Value| {
        policy(
            "p",
            "enabled",
            all(json!({})),
            json!({"operator": op, "builtInControls": c}),
            Value::Null,
        )
    };
    let no_device = json!({"device": null});

    let s = set(vec![grant("OR", json!(["mfa"]))]);
    assert_eq!(outcome(&s, json!({})), needs(&[Need::Mfa]));
    assert_eq!(outcome(&s, json!({"satisfied": {"mfa": true}})), Outcome::Allow);

    let s = set(vec![grant("OR", json!(["mfa", "compliantDevice"]))]);
    assert_eq!(
        outcome(&s, json!({})),
        Outcome::Allow,
        "compliant device satisfies OR"
    );
    assert_eq!(
        outcome(&s, no_device.clone()),
        needs(&[Need::Mfa, Need::CompliantDevice])
    );

    let s = set(vec![grant("AND", json!(["mfa", "compliantDevice"]))]);
    assert_eq!(outcome(&s, json!({})), needs(&[Need::Mfa]));
    assert_eq!(outcome(&s, json!({"satisfied": {"mfa": true}})), Outcome::Allow);
    assert_eq!(
        outcome(&s, no_device.clone()),
        Outcome::Interrupt {
            requirements: vec![
                Requirement {
                    policy: "p".into(),
                    any_of: vec![Need::Mfa]
                },
                Requirement {
                    policy: "p".into(),
                    any_of: vec![Need::CompliantDevice]
                },
            ]
        }
    );

    let s = set(vec![grant("OR", json!(["registeredDevice"]))]);
    assert_eq!(outcome(&s, json!({})), Outcome::Allow);
    assert_eq!(
        outcome(&s, json!({"device": {"registered": false}})),
        needs(&[Need::RegisteredDevice])
    );
    assert_eq!(
        outcome(&s, json!({"device": {"compliant": false}})),
        Outcome::Allow
    );

    let s = set(vec![policy("b", "enabled", all(json!({})), block(), Value::Null)]);
    assert_eq!(
        outcome(&s, json!({"satisfied": {"mfa": true}})),
        Outcome::Block {
            policies: vec!["b".into()]
        }
    );
}

#[test]
fn session_controls_merge_most_restrictive() {
    let session = |id: &str, s: Value| policy(id, "enabled", all(json!({})), Value::Null, s);
    let s = set(vec![
        session(
            "a",
            json!({"signInFrequency": {"isEnabled": true, "value": 8, "type": "hours"}, "accessTokenLifetime": {"isEnabled": true, "minutes": 600}}),
        ),
        session(
            "b",
            json!({"signInFrequency": {"isEnabled": true, "value": 1, "type": "days"}, "accessTokenLifetime": {"isEnabled": true, "minutes": 60}}),
        ),
        session(
            "c",
            json!({"continuousAccessEvaluation": {"mode": "strictLocation"}}),
        ),
        session("d", json!({"secureSignInSession": {"isEnabled": true}})),
        // Report-only and not-applying policies contribute nothing.
        policy(
            "e",
            "enabledForReportingButNotEnforced",
            all(json!({})),
            Value::Null,
            json!({"continuousAccessEvaluation": {"mode": "disabled"}}),
        ),
        policy(
            "f",
            "enabled",
            all(json!({"applications": {"includeApplications": ["calendar"]}})),
            Value::Null,
            json!({"signInFrequency": {"isEnabled": true, "frequencyInterval": "everyTime"}}),
        ),
    ]);
    let d = s.evaluate(&ctx(json!({})));
    assert_eq!(d.session.sign_in_frequency, Some(Frequency::Seconds(8 * 3600)));
    assert_eq!(d.session.access_token_lifetime_minutes, Some(60));
    assert!(d.session.cae_strict_location);
    assert!(!d.session.cae_disabled);
    assert!(d.session.token_protection);
    let d = s.evaluate(&ctx(json!({"application": "calendar"})));
    assert_eq!(d.session.sign_in_frequency, Some(Frequency::EveryTime));
}

#[test]
fn report_only_result_kinds() {
    let ro =
        |id: &str, c: Value, g: Value| policy(id, "enabledForReportingButNotEnforced", c, g, Value::Null);
    let s = set(vec![
        ro("block", all(json!({})), block()),
        ro("mfa", all(json!({})), mfa()),
        ro(
            "compliant",
            all(json!({})),
            json!({"builtInControls": ["compliantDevice"]}),
        ),
        ro(
            "elsewhere",
            all(json!({"applications": {"includeApplications": ["calendar"]}})),
            mfa(),
        ),
        policy("off", "disabled", all(json!({})), block(), Value::Null),
    ]);
    let d = s.evaluate(&ctx(json!({"device": {"compliant": false}})));
    assert_eq!(d.outcome, Outcome::Allow);
    let kinds: Vec<_> = d
        .results
        .iter()
        .map(|r| (s.policy(r.index).unwrap().id.0.as_str(), r.result))
        .collect();
    assert_eq!(
        kinds,
        [
            ("block", PolicyResultKind::ReportOnlyFailure),
            ("compliant", PolicyResultKind::ReportOnlyFailure),
            ("elsewhere", PolicyResultKind::ReportOnlyNotApplied),
            ("mfa", PolicyResultKind::ReportOnlyInterrupted),
            ("off", PolicyResultKind::NotEnabled),
        ]
    );
}

#[test]
fn what_if_shows_disabled_policies_without_enforcing_them() {
    let s = set(vec![policy(
        "off",
        "disabled",
        all(json!({})),
        block(),
        Value::Null,
    )]);
    let c = ctx(json!({}));
    assert!(s.evaluate(&c).results[0].conditions.is_none());
    let w = s.what_if(&c);
    assert_eq!(w.outcome, Outcome::Allow);
    assert_eq!(w.results[0].result, PolicyResultKind::NotEnabled);
    assert!(
        w.results[0].applies,
        "what-if says the disabled policy would apply"
    );
    assert!(w.results[0].blocks);
}

/// A policy that did not apply only because of where the client was is named in the decision,
/// so a token can carry it; one that did not apply for another reason, or applied, is not.
#[test]
fn location_dependent_policies_are_named() {
    let outside_mfa = policy(
        "outside-mfa",
        "enabled",
        all(json!({"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}})),
        mfa(),
        Value::Null,
    );
    let other_app = policy(
        "other-app",
        "enabled",
        json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["payroll"]},
               "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}),
        block(),
        Value::Null,
    );
    let report_only = policy(
        "report-only",
        "enabledForReportingButNotEnforced",
        all(json!({"locations": {"includeLocations": ["vpn"]}})),
        block(),
        Value::Null,
    );
    let set = set(vec![outside_mfa, other_app, report_only]);
    let in_office = set.evaluate(&ctx(json!({})));
    assert_eq!(
        in_office.location_dependent,
        [tessera_policy::PolicyId::from("outside-mfa")]
    );
    // From outside the policy applies (and asks for MFA): nothing left for an API to re-check.
    let outside = set.evaluate(&ctx(json!({"ip": "192.0.2.1", "satisfied": {"mfa": true}})));
    assert!(outside.location_dependent.is_empty());

    // The API's view: the same conditions, exported and compiled on their own.
    let rules = set.location_rules();
    assert_eq!(
        rules.policies.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["other-app", "outside-mfa"],
        "enabled policies with a locations condition, report-only left out"
    );
    let wire: tessera_policy::LocationRules =
        serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
    let enforcer = tessera_policy::LocationEnforcer::new(&wire).unwrap();
    for (ip, applies) in [
        ("203.0.113.10", false),
        ("2001:db8:1::5", false),
        ("::ffff:203.0.113.10", false),
        ("198.51.100.7", true),
        ("192.0.2.1", true),
    ] {
        assert_eq!(
            enforcer.applies("outside-mfa", ip.parse().unwrap()),
            Some(applies),
            "{ip}"
        );
    }
    assert_eq!(
        enforcer.applies("deleted-policy", "192.0.2.1".parse().unwrap()),
        None
    );
}

#[test]
fn location_rules_naming_unknown_locations_are_refused() {
    let rules: tessera_policy::LocationRules = serde_json::from_value(json!({
        "namedLocations": [{"id": "office", "displayName": "Office", "ipRanges": ["203.0.113.0/24"]}],
        "policies": [{"id": "p", "locations": {"includeLocations": ["All"], "excludeLocations": ["hq"]}}]
    }))
    .unwrap();
    let errs = tessera_policy::LocationEnforcer::new(&rules).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("\"hq\""), "{errs:?}");
    assert!(
        serde_json::from_value::<tessera_policy::LocationRules>(
            json!({"namedLocations": [], "policies": [], "x": 1})
        )
        .is_err(),
        "unknown members are refused"
    );
}
