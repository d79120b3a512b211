//! Loading and validating policies. Every problem is reported with the JSON path of the field
//! at fault (`conditions.users.includeUsers`), and all problems of a policy are reported at
//! once, not just the first. Nothing here panics, whatever the input.

use std::collections::HashSet;

use serde::Serialize;

use crate::location::NamedLocation;
use crate::model::{
    BuiltInControl, ClientAppTypeCondition, FrequencyInterval, FrequencyUnit, PlatformCondition, Policy,
};

/// One problem with a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where: a JSON path such as `conditions.users.includeUsers[2]`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent path (`policies[3]`).
    #[must_use]
    pub fn under(mut self, parent: &str) -> Self {
        self.path = if self.path.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.path)
        };
        self
    }
}

/// What exists in the directory, for reference checks.
pub trait Directory {
    /// Whether a user with this id exists.
    fn has_user(&self, id: &str) -> bool;
    /// Whether a group with this id exists.
    fn has_group(&self, id: &str) -> bool;
    /// Whether an application with this id exists.
    fn has_application(&self, id: &str) -> bool;
}

/// A directory that knows every id: for what-if analysis and tests, where references are not
/// checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyDirectory;

impl Directory for AnyDirectory {
    fn has_user(&self, _: &str) -> bool {
        true
    }
    fn has_group(&self, _: &str) -> bool {
        true
    }
    fn has_application(&self, _: &str) -> bool {
        true
    }
}

/// A directory given as sets of ids.
#[derive(Debug, Clone, Default)]
pub struct KnownIds {
    /// User ids.
    pub users: HashSet<String>,
    /// Group ids.
    pub groups: HashSet<String>,
    /// Application ids.
    pub applications: HashSet<String>,
}

impl Directory for KnownIds {
    fn has_user(&self, id: &str) -> bool {
        self.users.contains(id)
    }
    fn has_group(&self, id: &str) -> bool {
        self.groups.contains(id)
    }
    fn has_application(&self, id: &str) -> bool {
        self.applications.contains(id)
    }
}

