//! Conformance for the directory repositories, on both backends.

use std::sync::Arc;

use serde_json::json;
use tessera_store::*;

use crate::fixture::conformance;

conformance!(
    applications_round_trip,
    device_registration,
    mfa_methods_and_totp_replay,
    policies_and_named_locations,
    signing_key_rotation,
    server_secrets_are_created_once,
    authorization_codes_are_single_use,
    pushed_requests_open_once_and_serve_one_code,
    device_authorizations_are_answered_once_and_polled_politely,
    sign_in_log_filters_and_pages,
    stream_subjects_and_verification_rate,
    back_channel_logouts_are_owed_by_revocations_and_claimed_with_a_lease,
);

const T0: Timestamp = Timestamp(1_700_000_000_000);

async fn user(s: &Arc<dyn Store>, id: &str) {
    let mut uow = s.begin().await.unwrap();
    uow.insert_user(&NewUser {
        id: id.into(),
        username: id.into(),
        email: None,
        display_name: id.into(),
        password_hash: None,
        created_at: T0,
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
}

fn app(id: &str, kind: AppKind, secret: Option<&str>) -> Application {
    Application {
        id: id.into(),
        name: format!("{id} app"),
        kind,
        secret_hash: secret.map(Secret::new),
        redirect_uris: vec![
            "http://127.0.0.1/callback".into(),
            "https://app.example/cb".into(),
        ],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "mail.read".into()],
        jwks: None,
        access_token_minutes: 60,
        refresh_token_days: 90,
        cae_capable: true,
        require_dpop: kind == AppKind::Public,
        require_pushed_authorization_requests: kind == AppKind::Confidential,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: T0,
        changed_at: T0,
    }
}

async fn applications_round_trip(s: Arc<dyn Store>) {
    let mut uow = s.begin().await.unwrap();
    uow.put_application(&app("desktop", AppKind::Public, None))
        .await
        .unwrap();
    uow.put_application(&app("api", AppKind::Confidential, Some("$argon2id$hash")))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let desktop = s.application("desktop").await.unwrap();
    assert_eq!(desktop, app("desktop", AppKind::Public, None));
    assert!(desktop.require_dpop && desktop.cae_capable);
    assert_eq!(
        format!("{:?}", s.application("api").await.unwrap().secret_hash),
        "Some(Secret([redacted]))"
    );

    let mut changed = app("desktop", AppKind::Public, None);
    changed.redirect_uris = vec!["http://127.0.0.1:8400/cb".into()];
    changed.refresh_token_days = 14;
    changed.changed_at = T0.plus_ms(1);
    let mut uow = s.begin().await.unwrap();
    uow.put_application(&changed).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        s.application("desktop").await.unwrap().redirect_uris,
        ["http://127.0.0.1:8400/cb"]
    );
    assert_eq!(
        s.applications()
            .await
            .unwrap()
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["api", "desktop"]
    );

    // A confidential client needs a secret or keys.
    let mut uow = s.begin().await.unwrap();
    let err = uow
        .put_application(&app("broken", AppKind::Confidential, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    drop(uow);

    let mut uow = s.begin().await.unwrap();
    uow.delete(Table::Applications, "api").await.unwrap();
    uow.commit().await.unwrap();
    assert!(matches!(
        s.application("api").await,
        Err(StoreError::NotFound("application"))
    ));
}

pub fn device(id: &str, user: &str, jkt: &str) -> Device {
    Device {
        id: id.into(),
        user_id: user.into(),
        display_name: "Alice's laptop".into(),
        platform: "windows".into(),
        os_version: Some("11.0.26100".into()),
        trust_type: TrustType::Registered,
        compliance: Compliance::Unknown,
        status: DeviceStatus::Enabled,
        public_jwk: json!({"kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}),
        jkt: jkt.into(),
        key_protection: KeyProtection::Software,
        key_attestation: None,
        created_at: T0,
        last_seen_at: None,
    }
}

async fn device_registration(s: Arc<dyn Store>) {
    user(&s, "alice").await;
    let mut uow = s.begin().await.unwrap();
    uow.insert_device(&device("d1", "alice", "jkt-1")).await.unwrap();
    uow.insert_device(&device("d2", "alice", "jkt-2")).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.device("d1").await.unwrap(), device("d1", "alice", "jkt-1"));
    // What attestation showed comes back as it went in.
    let attested = Device {
        key_protection: KeyProtection::Attested,
        key_attestation: Some(KeyAttestation {
            format: "tpm2".into(),
            manufacturer: Some("IFX".into()),
            firmware: Some("7.2".into()),
            ..KeyAttestation::default()
        }),
        ..device("d9", "alice", "jkt-9")
    };
    let mut uow = s.begin().await.unwrap();
    uow.insert_device(&attested).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.device_by_jkt("jkt-9").await.unwrap(), attested);
    assert_eq!(s.device_by_jkt("jkt-2").await.unwrap().id, "d2");
    assert_eq!(s.devices_of(&"alice".into()).await.unwrap().len(), 3);
    let listed = s.devices(None, 1).await.unwrap();
    assert_eq!(listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["d1"]);
    let rest = s.devices(Some("d1"), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d2", "d9"]
    );

    // The same key cannot be registered twice, and a device needs an existing owner.
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.insert_device(&device("d3", "alice", "jkt-1")).await,
        Err(StoreError::Conflict("device"))
    ));
    drop(uow);
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.insert_device(&device("d4", "ghost", "jkt-4")).await,
        Err(StoreError::MissingReference(_))
    ));
    drop(uow);

    let mut uow = s.begin().await.unwrap();
    let changed = uow
        .update_device(
            "d1",
            DeviceChange {
                compliance: Some(Compliance::Compliant),
                status: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.compliance, changed.status),
        (Compliance::Compliant, DeviceStatus::Enabled)
    );
    uow.commit().await.unwrap();
    s.touch_device("d1", T0.plus_ms(7)).await.unwrap();
    assert_eq!(s.device("d1").await.unwrap().last_seen_at, Some(T0.plus_ms(7)));
    assert!(matches!(
        s.touch_device("nope", T0).await,
        Err(StoreError::NotFound("device"))
    ));

    let mut uow = s.begin().await.unwrap();
    uow.delete_user(&"alice".into()).await.unwrap();
    uow.commit().await.unwrap();
    assert!(
        s.devices_of(&"alice".into()).await.unwrap().is_empty(),
        "devices go with their owner"
    );
}

