//! Revocation is exact: "not before" instants, and the sign-in and issue times compared with
//! them, are milliseconds from the server's one clock. What happens in the same second as a
//! revocation falls on the side it happened on. The clock is moved by hand, a millisecond at a
//! time, so every case is in one second whatever the machine's speed.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tessera_directory::{InitiatingEntity, UserPatch};
use tessera_jose::{Clock, ManualClock, SystemClock, Timestamp};
use tessera_store::{UserId, UserStatus};

use crate::browser::Client;
use crate::flow::{code_for, introspect, userinfo};
use crate::support::{ALICE, Server, WEBAPP_CB, server_with_clock};

/// A clock 100 ms into the current second, and a server reading it.
async fn clocked() -> (Arc<ManualClock>, Server) {
    let second = SystemClock.now().unix_time();
    let clock = Arc::new(ManualClock::new(Timestamp::from(second).plus_ms(100)));
    let server = server_with_clock(clock.clone()).await;
    (clock, server)
}

fn tick(clock: &ManualClock) {
    clock.advance(Duration::from_millis(1));
}

async fn set_status(server: &Server, status: UserStatus) {
    let patch = UserPatch {
        status: Some(status),
        ..UserPatch::default()
    };
    server
        .state
        .directory(InitiatingEntity::Admin)
        .update_user(&UserId("u-alice".into()), &patch)
        .await
        .unwrap();
}

/// The regression: alice, disabled and enabled again, signed in within the same second and
/// was sent back to the sign-in form with no error, because the instants were whole seconds.
#[tokio::test]
async fn a_user_disabled_and_enabled_signs_in_again_within_the_same_second() {
    let (clock, server) = clocked().await;
    let started = clock.now();
    let client = Client::new("webapp", WEBAPP_CB);
    let code = code_for(&server, &client, ALICE).await;
    let before = client.redeem(&server, &code, true).await;
    let before = before.json["access_token"].as_str().unwrap().to_owned();

    tick(&clock);
    set_status(&server, UserStatus::Disabled).await;
    tick(&clock);
    set_status(&server, UserStatus::Enabled).await;
    tick(&clock);

    // She signs in again: the form takes her password and the code comes back.
    let code = code_for(&server, &client, ALICE).await;
    let after = client.redeem(&server, &code, true).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.json);
    let after = after.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        clock.now().unix_time(),
        started.unix_time(),
        "all of it happened in one second"
    );

    // The token from before the disable is revoked; the one from after is good.
    assert_eq!(
        userinfo(&server, &client, &before, true).await.status,
        StatusCode::UNAUTHORIZED
    );
    let info = userinfo(&server, &client, &after, true).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(introspect(&server, &before).await["active"], false);
    assert_eq!(introspect(&server, &after).await["active"], true);
}

/// A token issued in the very millisecond of a revocation may have been issued just before
/// it: refused. One issued a millisecond later is accepted. Both carry `tessera_iat_ms`.
#[tokio::test]
async fn a_tie_revokes_and_the_next_millisecond_does_not() {
    let (clock, server) = clocked().await;
    let token = |server: &Server| {
        let grant = tessera_server::oauth::access_token::Grant {
            subject: "u-alice",
            client_id: "service",
            audience: crate::support::ISSUER,
            scope: "",
            lifetime: 600,
            jkt: None,
            sid: None,
            device_id: None,
            cp1: false,
            location_policies: &[],
            location_strict: false,
            act: None,
            authentication: None,
        };
        tessera_server::oauth::access_token::issue(&server.state, &grant)
            .unwrap()
            .token
    };
    let same = token(&server);
    server
        .state
        .directory(InitiatingEntity::Admin)
        .revoke_sessions(&UserId("u-alice".into()))
        .await
        .unwrap();
    tick(&clock);
    let next = token(&server);
    let claims = |t: &str| -> serde_json::Value {
        serde_json::from_slice(&tessera_jose::b64::decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    assert_eq!(claims(&same)["iat"], claims(&next)["iat"], "one second");
    assert_eq!(
        claims(&next)["tessera_iat_ms"].as_i64().unwrap() - claims(&same)["tessera_iat_ms"].as_i64().unwrap(),
        1
    );
    assert_eq!(introspect(&server, &same).await["active"], false);
    assert_eq!(introspect(&server, &next).await["active"], true);
}
