//! `/admin/api/sign-ins`: the sign-in log, newest first, with every policy's result.

use axum::extract::Path;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_store::{SignInFilter, SignInLog, Timestamp, UserId};
use utoipa::{IntoParams, ToSchema};

use super::{Admin, ApiError, Page, Query, ok, page_size};

/// One sign-in or token request as the log keeps it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SignIn)]
struct SignInView {
    /// The entry's id.
    id: String,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    at: String,
    /// The user, when known.
    user_id: Option<String>,
    /// The client, when known.
    client_id: Option<String>,
    /// The client's address (empty for a back-channel logout, which is Tessera's own request).
    ip: String,
    /// `success`, `failure`, `blocked`, `interrupted`, `replay` or `theft`; for a back-channel
    /// logout to the client, `loggedOut` or `logoutFailed`.
    outcome: String,
    /// Which step: `authorize`, `token`, `refresh`, `backchannelLogout`, ….
    stage: Option<String>,
    /// `notApplicable`, `missing`, `boundToDevice`, `unbound` or `replay`.
    token_protection: String,
    /// The device whose key the request proved.
    device_id: Option<String>,
    /// The thumbprint of the key the request proved.
    jkt: Option<String>,
    /// What went wrong.
    error: Option<String>,
    /// Only on `GET /sign-ins/{id}`: the Conditional Access report.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, required = false)]
    details: Option<Value>,
}

impl SignInView {
    fn new(e: &SignInLog, details: bool) -> Self {
        let report = e.details.value();
        Self {
            id: e.id.clone(),
            at: e.at.rfc3339(),
            user_id: e.user_id.as_ref().map(|u| u.0.clone()),
            client_id: e.client_id.clone(),
            ip: e.ip.clone(),
            outcome: e.outcome.clone(),
            stage: report["stage"].as_str().map(str::to_owned),
            token_protection: e.token_protection.clone(),
            device_id: e.device_id.clone(),
            jkt: e.jkt.clone(),
            error: e.error.clone(),
            details: details.then_some(report),
        }
    }
}

/// `GET /sign-ins`' query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Filter {
    /// Only this user's sign-ins.
    user: Option<String>,
    /// Only this outcome (`success`, `failure`, `blocked`, `interrupted`, `replay`, `loggedOut`,
    /// `logoutFailed`).
    outcome: Option<String>,
    /// The `next` value of the previous page.
    before: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<u32>,
}

/// A page cursor: `<milliseconds>.<id>` of the last entry shown.
fn cursor(e: &SignInLog) -> String {
    format!("{}.{}", e.at.0, e.id)
}

fn parse_cursor(s: &str) -> Option<(Timestamp, String)> {
    let (at, id) = s.split_once('.')?;
    Some((Timestamp(at.parse().ok()?), id.to_owned()))
}

/// The sign-in log, newest first.
#[utoipa::path(get, path = "/sign-ins", tag = "sign-ins", params(Filter),
    responses((status = 200, body = Page<SignInView>)))]
pub(super) async fn list(admin: Admin, Query(f): Query<Filter>) -> Result<Response, ApiError> {
    let limit = page_size(f.limit)?;
    let before = match f.before.as_deref() {
        None => None,
        Some(c) => Some(
            parse_cursor(c).ok_or_else(|| ApiError::field("before", "not a cursor from a previous page"))?,
        ),
    };
    let filter = SignInFilter {
        user_id: f.user.map(UserId),
        outcome: f.outcome,
        before,
        limit,
    };
    let entries = admin.directory().store().sign_ins(&filter).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(cursor))
        .flatten();
    Ok(ok(Page {
        items: entries.iter().map(|e| SignInView::new(e, false)).collect(),
        next,
    }))
}

/// One sign-in with every policy's result.
#[utoipa::path(get, path = "/sign-ins/{id}", tag = "sign-ins", params(("id" = String, Path)),
    responses((status = 200, body = SignInView)))]
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let entry = admin.directory().store().sign_in(&id).await?;
    Ok(ok(SignInView::new(&entry, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let e = SignInLog {
            id: "abc.def".into(),
            at: Timestamp(1_790_000_000_000),
            user_id: None,
            client_id: None,
            ip: "127.0.0.1".into(),
            outcome: "success".into(),
            token_protection: "notApplicable".into(),
            device_id: None,
            jkt: None,
            error: None,
            details: Value::Null.into(),
        };
        assert_eq!(
            parse_cursor(&cursor(&e)),
            Some((Timestamp(1_790_000_000_000), "abc.def".into()))
        );
        assert_eq!(parse_cursor("nope"), None);
        assert_eq!(parse_cursor("x.y"), None);
    }
}
