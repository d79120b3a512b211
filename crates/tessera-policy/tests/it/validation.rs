//! Every way a policy document can be wrong, with the path the error names.

use serde_json::{Value, json};
use tessera_policy::{AnyDirectory, KnownIds, PolicySet, parse_policy, validate_policy};

use crate::support::locations;

fn base() -> Value {
    json!({
        "id": "p", "displayName": "P", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
    })
}

fn with(pointer: &str, value: Value) -> Value {
    let mut doc = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap();
    if value.is_null() {
        target.as_object_mut().unwrap().remove(key);
    } else {
        target[key] = value;
    }
    doc
}

#[test]
fn parse_errors_name_the_field() {
    let cases = [
        (
            with("/conditions/users/includeUsers", json!("All")),
            "conditions.users.includeUsers",
        ),
        (with("/state", json!("on")), "state"),
        (
            with("/conditions/users/includeRoles", json!(["admin"])),
            "conditions.users.includeRoles",
        ),
        (
            with("/conditions/users/surprise", json!(1)),
            "conditions.users.surprise",
        ),
        (
            with(
                "/conditions/platforms",
                json!({"includePlatforms": ["windowsPhone"]}),
            ),
            "conditions.platforms.includePlatforms[0]",
        ),
        (
            with("/conditions/clientAppTypes", json!(["exchangeActiveSync"])),
            "conditions.clientAppTypes[0]",
        ),
        (
            with("/grantControls/builtInControls", json!(["approvedApplication"])),
            "grantControls.builtInControls[0]",
        ),
        (
            with("/grantControls/operator", json!("XOR")),
            "grantControls.operator",
        ),
        (
            with(
                "/sessionControls",
                json!({"persistentBrowser": {"isEnabled": true}}),
            ),
            "sessionControls.persistentBrowser",
        ),
        (with("/conditions/users", Value::Null), "conditions"),
        (with("/conditions/times", json!({"x": 1})), "conditions.times"),
    ];
    for (doc, path) in cases {
        let err = parse_policy(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.path, path, "{doc}: {err}");
        assert!(!err.message.is_empty());
    }
    assert_eq!(parse_policy(b"[").unwrap_err().path, "");
    assert_eq!(parse_policy(&vec![b' '; 300 * 1024]).unwrap_err().path, "");
}

#[test]
fn graph_members_that_are_empty_or_null_import_cleanly() {
    let doc = json!({
        "id": "p", "displayName": "P", "state": "enabled", "createdDateTime": "2024-01-01T00:00:00Z",
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": [], "includeGuestsOrExternalUsers": null},
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
            "clientAppTypes": ["all"], "servicePrincipalRiskLevels": [], "userRiskLevels": [], "signInRiskLevels": [],
            "platforms": null, "locations": null, "times": null, "deviceStates": null, "clientApplications": null
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": [], "authenticationStrength": null},
        "sessionControls": {"persistentBrowser": null, "cloudAppSecurity": null, "signInFrequency": null, "applicationEnforcedRestrictions": null, "disableResilienceDefaults": null}
    });
    let p = parse_policy(doc.to_string().as_bytes()).unwrap();
    assert!(validate_policy(&p, &AnyDirectory, &[]).is_empty());
}