/// The largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// Parses one policy from JSON. Unknown members, wrong types and unknown enum values are
/// reported with their path.
///
/// # Errors
/// A single [`ValidationError`] naming the first field that does not parse.
pub fn parse_policy(json: &[u8]) -> Result<Policy, ValidationError> {
    if json.len() > MAX_POLICY_BYTES {
        return Err(ValidationError::new(
            "",
            format!("policy document larger than {MAX_POLICY_BYTES} bytes"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ValidationError::new(path, e.into_inner().to_string())
    })
}

/// Checks a parsed policy: non-empty includes, special values used alone, references that
/// exist, and controls that make sense together.
#[must_use]
pub fn validate_policy(
    policy: &Policy,
    dir: &dyn Directory,
    locations: &[NamedLocation],
) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let mut err = |path: &str, msg: &str| errs.push(ValidationError::new(path, msg));

    if policy.id.0.trim().is_empty() {
        err("id", "must not be empty");
    }
    if policy.display_name.trim().is_empty() {
        err("displayName", "must not be empty");
    }

    // Users.
    let u = &policy.conditions.users;
    special_alone(
        &u.include_users,
        &["All", "None"],
        "conditions.users.includeUsers",
        &mut err,
    );
    if u.include_users.is_empty() && u.include_groups.is_empty() {
        err(
            "conditions.users",
            "must include at least one user or group, or includeUsers [\"All\"]",
        );
    }
    for (i, id) in u.include_users.iter().enumerate() {
        if id != "All" && id != "None" && !dir.has_user(id) {
            err(
                &format!("conditions.users.includeUsers[{i}]"),
                &format!("unknown user {id:?}"),
            );
        }
    }
    for (i, id) in u.exclude_users.iter().enumerate() {
        if id.0 == "All" || id.0 == "None" {
            err(
                &format!("conditions.users.excludeUsers[{i}]"),
                "must name users, not All or None",
            );
        } else if !dir.has_user(&id.0) {
            err(
                &format!("conditions.users.excludeUsers[{i}]"),
                &format!("unknown user {:?}", id.0),
            );
        }
    }
    for (field, groups) in [
        ("includeGroups", &u.include_groups),
        ("excludeGroups", &u.exclude_groups),
    ] {
        for (i, g) in groups.iter().enumerate() {
            if !dir.has_group(&g.0) {
                err(
                    &format!("conditions.users.{field}[{i}]"),
                    &format!("unknown group {:?}", g.0),
                );
            }
        }
    }

    // Applications.
    let a = &policy.conditions.applications;
    special_alone(
        &a.include_applications,
        &["All", "None"],
        "conditions.applications.includeApplications",
        &mut err,
    );
    if a.include_applications.is_empty() {
        err(
            "conditions.applications.includeApplications",
            "must not be empty; use [\"All\"] for every application",
        );
    }
    for (i, id) in a.include_applications.iter().enumerate() {
        if id != "All" && id != "None" && !dir.has_application(id) {
            err(
                &format!("conditions.applications.includeApplications[{i}]"),
                &format!("unknown application {id:?}"),
            );
        }
    }
    for (i, id) in a.exclude_applications.iter().enumerate() {
        if !dir.has_application(&id.0) {
            err(
                &format!("conditions.applications.excludeApplications[{i}]"),
                &format!("unknown application {:?}", id.0),
            );
        }
    }

    // Client app types.
    let c = &policy.conditions.client_app_types;
    if c.contains(&ClientAppTypeCondition::All) && c.len() > 1 {
        err("conditions.clientAppTypes", "\"all\" must be the only value");
    }

    // Platforms.
    if let Some(p) = &policy.conditions.platforms {
        if p.include_platforms.is_empty() {
            err(
                "conditions.platforms.includePlatforms",
                "must not be empty; use [\"all\"] or omit platforms",
            );
        }
        if p.include_platforms.contains(&PlatformCondition::All) && p.include_platforms.len() > 1 {
            err(
                "conditions.platforms.includePlatforms",
                "\"all\" must be the only value",
            );
        }
        if p.exclude_platforms.contains(&PlatformCondition::All) {
            err(
                "conditions.platforms.excludePlatforms",
                "\"all\" would exclude every platform",
            );
        }
    }

    // Locations.
    if let Some(l) = &policy.conditions.locations {
        if l.include_locations.is_empty() {
            err(
                "conditions.locations.includeLocations",
                "must not be empty; use [\"All\"] or omit locations",
            );
        }
        special_alone(
            &l.include_locations,
            &["All", "AllTrusted"],
            "conditions.locations.includeLocations",
            &mut err,
        );
        for (field, ids) in [
            ("includeLocations", &l.include_locations),
            ("excludeLocations", &l.exclude_locations),
        ] {
            for (i, id) in ids.iter().enumerate() {
                let special = id == "AllTrusted" || (id == "All" && field == "includeLocations");
                if id == "All" && field == "excludeLocations" {
                    err(
                        &format!("conditions.locations.{field}[{i}]"),
                        "\"All\" would exclude every location",
                    );
                } else if !special && !locations.iter().any(|n| n.id.0 == *id) {
                    err(
                        &format!("conditions.locations.{field}[{i}]"),
                        &format!("unknown named location {id:?}"),
                    );
                }
            }
        }
    }

    // Devices.
    if let Some(d) = &policy.conditions.devices {
        let r = &d.device_filter.rule;
        if r.is_registered.is_none()
            && r.is_compliant.is_none()
            && r.trust_types.is_empty()
            && r.key_protections.is_empty()
        {
            err(
                "conditions.devices.deviceFilter.rule",
                "must set isRegistered, isCompliant, trustTypes or keyProtections",
            );
        }
    }

    // Authentication flows.
    if let Some(f) = &policy.conditions.authentication_flows {
        let (methods, unknown) = f.methods();
        if let Some(word) = unknown {
            err(
                "conditions.authenticationFlows.transferMethods",
                &format!("{word:?} is not a transfer method; use deviceCodeFlow or authenticationTransfer"),
            );
        } else if methods.is_empty() {
            err(
                "conditions.authenticationFlows.transferMethods",
                "name deviceCodeFlow, authenticationTransfer or both, comma-separated",
            );
        }
    }

    // Controls.
    let grant = policy.grant_controls.as_ref();
    let session = policy.session_controls.as_ref();
    let blocks = grant.is_some_and(|g| g.built_in_controls.contains(&BuiltInControl::Block));
    if let Some(g) = grant {
        if g.built_in_controls.is_empty() {
            err(
                "grantControls.builtInControls",
                "must not be empty; omit grantControls instead",
            );
        }
        if blocks && g.built_in_controls.len() > 1 {
            err(
                "grantControls.builtInControls",
                "\"block\" cannot be combined with other controls",
            );
        }
    }
    let mut has_session_control = false;
    if let Some(s) = session {
        if let Some(t) = s.secure_sign_in_session {
            has_session_control |= t.is_enabled;
            if t.require_key_protection == Some(crate::context::KeyProtection::Software) {
                err(
                    "sessionControls.secureSignInSession.requireKeyProtection",
                    "must be \"hardware\" or \"attested\"; omit it to accept any registered device's key",
                );
            }
        }
        if let Some(f) = &s.sign_in_frequency {
            has_session_control |= f.is_enabled;
            match (f.is_enabled, f.frequency_interval, f.value, f.unit) {
                (true, FrequencyInterval::TimeBased, None, _)
                | (true, FrequencyInterval::TimeBased, _, None) => {
                    err(
                        "sessionControls.signInFrequency",
                        "timeBased needs both value and type",
                    );
                }
                (true, FrequencyInterval::TimeBased, Some(v), Some(unit)) => {
                    let max = match unit {
                        FrequencyUnit::Hours => 24 * 365,
                        FrequencyUnit::Days => 365,
                    };
                    if v == 0 || v > max {
                        err(
                            "sessionControls.signInFrequency.value",
                            &format!("must be between 1 and {max}"),
                        );
                    }
                }
                (_, FrequencyInterval::EveryTime, Some(_), _) => {
                    err(
                        "sessionControls.signInFrequency.value",
                        "everyTime takes no value",
                    );
                }
                _ => {}
            }
        }
        if s.continuous_access_evaluation.is_some() {
            has_session_control = true;
        }
        if let Some(l) = &s.access_token_lifetime {
            has_session_control |= l.is_enabled;
            if !(5..=1440).contains(&l.minutes) {
                err(
                    "sessionControls.accessTokenLifetime.minutes",
                    "must be between 5 and 1440",
                );
            }
        }
    }
    if blocks && has_session_control {
        err(
            "sessionControls",
            "a policy that blocks cannot also set session controls",
        );
    }
    if grant.is_none() && !has_session_control {
        err(
            "",
            "the policy has no grant or session control, so it would do nothing",
        );
    }
    errs
}

fn special_alone(values: &[String], specials: &[&str], path: &str, err: &mut impl FnMut(&str, &str)) {
    if values.len() > 1
        && let Some(s) = values.iter().find(|v| specials.contains(&v.as_str()))
    {
        err(path, &format!("{s:?} must be the only value"));
    }
}

/// Checks named locations: ids present and unique, at least one range each.
#[must_use]
pub fn validate_locations(locations: &[NamedLocation]) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    if locations.len() > usize::from(u16::MAX) {
        errs.push(ValidationError::new(
            "locations",
            "more than 65535 named locations",
        ));
    }
    for (i, l) in locations.iter().enumerate() {
        if l.id.0.is_empty() || l.id.0 == "All" || l.id.0 == "AllTrusted" {
            errs.push(ValidationError::new(
                format!("locations[{i}].id"),
                "must be a non-empty id other than All/AllTrusted",
            ));
        }
        if !seen.insert(&l.id.0) {
            errs.push(ValidationError::new(
                format!("locations[{i}].id"),
                format!("duplicate location id {:?}", l.id.0),
            ));
        }
        if l.ip_ranges.is_empty() {
            errs.push(ValidationError::new(
                format!("locations[{i}].ipRanges"),
                "must list at least one range",
            ));
        }
    }
    errs
}
