//! Evaluation: a compiled [`PolicySet`] decides a [`SignInContext`].
//!
//! Compilation builds inverted indexes (user → policies, group → policies, application →
//! policies) and the named-location index, so one evaluation costs a few hash probes for the
//! user's groups plus a constant amount of work per policy, with no allocation per condition.
//!
//! Semantics, as in Entra Conditional Access:
//! - a policy applies when every configured condition matches; exclusions always win;
//! - an applying `block` policy blocks; otherwise each applying enabled policy's grant controls
//!   must be met (`AND`: all, `OR`: any), or the sign-in is interrupted with what is needed;
//! - session controls of applying enabled policies merge, the most restrictive winning;
//! - report-only policies are evaluated the same way and reported, but never change the outcome;
//! - results are ordered by policy id, so the decision does not depend on the order policies
//!   were given in.

use std::collections::HashMap;

pub use crate::decision::{
    ConditionCheck, ConditionKind, Decision, Frequency, Need, Outcome, PolicyResult, PolicyResultKind,
    Reason, Requirement, SessionOutcome,
};

use crate::context::{ClientAppType, KeyProtection, Platform, SignInContext, TokenBinding};
use crate::location::{LocationIndex, LocationPolicy, LocationRule, LocationRules, NamedLocation};
use crate::model::{
    BuiltInControl, CaeMode, ClientAppTypeCondition, DeviceFilter, FilterMode, FrequencyInterval,
    FrequencyUnit, Operator, PlatformCondition, Policy, PolicyState, RiskLevel,
};
use crate::validate::{Directory, ValidationError, validate_locations, validate_policy};

/// Whether every condition but the locations one matched, and that one did not.
fn only_location_unmet(conditions: &[ConditionCheck; 9]) -> bool {
    conditions
        .iter()
        .zip(ConditionKind::ALL)
        .all(|(c, kind)| c.matched != (kind == ConditionKind::Locations))
}

const PLATFORMS: usize = 5;
const ALL_PLATFORMS: u8 = (1 << PLATFORMS) - 1;

fn platform_bit(p: Platform) -> u8 {
    1 << match p {
        Platform::Android => 0,
        Platform::Ios => 1,
        Platform::Windows => 2,
        Platform::MacOs => 3,
        Platform::Linux => 4,
    }
}

fn platform_mask(ps: &[PlatformCondition]) -> u8 {
    ps.iter().fold(0, |m, p| {
        m | match p {
            PlatformCondition::All => ALL_PLATFORMS,
            PlatformCondition::Android => platform_bit(Platform::Android),
            PlatformCondition::Ios => platform_bit(Platform::Ios),
            PlatformCondition::Windows => platform_bit(Platform::Windows),
            PlatformCondition::MacOs => platform_bit(Platform::MacOs),
            PlatformCondition::Linux => platform_bit(Platform::Linux),
        }
    })
}

fn risk_mask(levels: &[RiskLevel]) -> Option<u8> {
    (!levels.is_empty()).then(|| levels.iter().fold(0, |m, l| m | (1 << *l as u8)))
}

#[derive(Debug, Clone)]
struct Compiled {
    policy: Policy,
    users_all: bool,
    apps_all: bool,
    client_apps: Option<u8>,
    platforms: Option<(u8, u8)>,
    locations: Option<LocationRule>,
    user_risk: Option<u8>,
    sign_in_risk: Option<u8>,
    device_filter: Option<DeviceFilter>,
    /// The transfer methods of an `authenticationFlows` condition.
    flows: Option<Vec<crate::context::TransferMethod>>,
    block: bool,
    grant: Option<(Operator, Vec<Need>)>,
    /// Token protection, and the least key protection it accepts.
    token_protection: Option<KeyProtection>,
    frequency: Option<Frequency>,
    cae: Option<CaeMode>,
    lifetime: Option<u32>,
}

type Index = HashMap<String, Vec<(u16, u16)>>;

/// Policies and named locations, validated and compiled for evaluation.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Compiled>,
    locations: LocationIndex,
    location_defs: Vec<NamedLocation>,
    include_user: Index,
    exclude_user: Index,
    include_group: Index,
    exclude_group: Index,
    include_app: Index,
    exclude_app: Index,
}

#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    user_in: Option<Reason>,
    user_out: Option<Reason>,
    app_in: bool,
    app_out: bool,
}

