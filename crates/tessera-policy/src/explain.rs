//! Turning a [`Decision`] into words: the per-policy, per-condition report that sign-in logs
//! store and the what-if tool shows. Built only on demand, never on the evaluation hot path.

use std::borrow::Cow;

use serde::Serialize;

use crate::decision::{
    ConditionCheck, ConditionKind, Decision, Outcome, PolicyResultKind, Reason, Requirement, SessionOutcome,
};
use crate::evaluate::PolicySet;
use crate::model::{PolicyId, PolicyState};

/// A decision, explained. Borrows names from the [`PolicySet`] it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report<'a> {
    /// Allow, block or interrupt.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Merged session controls.
    pub session: SessionOutcome,
    /// Named locations containing the client's IP.
    pub locations: Vec<&'a str>,
    /// One entry per policy, ordered by id.
    pub policies: Vec<PolicyReport<'a>>,
}

/// One policy's result, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport<'a> {
    /// The policy id.
    pub id: &'a PolicyId,
    /// Its name.
    pub display_name: &'a str,
    /// Its state.
    pub state: PolicyState,
    /// Its result.
    pub result: PolicyResultKind,
    /// Whether all its conditions matched.
    pub applies: bool,
    /// Each condition with its verdict and reason, in [`ConditionKind::ALL`] order; absent for
    /// disabled policies outside what-if; only the unmatched ones once [`Report::compact`]ed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionReport>>,
    /// Whether it blocks.
    pub blocks: bool,
    /// What it still requires.
    pub unmet: &'a [Requirement],
}

/// One condition's verdict, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionReport {
    /// Which condition.
    pub condition: ConditionKind,
    /// Whether it matched.
    pub matched: bool,
    /// Why, in words.
    pub reason: Cow<'static, str>,
}

impl Decision {
    /// Explains the decision with the names from `set`.
    #[must_use]
    pub fn explain<'a>(&'a self, set: &'a PolicySet) -> Report<'a> {
        let locations = self
            .matched_locations
            .iter()
            .filter_map(|i| set.locations().get(usize::from(*i)).map(|l| l.id.as_str()))
            .collect();
        let policies = self
            .results
            .iter()
            .filter_map(|r| {
                let p = set.policy(r.index)?;
                let conditions = r.conditions.as_ref().map(|checks| {
                    ConditionKind::ALL
                        .iter()
                        .zip(checks)
                        .map(|(&condition, check)| ConditionReport {
                            condition,
                            matched: check.matched,
                            reason: words(set, r.index, check),
                        })
                        .collect()
                });
                Some(PolicyReport {
                    id: &p.id,
                    display_name: &p.display_name,
                    state: p.state,
                    result: r.result,
                    applies: r.applies,
                    conditions,
                    blocks: r.blocks,
                    unmet: &r.unmet,
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

impl Report<'_> {
    /// Keeps the report small enough to store on every token request: every policy keeps its
    /// result, but a policy that did not apply keeps only the conditions that did not match
    /// (why it did not apply). With many policies this is most of the report.
    #[must_use]
    pub fn compact(mut self) -> Self {
        for policy in &mut self.policies {
            if !policy.applies
                && let Some(conditions) = &mut policy.conditions
            {
                conditions.retain(|c| !c.matched);
            }
        }
        self
    }
}

fn words(set: &PolicySet, policy: u16, check: &ConditionCheck) -> Cow<'static, str> {
    let Some(p) = set.policy(policy) else {
        return Cow::Borrowed("");
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
        Reason::NotConfigured => Cow::Borrowed("not configured"),
        Reason::AllUsers => Cow::Borrowed("all users are included"),
        Reason::UserIncluded => Cow::Borrowed("user is included by id"),
        Reason::UserInIncludedGroup(n) => Cow::Owned(format!(
            "user is a member of included group {}",
            group(&u.include_groups, n)
        )),
        Reason::UserExcluded => Cow::Borrowed("user is excluded by id"),
        Reason::UserInExcludedGroup(n) => Cow::Owned(format!(
            "user is a member of excluded group {}",
            group(&u.exclude_groups, n)
        )),
        Reason::UserNotIncluded => Cow::Borrowed("user is not in any included user or group"),
        Reason::AllApplications => Cow::Borrowed("all applications are included"),
        Reason::ApplicationIncluded => Cow::Borrowed("application is included"),
        Reason::ApplicationExcluded => Cow::Borrowed("application is excluded"),
        Reason::ApplicationNotIncluded => Cow::Borrowed("application is not included"),
        Reason::ClientAppIncluded => Cow::Borrowed("client app type is included"),
        Reason::ClientAppNotIncluded => Cow::Borrowed("client app type is not included"),
        Reason::PlatformIncluded => Cow::Borrowed("device platform is included"),
        Reason::PlatformExcluded => Cow::Borrowed("device platform is excluded"),
        Reason::PlatformNotIncluded => Cow::Borrowed("device platform is not included"),
        Reason::PlatformUnknown => Cow::Borrowed("device platform is unknown"),
        Reason::AnyLocation => Cow::Borrowed("any location is included"),
        Reason::InTrustedLocation(n) => Cow::Owned(format!("IP is in trusted location {}", location(n))),
        Reason::InLocation(n) => Cow::Owned(format!("IP is in included location {}", location(n))),
        Reason::InExcludedLocation(n) => Cow::Owned(format!("IP is in excluded location {}", location(n))),
        Reason::InExcludedTrustedLocation(n) => Cow::Owned(format!(
            "IP is in trusted location {}, and trusted locations are excluded",
            location(n)
        )),
        Reason::LocationNotIncluded => Cow::Borrowed("IP is in no included location"),
        Reason::RiskIncluded => Cow::Borrowed("risk level is included"),
        Reason::RiskNotIncluded => Cow::Borrowed("risk level is not included"),
        Reason::DeviceFilterIncluded => Cow::Borrowed("device matches the include filter"),
        Reason::DeviceFilterExcluded => Cow::Borrowed("device matches the exclude filter"),
        Reason::DeviceFilterNotMatched => Cow::Borrowed("device does not match the include filter"),
        Reason::DeviceFilterNotExcluded => Cow::Borrowed("device does not match the exclude filter"),
        Reason::FlowIncluded => Cow::Borrowed("the sign-in came by a listed authentication flow"),
        Reason::FlowNotIncluded => Cow::Borrowed("the sign-in did not come by a listed authentication flow"),
    }
}
