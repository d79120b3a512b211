//! The admin console at `/admin`: server-rendered pages (askama) with htmx for the parts that
//! update in place, every asset served from the binary.
//!
//! **Signing in.** The console is an OAuth client of Tessera itself, `tessera-console`. An
//! administrator signs in through `/authorize` like everyone else — password, one-time code when
//! policy or the account asks for it, Conditional Access with a sign-in log entry — and the code
//! is redeemed in-process with PKCE. Only members of the `admins` group get in.
//!
//! **The console session** is a JWS in an HttpOnly cookie, signed with the server's key, so any
//! node can check it. It names the Tessera session the sign-in created, so revoking the
//! administrator's sessions (or disabling the account, or removing it from `admins`) ends it at
//! the next request. It lapses after [`IDLE_MINUTES`] without a request and after
//! [`LIFETIME_HOURS`] in any case.
//!
//! **Forms** carry the session's CSRF token, checked in constant time on every POST. A
//! destructive action first answers with a confirmation page; only the confirmed form acts.

mod auth;
mod directory;
mod forms;
mod overview;
mod policies;
mod signals;
mod users;
mod what_if;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tessera_jose::jws;
use tessera_store::{StoreError, SubjectKind, User, UserId, UserStatus};

pub use forms::{Fields, FormErrors};

use crate::state::AppState;
use tessera_directory::{ADMINS_GROUP, Directory, DirectoryError, InitiatingEntity};

/// The console's own OAuth client.
pub const CLIENT_ID: &str = "tessera-console";
/// The cookie holding the console session.
pub const COOKIE: &str = "tessera_console";
/// Minutes without a request after which the console asks to sign in again.
pub const IDLE_MINUTES: i64 = 30;
/// Hours after sign-in after which the console asks to sign in again.
pub const LIFETIME_HOURS: i64 = 8;
/// The `typ` of the session cookie's JWS.
const TYP: &str = "tessera-console+jwt";
/// The largest form the console reads (a policy import).
const MAX_FORM: usize = 512 * 1024;

/// The console's routes, to be merged at the root (they all start with `/admin`).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin", get(overview::page))
        .route("/admin/", get(overview::page))
        .route("/admin/sign-in", get(auth::sign_in))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/sign-out", post(auth::sign_out))
        .route("/admin/assets/console.css", get(stylesheet))
        .route("/admin/assets/htmx.min.js", get(htmx))
        .route("/admin/users", get(users::users).post(users::create_user))
        .route("/admin/users/{id}", get(users::user))
        .route("/admin/users/{id}/{action}", post(users::user_action))
        .route("/admin/groups", get(users::groups).post(users::create_group))
        .route("/admin/groups/{id}", get(users::group))
        .route("/admin/groups/{id}/{action}", post(users::group_action))
        .route("/admin/devices", get(directory::devices))
        .route("/admin/devices/{id}", get(directory::device))
        .route("/admin/devices/{id}/{action}", post(directory::device_action))
        .route(
            "/admin/applications",
            get(directory::applications).post(directory::create_application),
        )
        .route("/admin/applications/{id}", get(directory::application))
        .route(
            "/admin/applications/{id}/{action}",
            post(directory::application_action),
        )
        .route(
            "/admin/locations",
            get(directory::locations).post(directory::save_location),
        )
        .route("/admin/locations/{id}", get(directory::location))
        .route("/admin/locations/{id}/delete", post(directory::delete_location))
        .route("/admin/policies", get(policies::list))
        .route("/admin/policies/new", get(policies::new).post(policies::create))
        .route("/admin/policies/export", get(policies::export_all))
        .route("/admin/policies/import", post(policies::import))
        .route("/admin/policies/{id}", get(policies::edit).post(policies::save))
        .route("/admin/policies/{id}/export", get(policies::export))
        .route("/admin/policies/{id}/{action}", post(policies::action))
        .route("/admin/what-if", get(what_if::page).post(what_if::run))
        .route("/admin/sign-ins", get(signals::sign_ins))
        .route("/admin/sign-ins/{id}", get(signals::sign_in))
        .route("/admin/signals", get(signals::page))
        .route("/admin/signals/streams/{id}", post(signals::stream_action))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/console.css"),
    )
}

