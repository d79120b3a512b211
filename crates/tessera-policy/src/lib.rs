//! Conditional Access for Tessera: the policy model, its validation, evaluation against a
//! sign-in, report-only mode and what-if analysis. A pure crate: no I/O, no clock needed.
//!
//! ```
//! use tessera_policy::{AnyDirectory, PolicySet, SignInContext, parse_policy};
//!
//! let policy = parse_policy(br#"{
//!   "id": "require-mfa", "displayName": "Require MFA for everyone", "state": "enabled",
//!   "conditions": {
//!     "users": {"includeUsers": ["All"], "excludeUsers": ["break-glass"]},
//!     "applications": {"includeApplications": ["All"]}
//!   },
//!   "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
//! }"#).map_err(|e| e.to_string())?;
//! let set = PolicySet::new(vec![policy], vec![], &AnyDirectory).map_err(|e| format!("{e:?}"))?;
//!
//! let ctx: SignInContext = serde_json::from_value(serde_json::json!({
//!   "user": {"id": "alice"}, "application": "mail", "clientAppType": "browser", "ip": "198.51.100.7"
//! }))?;
//! let decision = set.evaluate(&ctx);
//! assert!(matches!(decision.outcome, tessera_policy::Outcome::Interrupt { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod context;
pub mod decision;
pub mod evaluate;
pub mod explain;
pub mod location;
pub mod model;
pub mod validate;

pub use context::{
    ClientAppType, DeviceContext, KeyProtection, Platform, Satisfied, SignInContext, TokenBinding,
    TransferMethod, UserContext,
};
pub use decision::{
    ConditionCheck, ConditionKind, Decision, Frequency, Need, Outcome, PolicyResult, PolicyResultKind,
    Reason, Requirement, SessionOutcome,
};
pub use evaluate::PolicySet;
pub use explain::{ConditionReport, PolicyReport, Report};
pub use location::{LocationEnforcer, LocationIndex, LocationPolicy, LocationRules, NamedLocation};
pub use model::{AppId, GroupId, LocationId, Policy, PolicyId, PolicyState, RiskLevel, TrustType, UserId};
pub use validate::{AnyDirectory, Directory, KnownIds, ValidationError, parse_policy, validate_policy};
