//! The overview: counts, recent sign-ins and the health of the Shared Signals streams.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_store::SignInFilter;

use super::signals::{SignInRow, StreamRow};
use super::{Chrome, Console, Refused, Section};

/// Users counted exactly on the overview; beyond this it says "1000+".
const COUNT_USERS: u32 = 1000;

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    l: Chrome,
    cards: Vec<(&'static str, String, &'static str)>,
    sign_ins: Vec<SignInRow>,
    streams: Vec<StreamRow>,
    events: u64,
    worst_lag: Option<i64>,
}

/// `GET /admin`
pub(super) async fn page(console: Console) -> Result<Response, Refused> {
    let store = console.state().store.as_ref();
    let users = store.list_users(None, COUNT_USERS + 1).await?.len();
    let users = if users > COUNT_USERS as usize {
        format!("{COUNT_USERS}+")
    } else {
        users.to_string()
    };
    let policies = store.policies().await?;
    let on = policies.iter().filter(|p| p.state == "enabled").count();
    let report = policies
        .iter()
        .filter(|p| p.state == "enabledForReportingButNotEnforced")
        .count();
    let streams: Vec<StreamRow> = store
        .stream_health()
        .await?
        .iter()
        .map(|h| StreamRow::new(h, console.state().now()))
        .collect();
    let cards = vec![
        ("Users", users, "/admin/users"),
        ("Groups", store.groups().await?.len().to_string(), "/admin/groups"),
        (
            "Applications",
            store.applications().await?.len().to_string(),
            "/admin/applications",
        ),
        (
            "Policies on / report-only",
            format!("{on} / {report}"),
            "/admin/policies",
        ),
        ("Streams", streams.len().to_string(), "/admin/signals"),
    ];
    let filter = SignInFilter {
        limit: 10,
        ..SignInFilter::default()
    };
    let sign_ins = store
        .sign_ins(&filter)
        .await?
        .iter()
        .map(SignInRow::new)
        .collect();
    let worst_lag = streams.iter().filter_map(|s| s.lag_seconds).max();
    let page = Overview {
        l: console.chrome(Section::Overview),
        cards,
        sign_ins,
        streams,
        events: store.events_created().await?,
        worst_lag,
    };
    Ok(console.page(StatusCode::OK, &page))
}