impl PolicySet {
    /// Validates and compiles. Errors carry paths like `policies[<id>].conditions.users`.
    ///
    /// # Errors
    /// Every [`ValidationError`] found, across all policies and locations.
    pub fn new(
        mut policies: Vec<Policy>,
        locations: Vec<NamedLocation>,
        dir: &dyn Directory,
    ) -> Result<Self, Vec<ValidationError>> {
        let mut errs = validate_locations(&locations);
        if policies.len() > usize::from(u16::MAX) {
            errs.push(ValidationError {
                path: "policies".into(),
                message: "more than 65535 policies".into(),
            });
        }
        policies.sort_by(|a, b| a.id.cmp(&b.id));
        for (i, p) in policies.iter().enumerate() {
            let parent = format!("policies[{}]", p.id);
            if i > 0 && policies[i - 1].id == p.id {
                errs.push(ValidationError {
                    path: parent.clone(),
                    message: "duplicate policy id".into(),
                });
            }
            errs.extend(
                validate_policy(p, dir, &locations)
                    .into_iter()
                    .map(|e| e.under(&parent)),
            );
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut set = Self {
            locations: LocationIndex::new(&locations),
            ..Self::default()
        };
        for (i, p) in policies.into_iter().enumerate() {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            set.index(i, &p);
            let compiled = set.compile(p);
            set.policies.push(compiled);
        }
        set.location_defs = locations;
        Ok(set)
    }

    fn index(&mut self, i: u16, p: &Policy) {
        let u = &p.conditions.users;
        let a = &p.conditions.applications;
        let put = |idx: &mut Index, key: &str, pos: usize| {
            idx.entry(key.to_owned())
                .or_default()
                .push((i, u16::try_from(pos).unwrap_or(u16::MAX)));
        };
        for (n, id) in u.include_users.iter().enumerate() {
            if id != "All" && id != "None" {
                put(&mut self.include_user, id, n);
            }
        }
        for (n, id) in u.exclude_users.iter().enumerate() {
            put(&mut self.exclude_user, &id.0, n);
        }
        for (n, g) in u.include_groups.iter().enumerate() {
            put(&mut self.include_group, &g.0, n);
        }
        for (n, g) in u.exclude_groups.iter().enumerate() {
            put(&mut self.exclude_group, &g.0, n);
        }
        for (n, id) in a.include_applications.iter().enumerate() {
            if id != "All" && id != "None" {
                put(&mut self.include_app, id, n);
            }
        }
        for (n, id) in a.exclude_applications.iter().enumerate() {
            put(&mut self.exclude_app, &id.0, n);
        }
    }

    fn compile(&self, policy: Policy) -> Compiled {
        let c = &policy.conditions;
        let client_apps = (!c.client_app_types.is_empty()
            && !c.client_app_types.contains(&ClientAppTypeCondition::All))
        .then(|| {
            c.client_app_types.iter().fold(0u8, |m, t| {
                m | match t {
                    ClientAppTypeCondition::Browser => 1,
                    ClientAppTypeCondition::MobileAppsAndDesktopClients => 2,
                    ClientAppTypeCondition::Other => 4,
                    ClientAppTypeCondition::All => 7,
                }
            })
        });
        let locations = c
            .locations
            .as_ref()
            .map(|l| LocationRule::compile(l, &self.locations));
        let grant_controls = policy.grant_controls.as_ref();
        let block = grant_controls.is_some_and(|g| g.built_in_controls.contains(&BuiltInControl::Block));
        let grant = grant_controls.filter(|_| !block).map(|g| {
            let mut needs: Vec<Need> = g
                .built_in_controls
                .iter()
                .filter_map(|c| Need::from_control(*c))
                .collect();
            needs.sort_unstable();
            needs.dedup();
            (g.operator, needs)
        });
        let s = policy.session_controls.clone().unwrap_or_default();
        let frequency =
            s.sign_in_frequency
                .as_ref()
                .filter(|f| f.is_enabled)
                .map(|f| match f.frequency_interval {
                    FrequencyInterval::EveryTime => Frequency::EveryTime,
                    FrequencyInterval::TimeBased => {
                        let unit = match f.unit {
                            Some(FrequencyUnit::Days) => 86_400,
                            _ => 3_600,
                        };
                        Frequency::Seconds(u64::from(f.value.unwrap_or(1)) * unit)
                    }
                });
        Compiled {
            users_all: c.users.include_users.iter().any(|s| s == "All"),
            apps_all: c.applications.include_applications.iter().any(|s| s == "All"),
            client_apps,
            platforms: c.platforms.as_ref().map(|p| {
                (
                    platform_mask(&p.include_platforms),
                    platform_mask(&p.exclude_platforms),
                )
            }),
            locations,
            user_risk: risk_mask(&c.user_risk_levels),
            sign_in_risk: risk_mask(&c.sign_in_risk_levels),
            device_filter: c.devices.as_ref().map(|d| d.device_filter.clone()),
            flows: c.authentication_flows.as_ref().map(|f| f.methods().0),
            block,
            grant,
            token_protection: s
                .secure_sign_in_session
                .filter(|t| t.is_enabled)
                .map(|t| t.require_key_protection.unwrap_or(KeyProtection::Software)),
            frequency,
            cae: s.continuous_access_evaluation.map(|c| c.mode),
            lifetime: s
                .access_token_lifetime
                .filter(|l| l.is_enabled)
                .map(|l| l.minutes),
            policy,
        }
    }

    /// The policies, ordered by id.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter().map(|c| &c.policy)
    }

