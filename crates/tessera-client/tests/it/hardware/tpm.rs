//! Device keys in a (software) TPM: made and used inside it, useless elsewhere, attested to
//! the IdP.

use tessera_client::{KeyProtection, KeyStore as _, TpmKeyStore};

use tessera_client::SoftwareTpm;

#[test]
fn a_tpm_key_signs_inside_the_tpm_and_its_files_are_useless_elsewhere() {
    let tpm = SoftwareTpm::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    let key = store.load_or_create("laptop").unwrap();
    assert_eq!(
        key.protection(),
        KeyProtection::Hardware(tessera_client::HardwareKind::Tpm2)
    );
    super::assert_signs_verifiable_proofs(key.as_ref());
    let again = store.load_or_create("laptop").unwrap();
    assert_eq!(again.thumbprint(), key.thumbprint());
    let blob = std::fs::read_to_string(dir.path().join("laptop/tpm-device-key.json")).unwrap();
    assert!(!blob.contains("\"d\""), "no private scalar on disk");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("laptop/tpm-device-key.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Every file of the client, copied to a machine with another TPM, loads nothing.
    let other = SoftwareTpm::start().unwrap();
    let thief = TpmKeyStore::new(dir.path(), other.config().unwrap());
    let e = thief.load_or_create("laptop").unwrap_err();
    assert!(e.to_string().contains("another TPM"), "{e}");
}

/// Whether alice has no registered device.
async fn no_device_registered(world: &crate::World) -> bool {
    world
        .state
        .store
        .devices_of(&world.alice)
        .await
        .unwrap()
        .is_empty()
}

/// Tessera trusting `tpm`'s manufacturer root.
async fn world_trusting(tpm: &SoftwareTpm) -> crate::World {
    world_trusting_with(tpm, tessera_server::config::AttestationFailure::Refuse).await
}

/// The same, doing `on_failure` with evidence that does not verify.
async fn world_trusting_with(
    tpm: &SoftwareTpm,
    on_failure: tessera_server::config::AttestationFailure,
) -> crate::World {
    let root = tpm.root_pem();
    crate::world_with(move |c| {
        c.devices.attestation = tessera_server::config::AttestationConfig {
            tpm_roots: vec![root],
            on_failure,
            ..Default::default()
        }
        .load()
        .unwrap();
    })
    .await
}

/// Puts the policy "the mail app's tokens must be bound to a key protected at least
/// `key_protection`", in `state`.
async fn require(world: &crate::World, state: &str, key_protection: &str) {
    let doc = serde_json::json!({
        "displayName": "Mail needs a well-protected key",
        "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["mail-app"]},
            "clientAppTypes": ["all"],
        },
        "sessionControls": {"secureSignInSession": {"isEnabled": true, "requireKeyProtection": key_protection}},
    });
    world
        .state
        .directory(tessera_directory::InitiatingEntity::Admin)
        .put_policy("protected-mail", doc)
        .await
        .unwrap();
    world
        .state
        .policies
        .reload(world.state.store.as_ref())
        .await
        .unwrap();
}

/// A client of the mail app on `profile` of `keys`, signed in as alice (tokens for the mail
/// API when `api`, else for Tessera itself, as registration needs).
async fn signed_in(
    world: &crate::World,
    keys: &dyn tessera_client::KeyStore,
    profile: &str,
    api: bool,
) -> Result<tessera_client::TesseraClient, tessera_client::ClientError> {
    let mut config = tessera_client::ClientConfig::new(&world.issuer, "mail-app");
    if api {
        config = config.with_resource(&world.api);
    }
    let client = tessera_client::TesseraClient::new(config, keys, profile).await?;
    client
        .sign_in_with_password("alice", crate::PASSWORD, None)
        .await?;
    Ok(client)
}

