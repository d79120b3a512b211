//! What every handler shares.

use std::sync::Arc;

use tessera_jose::dpop::{DpopConfig, DpopVerifier, MemoryReplayCache};
use tessera_jose::{Clock, Random};
use tessera_store::Store;

use crate::config::ServerConfig;
use crate::keys::KeyRing;

/// The server's state.
pub struct AppState {
    /// Configuration.
    pub config: ServerConfig,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: KeyRing,
    /// DPoP proof verification, with this node's replay cache.
    pub dpop: DpopVerifier<MemoryReplayCache>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness for identifiers.
    pub rng: Arc<dyn Random>,
    /// Metrics.
    pub telemetry: crate::telemetry::Telemetry,
    /// Conditional Access policies, compiled.
    pub policies: crate::access::Policies,
    /// Failed sign-in counters.
    pub throttle: crate::web::throttle::Throttle,
    /// The `jti`s of client assertions (`private_key_jwt`) seen on this node, so each is used
    /// once.
    pub assertion_ids: MemoryReplayCache,
    /// The sign-in log, written with group commit.
    pub sign_in_log: crate::sign_in_log::SignInLogWriter,
    /// DPoP server nonces, when the token endpoint requires them.
    pub nonces: Option<crate::oauth::dpop_nonce::DpopNonces>,
    /// Signing keys of the transmitters Tessera receives SETs from.
    pub transmitter_keys: crate::ssf::receive::KeyCache,
    /// The WebAuthn relying party, when the issuer's host can be one (a domain name).
    pub passkeys: Option<webauthn_rs::Webauthn>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `config` over `store` and `keys`, with the system clock and random source.
    #[must_use]
    pub fn new(config: ServerConfig, store: Arc<dyn Store>, keys: KeyRing) -> Self {
        let dpop = DpopVerifier::new(
            DpopConfig {
                max_age: config.tokens.dpop_proof_max_age_seconds,
                ..DpopConfig::default()
            },
            MemoryReplayCache::default(),
        );
        let sign_in_log = crate::sign_in_log::SignInLogWriter::new(store.clone());
        let passkeys = crate::web::passkeys::relying_party(&config.issuer);
        Self {
            passkeys,
            config,
            store,
            keys,
            dpop,
            clock: Arc::new(tessera_jose::SystemClock),
            rng: Arc::new(tessera_jose::SystemRandom),
            telemetry: crate::telemetry::Telemetry::default(),
            policies: crate::access::Policies::default(),
            throttle: crate::web::throttle::Throttle::default(),
            assertion_ids: MemoryReplayCache::new(100_000),
            nonces: None,
            transmitter_keys: crate::ssf::receive::key_cache(),
            sign_in_log,
        }
    }

    /// Now, for the store (milliseconds).
    #[must_use]
    pub fn now_ms(&self) -> tessera_store::Timestamp {
        tessera_store::Timestamp(self.clock.now().as_secs().saturating_mul(1000))
    }

    /// The directory, as `by` changes it now.
    #[must_use]
    pub fn directory(&self, by: crate::directory::InitiatingEntity) -> crate::directory::Directory {
        crate::directory::Directory::new(
            self.store.clone(),
            self.rng.clone(),
            &self.config.issuer,
            self.now_ms(),
            by,
        )
    }

    /// An endpoint's absolute URL.
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }
}