async fn mfa_methods_and_totp_replay(s: Arc<dyn Store>) {
    user(&s, "alice").await;
    let totp = MfaMethod {
        id: "m1".into(),
        user_id: "alice".into(),
        kind: MfaKind::Totp,
        label: "Authenticator".into(),
        secret: Secret::new("JBSWY3DPEHPK3PXP"),
        created_at: T0,
        last_used_at: None,
    };
    let passkey = MfaMethod {
        id: "m2".into(),
        kind: MfaKind::Passkey,
        secret: Secret::new("{}"),
        ..totp.clone()
    };
    let mut uow = s.begin().await.unwrap();
    uow.add_mfa_method(&totp).await.unwrap();
    uow.add_mfa_method(&passkey).await.unwrap();
    uow.commit().await.unwrap();
    let methods = s.mfa_methods_of(&"alice".into()).await.unwrap();
    assert_eq!(methods, [totp.clone(), passkey]);
    assert!(
        !format!("{methods:?}").contains("JBSWY3DPEHPK3PXP"),
        "secrets never in Debug"
    );

    assert!(s.use_totp_step("m1", 5, T0).await.unwrap());
    assert!(
        !s.use_totp_step("m1", 5, T0).await.unwrap(),
        "the same code twice"
    );
    assert!(!s.use_totp_step("m1", 4, T0).await.unwrap(), "an older code");
    assert!(s.use_totp_step("m1", 6, T0.plus_ms(30_000)).await.unwrap());
    assert!(!s.use_totp_step("m2", 7, T0).await.unwrap(), "not a TOTP method");

    // A passkey's use: the credential record changes only when given; the time always.
    s.use_passkey("m2", None, T0.plus_ms(1)).await.unwrap();
    s.use_passkey("m2", Some(r#"{"counter":2}"#), T0.plus_ms(2))
        .await
        .unwrap();
    let m2 = s.mfa_methods_of(&"alice".into()).await.unwrap().pop().unwrap();
    assert_eq!(
        (m2.secret.expose(), m2.last_used_at),
        (r#"{"counter":2}"#, Some(T0.plus_ms(2)))
    );
    assert!(
        matches!(s.use_passkey("m1", None, T0).await, Err(StoreError::NotFound(_))),
        "not a passkey"
    );

    let mut uow = s.begin().await.unwrap();
    uow.delete(Table::MfaMethods, "m1").await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.mfa_methods_of(&"alice".into()).await.unwrap().len(), 1);
}

async fn policies_and_named_locations(s: Arc<dyn Store>) {
    let doc = json!({"id": "p1", "displayName": "Require MFA", "state": "enabled"});
    let policy = PolicyRecord {
        id: "p1".into(),
        state: "enabled".into(),
        document: doc,
        changed_at: T0,
    };
    let office = NamedLocationRecord {
        id: "office".into(),
        display_name: "Office".into(),
        ip_ranges: vec!["203.0.113.0/24".into(), "2001:db8::/48".into()],
        trusted: true,
        changed_at: T0,
    };
    let mut uow = s.begin().await.unwrap();
    uow.put_policy(&policy).await.unwrap();
    uow.put_named_location(&office).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.policy("p1").await.unwrap(), policy);
    assert_eq!(s.named_locations().await.unwrap(), [office]);

    let report_only = PolicyRecord {
        state: "enabledForReportingButNotEnforced".into(),
        changed_at: T0.plus_ms(1),
        ..policy
    };
    let mut uow = s.begin().await.unwrap();
    uow.put_policy(&report_only).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.policies().await.unwrap(), std::slice::from_ref(&report_only));

    let mut uow = s.begin().await.unwrap();
    let bad = PolicyRecord {
        state: "on".into(),
        ..report_only
    };
    assert!(matches!(uow.put_policy(&bad).await, Err(StoreError::Invalid(_))));
    drop(uow);
    let mut uow = s.begin().await.unwrap();
    uow.delete(Table::Policies, "p1").await.unwrap();
    uow.delete(Table::NamedLocations, "office").await.unwrap();
    uow.commit().await.unwrap();
    assert!(s.policies().await.unwrap().is_empty());
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.delete(Table::Policies, "p1").await,
        Err(StoreError::NotFound("policy"))
    ));
}

