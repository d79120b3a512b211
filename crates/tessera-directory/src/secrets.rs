//! Hashing what clients and users prove they know.
//!
//! Client secrets are 256-bit random values Tessera generates, so a fast hash is enough:
//! SHA-256, compared in constant time. User passwords are chosen by people, so they get
//! argon2id with its recommended parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use aws_lc_rs::{constant_time, digest};
use tessera_jose::b64;

const CLIENT_SECRET_PREFIX: &str = "sha256:";

/// A secret could not be made or hashed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Random,
    /// argon2 refused the input or its parameters.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<tessera_jose::random::RandomError> for SecretError {
    fn from(_: tessera_jose::random::RandomError) -> Self {
        Self::Random
    }
}

/// A fresh client secret (256 bits, base64url).
///
/// # Errors
/// When the random source fails.
pub fn new_client_secret() -> Result<String, SecretError> {
    Ok(tessera_jose::random::random_id::<32>(
        &tessera_jose::SystemRandom,
    )?)
}

/// The stored form of a client secret.
#[must_use]
pub fn hash_client_secret(secret: &str) -> String {
    format!(
        "{CLIENT_SECRET_PREFIX}{}",
        b64::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
    )
}

/// Whether `presented` is the secret `stored` was made from.
#[must_use]
pub fn verify_client_secret(stored: &str, presented: &str) -> bool {
    let Some(expected) = stored.strip_prefix(CLIENT_SECRET_PREFIX) else {
        return false;
    };
    let actual = b64::encode(digest::digest(&digest::SHA256, presented.as_bytes()));
    constant_time::verify_slices_are_equal(expected.as_bytes(), actual.as_bytes()).is_ok()
}

/// An argon2id hash (PHC string) of a user's password.
///
/// # Errors
/// When the random source or the hasher fails.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| SecretError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecretError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Whether `password` matches the argon2id hash `stored`.
#[must_use]
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secrets() {
        let secret = new_client_secret().unwrap();
        assert_eq!(secret.len(), 43);
        let stored = hash_client_secret(&secret);
        assert!(verify_client_secret(&stored, &secret));
        assert!(!verify_client_secret(&stored, "wrong"));
        assert!(
            !verify_client_secret("plain-text", "plain-text"),
            "only hashed secrets verify"
        );
    }

    #[test]
    fn passwords() {
        let stored = hash_password("correct horse battery staple").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password(&stored, "correct horse battery staple"));
        assert!(!verify_password(&stored, "Correct horse battery staple"));
        assert!(!verify_password("not a hash", "x"));
    }
}
