//! What-if in the console: a hypothetical sign-in through the Conditional Access policies,
//! answered by [`tessera_directory::what_if`] with which policies apply and why.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Chrome, Console, DirectoryError, Fields, FormErrors, Post, Refused, Section, message};

#[derive(Template)]
#[template(path = "console/what_if.html")]
struct WhatIfPage {
    l: Chrome,
    f: Fields,
    errors: FormErrors,
    result: Option<WhatIfResult>,
}

impl WhatIfPage {
    fn client_app_types(&self) -> [(&'static str, &'static str); 3] {
        [
            ("browser", "Browser"),
            ("mobileAppsAndDesktopClients", "Mobile app or desktop client"),
            ("other", "Other"),
        ]
    }
    fn platforms(&self) -> [&'static str; 6] {
        ["", "windows", "macOS", "linux", "iOS", "android"]
    }
    fn risks(&self) -> [&'static str; 5] {
        ["", "none", "low", "medium", "high"]
    }
    fn bindings(&self) -> [(&'static str, &'static str); 3] {
        [
            ("notApplicable", "Not applicable"),
            ("missing", "No device-bound proof"),
            ("boundToDevice", "Bound to a registered device"),
        ]
    }
}

struct WhatIfResult {
    outcome: String,
    detail: String,
    locations: String,
    policies: Vec<super::signals::PolicyLine>,
}

/// `GET /admin/what-if`
pub(super) async fn page(console: Console) -> Result<Response, Refused> {
    let mut f = Fields::default();
    f.set("ip", "203.0.113.10");
    f.set("client_app_type", "browser");
    f.set("token_binding", "notApplicable");
    let page = WhatIfPage {
        l: console.chrome(Section::WhatIf),
        f,
        errors: FormErrors::none(),
        result: None,
    };
    Ok(console.page(StatusCode::OK, &page))
}

/// `POST /admin/what-if`: which policies apply to a sign-in like this, and why.
pub(super) async fn run(post: Post) -> Result<Response, Refused> {
    let f = &post.fields;
    let mut q = json!({
        "user": f.text("user"),
        "application": f.text("application"),
        "ip": f.text("ip"),
        "mfa": f.has("mfa", "on"),
    });
    for name in [
        "client_app_type",
        "token_binding",
        "device",
        "platform",
        "user_risk",
        "sign_in_risk",
    ] {
        if let Some(v) = f.optional(name) {
            q[name] = v.into();
        }
    }
    let parsed = if f.text("ip").parse::<std::net::IpAddr>().is_err() {
        Err(FormErrors::one("ip", "not an IPv4 or IPv6 address"))
    } else {
        serde_json::from_value::<tessera_directory::what_if::WhatIf>(q)
            .map_err(|e| FormErrors::one("", e.to_string()))
    };
    let (result, errors) = match parsed {
        Err(errors) => (None, errors),
        Ok(q) => {
            let state = post.console.state();
            match tessera_directory::what_if::report(state.store.as_ref(), &state.policies, &q).await {
                Ok(report) => (
                    Some(what_if_result(&report.to_json()["decision"])),
                    FormErrors::none(),
                ),
                Err(DirectoryError::Invalid(errors)) => (None, FormErrors(errors)),
                Err(e) => {
                    tracing::error!(?e, "what-if failed");
                    return Ok(message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "The what-if evaluation failed.",
                    ));
                }
            }
        }
    };
    let status = errors.status();
    let page = WhatIfPage {
        l: post.console.chrome(Section::WhatIf),
        f: post.fields.clone(),
        errors,
        result,
    };
    Ok(post.console.page(status, &page))
}

fn what_if_result(decision: &Value) -> WhatIfResult {
    let list = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let outcome = decision["outcome"].as_str().unwrap_or("allow").to_owned();
    let detail = match outcome.as_str() {
        "block" => format!("Blocked by {}.", list(&decision["policies"])),
        "interrupt" => decision["requirements"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{} needs {}",
                            r["policy"].as_str().unwrap_or_default(),
                            list(&r["anyOf"]).replace(", ", " or ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        _ => "Access would be granted.".into(),
    };
    WhatIfResult {
        outcome,
        detail,
        locations: list(&decision["locations"]),
        policies: super::signals::policy_lines(decision),
    }
}
