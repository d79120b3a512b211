//! Token exchange (RFC 8693): the mail API exchanges alice's token for one to call the archive
//! API on her behalf; what the new token says, how a chain nests, how revocation reaches it,
//! and a table of everything the RFC and Tessera's rules refuse.

use serde_json::{Value, json};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Algorithm, Clock as _, SigningKey, SystemClock, jws};
use tessera_store::{AppKind, Application, Secret, SignInFilter, Timestamp};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{
    ALICE, Db, ISSUER, Reply, SECRET, Server, WEBAPP_CB, basic, server_on_with, token_request,
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The API alice's client calls.
const MAIL: &str = "https://mail.example";
/// The API the mail API calls for her.
const ARCHIVE: &str = "https://archive.example";

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
    an_api_exchanges_a_users_token_to_call_another_api,
    a_chain_names_every_actor,
    revocation_reaches_the_exchange_and_its_tokens,
    every_refusal_of_rfc_8693,
);

/// A server where `mail-api` serves the mail audience and may exchange for the archive, and
/// `archive-api` serves the archive and may exchange for the mail API.
async fn server(db: Db) -> Server {
    let s = server_on_with(db, |c| {
        c.introspection
            .resource_servers
            .insert("mail-api".into(), vec![MAIL.into()]);
        c.introspection
            .resource_servers
            .insert("archive-api".into(), vec![ARCHIVE.into()]);
        c.token_exchange
            .audiences
            .insert("mail-api".into(), vec![ARCHIVE.into()]);
        c.token_exchange
            .audiences
            .insert("archive-api".into(), vec![MAIL.into()]);
    })
    .await;
    let mut uow = s.state.store.begin().await.unwrap();
    for id in ["mail-api", "archive-api"] {
        uow.put_application(&Application {
            id: id.into(),
            name: id.into(),
            kind: AppKind::Confidential,
            secret_hash: Some(Secret::new(tessera_directory::secrets::hash_client_secret(
                SECRET,
            ))),
            redirect_uris: vec![],
            grant_types: vec![GRANT.into(), "client_credentials".into()],
            scopes: vec!["mail.read".into()],
            jwks: None,
            access_token_minutes: 15,
            refresh_token_days: 1,
            cae_capable: true,
            require_dpop: false,
            require_pushed_authorization_requests: false,
            backchannel_logout_uri: None,
            fapi2: false,
            created_at: Timestamp(0),
            changed_at: Timestamp(0),
        })
        .await
        .unwrap();
    }
    uow.commit().await.unwrap();
    s
}

/// Alice signs in at the web app for the mail API; her access token and its claims.
async fn alice_token(s: &Server) -> (String, Value) {
    let client = Client::new("webapp", WEBAPP_CB);
    let url = client
        .authorize_url(&format!("&resource={}", urlencode(MAIL)))
        .replace(
            "scope=openid%20profile%20email%20offline_access",
            "scope=openid%20mail.read%20mail.send",
        );
    let done = Browser::new(s).sign_in(&url, ALICE.0, ALICE.1).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(s, &code, true).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let token = tokens.json["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(s, &token);
    assert_eq!(claims["aud"], MAIL);
    (token, claims)
}

fn claims_of(s: &Server, token: &str) -> Value {
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, "").any_audience();
    verify(token, s.state.keys.published(), &rules, &SystemClock)
        .unwrap()
        .claims()
        .unwrap()
}

