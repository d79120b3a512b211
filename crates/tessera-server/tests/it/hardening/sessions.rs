//! Item 2: a reused refresh token revoked its family but left the access tokens issued from it
//! working (a CAE token for a day) and told no one.

use axum::http::StatusCode;
use tessera_store::Timestamp;

use crate::browser::Client;
use crate::flow::{code_for, introspect, userinfo};
use crate::support::{ALICE, Db, Server, WEBAPP_CB, server_on, watch_events};

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}

on_both!(item_02_refresh_token_reuse_ends_the_session_everywhere);

async fn events(server: &Server) -> Vec<tessera_store::ClaimedDelivery> {
    server
        .state
        .store
        .claim(
            "t",
            10,
            Timestamp(i64::MAX / 2),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
}

/// Item 2: reuse is theft. The access token issued from the newest refresh token stops working
/// at `/userinfo` and introspection, `session-revoked` and `risk-level-change` go to every
/// stream, and the sign-in log says theft.
async fn item_02_refresh_token_reuse_ends_the_session_everywhere(db: Db) {
    let server = server_on(db).await;
    watch_events(&server).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let code = code_for(&server, &client, ALICE).await;
    let first = client.redeem(&server, &code, true).await.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = client.refresh(&server, &first, Some(&client.key)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let access = rotated.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        userinfo(&server, &client, &access, true).await.status,
        StatusCode::OK
    );
    assert_eq!(introspect(&server, &access).await["active"], true);

    let reuse = client.refresh(&server, &first, Some(&client.key)).await;
    assert_eq!(reuse.json["error"], "invalid_grant");

    assert_eq!(
        userinfo(&server, &client, &access, true).await.status,
        StatusCode::UNAUTHORIZED,
        "the access token of the stolen session"
    );
    assert_eq!(introspect(&server, &access).await["active"], false);
    let alice = server.state.store.user(&"u-alice".into()).await.unwrap();
    assert_eq!(alice.risk, tessera_store::RiskLevel::High);
    let raised = events(&server).await;
    let kinds: Vec<String> = raised
        .iter()
        .map(|e| e.event_type.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["session-revoked", "risk-level-change"]);
    // The session is named, so APIs end its tokens and not alice's other sessions'.
    assert_eq!(raised[0].subject["format"], "complex", "{}", raised[0].subject);
    assert_eq!(raised[0].subject["user"]["sub"], "u-alice");
    assert!(
        raised[0].subject["session"]["id"].is_string(),
        "{}",
        raised[0].subject
    );

    // Said once: another old token of the same family changes nothing more.
    let again = client.refresh(&server, &first, Some(&client.key)).await;
    assert_eq!(again.json["error"], "invalid_grant");
    let later: Vec<_> = events(&server).await;
    assert!(later.is_empty(), "{later:?}");

    let theft = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("theft".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        theft.len(),
        1,
        "the reuse is logged as theft; later tokens find the session ended"
    );
}
