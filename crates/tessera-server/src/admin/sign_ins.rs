//! `/admin/api/sign-ins`: the sign-in log, newest first, with every policy's result.

use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_store::{SignInFilter, SignInLog, Timestamp, UserId};

use super::{Admin, ApiError, Query, ok, page_size};

fn entry_json(e: &SignInLog, details: bool) -> Value {
    let report = e.details.value();
    let mut v = json!({
        "id": e.id,
        "at": e.at.rfc3339(),
        "user_id": e.user_id.as_ref().map(|u| u.0.as_str()),
        "client_id": e.client_id,
        "ip": e.ip,
        "outcome": e.outcome,
        "stage": report["stage"],
        "token_protection": e.token_protection,
        "device_id": e.device_id,
        "jkt": e.jkt,
        "error": e.error,
    });
    if details {
        v["details"] = report;
    }
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Filter {
    /// Only this user's sign-ins.
    user: Option<String>,
    /// Only this outcome (`success`, `failure`, `blocked`, `interrupted`, `replay`).
    outcome: Option<String>,
    /// The `next` cursor of the previous page.
    before: Option<String>,
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

/// `GET /sign-ins?user=&outcome=&before=&limit=`
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
    Ok(ok(json!({
        "items": entries.iter().map(|e| entry_json(e, false)).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// `GET /sign-ins/{id}`: one entry with the Conditional Access report.
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let entry = admin.directory().store().sign_in(&id).await?;
    Ok(ok(entry_json(&entry, true)))
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
