//! Dynamic client registration (RFC 7591) and management (RFC 7592), on SQLite and on
//! PostgreSQL: behind the operator's switch, with an initial access token, the admin API's
//! validation, registration access tokens, software statements, and every "MUST reject" as a
//! row of a table.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::{Algorithm, SigningKey};
use tessera_store::{AppKind, Application, Secret, Timestamp};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{
    ALICE, Db, ISSUER, Reply, SECRET, Server, basic, server_on, server_on_with, token_request,
};

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

on_both!(
    registration_is_off_until_the_operator_switches_it_on,
    a_client_registers_signs_in_reads_updates_and_deletes_itself,
    what_registration_must_refuse,
    software_statements_from_trusted_publishers_only,
    open_registration_needs_no_initial_token,
);

fn enabled(c: &mut tessera_server::config::ServerConfig) {
    c.registration.enabled = true;
    c.registration.scopes = vec!["mail.read".into()];
}

/// An initial access token: client credentials of an operator's provisioning client.
async fn initial_token(server: &Server) -> String {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: "provisioner".into(),
        name: "provisioner".into(),
        kind: AppKind::Confidential,
        secret_hash: Some(Secret::new(tessera_directory::secrets::hash_client_secret(
            SECRET,
        ))),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["tessera.register".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let reply = server
        .send(token_request(
            "grant_type=client_credentials&scope=tessera.register",
            &[("authorization", &basic("provisioner", SECRET))],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json["access_token"].as_str().unwrap().to_owned()
}

async fn call(server: &Server, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            r = r.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    server.send(r.body(body).unwrap()).await
}

fn web_client() -> Value {
    json!({
        "client_name": "Self-registered portal",
        "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid mail.read",
        "logo_uri": "https://rp.example/logo.png",
        "contacts": ["ops@rp.example"],
        "software_id": "rp-portal",
        "backchannel_logout_uri": "https://rp.example/logout",
        "some_extension_tessera_ignores": 42,
    })
}

async fn registration_is_off_until_the_operator_switches_it_on(db: Db) {
    let server = server_on(db).await;
    let meta = server.get("/.well-known/openid-configuration").await.json;
    assert!(
        meta.get("registration_endpoint").is_none(),
        "metadata lists exactly what is supported"
    );
    let reply = call(&server, "POST", "/register", None, Some(&web_client())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(
        call(&server, "GET", "/register/anyone", Some("x"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let server = server_on_with(db, enabled).await;
    let meta = server.get("/.well-known/openid-configuration").await.json;
    assert_eq!(meta["registration_endpoint"], format!("{ISSUER}/register"));
}

async fn a_client_registers_signs_in_reads_updates_and_deletes_itself(db: Db) {
    let server = server_on_with(db, enabled).await;
    let initial = initial_token(&server).await;
    let made = call(&server, "POST", "/register", Some(&initial), Some(&web_client())).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store");
    let info = made.json;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("dcr-"), "{client_id}");
    assert_eq!(info["client_name"], "Self-registered portal");
    assert_eq!(
        info["token_endpoint_auth_method"], "client_secret_basic",
        "RFC 7591's default"
    );
    assert_eq!(info["client_secret_expires_at"], 0);
    assert_eq!(info["redirect_uris"], json!(["https://rp.example/cb"]));
    assert_eq!(
        info["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(info["response_types"], json!(["code"]));
    assert_eq!(info["scope"], "openid mail.read");
    assert_eq!(info["logo_uri"], "https://rp.example/logo.png");
    assert_eq!(info["contacts"], json!(["ops@rp.example"]));
    assert_eq!(info["software_id"], "rp-portal");
    assert_eq!(info["backchannel_logout_uri"], "https://rp.example/logout");
    assert!(
        info.get("some_extension_tessera_ignores").is_none(),
        "ignored, not kept"
    );
    assert_eq!(
        info["registration_client_uri"],
        format!("{ISSUER}/register/{client_id}")
    );
    assert!(info["client_id_issued_at"].as_i64().unwrap() > 1_600_000_000);
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let management = info["registration_access_token"].as_str().unwrap().to_owned();
    let path = format!("/register/{client_id}");

    // The new client signs a user in, authenticated by the secret it was given.
    let client = Client::new(&client_id, "https://rp.example/cb");
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let code = query_of(done.location())["code"].clone();
    let tokens = server
        .send(token_request(
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
                urlencode("https://rp.example/cb"),
                client.verifier
            ),
            &[("authorization", &basic(&client_id, &secret))],
        ))
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert!(tokens.json["refresh_token"].is_string());

    // Read (RFC 7592 §2.1): what was registered, without the secret.
    let read = call(&server, "GET", &path, Some(&management), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.headers["cache-control"], "no-store");
    assert_eq!(read.json["client_name"], "Self-registered portal");
    assert_eq!(read.json["logo_uri"], "https://rp.example/logo.png");
    assert!(read.json.get("client_secret").is_none());
    assert!(read.json.get("registration_access_token").is_none());

    // Update (§2.2): everything, replaced; the secret, when sent, must be the current one.
    let mut changed = web_client();
    changed["client_id"] = client_id.clone().into();
    changed["client_secret"] = secret.clone().into();
    changed["client_name"] = "Portal, renamed".into();
    changed["redirect_uris"] = json!(["https://rp.example/cb", "https://rp.example/cb2"]);
    changed.as_object_mut().unwrap().remove("logo_uri");
    let updated = call(&server, "PUT", &path, Some(&management), Some(&changed)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.json["client_name"], "Portal, renamed");
    assert!(updated.json.get("logo_uri").is_none(), "a full replacement");
    let app = server.state.store.application(&client_id).await.unwrap();
    assert_eq!(app.name, "Portal, renamed");
    assert_eq!(app.redirect_uris.len(), 2);
    assert!(app.secret_hash.is_some(), "the secret stays");

    // Delete (§2.3): the client and its registration go; the token opens nothing any more.
    let deleted = call(&server, "DELETE", &path, Some(&management), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(server.state.store.application(&client_id).await.is_err());
    let after = call(&server, "GET", &path, Some(&management), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.json["error"], "invalid_token");
}

async fn what_registration_must_refuse(db: Db) {
    let server = server_on_with(db, enabled).await;
    let initial = initial_token(&server).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut m = web_client();
        change(&mut m);
        m
    };
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut private_jwk = stranger.public_jwk().to_json();
    private_jwk["d"] = "AAAA".into();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a javascript: redirect URI",
            with(&|m| m["redirect_uris"] = json!(["javascript:alert(1)//"])),
            "invalid_redirect_uri",
        ),
        (
            "a data: redirect URI",
            with(&|m| m["redirect_uris"] = json!(["data:text/html,<script>x</script>"])),
            "invalid_redirect_uri",
        ),
        (
            "plain http off loopback",
            with(&|m| m["redirect_uris"] = json!(["http://rp.example/cb"])),
            "invalid_redirect_uri",
        ),
        (
            "a redirect URI with a fragment",
            with(&|m| m["redirect_uris"] = json!(["https://rp.example/cb#f"])),
            "invalid_redirect_uri",
        ),
        (
            "no redirect URI for the code grant",
            with(&|m| m["redirect_uris"] = json!([])),
            "invalid_redirect_uri",
        ),
        (
            "redirect_uris not an array",
            with(&|m| m["redirect_uris"] = json!("https://rp.example/cb")),
            "invalid_client_metadata",
        ),
        (
            "an unknown authentication method",
            with(&|m| m["token_endpoint_auth_method"] = json!("tls_client_auth")),
            "invalid_client_metadata",
        ),
        (
            "jwks_uri",
            with(&|m| m["jwks_uri"] = json!("https://rp.example/jwks")),
            "invalid_client_metadata",
        ),
        (
            "private_key_jwt without keys",
            with(&|m| m["token_endpoint_auth_method"] = json!("private_key_jwt")),
            "invalid_client_metadata",
        ),
        (
            "a private key",
            with(&|m| {
                m["token_endpoint_auth_method"] = json!("private_key_jwt");
                m["jwks"] = json!({"keys": [private_jwk.clone()]});
            }),
            "invalid_client_metadata",
        ),
        (
            "a grant type not offered",
            with(&|m| m["grant_types"] = json!(["client_credentials"])),
            "invalid_client_metadata",
        ),
        (
            "token exchange",
            with(&|m| m["grant_types"] = json!(["urn:ietf:params:oauth:grant-type:token-exchange"])),
            "invalid_client_metadata",
        ),
        (
            "a scope not offered",
            with(&|m| m["scope"] = json!("openid tessera.admin")),
            "invalid_client_metadata",
        ),
        (
            "the implicit response type",
            with(&|m| m["response_types"] = json!(["token"])),
            "invalid_client_metadata",
        ),
        (
            "an ID-token algorithm Tessera does not sign with",
            with(&|m| m["id_token_signed_response_alg"] = json!("RS256")),
            "invalid_client_metadata",
        ),
        (
            "a javascript: logout URI",
            with(&|m| m["backchannel_logout_uri"] = json!("javascript:alert(1)")),
            "invalid_client_metadata",
        ),
        (
            "a javascript: logo",
            with(&|m| m["logo_uri"] = json!("javascript:alert(1)")),
            "invalid_client_metadata",
        ),
        (
            "a name that is not a string",
            with(&|m| m["client_name"] = json!(7)),
            "invalid_client_metadata",
        ),
        (
            "a software statement no one trusts",
            with(&|m| m["software_statement"] = json!("e30.e30.sig")),
            "unapproved_software_statement",
        ),
        ("an array", json!([]), "invalid_client_metadata"),
    ];
    for (name, body, error) in &cases {
        let reply = call(&server, "POST", "/register", Some(&initial), Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {}", reply.body);
        assert_eq!(reply.json["error"], *error, "{name}: {}", reply.body);
        assert!(
            reply.json["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    let not_json = server
        .send(
            Request::post("/register")
                .header("authorization", format!("Bearer {initial}"))
                .header("content-type", "application/json")
                .body(Body::from("{"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        not_json.json["error"], "invalid_client_metadata",
        "{}",
        not_json.body
    );
    let form = server
        .send(
            Request::post("/register")
                .header("authorization", format!("Bearer {initial}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("client_name=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(form.json["error"], "invalid_request", "{}", form.body);

    // The initial access token: required, genuine, with the scope.
    let none = call(&server, "POST", "/register", None, Some(&web_client())).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.headers.contains_key("www-authenticate"));
    let forged = call(
        &server,
        "POST",
        "/register",
        Some("not-a-token"),
        Some(&web_client()),
    )
    .await;
    assert_eq!(
        (forged.status, forged.json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let service = server
        .send(token_request(
            "grant_type=client_credentials&scope=mail.read",
            &[("authorization", &basic("service", SECRET))],
        ))
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let unscoped = call(&server, "POST", "/register", Some(&service), Some(&web_client())).await;
    assert_eq!(
        (unscoped.status, unscoped.json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    let registered = server.state.store.applications().await.unwrap();
    assert!(
        registered.iter().all(|a| !a.id.starts_with("dcr-")),
        "nothing refused was registered"
    );

    // Management: only with the client's own registration access token, as the RFC says.
    let a = call(&server, "POST", "/register", Some(&initial), Some(&web_client()))
        .await
        .json;
    let b = call(&server, "POST", "/register", Some(&initial), Some(&web_client()))
        .await
        .json;
    let a_path = format!("/register/{}", a["client_id"].as_str().unwrap());
    let a_token = a["registration_access_token"].as_str().unwrap();
    let b_token = b["registration_access_token"].as_str().unwrap();
    for (name, token) in [
        ("another client's token", b_token),
        ("no such token", "x"),
        ("the initial token", initial.as_str()),
    ] {
        let r = call(&server, "GET", &a_path, Some(token), None).await;
        assert_eq!(
            (r.status, r.json["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            "{name}"
        );
    }
    assert_eq!(
        call(&server, "GET", "/register/dcr-nobody", Some(a_token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let mut update = web_client();
    update["client_id"] = b["client_id"].clone();
    let r = call(&server, "PUT", &a_path, Some(a_token), Some(&update)).await;
    assert_eq!(
        r.json["error"], "invalid_client_metadata",
        "another client_id: {}",
        r.body
    );
    update["client_id"] = a["client_id"].clone();
    update["registration_access_token"] = a_token.into();
    let r = call(&server, "PUT", &a_path, Some(a_token), Some(&update)).await;
    assert_eq!(
        r.json["error"], "invalid_client_metadata",
        "a server-only field: {}",
        r.body
    );
    update
        .as_object_mut()
        .unwrap()
        .remove("registration_access_token");
    update["client_secret"] = "not-the-secret".into();
    let r = call(&server, "PUT", &a_path, Some(a_token), Some(&update)).await;
    assert_eq!(
        r.json["error"], "invalid_client_metadata",
        "a wrong secret: {}",
        r.body
    );
    update.as_object_mut().unwrap().remove("client_secret");
    update["token_endpoint_auth_method"] = "none".into();
    let r = call(&server, "PUT", &a_path, Some(a_token), Some(&update)).await;
    assert_eq!(
        r.json["error"], "invalid_client_metadata",
        "confidential to public: {}",
        r.body
    );
    update["token_endpoint_auth_method"] = "client_secret_basic".into();
    update["redirect_uris"] = json!(["javascript:alert(1)//"]);
    let r = call(&server, "PUT", &a_path, Some(a_token), Some(&update)).await;
    assert_eq!(r.json["error"], "invalid_redirect_uri", "{}", r.body);
}

async fn software_statements_from_trusted_publishers_only(db: Db) {
    let publisher = SigningKey::generate(Algorithm::Es256).unwrap();
    let dir = crate::support::private_dir();
    let keys = dir.path().join("publishers.json");
    std::fs::write(
        &keys,
        json!({"keys": [publisher.public_jwk().to_json()]}).to_string(),
    )
    .unwrap();
    let server = server_on_with(db, |c| {
        enabled(c);
        c.registration.software_statement_keys = Some(keys.clone());
        c.registration.require_software_statement = true;
    })
    .await;
    let initial = initial_token(&server).await;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let statement =
        |key: &SigningKey, claims: Value| tessera_jose::jws::sign(key, Some("JWT"), &claims).unwrap();
    let good = json!({
        "iss": "https://publisher.example",
        "iat": now,
        "software_id": "mail-desktop",
        "client_name": "Mail, as the publisher names it",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    });
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let unsigned = format!(
        "{}.{}.",
        data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#),
        data_encoding::BASE64URL_NOPAD.encode(good.to_string().as_bytes())
    );
    let mut expired = good.clone();
    expired["exp"] = (now - 60).into();
    let mut no_iss = good.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("none at all", None, "invalid_software_statement"),
        (
            "signed by another key",
            Some(statement(&stranger, good.clone())),
            "unapproved_software_statement",
        ),
        ("alg none", Some(unsigned), "invalid_software_statement"),
        (
            "expired",
            Some(statement(&publisher, expired)),
            "invalid_software_statement",
        ),
        (
            "without iss",
            Some(statement(&publisher, no_iss)),
            "invalid_software_statement",
        ),
        (
            "not a JWT",
            Some("statement".into()),
            "invalid_software_statement",
        ),
    ];
    for (name, s, error) in cases {
        let mut body = json!({"client_name": "mine", "redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"});
        if let Some(s) = s {
            body["software_statement"] = s.into();
        }
        let reply = call(&server, "POST", "/register", Some(&initial), Some(&body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {}", reply.body);
        assert_eq!(reply.json["error"], error, "{name}: {}", reply.body);
    }

    // A trusted statement: its claims win over the request's, and it is returned as sent.
    let signed = statement(&publisher, good);
    let body = json!({"client_name": "what the client says", "redirect_uris": ["http://127.0.0.1/other"], "software_statement": signed});
    let made = call(&server, "POST", "/register", Some(&initial), Some(&body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.json["client_name"], "Mail, as the publisher names it");
    assert_eq!(made.json["redirect_uris"], json!(["http://127.0.0.1/callback"]));
    assert_eq!(made.json["token_endpoint_auth_method"], "none");
    assert_eq!(made.json["software_id"], "mail-desktop");
    assert_eq!(made.json["software_statement"], signed.as_str());
    assert!(
        made.json.get("client_secret").is_none(),
        "a public client has no secret"
    );
}

async fn open_registration_needs_no_initial_token(db: Db) {
    let server = server_on_with(db, |c| {
        enabled(c);
        c.registration.open = true;
    })
    .await;
    let body = json!({
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": true,
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let made = call(&server, "POST", "/register", None, Some(&body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let app = server
        .state
        .store
        .application(made.json["client_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(app.kind, AppKind::Public);
    assert!(app.require_dpop);
    assert_eq!(app.name, app.id, "no name given: the id");
    // Open or not, the rules are the same.
    let bad = call(
        &server,
        "POST",
        "/register",
        None,
        Some(&json!({"redirect_uris": ["javascript:x"]})),
    )
    .await;
    assert_eq!(bad.json["error"], "invalid_redirect_uri");
}
