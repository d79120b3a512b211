//! The token-signing keys: one active key signs; the next key is published ahead so verifiers
//! already have it when it becomes active; retired keys stay published until tokens they signed
//! have expired. Keys live in the store, so every node signs with the same key; their private
//! halves are sealed there under a key-encryption key that is not ([`sealing`]).

pub mod sealing;

use std::sync::Arc;

use tessera_jose::{Algorithm, KeySet, PublicJwk, SigningKey};
use tessera_store::{KeyStatus, Secret, SigningKeyRecord, Store, Timestamp};

pub use sealing::{KekError, KekSource, KeyEncryptionKey};

/// The keys loaded at start-up.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    published: Arc<KeySet>,
    sealing: Arc<KeyEncryptionKey>,
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    /// The key-encryption key is unavailable, or a sealed key does not open with it.
    #[error(transparent)]
    Sealing(#[from] KekError),
    /// A stored key does not parse.
    #[error("signing key {kid} in the database is unusable: {message}")]
    Unusable {
        /// The key.
        kid: String,
        /// Why.
        message: String,
    },
}

/// A fresh ES256 key, as the record the store keeps (sealed under `kek`).
fn new_key_record(
    status: KeyStatus,
    kek: &KeyEncryptionKey,
    now: Timestamp,
) -> Result<SigningKeyRecord, KeyRingError> {
    let key = SigningKey::generate(Algorithm::Es256).map_err(|e| KeyRingError::Unusable {
        kid: "(new)".into(),
        message: e.to_string(),
    })?;
    record(&key, status, kek, now)
}

fn record(
    key: &SigningKey,
    status: KeyStatus,
    kek: &KeyEncryptionKey,
    now: Timestamp,
) -> Result<SigningKeyRecord, KeyRingError> {
    let kid = key.kid().unwrap_or_default().to_owned();
    let private = key.to_private_jwk().map_err(|e| KeyRingError::Unusable {
        kid: kid.clone(),
        message: e.to_string(),
    })?;
    Ok(SigningKeyRecord {
        private_jwk: Secret::new(kek.seal(&kid, &private)?),
        kid,
        alg: key.algorithm().as_str().into(),
        public_jwk: key.public_jwk().to_json(),
        status,
        created_at: now,
        changed_at: now,
    })
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    /// The key that signs from now on (the former next key).
    pub active: String,
    /// The new next key, published ahead.
    pub next: String,
}

/// Rotates: the next key becomes active (the active one retires, still published), and a new
/// next key is created. Running servers sign with the new key after a restart.
///
/// # Errors
/// [`KeyRingError`] when the store fails or there is no next key to promote.
pub async fn rotate(store: &dyn Store, kek: &KekSource, now: Timestamp) -> Result<Rotated, KeyRingError> {
    // Make sure there is a next key to promote (a database from before keys existed), and that
    // every key is sealed.
    let ring = KeyRing::load_or_create(store, kek, now).await?;
    let active = store
        .promote_next_key(now)
        .await?
        .ok_or_else(|| KeyRingError::Unusable {
            kid: "(next)".into(),
            message: "there is no next key to promote".into(),
        })?;
    let next = new_key_record(KeyStatus::Next, &ring.sealing, now)?;
    store.insert_key(&next).await?;
    Ok(Rotated {
        active,
        next: next.kid,
    })
}

impl KeyRing {
    /// Loads the keys, creating an active and a next ES256 key on first run, and the
    /// key-encryption key with them when `kek` is a file that does not exist yet. Keys stored
    /// unsealed (by a Tessera from before sealing) are sealed now.
    ///
    /// # Errors
    /// [`KeyRingError`] when the store fails, the key-encryption key is unavailable or wrong, or
    /// a stored key is unusable.
    pub async fn load_or_create(
        store: &dyn Store,
        kek: &KekSource,
        now: Timestamp,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.keys().await?;
        let sealed_under = records
            .iter()
            .find_map(|r| sealing::sealed_under(r.private_jwk.expose()))
            .map(str::to_owned);
        let sealer = kek.obtain(sealed_under.as_deref())?;
        for r in &mut records {
            if !sealing::is_sealed(r.private_jwk.expose()) {
                let sealed = Secret::new(sealer.seal(&r.kid, r.private_jwk.expose())?);
                store.reseal_key(&r.kid, &sealed).await?;
                tracing::info!(kid = %r.kid, kek = sealer.id(), "sealed a signing key stored in the clear");
                r.private_jwk = sealed;
            }
        }
        for status in [KeyStatus::Active, KeyStatus::Next] {
            if !records.iter().any(|r| r.status == status) {
                let rec = new_key_record(status, &sealer, now)?;
                store.insert_key(&rec).await?;
                records.push(rec);
            }
        }
        let mut active = None;
        let mut published = KeySet::default();
        for r in &records {
            let unusable = |m: String| KeyRingError::Unusable {
                kid: r.kid.clone(),
                message: m,
            };
            let public = PublicJwk::from_value(&r.public_jwk).map_err(|e| unusable(e.to_string()))?;
            published.push(public.with_kid(r.kid.clone()));
            if r.status == KeyStatus::Active {
                let private = sealer.open(&r.kid, r.private_jwk.expose())?;
                let key =
                    SigningKey::from_private_jwk(private.as_bytes()).map_err(|e| unusable(e.to_string()))?;
                active = Some(key.with_kid(r.kid.clone()));
            }
        }
        let active = active.ok_or_else(|| KeyRingError::Unusable {
            kid: "(active)".into(),
            message: "no active key".into(),
        })?;
        Ok(Self {
            active: Arc::new(active),
            published: Arc::new(published),
            sealing: Arc::new(sealer),
        })
    }

    /// The key that signs.
    #[must_use]
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key-encryption key, for other secrets the server hands out sealed (attestation
    /// challenges).
    #[must_use]
    pub fn sealing(&self) -> &KeyEncryptionKey {
        &self.sealing
    }

    /// The id of the key-encryption key the private keys are sealed under.
    #[must_use]
    pub fn sealed_under(&self) -> &str {
        self.sealing.id()
    }

    /// Every published key (active, next, retired).
    #[must_use]
    pub fn published(&self) -> &KeySet {
        &self.published
    }
}