    /// The policy at an index of [`PolicyResult::index`].
    #[must_use]
    pub fn policy(&self, index: u16) -> Option<&Policy> {
        self.policies.get(usize::from(index)).map(|c| &c.policy)
    }

    /// The named locations.
    #[must_use]
    pub fn locations(&self) -> &[NamedLocation] {
        &self.location_defs
    }

    /// The named locations and the locations condition of every enabled policy that has one:
    /// what an API needs to enforce location policy itself.
    #[must_use]
    pub fn location_rules(&self) -> LocationRules {
        LocationRules {
            named_locations: self.location_defs.clone(),
            policies: self
                .policies
                .iter()
                .filter(|c| c.policy.state == PolicyState::Enabled)
                .filter_map(|c| {
                    Some(LocationPolicy {
                        id: c.policy.id.clone(),
                        display_name: c.policy.display_name.clone(),
                        locations: c.policy.conditions.locations.clone()?,
                    })
                })
                .collect(),
        }
    }

    /// Decides a sign-in or token request.
    #[must_use]
    pub fn evaluate(&self, ctx: &SignInContext) -> Decision {
        self.run(ctx, false)
    }

    /// Decides a hypothetical sign-in, also evaluating disabled policies' conditions so an
    /// administrator sees whether they would apply. The outcome is the same as
    /// [`PolicySet::evaluate`]'s: disabled policies never take part in it.
    #[must_use]
    pub fn what_if(&self, ctx: &SignInContext) -> Decision {
        self.run(ctx, true)
    }

    fn marks(&self, ctx: &SignInContext) -> Vec<Marks> {
        let mut marks = vec![Marks::default(); self.policies.len()];
        let user = ctx.user.id.as_str();
        for (i, _) in self.include_user.get(user).into_iter().flatten() {
            marks[usize::from(*i)].user_in = Some(Reason::UserIncluded);
        }
        for (i, _) in self.exclude_user.get(user).into_iter().flatten() {
            marks[usize::from(*i)].user_out = Some(Reason::UserExcluded);
        }
        for group in &ctx.user.groups {
            for (i, n) in self.include_group.get(group.as_str()).into_iter().flatten() {
                let m = &mut marks[usize::from(*i)];
                m.user_in = m.user_in.or(Some(Reason::UserInIncludedGroup(*n)));
            }
            for (i, n) in self.exclude_group.get(group.as_str()).into_iter().flatten() {
                let m = &mut marks[usize::from(*i)];
                m.user_out = m.user_out.or(Some(Reason::UserInExcludedGroup(*n)));
            }
        }
        let app = ctx.application.as_str();
        for (i, _) in self.include_app.get(app).into_iter().flatten() {
            marks[usize::from(*i)].app_in = true;
        }
        for (i, _) in self.exclude_app.get(app).into_iter().flatten() {
            marks[usize::from(*i)].app_out = true;
        }
        marks
    }