async fn htmx() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../assets/vendor/htmx-2.0.11.min.js"),
    )
}

/// What the console session cookie says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConsoleSession {
    iss: String,
    /// The administrator.
    sub: String,
    /// The Tessera session the sign-in created.
    sid: String,
    /// The CSRF token the forms carry.
    csrf: String,
    /// Signed in, to the millisecond (compared with "not before" instants).
    signed_in: tessera_store::Timestamp,
    /// Last request (seconds), for the idle timeout.
    seen: i64,
    /// Hard expiry (seconds).
    exp: i64,
}

/// Which part of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The overview.
    Overview,
    /// Users.
    Users,
    /// Groups.
    Groups,
    /// Devices.
    Devices,
    /// Applications.
    Applications,
    /// Named locations.
    Locations,
    /// Conditional Access.
    Policies,
    /// What if.
    WhatIf,
    /// Sign-in logs.
    SignIns,
    /// Shared signals.
    Signals,
}

impl Section {
    const ALL: [(Self, &'static str, &'static str); 10] = [
        (Self::Overview, "/admin", "Overview"),
        (Self::Users, "/admin/users", "Users"),
        (Self::Groups, "/admin/groups", "Groups"),
        (Self::Devices, "/admin/devices", "Devices"),
        (Self::Applications, "/admin/applications", "Applications"),
        (Self::Locations, "/admin/locations", "Named locations"),
        (Self::Policies, "/admin/policies", "Conditional Access"),
        (Self::WhatIf, "/admin/what-if", "What if"),
        (Self::SignIns, "/admin/sign-ins", "Sign-in logs"),
        (Self::Signals, "/admin/signals", "Shared signals"),
    ];
}

/// What every console page shows around its content.
#[derive(Debug)]
pub struct Chrome {
    /// The administrator's name.
    pub admin: String,
    /// The CSRF token for forms.
    pub csrf: String,
    /// The page's section.
    pub section: Section,
    /// A one-time notice ("User created").
    pub flash: Option<String>,
}

impl Chrome {
    /// The navigation: (href, label, current).
    #[must_use]
    pub fn nav(&self) -> Vec<(&'static str, &'static str, bool)> {
        Section::ALL
            .iter()
            .map(|(s, href, label)| (*href, *label, *s == self.section))
            .collect()
    }
}

/// A signed-in administrator, checked on every request.
pub struct Console {
    state: Arc<AppState>,
    session: ConsoleSession,
    user: User,
    /// The renewed cookie to set, when the idle clock moved on.
    renew: Option<HeaderValue>,
    flash: Option<String>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("admin", &self.session.sub)
            .finish_non_exhaustive()
    }
}

/// Why a console request was not served: a response to send instead.
#[derive(Debug)]
pub struct Refused(Box<Response>);

impl Refused {
    fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl Refused {
    /// Something on the server's side failed: the error goes to the log, the page says so.
    fn failed(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "console: a request failed");
        Self::new(message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The request failed. The error is in the server's log.",
        ))
    }
}

impl From<StoreError> for Refused {
    /// A record that is not there is a `404`, a database that cannot be reached a `503`.
    fn from(e: StoreError) -> Self {
        DirectoryError::from(e).into()
    }
}

impl From<crate::OAuthError> for Refused {
    fn from(e: crate::OAuthError) -> Self {
        Self::failed(&e.description())
    }
}

impl From<DirectoryError> for Refused {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(what) => Self::new(message(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("There is no such {what}."),
            )),
            DirectoryError::Conflict(m) => Self::new(message(StatusCode::CONFLICT, "Not possible", &m)),
            DirectoryError::Invalid(errors) => Self::new(message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not valid",
                &FormErrors(errors).summary(),
            )),
            DirectoryError::Store(e @ StoreError::Unavailable(_)) => {
                tracing::error!(%e, "console: the database is unavailable");
                Self::new(message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again shortly",
                    "The database did not answer in time. The error is in the server's log.",
                ))
            }
            DirectoryError::Store(e) => Self::failed(&e),
            DirectoryError::Secret(e) => Self::failed(&e),
        }
    }
}

