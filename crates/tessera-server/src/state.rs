//! What every handler shares.

use std::sync::Arc;

use tessera_directory::keys::KeyRing;
use tessera_jose::dpop::{
    DpopConfig, DpopError, DpopRequest, DpopVerifier, MemoryReplayCache, VerifiedProof,
};
use tessera_jose::{Clock, Random};
use tessera_store::Store;

use crate::config::ServerConfig;

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
    pub policies: tessera_directory::access::Policies,
    /// Failed sign-in counters.
    pub throttle: crate::web::throttle::Throttle,
    /// Wrong user codes at `/device`, per user and per address.
    pub device_code_guesses: crate::web::throttle::Throttle,
    /// The bound on concurrent password verifications.
    pub password_checks: crate::password_checks::PasswordChecks,
    /// One-time ids seen on this node, so each is used once: the `jti`s of client assertions
    /// (`private_key_jwt`), one partition per client, and answered device-attestation
    /// challenges (a partition of their own, see [`crate::attestation`]).
    pub assertion_ids: MemoryReplayCache,
    /// The token endpoint's writes (sign-in log, rotations), with group commit.
    pub writes: tessera_store::GroupCommit,
    /// Applications as client authentication reads them.
    pub applications: tessera_directory::ApplicationCache,
    /// DPoP server nonces, when the token endpoint requires them.
    pub nonces: Option<crate::oauth::dpop_nonce::DpopNonces>,
    /// Signing keys of the transmitters Tessera receives SETs from.
    pub transmitter_keys: crate::ssf::receive::KeyCache,
    /// Where push deliveries may go.
    pub outbound: crate::outbound::Destinations,
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
    /// Verifies a DPoP proof (RFC 9449 §4.3). Where several nodes may serve from the database
    /// (PostgreSQL; see [`tessera_store::Store::shared_by_nodes`]), the proof's id is also
    /// recorded there, so a proof replayed at another node is refused as well; each node's memory
    /// cache still answers a replay at the same node first.
    ///
    /// # Errors
    /// The [`DpopError`] to answer with.
    pub async fn verify_dpop(&self, request: &DpopRequest<'_>) -> Result<VerifiedProof, DpopError> {
        let proof = self.dpop.verify(request, self.clock.as_ref())?;
        if self.store.shared_by_nodes() {
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            ctx.update(proof.jkt.as_str().as_bytes());
            ctx.update(b".");
            ctx.update(proof.jti.as_bytes());
            let key = ctx.finish();
            let max_age = i64::try_from(self.config.tokens.dpop_proof_max_age_seconds).unwrap_or(i64::MAX);
            let expires =
                tessera_store::Timestamp(proof.iat.as_secs().saturating_add(max_age).saturating_mul(1000));
            match self.store.first_proof_use(key.as_ref(), expires).await {
                Ok(true) => {}
                Ok(false) => return Err(DpopError::Replayed),
                Err(e) => {
                    tracing::error!(%e, "cannot record a DPoP proof id");
                    return Err(DpopError::ReplayCacheFull);
                }
            }
        }
        Ok(proof)
    }

    /// State for `config` over `store` and `keys`, with the system clock and random source.
    #[must_use]
    pub fn new(config: ServerConfig, store: Arc<dyn Store>, keys: KeyRing) -> Self {
        let dpop = DpopVerifier::new(
            DpopConfig {
                max_age: config.tokens.dpop_proof_max_age_seconds,
                ..DpopConfig::default()
            },
            MemoryReplayCache::with_partition_limit(1_000_000, config.tokens.dpop_proofs_per_key),
        );
        let writes = tessera_store::GroupCommit::new(store.clone());
        let passkeys = crate::web::passkeys::relying_party(&config.issuer);
        let password_checks = crate::password_checks::PasswordChecks::new(&config.sign_in);
        let assertion_ids =
            MemoryReplayCache::with_partition_limit(200_000, config.tokens.assertion_ids_per_client);
        let outbound = crate::outbound::Destinations::new(config.ssf.push_allowed_networks.clone());
        Self {
            passkeys,
            config,
            store,
            keys,
            dpop,
            clock: Arc::new(tessera_jose::SystemClock),
            rng: Arc::new(tessera_jose::SystemRandom),
            telemetry: crate::telemetry::Telemetry::default(),
            policies: tessera_directory::access::Policies::default(),
            throttle: crate::web::throttle::Throttle::default(),
            device_code_guesses: crate::web::throttle::Throttle::default(),
            password_checks,
            outbound,
            assertion_ids,
            nonces: None,
            transmitter_keys: crate::ssf::receive::key_cache(),
            writes,
            applications: tessera_directory::ApplicationCache::default(),
        }
    }

    /// Now, to the millisecond, from the server's one clock.
    #[must_use]
    pub fn now(&self) -> tessera_store::Timestamp {
        self.clock.now()
    }

    /// Now, in the whole seconds a JWT `NumericDate` carries.
    #[must_use]
    pub fn unix_time(&self) -> tessera_jose::UnixTime {
        self.clock.now().unix_time()
    }

    /// The directory, as `by` changes it now.
    #[must_use]
    pub fn directory(&self, by: tessera_directory::InitiatingEntity) -> tessera_directory::Directory {
        tessera_directory::Directory::new(
            self.store.clone(),
            self.rng.clone(),
            &self.config.issuer,
            self.now(),
            by,
        )
        .with_application_cache(self.applications.clone())
    }

    /// An endpoint's absolute URL.
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }
}

/// Once a minute, forgets what has expired: pushed authorization requests, device
/// authorizations, authorization codes (ten minutes after their expiry, so that a reuse just
/// after it is still told from a guess), and (where several nodes share the database) used DPoP
/// proof ids whose window has passed.
pub fn spawn_pruning(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            if state.store.shared_by_nodes()
                && let Err(e) = state.store.prune_proofs(state.now()).await
            {
                tracing::warn!(%e, "could not prune used DPoP proof ids");
            }
            if let Err(e) = state.store.prune_pushed_requests(state.now()).await {
                tracing::warn!(%e, "could not prune expired pushed authorization requests");
            }
            if let Err(e) = state.store.prune_device_authorizations(state.now()).await {
                tracing::warn!(%e, "could not prune expired device authorizations");
            }
            if let Err(e) = state.store.prune_codes(state.now().plus_ms(-600_000)).await {
                tracing::warn!(%e, "could not prune expired authorization codes");
            }
        }
    })
}