    fn run(&self, ctx: &SignInContext, what_if: bool) -> Decision {
        let marks = self.marks(ctx);
        let in_locations = self.locations.matching(ctx.ip);
        let mut results = Vec::with_capacity(self.policies.len());
        let mut session = SessionOutcome::default();
        let mut blockers = Vec::new();
        let mut requirements = Vec::new();
        let mut location_dependent = Vec::new();

        for (i, (p, m)) in self.policies.iter().zip(&marks).enumerate() {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let state = p.policy.state;
            if state == PolicyState::Disabled && !what_if {
                results.push(PolicyResult {
                    index,
                    result: PolicyResultKind::NotEnabled,
                    applies: false,
                    conditions: None,
                    blocks: false,
                    unmet: Vec::new(),
                });
                continue;
            }
            let conditions = self.conditions(p, m, ctx, &in_locations);
            let applies = conditions.iter().all(|c| c.matched);
            if state == PolicyState::Enabled && !applies && only_location_unmet(&conditions) {
                location_dependent.push(p.policy.id.clone());
            }
            let unmet = if applies { unmet(p, ctx) } else { Vec::new() };
            let blocks = applies && p.block;
            let result = match (state, applies) {
                (PolicyState::Disabled, _) => PolicyResultKind::NotEnabled,
                (PolicyState::Enabled, false) => PolicyResultKind::NotApplied,
                (PolicyState::Enabled, true) if blocks || !unmet.is_empty() => PolicyResultKind::Failure,
                (PolicyState::Enabled, true) => PolicyResultKind::Success,
                (PolicyState::EnabledForReportingButNotEnforced, false) => {
                    PolicyResultKind::ReportOnlyNotApplied
                }
                (PolicyState::EnabledForReportingButNotEnforced, true) => {
                    if blocks {
                        PolicyResultKind::ReportOnlyFailure
                    } else if unmet.is_empty() {
                        PolicyResultKind::ReportOnlySuccess
                    } else if unmet.iter().all(|r| r.any_of.iter().any(|n| n.is_interactive())) {
                        PolicyResultKind::ReportOnlyInterrupted
                    } else {
                        PolicyResultKind::ReportOnlyFailure
                    }
                }
            };
            if state == PolicyState::Enabled && applies {
                if blocks {
                    blockers.push(p.policy.id.clone());
                } else {
                    requirements.extend(unmet.iter().cloned());
                    merge_session(&mut session, p);
                }
            }
            results.push(PolicyResult {
                index,
                result,
                applies,
                conditions: Some(conditions),
                blocks,
                unmet,
            });
        }

        let outcome = if !blockers.is_empty() {
            Outcome::Block { policies: blockers }
        } else if !requirements.is_empty() {
            Outcome::Interrupt { requirements }
        } else {
            Outcome::Allow
        };
        Decision {
            outcome,
            session,
            results,
            matched_locations: in_locations,
            location_dependent,
        }
    }

    fn conditions(
        &self,
        p: &Compiled,
        m: &Marks,
        ctx: &SignInContext,
        in_locations: &[u16],
    ) -> [ConditionCheck; 9] {
        let users = match (m.user_out, m.user_in) {
            (Some(out), _) => ConditionCheck::no(out),
            (None, Some(r)) => ConditionCheck::yes(r),
            (None, None) if p.users_all => ConditionCheck::yes(Reason::AllUsers),
            (None, None) => ConditionCheck::no(Reason::UserNotIncluded),
        };
        let applications = if m.app_out {
            ConditionCheck::no(Reason::ApplicationExcluded)
        } else if m.app_in {
            ConditionCheck::yes(Reason::ApplicationIncluded)
        } else if p.apps_all {
            ConditionCheck::yes(Reason::AllApplications)
        } else {
            ConditionCheck::no(Reason::ApplicationNotIncluded)
        };
        let client_apps = match p.client_apps {
            None => ConditionCheck::yes(Reason::NotConfigured),
            Some(mask) => {
                let bit = match ctx.client_app_type {
                    ClientAppType::Browser => 1,
                    ClientAppType::MobileAppsAndDesktopClients => 2,
                    ClientAppType::Other => 4,
                };
                if mask & bit != 0 {
                    ConditionCheck::yes(Reason::ClientAppIncluded)
                } else {
                    ConditionCheck::no(Reason::ClientAppNotIncluded)
                }
            }
        };
        let platforms = match (p.platforms, ctx.platform()) {
            (None, _) => ConditionCheck::yes(Reason::NotConfigured),
            (Some(_), None) => ConditionCheck::no(Reason::PlatformUnknown),
            (Some((inc, exc)), Some(pl)) => {
                let bit = platform_bit(pl);
                if exc & bit != 0 {
                    ConditionCheck::no(Reason::PlatformExcluded)
                } else if inc & bit != 0 {
                    ConditionCheck::yes(Reason::PlatformIncluded)
                } else {
                    ConditionCheck::no(Reason::PlatformNotIncluded)
                }
            }
        };
        let locations = match &p.locations {
            None => ConditionCheck::yes(Reason::NotConfigured),
            Some(rule) => rule.check(&self.locations, in_locations),
        };
        let risk = |mask: Option<u8>, level: RiskLevel| match mask {
            None => ConditionCheck::yes(Reason::NotConfigured),
            Some(m) if m & (1 << level as u8) != 0 => ConditionCheck::yes(Reason::RiskIncluded),
            Some(_) => ConditionCheck::no(Reason::RiskNotIncluded),
        };
        let devices = match &p.device_filter {
            None => ConditionCheck::yes(Reason::NotConfigured),
            Some(filter) => {
                let hit = device_matches(filter, ctx);
                match (filter.mode, hit) {
                    (FilterMode::Include, true) => ConditionCheck::yes(Reason::DeviceFilterIncluded),
                    (FilterMode::Include, false) => ConditionCheck::no(Reason::DeviceFilterNotMatched),
                    (FilterMode::Exclude, true) => ConditionCheck::no(Reason::DeviceFilterExcluded),
                    (FilterMode::Exclude, false) => ConditionCheck::yes(Reason::DeviceFilterNotExcluded),
                }
            }
        };
        let flows = match &p.flows {
            None => ConditionCheck::yes(Reason::NotConfigured),
            Some(methods) if ctx.authentication_flow.is_some_and(|f| methods.contains(&f)) => {
                ConditionCheck::yes(Reason::FlowIncluded)
            }
            Some(_) => ConditionCheck::no(Reason::FlowNotIncluded),
        };
        [
            users,
            applications,
            client_apps,
            platforms,
            locations,
            risk(p.user_risk, ctx.user.risk),
            risk(p.sign_in_risk, ctx.sign_in_risk),
            devices,
            flows,
        ]
    }
}

