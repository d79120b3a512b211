//! Turning a [`Decision`] into words: the per-policy, per-condition report that sign-in logs
//! store and the what-if tool shows. Built only on demand, never on the evaluation hot path.

use serde::Serialize;

use crate::evaluate::{
    ConditionCheck, ConditionKind, Decision, Outcome, PolicyResultKind, PolicySet, Reason, Requirement,
    SessionOutcome,
};
use crate::model::{PolicyId, PolicyState};

/// A decision, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Allow, block or interrupt.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Merged session controls.
    pub session: SessionOutcome,
    /// Named locations containing the client's IP.
    pub locations: Vec<String>,
    /// One entry per policy, ordered by id.
    pub policies: Vec<PolicyReport>,
}

/// One policy's result, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// The policy id.
    pub id: PolicyId,
    /// Its name.
    pub display_name: String,
    /// Its state.
    pub state: PolicyState,
    /// Its result.
    pub result: PolicyResultKind,
    /// Whether all its conditions matched.
    pub applies: bool,
    /// Each condition with its verdict and reason.
    pub conditions: Vec<ConditionReport>,
    /// Whether it blocks.
    pub blocks: bool,
    /// What it still requires.
    pub unmet: Vec<Requirement>,
}

/// One condition's verdict, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionReport {
    /// Which condition.
    pub condition: ConditionKind,
    /// Whether it matched.
    pub matched: bool,
    /// Why, in words.
    pub reason: String,
}

impl Decision {
    /// Explains the decision with the names from `set`.
    #[must_use]
    pub fn explain(&self, set: &PolicySet) -> Report {
        let locations = self
            .matched_locations
            .iter()
            .filter_map(|i| set.locations().get(usize::from(*i)).map(|l| l.id.0.clone()))
            .collect();
        let policies = self
            .results
            .iter()
            .filter_map(|r| {
                let p = set.policy(r.index)?;
                let conditions = r
                    .conditions
                    .iter()
                    .flatten()
                    .zip(ConditionKind::ALL)
                    .map(|(c, kind)| ConditionReport {
                        condition: kind,
                        matched: c.matched,
                        reason: words(set, r.index, c),
                    })
                    .collect();
                Some(PolicyReport {
                    id: p.id.clone(),
                    display_name: p.display_name.clone(),
                    state: p.state,
                    result: r.result,
                    applies: r.applies,
                    conditions,
                    blocks: r.blocks,
                    unmet: r.unmet.clone(),
                })
            })
            .collect();
        Report {
            outcome: self.outcome.clone(),
            session: self.session.clone(),
            locations,
            policies,
        }
    }
}

fn words(set: &PolicySet, policy: u16, check: &ConditionCheck) -> String {
    let Some(p) = set.policy(policy) else {
        return String::new();
    };
    let u = &p.conditions.users;
    let group = |list: &[crate::model::GroupId], n: u16| {
        list.get(usize::from(n))
            .map_or_else(|| "?".to_owned(), |g| g.0.clone())
    };
    let location = |n: u16| {
        set.locations()
            .get(usize::from(n))
            .map_or_else(|| "?".to_owned(), |l| l.id.0.clone())
    };
    match check.reason {
        Reason::NotConfigured => "not configured".into(),
        Reason::AllUsers => "all users are included".into(),
        Reason::UserIncluded => "user is included by id".into(),
        Reason::UserInIncludedGroup(n) => format!(
            "user is a member of included group {}",
            group(&u.include_groups, n)
        ),
        Reason::UserExcluded => "user is excluded by id".into(),
        Reason::UserInExcludedGroup(n) => format!(
            "user is a member of excluded group {}",
            group(&u.exclude_groups, n)
        ),
        Reason::UserNotIncluded => "user is not in any included user or group".into(),
        Reason::AllApplications => "all applications are included".into(),
        Reason::ApplicationIncluded => "application is included".into(),
        Reason::ApplicationExcluded => "application is excluded".into(),
        Reason::ApplicationNotIncluded => "application is not included".into(),
        Reason::ClientAppIncluded => "client app type is included".into(),
        Reason::ClientAppNotIncluded => "client app type is not included".into(),
        Reason::PlatformIncluded => "device platform is included".into(),
        Reason::PlatformExcluded => "device platform is excluded".into(),
        Reason::PlatformNotIncluded => "device platform is not included".into(),
        Reason::PlatformUnknown => "device platform is unknown".into(),
        Reason::AnyLocation => "any location is included".into(),
        Reason::InTrustedLocation(n) => format!("IP is in trusted location {}", location(n)),
        Reason::InLocation(n) => format!("IP is in included location {}", location(n)),
        Reason::InExcludedLocation(n) => format!("IP is in excluded location {}", location(n)),
        Reason::InExcludedTrustedLocation(n) => format!(
            "IP is in trusted location {}, and trusted locations are excluded",
            location(n)
        ),
        Reason::LocationNotIncluded => "IP is in no included location".into(),
        Reason::RiskIncluded => "risk level is included".into(),
        Reason::RiskNotIncluded => "risk level is not included".into(),
        Reason::DeviceFilterIncluded => "device matches the include filter".into(),
        Reason::DeviceFilterExcluded => "device matches the exclude filter".into(),
        Reason::DeviceFilterNotMatched => "device does not match the include filter".into(),
        Reason::DeviceFilterNotExcluded => "device does not match the exclude filter".into(),
    }
}
