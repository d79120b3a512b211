//! The admin console: signing in through `/authorize` (with MFA when policy asks), who gets in,
//! CSRF, confirmations, and every handler's validation.

use axum::http::StatusCode;
use serde_json::json;
use tessera_store::{GroupId, UserId, UserStatus};

use crate::browser::{Browser, hidden_fields};
use crate::support::{ALICE, BOB, BOB_TOTP, Reply, Server, server, totp_now};

const ADMINS: &str = "admins";

async fn make_admin(server: &Server, user: &str) {
    let directory = server.state.directory(tessera_directory::InitiatingEntity::Admin);
    if server.state.store.group(&GroupId(ADMINS.into())).await.is_err() {
        directory.create_group(ADMINS, "Administrators").await.unwrap();
    }
    directory
        .set_membership(&GroupId(ADMINS.into()), &UserId(user.into()), true)
        .await
        .unwrap();
}

/// Signs in to the console from scratch; returns the page the console finally shows.
async fn sign_in(browser: &mut Browser<'_>, username: &str, password: &str, totp: Option<&str>) -> Reply {
    let start = browser.get("/admin/users").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert_eq!(start.location(), "/admin/sign-in?next=%2Fadmin%2Fusers");
    let to_authorize = browser.get(start.location()).await;
    assert!(
        to_authorize.location().starts_with("/authorize?")
            && to_authorize.location().contains("client_id=tessera-console"),
        "{}",
        to_authorize.location()
    );
    let mut reply = browser.sign_in(to_authorize.location(), username, password).await;
    if reply.status == StatusCode::OK && reply.body.contains("name=\"code\"") {
        let code = totp_now(totp.expect("a one-time code is asked for"));
        let after = browser.submit(&reply, &[("code", &code)]).await;
        reply = browser.follow(after).await;
    }
    let callback = reply.location().to_owned();
    assert!(
        callback.starts_with("http://127.0.0.1:8080/admin/callback?"),
        "{} {}",
        reply.status,
        reply.body
    );
    let landed = browser
        .get(callback.trim_start_matches("http://127.0.0.1:8080"))
        .await;
    browser.follow(landed).await
}

/// Submits a confirmation page's form, as a person pressing its button would.
async fn confirm(browser: &mut Browser<'_>, page: &Reply) -> Reply {
    let marker = "<form method=\"post\" action=\"";
    let at = page.body.find("name=\"confirm\"").expect("a confirmation form");
    let start = page.body[..at].rfind(marker).unwrap();
    let form = &page.body[start..];
    let form = &form[..form.find("</form>").unwrap()];
    let action = form[marker.len()..].split('"').next().unwrap().to_owned();
    let fields = hidden_fields(form);
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post(&action, &refs).await
}

fn csrf(page: &Reply) -> String {
    hidden_fields(&page.body)
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
        .expect("a CSRF field on the page")
}

