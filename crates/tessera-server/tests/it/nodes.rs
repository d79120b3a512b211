//! Several nodes on one PostgreSQL database, in-process: what one node did, another knows.

use axum::http::StatusCode;

use crate::browser::Client;
use crate::support::{Db, SECRET, Server, basic, config, server_on, token_request};

/// A second node over the same database (its own memory caches, the same keys and rows).
async fn second_node(first: &Server) -> Server {
    let dir = crate::support::private_dir();
    let mut cfg = config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.issuer = first.state.config.issuer.clone();
    cfg.issuer_derived = false;
    // The nodes of one deployment share the key-encryption key.
    cfg.key_encryption = first.state.config.key_encryption.clone();
    let prepared = tessera_server::prepare_with(cfg, first.state.store.clone())
        .await
        .unwrap();
    Server::from_state(prepared.state)
}

#[tokio::test]
async fn a_dpop_proof_used_at_one_node_is_refused_at_the_other() {
    let a = server_on(Db::Postgres).await;
    let b = second_node(&a).await;
    let client = Client::new("admin-cli", "");
    let proof = client.proof(&format!("{}/token", a.state.config.issuer), None);
    let request = || {
        token_request(
            "grant_type=client_credentials&scope=tessera.admin",
            &[("authorization", &basic("admin-cli", SECRET)), ("dpop", &proof)],
        )
    };
    let first = a.send(request()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json["token_type"], "DPoP");
    let replayed = b.send(request()).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);
    assert_eq!(replayed.json["error"], "invalid_dpop_proof");

    // A fresh proof works at either node, and the token one node issued is good at the other.
    let token = first.json["access_token"].as_str().unwrap();
    let introspect = b
        .send(
            axum::http::Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic("admin-cli", SECRET))
                .body(axum::body::Body::from(format!("token={token}")))
                .unwrap(),
        )
        .await;
    assert_eq!(introspect.json["active"], true, "{}", introspect.body);
    let fresh = client.proof(&format!("{}/token", a.state.config.issuer), None);
    let again = b
        .send(token_request(
            "grant_type=client_credentials&scope=tessera.admin",
            &[("authorization", &basic("admin-cli", SECRET)), ("dpop", &fresh)],
        ))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}