/// The flash cookie: a short notice for the next page after a redirect.
const FLASH_COOKIE: &str = "tessera_console_flash";

impl FromRequestParts<Arc<AppState>> for Console {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Refused> {
        let back_to = parts.uri.path_and_query().map_or("/admin", |p| p.as_str());
        let sign_in = || {
            let target = format!("/admin/sign-in?next={}", url_encode(back_to));
            Refused::new(crate::web::see_other(&target, &[]))
        };
        let Some(session) = crate::web::cookie(&parts.headers, COOKIE).and_then(|v| decode(state, v)) else {
            return Err(sign_in());
        };
        let now = state.unix_time().as_secs();
        if now >= session.exp || now - session.seen >= IDLE_MINUTES * 60 {
            return Err(sign_in());
        }
        let user = match state.store.user(&UserId(session.sub.clone())).await {
            Ok(u) if u.status == UserStatus::Enabled => u,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(sign_in()),
            Err(e) => return Err(e.into()),
        };
        let subjects = [
            (SubjectKind::User, session.sub.as_str()),
            (SubjectKind::Session, session.sid.as_str()),
        ];
        if crate::revocation::revoked_since(state.store.as_ref(), &subjects, session.signed_in).await? {
            return Err(sign_in());
        }
        if !is_admin(state, &user.id).await? {
            return Err(Refused::new(not_an_admin()));
        }
        let renew = if now - session.seen >= 60 {
            let renewed = ConsoleSession {
                seen: now,
                ..session.clone()
            };
            Some(session_cookie(state, &renewed).map_err(|r| Refused::new(r.into_response()))?)
        } else {
            None
        };
        let flash = crate::web::cookie(&parts.headers, FLASH_COOKIE).and_then(|v| {
            url::form_urlencoded::parse(format!("m={v}").as_bytes())
                .next()
                .map(|(_, v)| v.chars().take(200).collect())
        });
        Ok(Self {
            state: state.clone(),
            session,
            user,
            renew,
            flash,
        })
    }
}

async fn is_admin(state: &AppState, user: &UserId) -> Result<bool, StoreError> {
    Ok(state
        .store
        .groups_of(user)
        .await?
        .iter()
        .any(|g| g.0 == ADMINS_GROUP))
}

fn not_an_admin() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Not an administrator",
        &format!("Only members of the {ADMINS_GROUP} group may use the console."),
    )
}

impl Console {
    /// The state.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The directory, changed by this administrator now.
    #[must_use]
    pub fn directory(&self) -> Directory {
        self.state.directory(InitiatingEntity::Admin)
    }

    /// The administrator's user id.
    #[must_use]
    pub fn admin_id(&self) -> &str {
        &self.user.id.0
    }

    /// The chrome for a page of `section`.
    #[must_use]
    pub fn chrome(&self, section: Section) -> Chrome {
        Chrome {
            admin: self.user.display_name.clone(),
            csrf: self.session.csrf.clone(),
            section,
            flash: self.flash.clone(),
        }
    }

