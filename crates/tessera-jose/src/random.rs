//! Randomness, injected: identifiers such as a DPoP proof's `jti` come from a [`Random`], so
//! tests can make them predictable. Key generation always uses the system's generator.

/// The random source failed; nothing that needed it can proceed safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RandomError;

/// A source of random bytes.
pub trait Random: Send + Sync {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    /// [`RandomError`] when the source cannot produce bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's cryptographically secure generator (through AWS-LC).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        aws_lc_rs::rand::fill(dest).map_err(|_| RandomError)
    }
}

impl<R: Random + ?Sized> Random for &R {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        (**self).fill(dest)
    }
}

/// Returns `N` random bytes encoded as base64url: an unguessable identifier.
///
/// # Errors
/// [`RandomError`] when the source fails.
pub fn random_id<const N: usize>(rng: &dyn Random) -> Result<String, RandomError> {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes)?;
    Ok(crate::b64::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_random_fills_and_differs() {
        let a = random_id::<16>(&SystemRandom).unwrap();
        let b = random_id::<16>(&SystemRandom).unwrap();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
    }
}