fn key(kid: &str, status: KeyStatus, at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_jwk: Secret::new(format!("{{\"d\":\"{kid}\"}}")),
        public_jwk: json!({"kid": kid}),
        status,
        created_at: T0.plus_ms(at),
        changed_at: T0.plus_ms(at),
    }
}

async fn signing_key_rotation(s: Arc<dyn Store>) {
    assert_eq!(s.promote_next_key(T0).await.unwrap(), None, "nothing to promote");
    s.insert_key(&key("k1", KeyStatus::Active, 0)).await.unwrap();
    s.insert_key(&key("k2", KeyStatus::Next, 1)).await.unwrap();
    assert!(
        matches!(
            s.insert_key(&key("k3", KeyStatus::Active, 2)).await,
            Err(StoreError::Conflict(_))
        ),
        "one active key"
    );
    assert_eq!(
        s.promote_next_key(T0.plus_ms(10)).await.unwrap().as_deref(),
        Some("k2")
    );
    let keys = s.keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.status))
            .collect::<Vec<_>>(),
        [("k1", KeyStatus::Retired), ("k2", KeyStatus::Active)]
    );
    assert_eq!(s.promote_next_key(T0.plus_ms(20)).await.unwrap(), None);
    assert_eq!(
        s.keys().await.unwrap()[1].status,
        KeyStatus::Active,
        "no next key: the active one stays"
    );
    assert_eq!(
        s.delete_retired_keys(T0.plus_ms(10)).await.unwrap(),
        0,
        "retired at the cutoff: kept"
    );
    assert_eq!(s.delete_retired_keys(T0.plus_ms(11)).await.unwrap(), 1);
    assert!(
        !format!("{:?}", s.keys().await.unwrap()).contains("\"d\""),
        "private keys never in Debug"
    );
    s.reseal_key("k2", &Secret::new("kek1.sealed")).await.unwrap();
    assert_eq!(s.keys().await.unwrap()[0].private_jwk.expose(), "kek1.sealed");
    assert!(matches!(
        s.reseal_key("k1", &Secret::new("x")).await,
        Err(StoreError::NotFound("signing key"))
    ));
}

