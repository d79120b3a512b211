//! Item 7: one client could fill the shared `private_key_jwt` replay cache (assertions with an
//! hour's `exp`), and every other client's `private_key_jwt` then failed with 500 for an hour.
//! Each client (and each DPoP key) now has its own bounded share.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_jose::{Algorithm, SigningKey, jws};

use crate::browser::Client;
use crate::support::{ISSUER, SECRET, Server, app_with_key, basic, server_with, token_request};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn authenticate(
    server: &Server,
    id: &str,
    key: &SigningKey,
    jti: &str,
    lifetime: i64,
) -> crate::support::Reply {
    let claims: Value = json!({
        "iss": id, "sub": id, "aud": format!("{ISSUER}/token"), "iat": now(), "exp": now() + lifetime, "jti": jti
    });
    let assertion = jws::sign(key, None, &claims).unwrap();
    server
        .send(token_request(
            &format!("grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"),
            &[],
        ))
        .await
}

/// Item 7: a client at its share of live assertion ids is refused with `invalid_client` (not
/// 500), and another client still authenticates; assertions may live five minutes at most.
#[tokio::test]
async fn item_07_one_client_cannot_exhaust_the_assertion_cache() {
    let server = server_with(|c| c.tokens.assertion_ids_per_client = 3).await;
    let (flood_key, other_key) = (
        SigningKey::generate(Algorithm::Es256).unwrap(),
        SigningKey::generate(Algorithm::Es256).unwrap(),
    );
    app_with_key(&server, "flooder", &flood_key).await;
    app_with_key(&server, "other", &other_key).await;
    for i in 0..3 {
        let r = authenticate(&server, "flooder", &flood_key, &format!("f-{i}"), 60).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let full = authenticate(&server, "flooder", &flood_key, "f-3", 60).await;
    assert_eq!(full.status, StatusCode::UNAUTHORIZED, "{}", full.body);
    assert_eq!(full.json["error"], "invalid_client");
    assert!(full.body.contains("unexpired client assertions"), "{}", full.body);
    let other = authenticate(&server, "other", &other_key, "o-1", 60).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);

    let long = authenticate(&server, "other", &other_key, "o-2", 3600).await;
    assert_eq!(long.status, StatusCode::UNAUTHORIZED);
    assert!(long.body.contains("within 300 seconds"), "{}", long.body);
}

/// Item 7: the same for DPoP proofs: one key's flood fills its own share only.
#[tokio::test]
async fn item_07_one_key_cannot_exhaust_the_dpop_replay_cache() {
    let server = server_with(|c| c.tokens.dpop_proofs_per_key = 3).await;
    let client = Client::new("dpop-service", "");
    let flood = SigningKey::generate(Algorithm::Es256).unwrap();
    let token = |proof: String| {
        token_request(
            "grant_type=client_credentials&scope=mail.read",
            &[
                ("authorization", &basic("dpop-service", SECRET)),
                ("dpop", &proof),
            ],
        )
    };
    for _ in 0..3 {
        let r = server
            .send(token(client.proof_by(&flood, &format!("{ISSUER}/token"), None)))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let full = server
        .send(token(client.proof_by(&flood, &format!("{ISSUER}/token"), None)))
        .await;
    assert_eq!(full.status, StatusCode::BAD_REQUEST, "{}", full.body);
    assert_eq!(full.json["error"], "invalid_dpop_proof", "{}", full.body);
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let r = server
        .send(token(client.proof_by(&other, &format!("{ISSUER}/token"), None)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "another key is unaffected: {}", r.body);
}