/// The key-binding reasons of the sign-in log's token requests, oldest first.
async fn key_binding_reasons(world: &crate::World) -> Vec<String> {
    let mut logs = world
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    logs.reverse();
    logs.iter()
        .filter_map(|l| {
            l.details.value()["keyBinding"]["reason"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn an_attested_tpm_key_binds_the_session_and_a_full_copy_of_the_client_is_refused() {
    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting(&tpm).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());

    // alice registers the laptop: the TPM proves the key is its own and cannot leave it.
    let setup = signed_in(&world, &keys, "laptop", false).await.unwrap();
    let device = setup.register_device("Alice's laptop", "linux").await.unwrap();
    assert_eq!(device["key_protection"], "attested");
    assert_eq!(device["key_attestation"]["format"], "tpm2");
    assert_eq!(device["key_attestation"]["manufacturer"], "id:00001014");
    assert_eq!(device["key_attestation"]["model"], "swtpm");
    assert_eq!(device["jkt"], setup.thumbprint().as_str());

    // Mail now needs an attested key: the laptop signs in, calls the API and refreshes.
    require(&world, "enabled", "attested").await;
    let laptop = signed_in(&world, &keys, "laptop", true).await.unwrap();
    let inbox = format!("{}/inbox", world.api);
    let r = laptop.send(reqwest::Method::GET, &inbox, None).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    laptop.refresh(None).await.unwrap();
    // The API calls were signed by the session key the TPM key vouched for: the access token
    // is bound to it, the refresh token to the TPM key (the refresh above needed the TPM).
    let claims: serde_json::Value = serde_json::from_slice(
        &tessera_jose::b64::decode(laptop.access_token().await.unwrap().split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    let bound = claims["cnf"]["jkt"].as_str().unwrap();
    assert_ne!(
        bound,
        laptop.thumbprint().as_str(),
        "API calls do not wait for the TPM"
    );
    let refresh = laptop.refresh_token().await.unwrap();
    let family = world
        .state
        .store
        .family_by_token(&tessera_server::oauth::token_hash(&refresh))
        .await
        .unwrap();
    assert_eq!(family.jkt.as_deref(), Some(laptop.thumbprint().as_str()));

    // Malware copies every file of the client and the refresh token. On its own machine,
    // with its own TPM, the key file loads nothing; with a key of its own, the IdP refuses the
    // refresh token as a replay.
    let stolen = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), stolen.path());
    let elsewhere = SoftwareTpm::start().unwrap();
    let e = TpmKeyStore::new(stolen.path(), elsewhere.config().unwrap())
        .load_or_create("laptop")
        .unwrap_err();
    assert!(e.to_string().contains("another TPM"), "{e}");
    let refresh_token = laptop.refresh_token().await.unwrap();
    let attacker = tessera_client::TesseraClient::new(
        tessera_client::ClientConfig::new(&world.issuer, "mail-app"),
        &tessera_client::SoftwareMemoryKeyStore::default(),
        "attacker",
    )
    .await
    .unwrap();
    let proof = tessera_jose::dpop::create_proof(
        attacker.device_key(),
        "POST",
        &format!("{}/token", world.issuer),
        tessera_jose::dpop::ProofOptions::default(),
        &tessera_jose::SystemClock,
        &tessera_jose::SystemRandom,
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/token", world.issuer))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", "mail-app"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    laptop.refresh(None).await.expect("the laptop keeps its session");

    // A software key, even registered, is not enough for this policy, and the log says why.
    let software = tessera_client::SoftwareMemoryKeyStore::default();
    let phone = signed_in(&world, &software, "phone", false).await;
    assert!(
        phone.is_err(),
        "no registration token under the policy for an unregistered key"
    );
    let reasons = key_binding_reasons(&world).await;
    assert!(reasons.contains(&"attestedHardwareKey".to_owned()), "{reasons:?}");
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("noDevice"),
        "{reasons:?}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn report_only_tells_which_sessions_an_attested_key_policy_would_stop() {
    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting(&tpm).await;
    let software = tessera_client::SoftwareMemoryKeyStore::default();
    let phone = signed_in(&world, &software, "phone", false).await.unwrap();
    phone.register_device("Alice's phone", "linux").await.unwrap();
    let token = tessera_client::SoftwareMemoryKeyStore::default();
    let unregistered = signed_in(&world, &token, "kiosk", false).await.unwrap();
    drop(unregistered);
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    let laptop = signed_in(&world, &keys, "laptop", false).await.unwrap();
    laptop.register_device("Alice's laptop", "linux").await.unwrap();

    require(&world, "enabledForReportingButNotEnforced", "attested").await;
    // Nobody is stopped...
    for (store, profile) in [
        (&software as &dyn tessera_client::KeyStore, "phone"),
        (&keys as &dyn tessera_client::KeyStore, "laptop"),
        (&token as &dyn tessera_client::KeyStore, "kiosk"),
    ] {
        signed_in(&world, store, profile, true).await.unwrap();
    }
    // ...and the log says who would have been, and why.
    let reasons = key_binding_reasons(&world).await;
    let last: Vec<&str> = reasons.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(last, ["softwareKey", "attestedHardwareKey", "noDevice"]);
    let logs: Vec<serde_json::Value> = world
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|l| l.details.value())
        .filter(|d| d.get("keyBinding").is_some())
        .collect();
    let report = |i: usize| logs[i]["conditionalAccess"].to_string();
    assert!(report(0).contains("reportOnlyFailure"), "kiosk: {}", report(0));
    assert!(report(1).contains("reportOnlySuccess"), "laptop: {}", report(1));
    assert!(report(2).contains("reportOnlyFailure"), "phone: {}", report(2));
}

/// POSTs `body` to `path` at Tessera with the client's token and device key.
async fn post(
    client: &tessera_client::TesseraClient,
    world: &crate::World,
    path: &str,
    body: &serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let r = client
        .send(
            reqwest::Method::POST,
            &format!("{}{path}", world.issuer),
            Some(body),
        )
        .await
        .unwrap();
    let status = r.status();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default(),
    )
}

/// A fresh challenge for `client`'s TPM key and the evidence answering it.
async fn evidence(client: &tessera_client::TesseraClient, world: &crate::World) -> serde_json::Value {
    let attester = client.device_key().attester().unwrap();
    let (status, challenge) = post(client, world, "/devices/attestation", &attester.begin().unwrap()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{challenge}");
    attester.finish(&challenge).unwrap()
}

fn registration(attestation: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"display_name": "Alice's laptop", "platform": "linux", "attestation": attestation})
}

/// Decodes member `name` of `v`, lets `f` change the bytes, encodes them back.
fn altered(v: &serde_json::Value, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> serde_json::Value {
    let mut bytes = tessera_jose::b64::decode(v[name].as_str().unwrap()).unwrap();
    f(&mut bytes);
    let mut v = v.clone();
    v[name] = tessera_jose::b64::encode(&bytes).into();
    v
}

#[tokio::test]
async fn forged_replayed_and_mismatched_evidence_is_refused_with_the_reason() {
    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting(&tpm).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    // Genuine evidence, for a second key in the same TPM. (One client at a time: a TPM
    // without a resource manager holds three loaded objects.)
    let theirs = {
        let other = signed_in(&world, &keys, "other", false).await.unwrap();
        evidence(&other, &world).await
    };
    let laptop = signed_in(&world, &keys, "laptop", false).await.unwrap();

    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "the AK's signature, forged",
            altered(&evidence(&laptop, &world).await, "signature", |b| {
                let i = b.len() - 1;
                b[i] ^= 1;
            }),
            "signature over the certification does not verify",
        ),
        (
            "the certification, changed after signing",
            altered(&evidence(&laptop, &world).await, "certify_info", |b| {
                let i = b.len() - 40;
                b[i] ^= 1;
            }),
            "signature over the certification does not verify",
        ),
        (
            "a secret the TPM did not open",
            altered(&evidence(&laptop, &world).await, "credential", |b| b[0] ^= 1),
            "wrong secret",
        ),
        (
            "a challenge Tessera did not make",
            {
                let mut e = evidence(&laptop, &world).await;
                e["challenge"] = "kek1.x.AAAA".into();
                e
            },
            "not one this Tessera made",
        ),
        (
            "genuine evidence of another key",
            theirs.clone(),
            "the certified key is not the key that signed",
        ),
        (
            "another key's public area with this certification",
            {
                let mut e = evidence(&laptop, &world).await;
                e["key_public"] = theirs["key_public"].clone();
                e
            },
            "the certification is of another key",
        ),
        (
            "a format Tessera does not verify",
            {
                let mut e = evidence(&laptop, &world).await;
                e["format"] = "android-key".into();
                e
            },
            "format \"android-key\"",
        ),
    ];
    for (case, attestation, expected) in cases {
        let (status, body) = post(&laptop, &world, "/devices", &registration(&attestation)).await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{case}: {body}");
        let said = body["error_description"].as_str().unwrap_or_default();
        assert!(said.contains(expected), "{case}: {said}");
    }

    // An AK that could sign anything (not restricted) gets no challenge.
    let attester = laptop.device_key().attester().unwrap();
    let mut start = attester.begin().unwrap();
    let unrestricted = evidence(&laptop, &world).await;
    start["ak_public"] = unrestricted["key_public"].clone();
    let (status, body) = post(&laptop, &world, "/devices/attestation", &start).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("attestation key lacks restricted"),
        "{body}"
    );

    // Genuine evidence registers the device once; the same evidence again is a replay.
    let good = evidence(&laptop, &world).await;
    let (status, body) = post(&laptop, &world, "/devices", &registration(&good)).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    assert_eq!(body["key_protection"], "attested");
    let (status, body) = post(&laptop, &world, "/devices", &registration(&good)).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("answered already"),
        "{body}"
    );
}

