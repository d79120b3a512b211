//! DPoP server nonces (RFC 9449 §8): when enabled, a proof at the token endpoint must carry a
//! nonce Tessera issued recently, which limits how long a proof made in advance (by malware that
//! can use the key for a while) stays useful.
//!
//! Nonces are stateless, so every node accepts every node's: a nonce is a time window's number
//! with an HMAC over it, keyed by a secret the nodes share through the store. One is valid in its
//! window and the next, so a nonce lives between one and two windows.

use aws_lc_rs::hmac;
use tessera_jose::UnixTime;
use tessera_jose::b64;
use tessera_jose::dpop::NonceCheck;
use tessera_store::{Secret, Store, StoreError, Timestamp};

/// How long a nonce window lasts: a nonce is accepted for five to ten minutes.
pub const WINDOW_SECONDS: u64 = 300;
/// The store's name for the nonce key.
const SECRET_NAME: &str = "dpop-nonce";
/// Bytes of MAC kept in a nonce.
const MAC_LEN: usize = 16;

/// Issues and checks DPoP nonces.
pub struct DpopNonces {
    key: hmac::Key,
    window: u64,
}

impl std::fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopNonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces with a fresh window every `window` seconds, keyed by `secret`.
    #[must_use]
    pub fn new(secret: &[u8], window: u64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            window: window.max(1),
        }
    }

    /// Nonces keyed by the deployment's shared secret, made by the first node to need it.
    ///
    /// # Errors
    /// From the store, or when no randomness is available.
    pub async fn shared(store: &dyn Store, window: u64, now: Timestamp) -> Result<Self, StoreError> {
        let candidate = tessera_jose::random::random_id::<32>(&tessera_jose::SystemRandom)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let secret = store
            .server_secret(SECRET_NAME, &Secret::new(candidate), now)
            .await?;
        Ok(Self::new(secret.expose().as_bytes(), window))
    }

    fn mac(&self, slot: u64) -> [u8; MAC_LEN] {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    fn slot(&self, now: UnixTime) -> u64 {
        u64::try_from(now.as_secs()).unwrap_or(0) / self.window
    }

    /// The nonce to hand out now.
    #[must_use]
    pub fn issue(&self, now: UnixTime) -> String {
        let slot = self.slot(now);
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&slot.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(slot));
        b64::encode(raw)
    }
}

impl NonceCheck for DpopNonces {
    fn is_valid(&self, nonce: &str, now: UnixTime) -> bool {
        let Ok(raw) = b64::decode(nonce) else {
            return false;
        };
        if raw.len() != 8 + MAC_LEN {
            return false;
        }
        let mut slot_bytes = [0u8; 8];
        slot_bytes.copy_from_slice(&raw[..8]);
        let slot = u64::from_be_bytes(slot_bytes);
        let current = self.slot(now);
        if slot != current && slot.saturating_add(1) != current {
            return false;
        }
        aws_lc_rs::constant_time::verify_slices_are_equal(&raw[8..], &self.mac(slot)).is_ok()
    }
}

/// The answer of an endpoint that takes DPoP proofs (`/par`, `/device_authorization`): with
/// server nonces on, every answer, error or not, hands out the current nonce (RFC 9449 §8.2);
/// an error is counted under `endpoint`.
pub fn answer(
    state: &crate::state::AppState,
    endpoint: &'static str,
    result: Result<axum::response::Response, crate::OAuthError>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let nonce = state.nonces.as_ref().map(|n| n.issue(state.unix_time()));
    match result {
        Ok(mut response) => {
            if let Some(v) = nonce.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
                response.headers_mut().insert("dpop-nonce", v);
            }
            response
        }
        Err(e) => {
            state.telemetry.oauth_error(endpoint, e.code());
            match nonce {
                Some(n) => e.with_dpop_nonce(n).into_response(),
                None => e.into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_window_and_the_next() {
        let nonces = DpopNonces::new(b"secret", 300);
        let issued = nonces.issue(UnixTime(1_000_200));
        assert!(nonces.is_valid(&issued, UnixTime(1_000_200)));
        assert!(nonces.is_valid(&issued, UnixTime(1_000_200 + 300)));
        assert!(
            !nonces.is_valid(&issued, UnixTime(1_000_200 + 700)),
            "two windows later"
        );
        assert!(
            !nonces.is_valid(&issued, UnixTime(1_000_200 - 300)),
            "from the future"
        );
    }

    #[test]
    fn forged_and_malformed_nonces_are_refused() {
        let nonces = DpopNonces::new(b"secret", 300);
        let other = DpopNonces::new(b"another node's secret", 300);
        let now = UnixTime(1_000_200);
        assert!(!nonces.is_valid(&other.issue(now), now));
        let mut tampered = b64::decode(nonces.issue(now)).unwrap();
        tampered[20] ^= 1;
        assert!(!nonces.is_valid(&b64::encode(tampered), now));
        for bad in ["", "!!!", "AAAA", &"A".repeat(200)] {
            assert!(!nonces.is_valid(bad, now), "{bad:?}");
        }
        // Same secret, another node: accepted (nonces are stateless).
        let twin = DpopNonces::new(b"secret", 300);
        assert!(twin.is_valid(&nonces.issue(now), now));
    }
}