async fn authorization_codes_are_single_use(s: Arc<dyn Store>) {
    user(&s, "alice").await;
    let code = |h: u8, expires: i64| NewCode {
        hash: vec![h; 32],
        client_id: "desktop".into(),
        user_id: "alice".into(),
        grant: json!({"redirect_uri": "http://127.0.0.1/cb", "code_challenge": "abc", "scope": "openid"}),
        created_at: T0,
        expires_at: T0.plus_ms(expires),
    };
    s.insert_code(&code(1, 60_000)).await.unwrap();
    s.insert_code(&code(2, 60_000)).await.unwrap();
    s.insert_code(&code(3, 1)).await.unwrap();
    assert!(matches!(
        s.insert_code(&code(1, 60_000)).await,
        Err(StoreError::Conflict(_))
    ));

    let first = s.redeem_code(&[1; 32], T0.plus_ms(5)).await.unwrap();
    let Redemption::Redeemed {
        client_id,
        user_id,
        grant,
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(
        (client_id.as_str(), user_id.0.as_str(), &grant["code_challenge"]),
        ("desktop", "alice", &json!("abc"))
    );
    s.attach_session(&[1; 32], &"s-1".into()).await.unwrap();
    assert_eq!(
        s.redeem_code(&[1; 32], T0.plus_ms(6)).await.unwrap(),
        Redemption::Reused {
            session_id: Some("s-1".into())
        }
    );
    assert_eq!(
        s.redeem_code(&[3; 32], T0.plus_ms(2)).await.unwrap(),
        Redemption::Expired
    );
    assert_eq!(s.redeem_code(&[9; 32], T0).await.unwrap(), Redemption::Unknown);

    // Racing redemptions: exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.redeem_code(&[2; 32], T0.plus_ms(1)).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Redemption::Redeemed { .. }) {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    // Pruning forgets codes expired before the instant given, redeemed or not, and no others.
    assert_eq!(s.prune_codes(T0.plus_ms(1)).await.unwrap(), 0);
    assert_eq!(s.prune_codes(T0.plus_ms(2)).await.unwrap(), 1, "code 3");
    assert_eq!(
        s.prune_codes(T0.plus_ms(60_001)).await.unwrap(),
        2,
        "codes 1 and 2"
    );
    assert_eq!(
        s.redeem_code(&[1; 32], T0.plus_ms(7)).await.unwrap(),
        Redemption::Unknown
    );
}

async fn pushed_requests_open_once_and_serve_one_code(s: Arc<dyn Store>) {
    let pushed = |h: u8, lifetime: i64| NewPushedRequest {
        hash: vec![h; 32],
        client_id: "web".into(),
        params: json!({"response_type": "code", "redirect_uri": "https://app.example/cb"}),
        created_at: T0,
        expires_at: T0.plus_ms(lifetime),
    };
    s.insert_pushed_request(&pushed(1, 60_000)).await.unwrap();
    s.insert_pushed_request(&pushed(2, 60_000)).await.unwrap();
    s.insert_pushed_request(&pushed(3, 60_000)).await.unwrap();
    assert!(matches!(
        s.insert_pushed_request(&pushed(1, 60_000)).await,
        Err(StoreError::Conflict(_))
    ));
    let sign_in_window = T0.plus_ms(600_000);

    // The first opening extends the lifetime; later ones do not shorten or extend it again.
    let opened = s
        .open_pushed_request(&[1; 32], T0.plus_ms(59_000), sign_in_window)
        .await
        .unwrap();
    assert_eq!(
        opened,
        PushedLookup::Open {
            client_id: "web".into(),
            params: json!({"response_type": "code", "redirect_uri": "https://app.example/cb"}),
            created_at: T0,
        }
    );
    let later = s
        .open_pushed_request(&[1; 32], T0.plus_ms(300_000), T0.plus_ms(900_000))
        .await
        .unwrap();
    assert!(matches!(later, PushedLookup::Open { .. }), "{later:?}");
    assert_eq!(
        s.open_pushed_request(&[1; 32], T0.plus_ms(600_001), T0.plus_ms(1_200_000))
            .await
            .unwrap(),
        PushedLookup::Expired,
        "the sign-in window is counted from the first opening only"
    );

    // Never opened within its push lifetime: expired.
    assert_eq!(
        s.open_pushed_request(&[2; 32], T0.plus_ms(60_001), sign_in_window)
            .await
            .unwrap(),
        PushedLookup::Expired
    );
    assert_eq!(
        s.open_pushed_request(&[9; 32], T0, sign_in_window).await.unwrap(),
        PushedLookup::Unknown
    );

    // One code per request, even when raced.
    s.open_pushed_request(&[3; 32], T0.plus_ms(1), sign_in_window)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.use_pushed_request(&[3; 32], T0.plus_ms(2)).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(
        s.open_pushed_request(&[3; 32], T0.plus_ms(3), sign_in_window)
            .await
            .unwrap(),
        PushedLookup::Used
    );

    // Pruning removes what has expired and nothing else.
    assert_eq!(s.prune_pushed_requests(T0.plus_ms(60_001)).await.unwrap(), 1);
    assert_eq!(s.prune_pushed_requests(T0.plus_ms(700_000)).await.unwrap(), 2);
    assert_eq!(
        s.open_pushed_request(&[3; 32], T0.plus_ms(700_000), sign_in_window)
            .await
            .unwrap(),
        PushedLookup::Unknown
    );
}

async fn device_authorizations_are_answered_once_and_polled_politely(s: Arc<dyn Store>) {
    user(&s, "alice").await;
    let asked = |h: u8, code: &str| NewDeviceAuthorization {
        hash: vec![h; 32],
        user_code: code.into(),
        client_id: "tv".into(),
        request: json!({"scope": "openid"}),
        created_at: T0,
        expires_at: T0.plus_ms(600_000),
        interval_ms: 5_000,
    };
    s.insert_device_authorization(&asked(1, "BCDFGHJK"))
        .await
        .unwrap();
    s.insert_device_authorization(&asked(2, "LMNPQRST"))
        .await
        .unwrap();
    assert!(
        matches!(
            s.insert_device_authorization(&asked(3, "BCDFGHJK")).await,
            Err(StoreError::Conflict(_))
        ),
        "user codes are unique"
    );
    let found = s.device_authorization("BCDFGHJK").await.unwrap();
    assert_eq!(
        (found.hash, found.status),
        (vec![1; 32], DeviceGrantStatus::Pending)
    );
    assert!(matches!(
        s.device_authorization("ZZZZZZZZ").await,
        Err(StoreError::NotFound(_))
    ));

    // The first poll may come at once; the next before five seconds is told to slow down, and
    // the interval grows by five seconds from that poll.
    let pending = DevicePoll::Pending;
    let slow = DevicePoll::SlowDown;
    assert_eq!(
        s.poll_device_authorization(&[1; 32], "tv", T0).await.unwrap(),
        pending
    );
    assert_eq!(
        s.poll_device_authorization(&[1; 32], "tv", T0.plus_ms(4_000))
            .await
            .unwrap(),
        slow
    );
    assert_eq!(
        s.poll_device_authorization(&[1; 32], "tv", T0.plus_ms(13_000))
            .await
            .unwrap(),
        slow,
        "now 10 s apart"
    );
    assert_eq!(
        s.poll_device_authorization(&[1; 32], "tv", T0.plus_ms(28_000))
            .await
            .unwrap(),
        pending
    );
    assert_eq!(
        s.poll_device_authorization(&[9; 32], "tv", T0).await.unwrap(),
        DevicePoll::Unknown
    );

    // One answer; one redemption.
    let approve = DeviceDecision::Approve {
        user_id: "alice".into(),
        approval: json!({"ip": "192.0.2.1"}),
    };
    assert!(
        s.decide_device_authorization("BCDFGHJK", &approve, T0.plus_ms(30_000))
            .await
            .unwrap()
    );
    assert!(
        !s.decide_device_authorization("BCDFGHJK", &DeviceDecision::Deny, T0.plus_ms(30_001))
            .await
            .unwrap()
    );
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.poll_device_authorization(&[1; 32], "tv", T0.plus_ms(60_000))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut approved = 0;
    for t in tasks {
        match t.await.unwrap() {
            DevicePoll::Approved {
                user_id,
                approval,
                request,
                ..
            } => {
                assert_eq!(
                    (user_id.0.as_str(), &approval["ip"], &request["scope"]),
                    ("alice", &json!("192.0.2.1"), &json!("openid"))
                );
                approved += 1;
            }
            other => assert_eq!(other, DevicePoll::Redeemed),
        }
    }
    assert_eq!(approved, 1);

    assert!(
        s.decide_device_authorization("LMNPQRST", &DeviceDecision::Deny, T0.plus_ms(1))
            .await
            .unwrap()
    );
    assert_eq!(
        s.poll_device_authorization(&[2; 32], "tv", T0.plus_ms(10_000))
            .await
            .unwrap(),
        DevicePoll::Denied
    );
    s.insert_device_authorization(&NewDeviceAuthorization {
        expires_at: T0.plus_ms(1),
        ..asked(4, "VWXZBCDF")
    })
    .await
    .unwrap();
    assert!(
        !s.decide_device_authorization("VWXZBCDF", &approve, T0.plus_ms(2))
            .await
            .unwrap(),
        "expired"
    );
    assert_eq!(
        s.poll_device_authorization(&[4; 32], "tv", T0.plus_ms(2))
            .await
            .unwrap(),
        DevicePoll::Expired
    );
    assert_eq!(s.prune_device_authorizations(T0.plus_ms(2)).await.unwrap(), 1);
}

async fn sign_in_log_filters_and_pages(s: Arc<dyn Store>) {
    for (i, (user, outcome)) in [
        ("alice", "success"),
        ("bob", "failure"),
        ("alice", "failure"),
        ("alice", "success"),
        ("bob", "success"),
    ]
    .into_iter()
    .enumerate()
    {
        s.append_sign_in(&SignInLog {
            id: format!("log-{i}"),
            at: T0.plus_ms(i as i64 / 2), // pairs share a millisecond, so paging must use the id too
            user_id: Some(user.into()),
            client_id: Some("desktop".into()),
            ip: "203.0.113.9".into(),
            outcome: outcome.into(),
            token_protection: if i == 2 {
                "replayBlocked".into()
            } else {
                "bound".into()
            },
            device_id: Some("d1".into()),
            jkt: None,
            error: (outcome == "failure").then(|| "invalid_grant".into()),
            details: json!({"policies": [{"id": "tp", "result": "failure"}]}).into(),
        })
        .await
        .unwrap();
    }
    let ids = |v: Vec<SignInLog>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
    let all = SignInFilter {
        limit: 100,
        ..SignInFilter::default()
    };
    assert_eq!(
        ids(s.sign_ins(&all).await.unwrap()),
        ["log-4", "log-3", "log-2", "log-1", "log-0"]
    );
    let alice = SignInFilter {
        user_id: Some("alice".into()),
        limit: 100,
        ..SignInFilter::default()
    };
    assert_eq!(
        ids(s.sign_ins(&alice).await.unwrap()),
        ["log-3", "log-2", "log-0"]
    );
    let failures = SignInFilter {
        outcome: Some("failure".into()),
        limit: 100,
        ..SignInFilter::default()
    };
    assert_eq!(ids(s.sign_ins(&failures).await.unwrap()), ["log-2", "log-1"]);
    // Paging: two at a time, continuing after the last entry seen.
    let mut page = SignInFilter {
        limit: 2,
        ..SignInFilter::default()
    };
    let mut seen = Vec::new();
    loop {
        let batch = s.sign_ins(&page).await.unwrap();
        let Some(last) = batch.last() else { break };
        page.before = Some((last.at, last.id.clone()));
        seen.extend(ids(batch));
    }
    assert_eq!(seen, ["log-4", "log-3", "log-2", "log-1", "log-0"]);
    let one = s.sign_in("log-2").await.unwrap();
    assert_eq!(
        (one.token_protection.as_str(), one.error.as_deref()),
        ("replayBlocked", Some("invalid_grant"))
    );
    assert!(matches!(s.sign_in("nope").await, Err(StoreError::NotFound(_))));
}

async fn stream_subjects_and_verification_rate(s: Arc<dyn Store>) {
    let mut uow = s.begin().await.unwrap();
    for (id, receiver) in [("s1", "mail-api"), ("s2", "mail-api"), ("s3", "other")] {
        uow.put_stream(
            &id.into(),
            receiver,
            StreamStatus::Enabled,
            &json!({"aud": receiver}),
            T0,
        )
        .await
        .unwrap();
    }
    uow.commit().await.unwrap();
    let mine = s.streams_of("mail-api").await.unwrap();
    assert_eq!(
        mine.iter().map(|r| r.id.0.as_str()).collect::<Vec<_>>(),
        ["s1", "s2"],
        "receivers see only their own"
    );
    assert_eq!(
        s.stream(&"s3".into()).await.unwrap().config,
        json!({"aud": "other"})
    );

    let alice = json!({"format": "iss_sub", "iss": "https://idp.example", "sub": "alice"});
    let same_reordered: serde_json::Value =
        serde_json::from_str(r#"{"sub":"alice","iss":"https://idp.example","format":"iss_sub"}"#).unwrap();
    assert!(s.add_subject(&"s1".into(), &alice, T0).await.unwrap());
    assert!(
        !s.add_subject(&"s1".into(), &same_reordered, T0).await.unwrap(),
        "the same subject, members reordered"
    );
    assert!(
        s.add_subject(
            &"s1".into(),
            &json!({"format": "email", "email": "bob@example.com"}),
            T0
        )
        .await
        .unwrap()
    );
    assert_eq!(s.subjects(&"s1".into()).await.unwrap().len(), 2);
    assert!(s.remove_subject(&"s1".into(), &same_reordered).await.unwrap());
    assert!(!s.remove_subject(&"s1".into(), &alice).await.unwrap());
    assert!(matches!(
        s.add_subject(&"nope".into(), &alice, T0).await,
        Err(StoreError::MissingReference(_))
    ));

    let minute = 60_000;
    assert!(s.record_verification(&"s1".into(), T0, minute).await.unwrap());
    assert!(
        !s.record_verification(&"s1".into(), T0.plus_ms(59_999), minute)
            .await
            .unwrap(),
        "too soon: 429"
    );
    assert!(
        s.record_verification(&"s1".into(), T0.plus_ms(60_000), minute)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.record_verification(&"nope".into(), T0, minute).await,
        Err(StoreError::NotFound("stream"))
    ));

    let mut uow = s.begin().await.unwrap();
    uow.delete(Table::Streams, "s1").await.unwrap();
    uow.commit().await.unwrap();
    assert!(matches!(
        s.stream(&"s1".into()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn server_secrets_are_created_once(s: Arc<dyn Store>) {
    let first = s
        .server_secret("dpop-nonce", &Secret::new("one"), T0)
        .await
        .unwrap();
    assert_eq!(first.expose(), "one");
    // A second node asking with its own candidate gets the first one.
    let again = s
        .server_secret("dpop-nonce", &Secret::new("two"), T0)
        .await
        .unwrap();
    assert_eq!(again.expose(), "one");
    let other = s
        .server_secret("another", &Secret::new("three"), T0)
        .await
        .unwrap();
    assert_eq!(other.expose(), "three");
}

/// A session of `user` at `client`, started from browser session `browser`, whose refresh
/// token hashes to `[n; 32]`.
async fn logout_session(
    s: &Arc<dyn Store>,
    user: &str,
    client: &str,
    id: &str,
    browser: Option<&str>,
    n: u8,
) {
    s.start_session(
        &NewSession {
            id: id.into(),
            user_id: user.into(),
            client_id: client.into(),
            device_id: None,
            jkt: None,
            browser_sid: browser.map(str::to_owned),
            created_at: T0,
        },
        &NewFamily {
            id: id.into(),
            token_hash: vec![n; 32],
            expires_at: T0.plus_ms(86_400_000),
            grant: json!({}),
        },
    )
    .await
    .unwrap();
}

async fn back_channel_logouts_are_owed_by_revocations_and_claimed_with_a_lease(s: Arc<dyn Store>) {
    user(&s, "alice").await;
    let mut uow = s.begin().await.unwrap();
    uow.put_application(&Application {
        backchannel_logout_uri: Some("https://rp.example/logout".into()),
        ..app("rp", AppKind::Confidential, Some("h"))
    })
    .await
    .unwrap();
    uow.put_application(&app("quiet", AppKind::Confidential, Some("h")))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        s.application("rp")
            .await
            .unwrap()
            .backchannel_logout_uri
            .as_deref(),
        Some("https://rp.example/logout")
    );
    logout_session(&s, "alice", "rp", "s1", Some("b1"), 1).await;
    logout_session(&s, "alice", "rp", "s2", Some("b1"), 2).await;
    logout_session(&s, "alice", "quiet", "s3", Some("b1"), 3).await;
    logout_session(&s, "alice", "rp", "s4", None, 4).await;
    let lease = std::time::Duration::from_secs(30);
    let now = T0.plus_ms(1000);

    // Revoking a family owes its client one logout; revoking it again owes nothing more.
    for _ in 0..2 {
        let mut uow = s.begin().await.unwrap();
        uow.revoke_family(&"s4".into(), "token replay", now)
            .await
            .unwrap();
        uow.commit().await.unwrap();
    }
    assert_eq!(s.unsettled_logouts().await.unwrap(), 1);

    // A claim is the claimer's until its lease ends; then anyone's.
    let a = s.claim_logouts("worker-a", 10, now, lease).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].client_id, "rp");
    assert_eq!(a[0].uri, "https://rp.example/logout");
    assert_eq!(a[0].session_id.0, "s4");
    assert_eq!(a[0].user_id.0, "alice");
    assert_eq!(a[0].reason, "token replay");
    assert_eq!(a[0].attempts, 0);
    assert!(
        s.claim_logouts("worker-b", 10, now, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now.plus_ms(30_000);
    let b = s.claim_logouts("worker-b", 10, later, lease).await.unwrap();
    assert_eq!(b.len(), 1, "the lease ended");

    // A failed attempt waits until its time, counted.
    s.retry_logout(b[0].id, "the client answered 503", later.plus_ms(1000))
        .await
        .unwrap();
    assert!(
        s.claim_logouts("worker-b", 10, later, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s
        .claim_logouts("worker-b", 10, later.plus_ms(1000), lease)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 1);
    s.settle_logout(again[0].id, LogoutOutcome::Delivered, None, later.plus_ms(1000))
        .await
        .unwrap();
    assert_eq!(s.unsettled_logouts().await.unwrap(), 0);
    assert!(
        s.claim_logouts("worker-b", 10, later.plus_ms(99_000), lease)
            .await
            .unwrap()
            .is_empty()
    );

    // Signing out of browser session b1 ends its sessions: the live ones of a client that
    // takes logout tokens are owed one each.
    let mut uow = s.begin().await.unwrap();
    let ended = uow.end_browser_session("b1", "signed out", now).await.unwrap();
    assert_eq!(
        ended,
        [
            SessionId::from("s1"),
            SessionId::from("s2"),
            SessionId::from("s3")
        ]
    );
    uow.commit().await.unwrap();
    let owed = s
        .claim_logouts("worker-a", 10, later.plus_ms(2000), lease)
        .await
        .unwrap();
    let sessions: Vec<&str> = owed.iter().map(|d| d.session_id.0.as_str()).collect();
    assert_eq!(sessions, ["s1", "s2"]);
    for sid in ["s1", "s2", "s3", "b1"] {
        assert_eq!(
            s.not_before(SubjectKind::Session, sid).await.unwrap(),
            Some(now),
            "{sid}"
        );
    }
    assert!(s.family_by_token(&[1; 32]).await.unwrap().revoked_at.is_some());

    // Nothing is owed twice: alice's sessions are all ended already.
    let mut uow = s.begin().await.unwrap();
    uow.revoke_user_sessions(&"alice".into(), "revoked by an administrator", now)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.unsettled_logouts().await.unwrap(), 2);

    // A new session revoked with the user is owed one.
    logout_session(&s, "alice", "rp", "s5", None, 5).await;
    let mut uow = s.begin().await.unwrap();
    uow.revoke_user_sessions(&"alice".into(), "the user was deleted", now.plus_ms(1))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(s.unsettled_logouts().await.unwrap(), 3);

    // Settled deliveries are pruned after their time; unsettled ones never.
    for d in &owed {
        s.settle_logout(d.id, LogoutOutcome::Refused, Some("invalid_request"), later)
            .await
            .unwrap();
    }
    assert_eq!(s.prune_logouts(later).await.unwrap(), 0);
    assert_eq!(s.prune_logouts(later.plus_ms(1)).await.unwrap(), 2);
    assert_eq!(s.prune_logouts(later.plus_ms(1001)).await.unwrap(), 1);
    assert_eq!(s.unsettled_logouts().await.unwrap(), 1);

    // Workers claiming at once take disjoint deliveries.
    for n in 0..12u8 {
        logout_session(&s, "alice", "rp", &format!("c{n}"), None, 100 + n).await;
    }
    let mut uow = s.begin().await.unwrap();
    uow.revoke_user_sessions(&"alice".into(), "revoked by an administrator", now.plus_ms(2))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let claims = (0..4).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            s.claim_logouts(&format!("worker-{w}"), 5, later.plus_ms(5000), lease)
                .await
                .unwrap()
        })
    });
    let mut ids: Vec<i64> = Vec::new();
    for claim in claims {
        ids.extend(claim.await.unwrap().iter().map(|d| d.id));
    }
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no delivery claimed twice");
    assert_eq!(total, 13, "the twelve and the one owed before");
}
