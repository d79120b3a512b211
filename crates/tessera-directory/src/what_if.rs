//! What-if: a hypothetical sign-in run through the Conditional Access policies, without signing
//! anyone in. The admin API, the console and the CLI all ask here and get a typed report, or a
//! [`DirectoryError`] naming the field at fault.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_policy::{ClientAppType, Decision, Platform, PolicySet, SignInContext, TokenBinding};
use tessera_store::{RiskLevel, StoreError, UserId};

use crate::DirectoryError;
use crate::access::{Attempt, Policies, context};

/// A hypothetical sign-in: who, to what, from where, on what.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    /// The user's id; their groups and risk come from the directory.
    user: String,
    /// The application's id.
    application: String,
    /// The client's address.
    #[schema(value_type = String, example = "203.0.113.7")]
    ip: IpAddr,
    /// `browser` (default) or `mobileAppsAndDesktopClients`.
    #[serde(default = "browser")]
    client_app_type: ClientAppType,
    /// A registered device's id; its platform and compliance come from its record.
    #[serde(default)]
    device: Option<String>,
    /// The platform of an unregistered device.
    #[serde(default)]
    platform: Option<Platform>,
    /// The user's risk, instead of the directory's.
    #[serde(default)]
    user_risk: Option<RiskLevel>,
    /// The sign-in's risk.
    #[serde(default)]
    sign_in_risk: Option<RiskLevel>,
    /// Whether MFA was done already.
    #[serde(default)]
    mfa: bool,
    /// Whether the request is bound to the device's key.
    #[serde(default = "not_applicable")]
    token_binding: TokenBinding,
    /// How the sign-in came from another device (`deviceCodeFlow`), if it did.
    #[serde(default)]
    authentication_flow: Option<tessera_policy::TransferMethod>,
}

const fn browser() -> ClientAppType {
    ClientAppType::Browser
}
const fn not_applicable() -> TokenBinding {
    TokenBinding::NotApplicable
}

fn policy_risk(r: RiskLevel) -> tessera_policy::RiskLevel {
    match r {
        RiskLevel::None => tessera_policy::RiskLevel::None,
        RiskLevel::Low => tessera_policy::RiskLevel::Low,
        RiskLevel::Medium => tessera_policy::RiskLevel::Medium,
        RiskLevel::High => tessera_policy::RiskLevel::High,
    }
}

/// What the policies would do with a hypothetical sign-in.
#[derive(Debug)]
pub struct WhatIfReport {
    /// The context the policies saw.
    pub context: SignInContext,
    /// Their decision, every policy's result with its reasons.
    pub decision: Decision,
    /// The policies it was made with (the explanation borrows their names).
    pub policies: Arc<PolicySet>,
}

impl WhatIfReport {
    /// As `POST /what-if` answers it.
    #[must_use]
    pub fn answer(&self) -> WhatIfAnswer<'_> {
        WhatIfAnswer {
            context: &self.context,
            decision: self.decision.explain(&self.policies),
        }
    }

    /// [`Self::answer`] as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.answer()).unwrap_or_default()
    }
}

/// The answer to `POST /what-if`: the context the policies saw and their decision, every
/// policy's result with each condition's verdict and reason.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WhatIfResult)]
pub struct WhatIfAnswer<'a> {
    /// The sign-in the policies saw, with what the directory added (groups, device, risk).
    pub context: &'a SignInContext,
    /// Their decision, explained.
    pub decision: tessera_policy::Report<'a>,
}

/// The what-if report for `q`. Disabled policies are evaluated too, so the report shows whether
/// they would apply; they never change the outcome.
///
/// # Errors
/// [`DirectoryError::Invalid`] naming `user`, `application` or `device` when there is no such
/// one (or the device is another user's); store errors.
pub async fn report(
    store: &dyn tessera_store::Store,
    policies: &Policies,
    q: &WhatIf,
) -> Result<WhatIfReport, DirectoryError> {
    let field = |name: &str, what: &str, e: StoreError| match e {
        StoreError::NotFound(_) => DirectoryError::field(name, format!("no such {what}")),
        e => e.into(),
    };
    let mut user = store
        .user(&UserId(q.user.clone()))
        .await
        .map_err(|e| field("user", "user", e))?;
    if let Some(risk) = q.user_risk {
        user.risk = risk;
    }
    let app = store
        .application(&q.application)
        .await
        .map_err(|e| field("application", "application", e))?;
    let device = match &q.device {
        Some(id) => {
            let d = store.device(id).await.map_err(|e| field("device", "device", e))?;
            if d.user_id != user.id {
                return Err(DirectoryError::field("device", "registered to another user"));
            }
            Some(d)
        }
        None => None,
    };
    let attempt = Attempt {
        user: &user,
        app: &app,
        device: device.as_ref(),
        groups: None,
        ip: q.ip,
        mfa: q.mfa,
        binding: q.token_binding,
        client_app_type: q.client_app_type,
        flow: q.authentication_flow,
    };
    let mut ctx = context(store, &attempt).await?;
    ctx.observed_platform = q.platform;
    ctx.sign_in_risk = q
        .sign_in_risk
        .map_or(tessera_policy::RiskLevel::None, policy_risk);
    let set = policies.current(store).await?;
    let decision = set.what_if(&ctx);
    Ok(WhatIfReport {
        context: ctx,
        decision,
        policies: set,
    })
}