fn device_matches(filter: &DeviceFilter, ctx: &SignInContext) -> bool {
    let rule = &filter.rule;
    let (registered, compliant, trust, key) = match &ctx.device {
        Some(d) => (
            d.registered,
            d.compliant,
            Some(d.trust_type),
            Some(d.key_protection),
        ),
        None => (false, false, None, None),
    };
    rule.is_registered.is_none_or(|want| want == registered)
        && rule.is_compliant.is_none_or(|want| want == compliant)
        && (rule.trust_types.is_empty() || trust.is_some_and(|t| rule.trust_types.contains(&t)))
        && (rule.key_protections.is_empty() || key.is_some_and(|k| rule.key_protections.contains(&k)))
}

fn unmet(p: &Compiled, ctx: &SignInContext) -> Vec<Requirement> {
    let mut out = Vec::new();
    let met = |n: Need| match n {
        Need::Mfa => ctx.satisfied.mfa,
        Need::CompliantDevice => ctx.device.as_ref().is_some_and(|d| d.registered && d.compliant),
        Need::RegisteredDevice => ctx.device.as_ref().is_some_and(|d| d.registered),
        Need::DeviceBoundToken => ctx.satisfied.token_binding != TokenBinding::Missing,
        Need::HardwareBoundToken => key_at_least(ctx, KeyProtection::Hardware),
        Need::AttestedBoundToken => key_at_least(ctx, KeyProtection::Attested),
    };
    if let Some((op, needs)) = &p.grant {
        match op {
            Operator::And => {
                for n in needs.iter().filter(|n| !met(**n)) {
                    out.push(Requirement {
                        policy: p.policy.id.clone(),
                        any_of: vec![*n],
                    });
                }
            }
            Operator::Or => {
                if !needs.is_empty() && !needs.iter().any(|n| met(*n)) {
                    out.push(Requirement {
                        policy: p.policy.id.clone(),
                        any_of: needs.clone(),
                    });
                }
            }
        }
    }
    if let Some(least) = p.token_protection {
        let need = match least {
            KeyProtection::Software => Need::DeviceBoundToken,
            KeyProtection::Hardware => Need::HardwareBoundToken,
            KeyProtection::Attested => Need::AttestedBoundToken,
        };
        if !met(need) {
            out.push(Requirement {
                policy: p.policy.id.clone(),
                any_of: vec![need],
            });
        }
    }
    out
}

/// A token request bound to a registered device whose key is protected at least `least`;
/// at a step with no token yet, nothing to judge.
fn key_at_least(ctx: &SignInContext, least: KeyProtection) -> bool {
    match ctx.satisfied.token_binding {
        TokenBinding::NotApplicable => true,
        TokenBinding::Missing => false,
        TokenBinding::BoundToDevice => ctx.device.as_ref().is_some_and(|d| d.key_protection >= least),
    }
}

fn merge_session(s: &mut SessionOutcome, p: &Compiled) {
    s.token_protection |= p.token_protection.is_some();
    if let Some(f) = p.frequency {
        s.sign_in_frequency = Some(s.sign_in_frequency.map_or(f, |cur| cur.min(f)));
    }
    match p.cae {
        Some(CaeMode::StrictEnforcement | CaeMode::StrictLocation) => s.cae_strict_location = true,
        Some(CaeMode::Disabled) => s.cae_disabled = true,
        None => {}
    }
    if let Some(l) = p.lifetime {
        s.access_token_lifetime_minutes = Some(s.access_token_lifetime_minutes.map_or(l, |cur| cur.min(l)));
    }
}