    fn extra_headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        let mut extra = Vec::new();
        if let Some(c) = &self.renew {
            extra.push((header::SET_COOKIE, c.clone()));
        }
        if self.flash.is_some() {
            extra.push((
                header::SET_COOKIE,
                cookie_value(
                    FLASH_COOKIE,
                    "",
                    0,
                    "/admin",
                    self.state.config.issuer.starts_with("https:"),
                ),
            ));
        }
        extra
    }

    /// A rendered page.
    pub fn page(&self, status: StatusCode, page: &impl Template) -> Response {
        match page.render() {
            Ok(body) => console_html(status, body, &self.extra_headers()),
            Err(e) => {
                tracing::error!(%e, "a console page failed to render");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page failed to render.",
                )
            }
        }
    }

    /// A `303` to `location` with a notice for the next page.
    #[must_use]
    pub fn redirect(&self, location: &str, notice: &str) -> Response {
        let mut extra = self.extra_headers();
        extra.retain(|(_, v)| !v.as_bytes().starts_with(FLASH_COOKIE.as_bytes()));
        let value: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
        extra.push((
            header::SET_COOKIE,
            cookie_value(
                FLASH_COOKIE,
                &value,
                60,
                "/admin",
                self.state.config.issuer.starts_with("https:"),
            ),
        ));
        crate::web::see_other(location, &extra)
    }
}

/// A console POST: the administrator, the form's fields, and a checked CSRF token.
#[derive(Debug)]
pub struct Post {
    /// The administrator.
    pub console: Console,
    /// The fields.
    pub fields: Fields,
}

impl FromRequest<Arc<AppState>> for Post {
    type Rejection = Refused;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Refused> {
        let (mut parts, body) = request.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            Refused::new(message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "The form is larger than the console accepts (512 KiB).",
            ))
        })?;
        let fields = Fields::parse(&bytes);
        let good = fields.get("csrf").is_some_and(|c| {
            aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), console.session.csrf.as_bytes())
                .is_ok()
        });
        if !good {
            return Err(Refused::new(message(
                StatusCode::FORBIDDEN,
                "The form expired",
                "The form was not sent from this console session. Go back, reload the page and try again.",
            )));
        }
        Ok(Self { console, fields })
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct Confirm<'a> {
    l: Chrome,
    title: &'a str,
    question: &'a str,
    action: &'a str,
    button: &'a str,
    fields: Vec<(String, String)>,
    cancel: &'a str,
}

impl Post {
    /// Goes ahead when the form confirms the action; otherwise refuses with the confirmation
    /// page, which posts the same fields again with `confirm=yes`.
    ///
    /// # Errors
    /// The confirmation page, until the action is confirmed.
    pub fn confirm(
        &self,
        section: Section,
        action: &str,
        question: &str,
        button: &str,
        cancel: &str,
    ) -> Result<(), Refused> {
        if self.fields.get("confirm") == Some("yes") {
            return Ok(());
        }
        let page = Confirm {
            l: self.console.chrome(section),
            title: button,
            question,
            action,
            button,
            fields: self
                .fields
                .pairs()
                .iter()
                .filter(|(k, _)| k != "csrf" && k != "confirm")
                .cloned()
                .collect(),
            cancel,
        };
        Err(Refused::new(self.console.page(StatusCode::OK, &page)))
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page with a title and a sentence, outside the signed-in layout.
#[must_use]
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = Message { title, message: text }
        .render()
        .unwrap_or_else(|_| text.to_owned());
    console_html(status, body, &[])
}

/// Like [`crate::web::html`], but allowing the console's own script (htmx) and its requests.
fn console_html(status: StatusCode, body: String, extra: &[(header::HeaderName, HeaderValue)]) -> Response {
    let mut response = crate::web::html(status, body, extra);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

fn cookie_value(name: &str, value: &str, max_age: i64, path: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn session_cookie(state: &AppState, session: &ConsoleSession) -> Result<HeaderValue, crate::OAuthError> {
    let value =
        jws::sign(state.keys.active(), Some(TYP), session).map_err(crate::OAuthError::server_error)?;
    Ok(cookie_value(
        COOKIE,
        &value,
        LIFETIME_HOURS * 3600,
        "/admin",
        state.config.issuer.starts_with("https:"),
    ))
}

fn decode(state: &AppState, value: &str) -> Option<ConsoleSession> {
    let session: ConsoleSession = crate::web::signed::read(state, value, TYP)?;
    (session.iss == state.config.issuer).then_some(session)
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `ms` since the epoch as `2026-11-23 20:41:05 UTC`.
#[must_use]
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map_or_else(
        |_| ms.to_string(),
        |t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}