/// A token-exchange request by `client` with `params`, and a DPoP proof by `key` when given.
async fn exchange(s: &Server, client: &str, params: &[(&str, &str)], key: Option<&SigningKey>) -> Reply {
    let mut body = format!("grant_type={}", urlencode(GRANT));
    for (k, v) in params {
        body.push_str(&format!("&{k}={}", urlencode(v)));
    }
    let auth = basic(client, SECRET);
    let mut headers = vec![("authorization", auth)];
    if let Some(key) = key {
        let proof = tessera_jose::dpop::create_proof(
            key,
            "POST",
            &format!("{ISSUER}/token"),
            tessera_jose::dpop::ProofOptions::default(),
            &SystemClock,
            &tessera_jose::SystemRandom,
        )
        .unwrap();
        headers.push(("dpop", proof));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.send(token_request(&body, &headers)).await
}

/// The usual parameters: `subject` for the archive.
fn for_archive(subject: &str) -> Vec<(&str, &str)> {
    vec![
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", ARCHIVE),
    ]
}

async fn introspect(s: &Server, client: &str, token: &str) -> Value {
    let request = axum::http::Request::post("/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic(client, SECRET))
        .body(axum::body::Body::from(format!("token={token}")))
        .unwrap();
    s.send(request).await.json
}

async fn an_api_exchanges_a_users_token_to_call_another_api(db: Db) {
    let s = server(db).await;
    let (subject, subject_claims) = alice_token(&s).await;
    let api_key = SigningKey::generate(Algorithm::Es256).unwrap();
    let r = exchange(&s, "mail-api", &for_archive(&subject), Some(&api_key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.json["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(r.json["token_type"], "DPoP");
    // mail.send was granted to the web app, but the mail API may not pass it on.
    assert_eq!(r.json["scope"], "mail.read");
    assert!(r.json.get("refresh_token").is_none());
    let token = r.json["access_token"].as_str().unwrap();
    let claims = claims_of(&s, token);
    assert_eq!(claims["sub"], "u-alice");
    assert_eq!(claims["aud"], ARCHIVE);
    assert_eq!(claims["client_id"], "mail-api");
    assert_eq!(claims["act"], json!({"sub": "mail-api"}));
    assert_eq!(claims["sid"], subject_claims["sid"], "the session is carried");
    assert_eq!(
        claims["cnf"]["jkt"],
        api_key.thumbprint().as_str(),
        "bound to the API's key"
    );
    assert!(
        claims["exp"].as_i64() <= subject_claims["exp"].as_i64(),
        "no longer than the subject"
    );
    assert!(claims.get("device_id").is_none());
    assert!(claims.get("location_policies").is_none());

    // The archive API may introspect it, and sees the actor.
    let seen = introspect(&s, "archive-api", token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["act"], json!({"sub": "mail-api"}));

    // Without a proof the token is a Bearer token; a scope may be asked for, and `resource`
    // names the audience as well as `audience` does.
    let r = exchange(
        &s,
        "mail-api",
        &[
            ("subject_token", &subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("resource", ARCHIVE),
            ("audience", ARCHIVE),
            ("scope", "mail.read"),
            ("requested_token_type", ACCESS_TOKEN),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(
        claims_of(&s, r.json["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );

    // The client's own client-credentials token may come as the actor token.
    let own = s
        .send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &basic("mail-api", SECRET))],
        ))
        .await;
    let own = own.json["access_token"].as_str().unwrap();
    let mut params = for_archive(&subject);
    params.extend([("actor_token", own), ("actor_token_type", ACCESS_TOKEN)]);
    let r = exchange(&s, "mail-api", &params, None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The sign-in log says who exchanged whose token.
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
        .find(|e| e.details.value()["stage"] == GRANT)
        .expect("the exchange is logged");
    assert_eq!(entry.outcome, "success");
    assert_eq!(entry.client_id.as_deref(), Some("mail-api"));
    assert_eq!(entry.user_id.as_ref().map(|u| u.0.as_str()), Some("u-alice"));

    // Metadata lists the grant.
    let meta = s.get("/.well-known/openid-configuration").await.json;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
}

async fn a_chain_names_every_actor(db: Db) {
    let s = server(db).await;
    let (subject, _) = alice_token(&s).await;
    let first = exchange(&s, "mail-api", &for_archive(&subject), None).await;
    let first = first.json["access_token"].as_str().unwrap().to_owned();
    // The archive API, holding the token meant for it, calls the mail API back.
    let second = exchange(
        &s,
        "archive-api",
        &[
            ("subject_token", &first),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", MAIL),
        ],
        None,
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let claims = claims_of(&s, second.json["access_token"].as_str().unwrap());
    assert_eq!(
        claims["act"],
        json!({"sub": "archive-api", "act": {"sub": "mail-api"}}),
        "the current actor outermost (RFC 8693 §4.1)"
    );
    assert_eq!(claims["sub"], "u-alice");
}

async fn revocation_reaches_the_exchange_and_its_tokens(db: Db) {
    let s = server(db).await;
    let (subject, _) = alice_token(&s).await;
    let r = exchange(&s, "mail-api", &for_archive(&subject), None).await;
    let exchanged = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&s, "archive-api", &exchanged).await["active"], true);

    // Revoking alice's sessions ends the subject token, the exchanged one and any new exchange.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    s.state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .revoke_sessions(&"u-alice".into())
        .await
        .unwrap();
    assert_eq!(
        introspect(&s, "archive-api", &exchanged).await,
        json!({"active": false})
    );
    let r = exchange(&s, "mail-api", &for_archive(&subject), None).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (400, Some("invalid_request")),
        "{}",
        r.body
    );
    assert!(r.body.contains("revoked"), "{}", r.body);
    let refused = s
        .state
        .store
        .sign_ins(&SignInFilter {
            outcome: Some("refused".into()),
            limit: 5,
            ..SignInFilter::default()
        })
        .await
        .unwrap();
    assert!(
        refused.iter().any(|e| e.details.value()["stage"] == GRANT),
        "the refusal is logged"
    );

    // A disabled user's token cannot be exchanged either.
    let (subject, _) = alice_token(&s).await;
    s.state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .update_user(
            &"u-alice".into(),
            &tessera_directory::UserPatch {
                status: Some(tessera_store::UserStatus::Disabled),
                ..tessera_directory::UserPatch::default()
            },
        )
        .await
        .unwrap();
    let r = exchange(&s, "mail-api", &for_archive(&subject), None).await;
    assert_eq!(r.json["error"], "invalid_request", "{}", r.body);
}

/// A token signed with `key` (the server's own unless another is given) with `claims` over a
/// fresh user token's.
fn forged(s: &Server, base: &Value, changes: &Value, key: Option<&SigningKey>, typ: &str) -> String {
    let mut claims = base.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    jws::sign(key.unwrap_or(s.state.keys.active()), Some(typ), &claims).unwrap()
}

/// A refused exchange: what it is, the client, the parameters, the status and the error.
type Row<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, u16, &'a str);

async fn every_refusal_of_rfc_8693(db: Db) {
    let s = server(db).await;
    let (subject, base) = alice_token(&s).await;
    let now = SystemClock.now().unix_time().as_secs();
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let expired = forged(
        &s,
        &base,
        &json!({"iat": now - 600, "exp": now - 1}),
        None,
        "at+jwt",
    );
    let foreign = forged(&s, &base, &json!({}), Some(&stranger), "at+jwt");
    let for_another_api = forged(
        &s,
        &base,
        &json!({"aud": "https://elsewhere.example"}),
        None,
        "at+jwt",
    );
    let no_session = forged(&s, &base, &json!({"sid": null}), None, "at+jwt");
    let id_token = forged(&s, &base, &json!({}), None, "JWT");
    let unknown_user = forged(&s, &base, &json!({"sub": "u-nobody"}), None, "at+jwt");
    let long_chain = forged(
        &s,
        &base,
        &json!({"act": {"sub": "a", "act": {"sub": "b", "act": {"sub": "c", "act": {"sub": "d"}}}}}),
        None,
        "at+jwt",
    );
    let service_token = s
        .send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &basic("service", SECRET))],
        ))
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let with = |extra: &[(&'static str, &str)]| {
        let mut p: Vec<(&str, String)> = for_archive(&subject)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        for (k, v) in extra {
            match p.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = (*v).to_owned(),
                None => p.push((k, (*v).to_owned())),
            }
        }
        p
    };
    let without = |name: &str| -> Vec<(&str, String)> {
        for_archive(&subject)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .map(|(k, v)| (k, v.to_owned()))
            .collect()
    };
    let rows: Vec<Row> = vec![
        // RFC 8693 §2.1: the required parameters, and actor_token_type with actor_token only.
        (
            "no subject_token",
            "mail-api",
            without("subject_token"),
            400,
            "invalid_request",
        ),
        (
            "no subject_token_type",
            "mail-api",
            without("subject_token_type"),
            400,
            "invalid_request",
        ),
        (
            "a subject token type Tessera does not issue",
            "mail-api",
            with(&[("subject_token_type", "urn:ietf:params:oauth:token-type:saml2")]),
            400,
            "invalid_request",
        ),
        (
            "actor_token without actor_token_type",
            "mail-api",
            with(&[("actor_token", &service_token)]),
            400,
            "invalid_request",
        ),
        (
            "actor_token_type without actor_token",
            "mail-api",
            with(&[("actor_token_type", ACCESS_TOKEN)]),
            400,
            "invalid_request",
        ),
        (
            "an actor token of another client",
            "mail-api",
            with(&[
                ("actor_token", &service_token),
                ("actor_token_type", ACCESS_TOKEN),
            ]),
            400,
            "invalid_request",
        ),
        (
            "a refresh token asked for",
            "mail-api",
            with(&[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )]),
            400,
            "invalid_request",
        ),
        // §2.2.2: an invalid or unacceptable subject token is invalid_request.
        (
            "an expired subject token",
            "mail-api",
            with(&[("subject_token", &expired)]),
            400,
            "invalid_request",
        ),
        (
            "a subject token signed by a stranger",
            "mail-api",
            with(&[("subject_token", &foreign)]),
            400,
            "invalid_request",
        ),
        (
            "a subject token meant for another API",
            "mail-api",
            with(&[("subject_token", &for_another_api)]),
            400,
            "invalid_request",
        ),
        (
            "a token meant for the mail API, presented by the archive API",
            "archive-api",
            with(&[("audience", MAIL)]),
            400,
            "invalid_request",
        ),
        (
            "a client's own token as the subject",
            "mail-api",
            with(&[("subject_token", &no_session)]),
            400,
            "invalid_request",
        ),
        (
            "an ID token as the subject",
            "mail-api",
            with(&[("subject_token", &id_token)]),
            400,
            "invalid_request",
        ),
        (
            "a subject who does not exist",
            "mail-api",
            with(&[("subject_token", &unknown_user)]),
            400,
            "invalid_request",
        ),
        (
            "a chain that already names four actors",
            "mail-api",
            with(&[("subject_token", &long_chain)]),
            400,
            "invalid_request",
        ),
        (
            "not a token at all",
            "mail-api",
            with(&[("subject_token", "a.b.c")]),
            400,
            "invalid_request",
        ),
        // §2.2.2: invalid_target for an audience the client may not reach.
        (
            "no audience or resource",
            "mail-api",
            without("audience"),
            400,
            "invalid_request",
        ),
        (
            "an audience the client may not reach",
            "mail-api",
            with(&[("audience", "https://payroll.example")]),
            400,
            "invalid_target",
        ),
        (
            "two audiences",
            "mail-api",
            with(&[("resource", "https://payroll.example")]),
            400,
            "invalid_target",
        ),
        (
            "a resource that is not an absolute URI",
            "mail-api",
            with(&[("resource", "archive")]),
            400,
            "invalid_target",
        ),
        // RFC 6749 §5.2: no widening of scope.
        (
            "a scope beyond the subject token's",
            "mail-api",
            with(&[("scope", "mail.send")]),
            400,
            "invalid_scope",
        ),
        (
            "a scope the user never granted",
            "mail-api",
            with(&[("scope", "tessera.admin")]),
            400,
            "invalid_scope",
        ),
        // The client: confidential and given the grant.
        (
            "a client not given the grant",
            "service",
            with(&[]),
            400,
            "unauthorized_client",
        ),
    ];
    for (case, client, params, status, error) in &rows {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = exchange(&s, client, &params, None).await;
        assert_eq!(
            (r.status.as_u16(), r.json["error"].as_str().unwrap_or_default()),
            (*status, *error),
            "{case}: {}",
            r.body
        );
        assert!(r.json["error_description"].is_string(), "{case}: {}", r.body);
    }

    // A public client cannot be given the grant.
    let spec = tessera_directory::ApplicationSpec {
        kind: AppKind::Public,
        grant_types: vec![GRANT.into()],
        ..tessera_directory::ApplicationSpec::new("spa")
    };
    let problems = spec.validate().unwrap_err().to_string();
    assert!(problems.contains("cannot exchange tokens"), "{problems}");
}