async fn console_policy(server: &Server) {
    let doc = json!({
        "displayName": "Console needs MFA",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["tessera-console"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    });
    server
        .state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .put_policy("console-mfa", doc)
        .await
        .unwrap();
    server
        .state
        .policies
        .reload(server.state.store.as_ref())
        .await
        .unwrap();
}

/// Every page of the console (GET), with the fixtures' ids.
const PAGES: &[&str] = &[
    "/admin",
    "/admin/users",
    "/admin/users?q=ali",
    "/admin/users/u-alice",
    "/admin/groups",
    "/admin/devices",
    "/admin/applications",
    "/admin/applications/new",
    "/admin/applications/webapp",
    "/admin/locations",
    "/admin/policies",
    "/admin/policies/new",
    "/admin/policies/export",
    "/admin/what-if",
    "/admin/sign-ins",
    "/admin/signals",
];

#[tokio::test]
async fn administrators_sign_in_through_authorize_with_mfa_and_no_one_else_gets_in() {
    let server = server().await;

    // Alice is not in the admins group: she signs in, and the console refuses her.
    let mut alice = Browser::new(&server);
    let refused = sign_in(&mut alice, ALICE.0, ALICE.1, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("Not an administrator"));
    assert!(
        !alice.jar.contains_key("tessera_console"),
        "no console session for her"
    );

    // Bob is an administrator; a policy asks for MFA in the console, and he has TOTP.
    console_policy(&server).await;
    make_admin(&server, "u-bob").await;
    let mut bob = Browser::new(&server);
    let page = sign_in(&mut bob, BOB.0, BOB.1, Some(BOB_TOTP)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<h1>Users</h1>"),
        "lands on the page asked for"
    );
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let cookie = bob.jar.get("tessera_console").cloned().unwrap();
    let log = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            user_id: Some(UserId("u-bob".into())),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.client_id.as_deref() == Some("tessera-console") && e.outcome == "success"),
        "the console sign-in is in the sign-in log"
    );
    for path in PAGES {
        let r = bob.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert!(!r.body.contains("Something went wrong"), "{path}");
    }

    // A forged or foreign cookie is no session.
    let mut forger = Browser::new(&server);
    forger.jar.insert("tessera_console".into(), format!("{cookie}x"));
    assert_eq!(forger.get("/admin").await.status, StatusCode::SEE_OTHER);

    // Removing Bob from the group ends his console access at the next request, on every page.
    server
        .state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .set_membership(&GroupId(ADMINS.into()), &UserId("u-bob".into()), false)
        .await
        .unwrap();
    for path in PAGES {
        let r = bob.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.body.contains("Not an administrator"));
    }
    for path in POSTS {
        let r = bob.post(path, &[("csrf", "whatever"), ("confirm", "yes")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
}

/// Every form action of the console (POST), with the fixtures' ids.
const POSTS: &[&str] = &[
    "/admin/sign-out",
    "/admin/users",
    "/admin/users/u-alice/status",
    "/admin/users/u-alice/password",
    "/admin/users/u-alice/revoke-sessions",
    "/admin/users/u-alice/risk",
    "/admin/users/u-alice/add-totp",
    "/admin/users/u-alice/remove-mfa",
    "/admin/users/u-alice/join-group",
    "/admin/users/u-alice/leave-group",
    "/admin/users/u-alice/delete",
    "/admin/groups",
    "/admin/groups/admins/add-member",
    "/admin/groups/admins/delete",
    "/admin/devices/d-1/compliance",
    "/admin/applications",
    "/admin/applications/webapp/save",
    "/admin/applications/webapp/delete",
    "/admin/locations",
    "/admin/locations/office/delete",
    "/admin/policies/new",
    "/admin/policies/import",
    "/admin/policies/p/state",
    "/admin/policies/p/delete",
    "/admin/what-if",
    "/admin/signals/streams/s",
];

async fn signed_in_admin(server: &Server) -> (Browser<'_>, String) {
    make_admin(server, "u-alice").await;
    let mut browser = Browser::new(server);
    let page = sign_in(&mut browser, ALICE.0, ALICE.1, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let token = csrf(&page);
    (browser, token)
}

#[tokio::test]
async fn forms_check_csrf_confirm_destructive_actions_and_show_field_errors() {
    let server = server().await;
    let (mut b, csrf) = signed_in_admin(&server).await;
    let c = csrf.as_str();

    // Without the session's CSRF token nothing changes.
    for path in POSTS {
        let r = b
            .post(path, &[("csrf", "not-the-token"), ("confirm", "yes")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        b.post("/admin/users", &[("username", "x")]).await.status,
        StatusCode::FORBIDDEN
    );

    // Users: field errors beside the inputs, then a created user.
    let r = b
        .post(
            "/admin/users",
            &[("csrf", c), ("username", "no spaces"), ("password", "short")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("id=\"username-error\""), "{}", r.body);
    assert!(r.body.contains("id=\"password-error\""));
    assert!(
        r.body.contains("value=\"no spaces\""),
        "the form keeps what was typed"
    );
    let r = b
        .post(
            "/admin/users",
            &[
                ("csrf", c),
                ("username", "carol"),
                ("password", "carol-password-1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let carol_page = b.follow(r).await;
    assert!(
        carol_page.body.contains("User carol created."),
        "the notice shows once"
    );
    let carol = server.state.store.user_by_username("carol").await.unwrap().id;
    let carol_url = format!("/admin/users/{}", carol.0);
    assert!(!b.get(&carol_url).await.body.contains("User carol created."));

    // Disabling asks first; only the confirmed form acts, and raises the RISC event.
    let events_before = server.state.store.events_created().await.unwrap();
    let ask = b
        .post(
            &format!("{carol_url}/status"),
            &[("csrf", c), ("status", "disabled")],
        )
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.body.contains("Disable user?") && ask.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(
        server.state.store.user(&carol).await.unwrap().status,
        UserStatus::Enabled
    );
    let done = confirm(&mut b, &ask).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        server.state.store.user(&carol).await.unwrap().status,
        UserStatus::Disabled
    );
    assert!(server.state.store.events_created().await.unwrap() > events_before);
    for (action, fields) in [
        ("revoke-sessions", vec![]),
        ("password", vec![("password", "carol-password-2")]),
        ("delete", vec![]),
    ] {
        let mut all = vec![("csrf", c)];
        all.extend(fields);
        let r = b.post(&format!("{carol_url}/{action}"), &all).await;
        assert_eq!(r.status, StatusCode::OK, "{action} asks first");
        assert!(r.body.contains("role=\"alertdialog\""), "{action}");
    }
    let r = b
        .post(
            &format!("{carol_url}/password"),
            &[("csrf", c), ("confirm", "yes"), ("password", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"password-error\""));
    let r = b
        .post(&format!("{carol_url}/risk"), &[("csrf", c), ("risk", "extreme")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b
        .post(&format!("{carol_url}/risk"), &[("csrf", c), ("risk", "high")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = b
        .post(
            &format!("{carol_url}/add-totp"),
            &[("csrf", c), ("label", "phone")],
        )
        .await;
    assert!(r.body.contains("id=\"totp-secret\""), "the secret is shown once");
    let r = b
        .post(
            "/admin/users/nobody/status",
            &[("csrf", c), ("status", "enabled")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Groups.
    let r = b.post("/admin/groups", &[("csrf", c), ("id", "bad id!")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"id-error\""));
    let r = b
        .post(
            "/admin/groups",
            &[("csrf", c), ("id", "sales"), ("name", "Sales")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = b
        .post(
            "/admin/groups/sales/add-member",
            &[("csrf", c), ("user", "ghost")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"user-error\""));
    let r = b
        .post(
            "/admin/groups/sales/add-member",
            &[("csrf", c), ("user", &carol.0)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        server
            .state
            .store
            .members_of(&GroupId("sales".into()))
            .await
            .unwrap(),
        std::slice::from_ref(&carol)
    );

    // Named locations: the CIDR editor refuses what is not a range.
    let r = b
        .post(
            "/admin/locations",
            &[
                ("csrf", c),
                ("id", "office"),
                ("display_name", "Office"),
                ("ip_ranges", "10.0.0.0/8\n300.1.2.3/24"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("id=\"ip_ranges-error\""), "{}", r.body);
    let r = b
        .post(
            "/admin/locations",
            &[
                ("csrf", c),
                ("id", "office"),
                ("display_name", "Office"),
                ("ip_ranges", "10.0.0.0/8\n2001:db8::/32"),
                ("trusted", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        b.get("/admin/locations/office")
            .await
            .body
            .contains("2001:db8::/32")
    );

    // Applications: a confidential client's secret is shown once; bad numbers are field errors.
    let r = b
        .post(
            "/admin/applications",
            &[
                ("csrf", c),
                ("id", "api"),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
                ("scopes", "ssf.manage"),
                ("access_token_minutes", "ten"),
                ("refresh_token_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("must be a whole number"));
    let r = b
        .post(
            "/admin/applications",
            &[
                ("csrf", c),
                ("id", "api"),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
                ("scopes", "ssf.manage"),
                ("access_token_minutes", "60"),
                ("refresh_token_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.contains("id=\"client-secret\""));
    let r = b
        .post(
            "/admin/applications/api/save",
            &[
                ("csrf", c),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
                ("scopes", "ssf.manage"),
                ("access_token_minutes", "2"),
                ("refresh_token_days", "30"),
                ("cae_capable", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "5 minutes at least");
    assert!(r.body.contains("aria-invalid"), "{}", r.body);

    // Policies: the editor writes the document; errors land beside their field.
    let policy = |users: &'static str| {
        vec![
            ("csrf", c),
            ("id", "tp-desktop"),
            ("displayName", "Token protection for desktop apps"),
            ("state", "enabledForReportingButNotEnforced"),
            ("includeUsers", users),
            ("includeApplications", "All"),
            ("clientAppTypes", "mobileAppsAndDesktopClients"),
            ("includePlatforms", "windows"),
            ("includePlatforms", "macOS"),
            ("operator", "OR"),
            ("secureSignInSession", "on"),
            ("includeLocations", "All"),
            ("excludeLocations", "office"),
            ("transferMethods", "deviceCodeFlow"),
        ]
    };
    let r = b.post("/admin/policies/new", &policy("u-ghost")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("value=\"Token protection for desktop apps\""),
        "the form keeps its values"
    );
    let r = b.post("/admin/policies/new", &policy("All")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let stored = server.state.store.policy("tp-desktop").await.unwrap();
    assert_eq!(stored.state, "enabledForReportingButNotEnforced");
    assert_eq!(
        stored.document["sessionControls"]["secureSignInSession"]["isEnabled"],
        true
    );
    assert_eq!(
        stored.document["conditions"]["locations"]["excludeLocations"],
        json!(["office"])
    );
    assert_eq!(
        stored.document["conditions"]["authenticationFlows"],
        json!({"transferMethods": "deviceCodeFlow"}),
        "Graph's comma-separated form"
    );
    let editor = b.get("/admin/policies/tp-desktop").await;
    assert!(
        editor.body.contains("value=\"macOS\" checked"),
        "the editor reads the document back"
    );
    assert!(
        editor.body.contains("value=\"deviceCodeFlow\" checked"),
        "an authentication-flows condition survives an edit"
    );
    let r = b
        .post(
            "/admin/policies/tp-desktop/state",
            &[("csrf", c), ("state", "enabled")],
        )
        .await;
    assert!(r.body.contains("role=\"alertdialog\""), "switching on asks first");
    let r = b
        .post(
            "/admin/policies/tp-desktop/state",
            &[("csrf", c), ("state", "enabled"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        server.state.store.policy("tp-desktop").await.unwrap().state,
        "enabled"
    );
    let r = b
        .post(
            "/admin/policies/import",
            &[("csrf", c), ("document", "[{\"displayName\": \"x\"}]")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("needs an id"));
    let export = b.get("/admin/policies/tp-desktop/export").await;
    assert_eq!(export.json["id"], "tp-desktop");
    let mut copy = export.json.clone();
    copy["id"] = "tp-copy".into();
    copy["state"] = "disabled".into();
    let r = b
        .post(
            "/admin/policies/import",
            &[("csrf", c), ("document", &copy.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        server.state.store.policy("tp-copy").await.unwrap().state,
        "disabled"
    );

    // What if.
    let r = b
        .post(
            "/admin/what-if",
            &[
                ("csrf", c),
                ("user", "u-bob"),
                ("application", "webapp"),
                ("ip", "203.0.113.9"),
                ("client_app_type", "mobileAppsAndDesktopClients"),
                ("platform", "windows"),
                ("token_binding", "missing"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Token protection for desktop apps"), "{}", r.body);
    let r = b
        .post(
            "/admin/what-if",
            &[
                ("csrf", c),
                ("user", "u-bob"),
                ("application", "webapp"),
                ("ip", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"ip-error\""), "{}", r.body);
    let r = b
        .post(
            "/admin/what-if",
            &[
                ("csrf", c),
                ("user", "ghost"),
                ("application", "webapp"),
                ("ip", "10.1.1.1"),
            ],
        )
        .await;
    assert!(r.body.contains("id=\"user-error\""), "{}", r.body);

    // Sign-in logs and their detail.
    let list = b.get("/admin/sign-ins?user=u-alice").await;
    let id = list
        .body
        .split("href=\"/admin/sign-ins/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let detail = b.get(&format!("/admin/sign-ins/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.body.contains("Every policy"));
    assert_eq!(b.get("/admin/sign-ins/nope").await.status, StatusCode::NOT_FOUND);

    // Streams: an unknown status is refused; disabling asks first.
    let r = b
        .post(
            "/admin/signals/streams/s-1",
            &[("csrf", c), ("status", "sleeping")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b
        .post(
            "/admin/signals/streams/s-1",
            &[("csrf", c), ("status", "disabled")],
        )
        .await;
    assert!(r.body.contains("role=\"alertdialog\""));
    let r = b
        .post("/admin/signals/streams/s-1", &[("csrf", c), ("status", "paused")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revoking_the_administrators_sessions_or_signing_out_ends_the_console() {
    let server = server().await;
    let (mut b, csrf) = signed_in_admin(&server).await;
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    server
        .state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .revoke_sessions(&UserId("u-alice".into()))
        .await
        .unwrap();
    let r = b.get("/admin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/admin/sign-in"));

    // Revocation instants are milliseconds: signing in again right away works.
    let (mut b, csrf2) = {
        let mut fresh = Browser::new(&server);
        let page = sign_in(&mut fresh, ALICE.0, ALICE.1, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = self::csrf(&page);
        (fresh, token)
    };
    assert_ne!(csrf, csrf2, "each console session has its own CSRF token");
    let out = b.post("/admin/sign-out", &[("csrf", &csrf2)]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains("signed out"));
    assert!(!b.jar.contains_key("tessera_console"));
    assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_console_session_lapses_when_idle_and_is_renewed_while_used() {
    let server = server().await;
    make_admin(&server, "u-alice").await;
    let now = server.state.unix_time().as_secs();
    let cookie = |signed_in: i64, seen: i64, exp: i64| {
        tessera_jose::jws::sign(
            server.state.keys.active(),
            Some("tessera-console+jwt"),
            &json!({"iss": "http://127.0.0.1:8080", "sub": "u-alice", "sid": "s-console", "csrf": "c".repeat(32),
                    "signed_in": signed_in * 1000, "seen": seen, "exp": exp}),
        )
        .unwrap()
    };
    let open = |value: String| {
        let server = &server;
        async move {
            let mut b = Browser::new(server);
            b.jar.insert("tessera_console".into(), value);
            let r = b.get("/admin").await;
            (r, b)
        }
    };
    // Used two minutes ago: served, and the idle clock restarts (a renewed cookie).
    let (r, b) = open(cookie(now - 600, now - 120, now + 3600)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("tessera_console="))
    );
    assert_ne!(b.jar["tessera_console"], cookie(now - 600, now - 120, now + 3600));
    // Idle for 30 minutes, or past its 8 hours: sign in again.
    for value in [
        cookie(now - 3600, now - 30 * 60, now + 3600),
        cookie(now - 8 * 3600, now - 10, now),
    ] {
        let (r, _) = open(value).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(r.location().starts_with("/admin/sign-in"));
    }
    // Another issuer's session, or a session cookie of the sign-in pages, is no console session.
    let foreign = tessera_jose::jws::sign(
        server.state.keys.active(),
        Some("tessera-session+jwt"),
        &json!({"iss": "http://127.0.0.1:8080", "sub": "u-alice", "sid": "s", "csrf": "c", "iat": now, "seen": now, "exp": now + 60}),
    )
    .unwrap();
    assert_eq!(open(foreign).await.0.status, StatusCode::SEE_OTHER);
}
