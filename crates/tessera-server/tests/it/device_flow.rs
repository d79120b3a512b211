//! The device authorization grant (RFC 8628): a device asks, the user approves at `/device` on
//! another machine, the device polls. The happy path with DPoP and the sign-in log's two
//! addresses; every refusal the RFC names, as tables; the verification page under hostile
//! input; and a Conditional Access policy on the device code flow.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::{Algorithm, Clock as _, ManualClock, SigningKey, SystemClock};
use tessera_store::{AppKind, Application, PolicyRecord, SignInFilter, Timestamp};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{ALICE, ISSUER, Reply, Server, WEBAPP_CB};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Where the device is: far from the browser that approves.
const DEVICE_IP: &str = "203.0.113.9:40000";

async fn device_app(s: &Server, id: &str, require_dpop: bool) {
    let mut uow = s.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: id.into(),
        name: format!("{id} app"),
        kind: AppKind::Public,
        secret_hash: None,
        redirect_uris: vec![],
        grant_types: vec![GRANT.into(), "refresh_token".into()],
        scopes: vec!["mail.read".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
}

async fn clocked() -> (Arc<ManualClock>, Server) {
    let second = SystemClock.now().unix_time();
    let clock = Arc::new(ManualClock::new(Timestamp::from(second).plus_ms(100)));
    let s = crate::support::server_with_clock(clock.clone()).await;
    device_app(&s, "tv", false).await;
    device_app(&s, "kiosk", false).await;
    (clock, s)
}

/// A form POST from the device's address, with an optional DPoP proof.
async fn from_device(s: &Server, path: &str, body: &str, proof: Option<&str>) -> Reply {
    let mut r = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(ConnectInfo(DEVICE_IP.parse::<SocketAddr>().unwrap()));
    if let Some(p) = proof {
        r = r.header("dpop", p);
    }
    s.send(r.body(Body::from(body.to_owned())).unwrap()).await
}

/// The device's side: its client id and DPoP key.
struct Device {
    client: Client,
}

impl Device {
    fn new(id: &str) -> Self {
        Self {
            client: Client::new(id, "http://127.0.0.1/unused"),
        }
    }

    async fn ask(&self, s: &Server, scope: &str) -> Reply {
        let proof = self.client.proof(&format!("{ISSUER}/device_authorization"), None);
        let body = format!("client_id={}&scope={}", self.client.id, urlencode(scope));
        from_device(s, "/device_authorization", &body, Some(&proof)).await
    }

    async fn poll_with(&self, s: &Server, device_code: &str, key: Option<&SigningKey>) -> Reply {
        let proof = key.map(|k| self.client.proof_by(k, &format!("{ISSUER}/token"), None));
        let body = format!(
            "grant_type={}&client_id={}&device_code={device_code}",
            urlencode(GRANT),
            self.client.id
        );
        from_device(s, "/token", &body, proof.as_deref()).await
    }

    async fn poll(&self, s: &Server, device_code: &str) -> Reply {
        self.poll_with(s, device_code, Some(&self.client.key)).await
    }
}

/// Signs in at `/device` (following the page's own sign-in) and returns the code form.
async fn open_verification(b: &mut Browser<'_>, uri: &str) -> Reply {
    let first = b.get(uri).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let mut back = b.sign_in(first.location(), ALICE.0, ALICE.1).await;
    // The sign-in ends at the page's callback (an absolute URI on the issuer), which returns
    // to the form.
    while back.status == StatusCode::SEE_OTHER {
        let next = back
            .location()
            .strip_prefix(ISSUER)
            .unwrap_or(back.location())
            .to_owned();
        back = b.get(&next).await;
    }
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert!(back.body.contains("Sign in on a device"), "{}", back.body);
    back
}

async fn approve(b: &mut Browser<'_>, form: &Reply, user_code: &str) -> Reply {
    let confirm = b.submit(form, &[("user_code", user_code)]).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    b.submit(&confirm, &[("decision", "approve")]).await
}

fn path_of(uri: &str) -> String {
    uri.strip_prefix(ISSUER).unwrap().to_owned()
}

#[tokio::test]
async fn a_device_is_approved_elsewhere_and_gets_tokens_bound_to_its_key() {
    let (clock, s) = clocked().await;
    let meta = s.get("/.well-known/openid-configuration").await.json;
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{ISSUER}/device_authorization")
    );
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );

    let tv = Device::new("tv");
    let asked = tv.ask(&s, "openid profile offline_access mail.read").await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.headers["cache-control"], "no-store");
    let a = &asked.json;
    let device_code = a["device_code"].as_str().unwrap().to_owned();
    let user_code = a["user_code"].as_str().unwrap().to_owned();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    assert_eq!(a["verification_uri"], format!("{ISSUER}/device"));
    assert_eq!(
        a["verification_uri_complete"],
        format!("{ISSUER}/device?user_code={user_code}")
    );
    assert_eq!(
        (a["expires_in"].as_i64(), a["interval"].as_i64()),
        (Some(600), Some(5))
    );

    // Before the user answers: pending, then too soon.
    assert_eq!(
        tv.poll(&s, &device_code).await.json["error"],
        "authorization_pending"
    );
    assert_eq!(tv.poll(&s, &device_code).await.json["error"], "slow_down");

    // The user, on another machine, opens the complete URI: the code is filled in, to confirm.
    let mut b = Browser::new(&s);
    let form = open_verification(&mut b, &path_of(a["verification_uri_complete"].as_str().unwrap())).await;
    assert!(
        form.body.contains(&format!("value=\"{user_code}\"")),
        "{}",
        form.body
    );
    let confirm = b.submit(&form, &[("user_code", &user_code.to_lowercase())]).await;
    assert!(confirm.body.contains("tv app"), "{}", confirm.body);
    assert!(
        confirm.body.contains("203.0.113.9"),
        "the device's address is shown: {}",
        confirm.body
    );
    assert!(
        confirm.body.contains("not the network you are on"),
        "{}",
        confirm.body
    );
    let done = b.submit(&confirm, &[("decision", "approve")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is signed in"), "{}", done.body);

    // The interval grew to ten seconds with the slow_down.
    clock.advance(Duration::from_secs(11));
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let stolen = tv.poll_with(&s, &device_code, Some(&stranger)).await;
    assert_eq!(
        stolen.json["error"], "invalid_grant",
        "a copy of the device code on another machine: {}",
        stolen.body
    );

    // The thief's poll redeemed it: a second device code shows the device's own poll working.
    let asked = tv.ask(&s, "openid offline_access mail.read").await;
    let device_code = asked.json["device_code"].as_str().unwrap().to_owned();
    let user_code = asked.json["user_code"].as_str().unwrap().to_owned();
    let form = b.get("/device").await;
    let done = approve(&mut b, &form, &user_code).await;
    assert!(done.body.contains("is signed in"), "{}", done.body);
    let tokens = tv.poll(&s, &device_code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.json["token_type"], "DPoP");
    assert!(tokens.json["refresh_token"].is_string() && tokens.json["id_token"].is_string());
    assert_eq!(tokens.json["scope"], "mail.read offline_access openid");
    let refreshed = tv
        .client
        .refresh(
            &s,
            tokens.json["refresh_token"].as_str().unwrap(),
            Some(&tv.client.key),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(
        tv.poll(&s, &device_code).await.json["error"],
        "invalid_grant",
        "one redemption"
    );

    // The sign-in log names both machines at both steps.
    let logs = s
        .state
        .store
        .sign_ins(&SignInFilter {
            limit: 50,
            ..SignInFilter::default()
        })
        .await
        .unwrap();
    let stage =
        |e: &tessera_store::SignInLog| e.details.value()["stage"].as_str().unwrap_or_default().to_owned();
    let approval = logs
        .iter()
        .find(|e| stage(e) == "device_approval" && e.outcome == "success")
        .unwrap();
    let token = logs
        .iter()
        .find(|e| stage(e) == GRANT && e.outcome == "success")
        .unwrap();
    assert_eq!(token.ip, "203.0.113.9", "the token went to the device");
    assert_eq!(approval.ip, "127.0.0.1", "the approval came from the browser");
    for entry in [approval, token] {
        let transfer = &entry.details.value()["authenticationTransfer"];
        assert_eq!(transfer["method"], "deviceCodeFlow");
        assert_eq!(transfer["requestedFrom"], "203.0.113.9");
        assert_eq!(transfer["approvedFrom"], "127.0.0.1");
    }
    let replay = logs
        .iter()
        .find(|e| stage(e) == GRANT && e.outcome == "replay")
        .unwrap();
    assert_eq!(
        (replay.token_protection.as_str(), replay.ip.as_str()),
        ("replay", "203.0.113.9")
    );
}

#[tokio::test]
async fn device_authorization_request_errors_table() {
    let (_, s) = clocked().await;
    device_app(&s, "bound-tv", true).await;
    let send = |body: &'static str| from_device(&s, "/device_authorization", body, None);
    let cases: Vec<(&str, &str, StatusCode, &str)> = vec![
        (
            "unknown client",
            "client_id=nobody",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "no client at all",
            "scope=openid",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "client without the grant",
            "client_id=webapp",
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "scope not allowed",
            "client_id=tv&scope=admin",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "resource relative",
            "client_id=tv&resource=%2Fapi",
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "claims not JSON",
            "client_id=tv&claims=%7B",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "DPoP required, none sent",
            "client_id=bound-tv",
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
        ),
    ];
    for (name, body, status, error) in cases {
        let r = send(body).await;
        assert_eq!(
            (r.status, r.json["error"].as_str()),
            (status, Some(error)),
            "{name}: {}",
            r.body
        );
    }
    let tv = Device::new("tv");
    let wrong_htu = from_device(
        &s,
        "/device_authorization",
        "client_id=tv",
        Some(&tv.client.proof(&format!("{ISSUER}/token"), None)),
    )
    .await;
    assert_eq!(
        wrong_htu.json["error"], "invalid_dpop_proof",
        "{}",
        wrong_htu.body
    );
}

#[tokio::test]
async fn device_token_request_errors_table() {
    let (clock, s) = clocked().await;
    let tv = Device::new("tv");
    let kiosk = Device::new("kiosk");
    let code_of = |r: &Reply| r.json["device_code"].as_str().unwrap().to_owned();
    let user_code_of = |r: &Reply| r.json["user_code"].as_str().unwrap().to_owned();
    let pending = tv.ask(&s, "openid").await;
    let denied = tv.ask(&s, "openid").await;
    let expiring = tv.ask(&s, "openid").await;

    // Another client polling someone else's code learns nothing and changes nothing.
    assert_eq!(
        kiosk.poll(&s, &code_of(&pending)).await.json["error"],
        "invalid_grant"
    );
    assert_eq!(
        tv.poll(&s, &code_of(&pending)).await.json["error"],
        "authorization_pending"
    );

    let mut b = Browser::new(&s);
    let form = open_verification(&mut b, "/device").await;
    let confirm = b.submit(&form, &[("user_code", &user_code_of(&denied))]).await;
    let cancelled = b.submit(&confirm, &[("decision", "deny")]).await;
    assert!(cancelled.body.contains("was not signed in"), "{}", cancelled.body);

    clock.advance(Duration::from_secs(601));
    // (name, client, device code, error); polled without DPoP, as the proofs' clock is the
    // machine's and the server's has moved ten minutes on.
    let cases: Vec<(&str, &Device, String, &str)> = vec![
        ("unknown code", &tv, "not-a-device-code".into(), "invalid_grant"),
        ("denied by the user", &tv, code_of(&denied), "access_denied"),
        ("expired", &tv, code_of(&expiring), "expired_token"),
        (
            "another client's, expired",
            &kiosk,
            code_of(&expiring),
            "invalid_grant",
        ),
    ];
    for (name, device, code, error) in cases {
        let r = device.poll_with(&s, &code, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(r.json["error"], error, "{name}: {}", r.body);
    }
    let missing = from_device(
        &s,
        "/token",
        &format!("grant_type={}&client_id=tv", urlencode(GRANT)),
        None,
    )
    .await;
    assert_eq!(missing.json["error"], "invalid_request");
    let not_given = from_device(
        &s,
        "/token",
        &format!("grant_type={}&client_id=webapp&device_code=x", urlencode(GRANT)),
        None,
    )
    .await;
    assert_eq!(not_given.json["error"], "unauthorized_client");
}

#[tokio::test]
async fn the_verification_page_refuses_guesses_and_forgeries() {
    let (_, s) = clocked().await;
    let tv = Device::new("tv");
    let asked = tv.ask(&s, "openid").await;
    let user_code = asked.json["user_code"].as_str().unwrap().to_owned();
    let mut b = Browser::new(&s);
    let form = open_verification(&mut b, "/device").await;

    let cases = [
        ("not a code", "hello", "eight letters"),
        ("vowels", "AEIO-UAEI", "eight letters"),
        ("no such device", "BCDF-GHJK", "No device is waiting"),
    ];
    for (name, typed, says) in cases {
        let r = b.submit(&form, &[("user_code", typed)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        assert!(r.body.contains(says), "{name}: {}", r.body);
    }
    // Five wrong codes per user in the window; then even the right one waits.
    for _ in 0..2 {
        b.submit(&form, &[("user_code", "BCDF-GHJK")]).await;
    }
    let locked = b.submit(&form, &[("user_code", &user_code)]).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);

    // Forms without their CSRF token, or without a session, do nothing.
    let forged = b
        .post(
            "/device/decide",
            &[("user_code", &user_code), ("decision", "approve"), ("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&s);
    let page = stranger.get("/device").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "no session: off to sign in");
    assert!(page.location().starts_with("/authorize?"), "{}", page.location());
    assert_eq!(
        tv.poll(&s, asked.json["device_code"].as_str().unwrap())
            .await
            .json["error"],
        "authorization_pending"
    );
}

#[tokio::test]
async fn a_policy_can_block_the_device_code_flow_and_nothing_else() {
    let (_, s) = clocked().await;
    let document = json!({
        "id": "no-device-code", "displayName": "Block the device code flow", "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "authenticationFlows": {"transferMethods": "deviceCodeFlow"}
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}
    });
    let mut uow = s.state.store.begin().await.unwrap();
    uow.put_policy(&PolicyRecord {
        id: "no-device-code".into(),
        state: "enabled".into(),
        document,
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    s.state.policies.reload(s.state.store.as_ref()).await.unwrap();

    // An ordinary sign-in is not a device code flow.
    let mut b = Browser::new(&s);
    let web = Client::new("webapp", WEBAPP_CB);
    let back = b.sign_in(&web.authorize_url(""), ALICE.0, ALICE.1).await;
    assert!(
        query_of(back.location()).contains_key("code"),
        "{}",
        back.location()
    );

    let tv = Device::new("tv");
    let asked = tv.ask(&s, "openid").await;
    let form = b.get("/device").await;
    let confirm = b
        .submit(&form, &[("user_code", asked.json["user_code"].as_str().unwrap())])
        .await;
    let blocked = b.submit(&confirm, &[("decision", "approve")]).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN, "{}", blocked.body);
    assert!(blocked.body.contains("does not allow"), "{}", blocked.body);
    let r = tv.poll(&s, asked.json["device_code"].as_str().unwrap()).await;
    assert_eq!(r.json["error"], "access_denied", "{}", r.body);

    let logs = s
        .state
        .store
        .sign_ins(&SignInFilter {
            limit: 20,
            ..SignInFilter::default()
        })
        .await
        .unwrap();
    let entry = logs
        .iter()
        .find(|e| e.outcome == "blocked")
        .expect("the blocked approval is logged");
    let details: Value = entry.details.value().clone();
    assert_eq!(details["stage"], "device_approval");
    let policies = details["conditionalAccess"]["policies"].as_array().unwrap();
    assert!(
        policies
            .iter()
            .any(|p| p["id"] == "no-device-code" && p["result"] == "failure"),
        "{details}"
    );
}
