//! The IdP's signing keys, fetched from its JWK Set and kept: fetched again every
//! [`crate::KEYS_REFRESH`], or sooner when a token names a key not among them (at most every
//! [`MIN_REFETCH`]). When the IdP cannot be reached, the keys already fetched stay in use.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_jose::KeySet;

use crate::ResourceError;

/// The least time between two fetches, so tokens naming made-up keys cannot make the API fetch
/// on every request.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// The keys of one issuer.
#[derive(Debug)]
pub struct IssuerKeys {
    jwks_uri: String,
    client: reqwest::Client,
    current: RwLock<Option<(Arc<KeySet>, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl IssuerKeys {
    /// Keys to be fetched from `jwks_uri`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(jwks_uri: &str) -> Result<Self, ResourceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ResourceError::Http(e.to_string()))?;
        Ok(Self {
            jwks_uri: jwks_uri.to_owned(),
            client,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> Option<(Arc<KeySet>, Instant)> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The keys: those kept, unless they are stale or `refresh` asks for newer ones (and the
    /// last fetch is not too recent). `None` only when none were ever fetched.
    pub async fn get(&self, refresh: bool) -> Option<Arc<KeySet>> {
        let due = |fetched: Instant| {
            let age = fetched.elapsed();
            age >= crate::KEYS_REFRESH || (refresh && age >= MIN_REFETCH)
        };
        match self.cached() {
            Some((keys, fetched)) if !due(fetched) => return Some(keys),
            _ => {}
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some((keys, fetched)) = self.cached()
            && !due(fetched)
        {
            return Some(keys);
        }
        match self.fetch().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut c) = self.current.write() {
                    *c = Some((keys.clone(), Instant::now()));
                }
                Some(keys)
            }
            Err(e) => {
                tracing::warn!(jwks_uri = %self.jwks_uri, %e, "cannot fetch the issuer's keys; using those kept");
                // Try again no sooner than MIN_REFETCH, with the keys kept.
                let kept = self.cached().map(|(k, _)| k);
                if let (Some(k), Ok(mut c)) = (&kept, self.current.write()) {
                    *c = Some((k.clone(), Instant::now() - crate::KEYS_REFRESH + MIN_REFETCH));
                }
                kept
            }
        }
    }

    /// Runs `check` with the keys; when it fails because the token names a key not among them
    /// (`unknown_key`), fetches the keys again (within `MIN_REFETCH`) and runs it once more.
    /// `Err(None)` when no keys were ever fetched.
    pub async fn check_with<T, E>(
        &self,
        check: impl Fn(&KeySet) -> Result<T, E>,
        unknown_key: impl Fn(&E) -> bool,
    ) -> Result<T, Option<E>> {
        let keys = self.get(false).await.ok_or(None)?;
        match check(&keys) {
            Err(e) if unknown_key(&e) => {
                let keys = self.get(true).await.ok_or(None)?;
                check(&keys).map_err(Some)
            }
            other => other.map_err(Some),
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let response = self
            .client
            .get(&self.jwks_uri)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{} answered {}", self.jwks_uri, response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        KeySet::from_jwks(&bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    /// An issuer at an `https` URL is spoken to over TLS: the first byte on the wire opens a
    /// TLS handshake record (the crate once built without TLS and failed before connecting).
    #[tokio::test]
    async fn an_https_issuer_is_spoken_to_over_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let keys = super::IssuerKeys::new(&format!("https://127.0.0.1:{port}/jwks")).unwrap();
        let fetch = tokio::spawn(async move { keys.get(true).await.is_some() });
        let (conn, _) = listener.accept().await.unwrap();
        let mut first = [0_u8; 1];
        loop {
            conn.readable().await.unwrap();
            match conn.try_read(&mut first) {
                Ok(1) => break,
                Ok(_) => panic!("the client hung up without a word"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(first[0], 0x16, "a TLS handshake record");
        drop(conn);
        assert!(!fetch.await.unwrap(), "no keys from a server that hung up");
    }
}
