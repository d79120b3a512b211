//! Item 1: the signing key was readable by every local user (data directory 0755, database files
//! 0644, private JWKs in the clear in the database).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tessera_server::{Overrides, ServerConfig, StartError};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn config_in(dir: &Path) -> ServerConfig {
    let mut cfg = ServerConfig::resolve(
        None,
        Overrides {
            data_dir: Some(dir.to_owned()),
            listen: Some("127.0.0.1:0".into()),
            admin_password: Some("correct horse battery staple".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    cfg.issuer = crate::support::ISSUER.into();
    cfg
}

async fn raw_keys(db: &Path) -> Vec<String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT private_jwk FROM signing_keys")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

/// Item 1: with a umask that would make everything world-readable, a new data directory is
/// 0700 and the database, its WAL and shared-memory files and the key-encryption key are 0600.
#[tokio::test]
async fn item_01_a_new_data_directory_is_private_whatever_the_umask() {
    // Each test runs in a process of its own (nextest), so the umask is this test's alone.
    rustix::process::umask(rustix::fs::Mode::empty());
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("nested").join("tessera-data");
    let prepared = tessera_server::prepare(config_in(&data)).await.unwrap();
    // A write, so that the WAL and shared-memory files exist.
    let _ = prepared
        .state
        .store
        .server_secret(
            "probe",
            &tessera_store::Secret::new("x"),
            tessera_store::Timestamp(0),
        )
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in [
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
        "key-encryption.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

/// Item 1: a data directory or database file that other users can read stops the start with a
/// message that says what to run, unless the operator allows it.
#[tokio::test]
async fn item_01_a_readable_data_directory_or_database_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    drop(tessera_server::prepare(config_in(&data)).await.unwrap());

    for (path, bits) in [(data.clone(), 0o755), (data.join("tessera.db"), 0o644)] {
        let before = mode(&path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).unwrap();
        let err = tessera_server::prepare(config_in(&data)).await.unwrap_err();
        assert!(matches!(err, StartError::DataDir(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("chmod") && text.contains("tessera keys rotate"),
            "{text}"
        );

        let mut allowed = config_in(&data);
        allowed.security.allow_readable_data_dir = true;
        drop(tessera_server::prepare(allowed).await.unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
    }
}

/// Item 1: the private signing keys are sealed in the database; a copy of the database without
/// the key-encryption key does not start (and so signs nothing), and with the key it does.
#[tokio::test]
async fn item_01_private_signing_keys_are_sealed_at_rest() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let prepared = tessera_server::prepare(config_in(&data)).await.unwrap();
    let active = prepared.state.keys.active().kid().unwrap().to_owned();
    drop(prepared);

    let stored = raw_keys(&data.join("tessera.db")).await;
    assert_eq!(stored.len(), 2);
    for text in &stored {
        assert!(text.starts_with("kek1."), "sealed: {text}");
        assert!(!text.contains("\"d\""), "no private JWK member in the clear");
    }

    // The database alone, copied elsewhere.
    let copy = root.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(data.join("tessera.db"), copy.join("tessera.db")).unwrap();
    let err = tessera_server::prepare(config_in(&copy)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("sealed under key-encryption key"), "{text}");
    assert!(
        !copy.join("key-encryption.key").exists(),
        "no new key made for sealed keys"
    );

    // Another key-encryption key does not open them either.
    std::fs::write(
        copy.join("key-encryption.key"),
        tessera_jose::b64::encode([9u8; 32]),
    )
    .unwrap();
    std::fs::set_permissions(
        copy.join("key-encryption.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let err = tessera_server::prepare(config_in(&copy)).await.unwrap_err();
    assert!(err.to_string().contains("does not open"), "{err}");

    // With the right one (here from a file named in the configuration), it signs as before.
    let mut cfg = config_in(&copy);
    cfg.key_encryption = tessera_directory::keys::KekSource::File {
        path: data.join("key-encryption.key"),
        allow_readable: false,
    };
    let prepared = tessera_server::prepare(cfg).await.unwrap();
    assert_eq!(prepared.state.keys.active().kid(), Some(active.as_str()));
}

/// Item 1: keys stored in the clear by an earlier Tessera are sealed at the next start.
#[tokio::test]
async fn item_01_keys_stored_in_the_clear_are_sealed_at_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let url = format!("sqlite:{}", data.join("tessera.db").display());
    let store = tessera_store::open(&url, &tessera_store::StoreOptions::default())
        .await
        .unwrap();
    let key = tessera_jose::SigningKey::generate(tessera_jose::Algorithm::Es256).unwrap();
    let kid = key.kid().unwrap().to_owned();
    store
        .insert_key(&tessera_store::SigningKeyRecord {
            kid: kid.clone(),
            alg: "ES256".into(),
            private_jwk: tessera_store::Secret::new(key.to_private_jwk().unwrap().to_string()),
            public_jwk: key.public_jwk().to_json(),
            status: tessera_store::KeyStatus::Active,
            created_at: tessera_store::Timestamp(0),
            changed_at: tessera_store::Timestamp(0),
        })
        .await
        .unwrap();
    drop(store);

    let prepared = tessera_server::prepare(config_in(&data)).await.unwrap();
    assert_eq!(prepared.state.keys.active().kid(), Some(kid.as_str()));
    drop(prepared);
    for text in raw_keys(&data.join("tessera.db")).await {
        assert!(text.starts_with("kek1."), "{text}");
    }
}