#[tokio::test]
async fn an_ek_from_an_untrusted_manufacturer_gets_no_challenge() {
    let tpm = SoftwareTpm::start().unwrap();
    let trusted = SoftwareTpm::start().unwrap();
    let world = world_trusting(&trusted).await;
    let dir = tempfile::tempdir().unwrap();
    let laptop = signed_in(
        &world,
        &TpmKeyStore::new(dir.path(), tpm.config().unwrap()),
        "laptop",
        false,
    )
    .await
    .unwrap();
    let e = laptop
        .register_device("Alice's laptop", "linux")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("does not chain to a trusted manufacturer root"),
        "{e}"
    );
    assert!(no_device_registered(&world).await);
}

#[tokio::test]
async fn failed_evidence_can_register_unattested_hardware_for_a_report_only_rollout() {
    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting_with(
        &tpm,
        tessera_server::config::AttestationFailure::RegisterUnattested,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    let laptop = signed_in(&world, &keys, "laptop", false).await.unwrap();
    let forged = altered(&evidence(&laptop, &world).await, "signature", |b| b[10] ^= 1);
    let (status, body) = post(&laptop, &world, "/devices", &registration(&forged)).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    assert_eq!(body["key_protection"], "hardware");
    assert!(
        body["key_attestation"]["error"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{body}"
    );
    require(&world, "enabledForReportingButNotEnforced", "attested").await;
    signed_in(&world, &keys, "laptop", true).await.unwrap();
    let reasons = key_binding_reasons(&world).await;
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("attestationFailed"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_client_with_a_session_key_will_not_register_it() {
    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting(&tpm).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    let mail = signed_in(&world, &keys, "laptop", true).await.unwrap();
    let e = mail.register_device("Alice's laptop", "linux").await.unwrap_err();
    assert!(e.to_string().contains("without a resource"), "{e}");
    assert!(no_device_registered(&world).await);
}

/// Evidence made by hand with the TPM: a genuine EK, a genuine AK activated against it, and a
/// genuine `TPM2_Certify`, but of a key the TPM may export (no `fixedTPM`, no `fixedParent`).
/// Everything verifies except what matters, and the registration is refused for it.
#[tokio::test]
async fn a_genuinely_certified_but_exportable_key_is_refused() {
    use std::str::FromStr as _;

    use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, ak, ek};
    use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
    use tss_esapi::constants::SessionType;
    use tss_esapi::handles::{AuthHandle, ObjectHandle};
    use tss_esapi::interface_types::algorithm::{
        AsymmetricAlgorithm, HashingAlgorithm, PublicAlgorithm, SignatureSchemeAlgorithm,
    };
    use tss_esapi::interface_types::ecc::EccCurve;
    use tss_esapi::interface_types::key_bits::RsaKeyBits;
    use tss_esapi::interface_types::resource_handles::Hierarchy;
    use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
    use tss_esapi::structures::{
        Data, EccPoint, EccScheme, EncryptedSecret, HashScheme, IdObject, PublicBuilder,
        PublicEccParametersBuilder, SignatureScheme, SymmetricDefinition, SymmetricDefinitionObject,
    };
    use tss_esapi::traits::Marshall as _;
    use tss_esapi::{Context, TctiNameConf};

    let tpm = SoftwareTpm::start().unwrap();
    let world = world_trusting(&tpm).await;
    // The requests go out from a client with a software key; the TPM work is done here.
    let software = tessera_client::SoftwareMemoryKeyStore::default();
    let client = signed_in(&world, &software, "tool", false).await.unwrap();
    let b64 = |bytes: &[u8]| tessera_jose::b64::encode(bytes);

    let mut ctx = Context::new(TctiNameConf::from_str(&tpm.tcti).unwrap()).unwrap();
    let certificate =
        ek::retrieve_ek_pubcert(&mut ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048)).unwrap();
    let ek = ek::create_ek_object(&mut ctx, AsymmetricAlgorithm::Rsa, None).unwrap();
    let made = ak::create_ak_2(
        &mut ctx,
        ek,
        HashingAlgorithm::Sha256,
        AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
        SignatureSchemeAlgorithm::EcDsa,
        None,
        None,
    )
    .unwrap();
    let start = serde_json::json!({
        "format": "tpm2",
        "ek_certificate": b64(&certificate),
        "ek_chain": [b64(&tpm.config().unwrap().ek_chain[0])],
        "ak_public": b64(&made.out_public.marshall().unwrap()),
    });
    let (status, challenge) = post(&client, &world, "/devices/attestation", &start).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{challenge}");
    let field = |name: &str| tessera_jose::b64::decode(challenge[name].as_str().unwrap()).unwrap();

    // Activate the credential: the AK's auth by an HMAC session, the EK's by its policy.
    let ak_handle = ak::load_ak(&mut ctx, ek, None, made.out_private, made.out_public).unwrap();
    let (attributes, mask) = SessionAttributesBuilder::new().build();
    let mut session = |kind| {
        let s = ctx
            .start_auth_session(
                None,
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .unwrap()
            .unwrap();
        ctx.tr_sess_set_attributes(s, attributes, mask).unwrap();
        s
    };
    let hmac = session(SessionType::Hmac);
    let policy = session(SessionType::Policy);
    ctx.execute_with_session(Some(hmac), |c| {
        c.policy_secret(
            PolicySession::try_from(policy).unwrap(),
            AuthHandle::Endorsement,
            Default::default(),
            Default::default(),
            Default::default(),
            None,
        )
    })
    .unwrap();
    ctx.set_sessions((Some(hmac), Some(policy), None));
    let secret = ctx
        .activate_credential(
            ak_handle,
            ek,
            IdObject::try_from(field("credential_blob")).unwrap(),
            EncryptedSecret::try_from(field("encrypted_secret")).unwrap(),
        )
        .unwrap();
    ctx.clear_sessions();
    ctx.flush_context(ObjectHandle::from(ek)).unwrap();

    // An exportable signing key: the TPM made it, but it may leave (and move to other parents).
    let srk_attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()
        .unwrap();
    let srk_template = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(srk_attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_restricted_decryption_key(
                SymmetricDefinitionObject::AES_128_CFB,
                EccCurve::NistP256,
            )
            .build()
            .unwrap(),
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .unwrap();
    let srk = ctx
        .execute_with_nullauth_session(|c| {
            c.create_primary(Hierarchy::Owner, srk_template, None, None, None, None)
        })
        .unwrap()
        .key_handle;
    let exportable_attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(false)
        .with_fixed_parent(false)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .build()
        .unwrap();
    let template = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(exportable_attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_unrestricted_signing_key(
                EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
                EccCurve::NistP256,
            )
            .build()
            .unwrap(),
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .unwrap();
    let key = ctx
        .execute_with_nullauth_session(|c| c.create(srk, template, None, None, None, None))
        .unwrap();
    let key_public = key.out_public.clone();
    let handle = ctx
        .execute_with_nullauth_session(|c| c.load(srk, key.out_private, key.out_public))
        .unwrap();
    ctx.set_sessions((Some(AuthSession::Password), Some(AuthSession::Password), None));
    let (info, signature) = ctx
        .certify(
            ObjectHandle::from(handle),
            ak_handle,
            Data::try_from(field("nonce")).unwrap(),
            SignatureScheme::Null,
        )
        .unwrap();
    ctx.clear_sessions();
    for h in [
        ObjectHandle::from(handle),
        ObjectHandle::from(srk),
        ObjectHandle::from(ak_handle),
    ] {
        let _ = ctx.flush_context(h);
    }

    let evidence = serde_json::json!({
        "format": "tpm2",
        "challenge": challenge["challenge"],
        "credential": b64(secret.value()),
        "key_public": b64(&key_public.marshall().unwrap()),
        "certify_info": b64(&info.marshall().unwrap()),
        "signature": b64(&signature.marshall().unwrap()),
    });
    let (status, body) = post(&client, &world, "/devices", &registration(&evidence)).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    let said = body["error_description"].as_str().unwrap();
    assert!(said.contains("device key lacks fixedTPM, fixedParent"), "{said}");
}

#[tokio::test]
async fn an_untrusted_manufacturer_can_register_unattested_when_the_operator_says_so() {
    let tpm = SoftwareTpm::start().unwrap();
    let trusted = SoftwareTpm::start().unwrap();
    let world = world_trusting_with(
        &trusted,
        tessera_server::config::AttestationFailure::RegisterUnattested,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let keys = TpmKeyStore::new(dir.path(), tpm.config().unwrap());
    let laptop = signed_in(&world, &keys, "laptop", false).await.unwrap();
    let device = laptop.register_device("Alice's laptop", "linux").await.unwrap();
    assert_eq!(device["key_protection"], "hardware");
    let error = device["key_attestation"]["error"].as_str().unwrap();
    assert!(
        error.contains("does not chain to a trusted manufacturer root"),
        "{error}"
    );
}
