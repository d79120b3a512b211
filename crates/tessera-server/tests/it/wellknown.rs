//! Metadata, JWKS and health.

use tessera_jose::KeySet;

use crate::support::{ISSUER, server};

#[tokio::test]
async fn authorization_server_metadata_advertises_what_exists() {
    let s = server().await;
    let r = s.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["issuer"], ISSUER);
    assert_eq!(r.json["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(r.json["jwks_uri"], format!("{ISSUER}/jwks"));
    assert_eq!(
        r.json["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA"])
    );
    assert_eq!(
        r.json["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        r.json["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(r.json["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(r.json["acr_values_supported"], serde_json::json!(["pwd", "mfa"]));
    assert_eq!(r.json["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(r.json["authorization_response_iss_parameter_supported"], true);
    // OpenID Connect discovery serves the same document.
    let oidc = s.get("/.well-known/openid-configuration").await;
    assert_eq!(oidc.status, 200);
    assert_eq!(oidc.json, r.json);
    for member in [
        "userinfo_endpoint",
        "end_session_endpoint",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(oidc.json.get(member).is_some(), "{member}");
    }
}

#[tokio::test]
async fn jwks_publishes_the_active_and_next_keys_without_private_parts() {
    let s = server().await;
    let r = s.get("/jwks").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/jwk-set+json");
    let set = KeySet::from_jwks(r.json.to_string().as_bytes()).unwrap();
    assert_eq!(set.keys().len(), 2, "active and next");
    let active = s.state.keys.active().kid().unwrap();
    assert!(set.keys().iter().any(|k| k.kid() == Some(active)));
}

#[tokio::test]
async fn keys_and_admin_survive_a_restart() {
    let dir = crate::support::private_dir();
    let mut cfg = crate::support::config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let first = tessera_server::prepare(cfg.clone()).await.unwrap();
    assert!(matches!(
        first.bootstrap,
        tessera_directory::bootstrap::Bootstrap::Created
    ));
    let kid = first.state.keys.active().kid().unwrap().to_owned();
    drop(first);
    let second = tessera_server::prepare(cfg).await.unwrap();
    assert!(matches!(
        second.bootstrap,
        tessera_directory::bootstrap::Bootstrap::AlreadyDone
    ));
    assert_eq!(
        second.state.keys.active().kid(),
        Some(kid.as_str()),
        "the same key signs after a restart"
    );
}

#[tokio::test]
async fn a_short_admin_password_is_refused() {
    let dir = crate::support::private_dir();
    let mut cfg = crate::support::config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.admin_password = Some(zeroize::Zeroizing::new("short".into()));
    let err = tessera_server::prepare(cfg).await.unwrap_err();
    assert!(err.to_string().contains("at least 12 characters"), "{err}");
}

#[tokio::test]
async fn health() {
    let s = server().await;
    let r = s.get("/healthz").await;
    assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (200, Some("ok")));
}