#[test]
fn semantic_errors_name_the_field() {
    let cases = [
        (
            with("/conditions/users/includeUsers", json!([])),
            "conditions.users",
        ),
        (
            with("/conditions/users/includeUsers", json!(["All", "alice"])),
            "conditions.users.includeUsers",
        ),
        (
            with("/conditions/users/excludeUsers", json!(["All"])),
            "conditions.users.excludeUsers[0]",
        ),
        (
            with("/conditions/applications/includeApplications", json!([])),
            "conditions.applications.includeApplications",
        ),
        (
            with("/conditions/clientAppTypes", json!(["all", "browser"])),
            "conditions.clientAppTypes",
        ),
        (
            with("/conditions/platforms", json!({"includePlatforms": []})),
            "conditions.platforms.includePlatforms",
        ),
        (
            with(
                "/conditions/platforms",
                json!({"includePlatforms": ["all"], "excludePlatforms": ["all"]}),
            ),
            "conditions.platforms.excludePlatforms",
        ),
        (
            with("/conditions/locations", json!({"includeLocations": []})),
            "conditions.locations.includeLocations",
        ),
        (
            with("/conditions/locations", json!({"includeLocations": ["mars"]})),
            "conditions.locations.includeLocations[0]",
        ),
        (
            with(
                "/conditions/locations",
                json!({"includeLocations": ["All"], "excludeLocations": ["All"]}),
            ),
            "conditions.locations.excludeLocations[0]",
        ),
        (
            with(
                "/conditions/devices",
                json!({"deviceFilter": {"mode": "include", "rule": {}}}),
            ),
            "conditions.devices.deviceFilter.rule",
        ),
        (
            with("/grantControls/builtInControls", json!([])),
            "grantControls.builtInControls",
        ),
        (
            with("/grantControls/builtInControls", json!(["block", "mfa"])),
            "grantControls.builtInControls",
        ),
        (with("/grantControls", Value::Null), ""),
        (
            with(
                "/sessionControls",
                json!({"signInFrequency": {"isEnabled": true}}),
            ),
            "sessionControls.signInFrequency",
        ),
        (
            with(
                "/sessionControls",
                json!({"signInFrequency": {"isEnabled": true, "value": 0, "type": "hours"}}),
            ),
            "sessionControls.signInFrequency.value",
        ),
        (
            with(
                "/sessionControls",
                json!({"signInFrequency": {"isEnabled": true, "frequencyInterval": "everyTime", "value": 1}}),
            ),
            "sessionControls.signInFrequency.value",
        ),
        (
            with(
                "/sessionControls",
                json!({"accessTokenLifetime": {"isEnabled": true, "minutes": 2000}}),
            ),
            "sessionControls.accessTokenLifetime.minutes",
        ),
        (with("/displayName", json!(" ")), "displayName"),
    ];
    for (doc, path) in cases {
        let p = parse_policy(doc.to_string().as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let errs = validate_policy(&p, &AnyDirectory, &locations());
        assert!(
            errs.iter().any(|e| e.path == path),
            "{doc}: expected {path}, got {errs:?}"
        );
    }
    // Block with a session control is contradictory.
    let mut doc = with("/grantControls/builtInControls", json!(["block"]));
    doc["sessionControls"] = json!({"secureSignInSession": {"isEnabled": true}});
    let p = parse_policy(doc.to_string().as_bytes()).unwrap();
    assert_eq!(validate_policy(&p, &AnyDirectory, &[])[0].path, "sessionControls");
}

#[test]
fn references_are_checked_against_the_directory() {
    let dir = KnownIds {
        users: ["alice".to_owned()].into(),
        groups: ["engineering".to_owned()].into(),
        applications: ["mail".to_owned()].into(),
    };
    let mut doc = base();
    doc["conditions"]["users"] = json!({"includeUsers": ["alice", "ghost"], "includeGroups": ["engineering", "phantoms"], "excludeUsers": ["nobody"]});
    doc["conditions"]["applications"] = json!({"includeApplications": ["mail", "nope"]});
    let p = parse_policy(doc.to_string().as_bytes()).unwrap();
    let paths: Vec<String> = validate_policy(&p, &dir, &[])
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        [
            "conditions.users.includeUsers[1]",
            "conditions.users.excludeUsers[0]",
            "conditions.users.includeGroups[1]",
            "conditions.applications.includeApplications[1]",
        ]
    );
}

#[test]
fn a_set_reports_errors_of_every_policy_and_duplicates() {
    let good = parse_policy(base().to_string().as_bytes()).unwrap();
    let mut bad = base();
    bad["id"] = json!("q");
    bad["conditions"]["users"]["includeUsers"] = json!([]);
    let bad = parse_policy(bad.to_string().as_bytes()).unwrap();
    let errs = PolicySet::new(vec![good.clone(), bad, good], locations(), &AnyDirectory).unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"policies[p]"), "{paths:?}");
    assert!(paths.contains(&"policies[q].conditions.users"), "{paths:?}");
    let dup_loc = [locations(), locations()].concat();
    let errs = PolicySet::new(vec![], dup_loc, &AnyDirectory).unwrap_err();
    assert_eq!(errs[0].path, "locations[3].id");
}
