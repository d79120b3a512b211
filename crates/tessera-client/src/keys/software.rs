//! Software keys: the private key is bytes this process holds, in a file or in memory. They
//! defeat a stolen token, not malware that can read the client's files (it copies the key with
//! the refresh token); [`KeyProtection::Software`] says so to the IdP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tessera_jose::{Algorithm, KeyError, PublicJwk, Signer, SigningKey};

use super::{DeviceKey, KeyProtection, KeyStore, check_profile};
use crate::ClientError;

/// A software key as a [`DeviceKey`].
#[derive(Debug)]
pub struct SoftwareKey(SigningKey);

impl SoftwareKey {
    /// Wraps `key`.
    #[must_use]
    pub const fn new(key: SigningKey) -> Self {
        Self(key)
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }

    fn public_jwk(&self) -> &PublicJwk {
        self.0.public_jwk()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.0.sign(message)
    }
}

impl DeviceKey for SoftwareKey {
    fn protection(&self) -> KeyProtection {
        KeyProtection::Software
    }
}

/// Software keys as private JWK files, `<dir>/<profile>/device-key.jwk`, readable by the owner
/// only (0600, in a 0700 directory).
#[derive(Debug, Clone)]
pub struct SoftwareFileKeyStore {
    dir: PathBuf,
}

impl SoftwareFileKeyStore {
    /// A store under `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, profile: &str) -> Result<PathBuf, ClientError> {
        check_profile(profile)?;
        Ok(self.dir.join(profile).join("device-key.jwk"))
    }
}

impl KeyStore for SoftwareFileKeyStore {
    fn load_or_create(&self, profile: &str) -> Result<Arc<dyn DeviceKey>, ClientError> {
        self.load_or_create_key(profile)
            .map(|k| Arc::new(SoftwareKey(k)) as Arc<dyn DeviceKey>)
    }
}

impl SoftwareFileKeyStore {
    fn load_or_create_key(&self, profile: &str) -> Result<SigningKey, ClientError> {
        let path = self.path(profile)?;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            ClientError::Keys(format!("{what} {}: {e}", path.display()))
        };
        match std::fs::read(&path) {
            Ok(bytes) => return SigningKey::from_private_jwk(&bytes).map_err(|e| fail("reading", &e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("reading", &e)),
        }
        let key = SigningKey::generate(Algorithm::Es256).map_err(|e| fail("creating", &e))?;
        let jwk = key.to_private_jwk().map_err(|e| fail("encoding", &e))?;
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| fail("creating the folder for", &e))?;
        write_private(parent, &path, jwk.as_bytes()).map_err(|e| fail("writing", &e))?;
        Ok(key)
    }
}

/// Writes `bytes` to `path` readable by the owner only, atomically (a temporary file renamed
/// into place), so a crash never leaves half a key.
pub(crate) fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Software keys in memory, for tests and short-lived tools.
#[derive(Debug, Default)]
pub struct SoftwareMemoryKeyStore {
    keys: Mutex<std::collections::HashMap<String, String>>,
}

impl KeyStore for SoftwareMemoryKeyStore {
    fn load_or_create(&self, profile: &str) -> Result<Arc<dyn DeviceKey>, ClientError> {
        let mut keys = self
            .keys
            .lock()
            .map_err(|_| ClientError::Keys("the key store's lock is poisoned".into()))?;
        if let Some(jwk) = keys.get(profile) {
            return SigningKey::from_private_jwk(jwk.as_bytes())
                .map(|k| Arc::new(SoftwareKey(k)) as Arc<dyn DeviceKey>)
                .map_err(|e| ClientError::Keys(e.to_string()));
        }
        let key = SigningKey::generate(Algorithm::Es256).map_err(|e| ClientError::Keys(e.to_string()))?;
        let jwk = key
            .to_private_jwk()
            .map_err(|e| ClientError::Keys(e.to_string()))?;
        keys.insert(profile.to_owned(), jwk.to_string());
        Ok(Arc::new(SoftwareKey(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_store_keeps_one_private_key_per_profile() {
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareFileKeyStore::new(dir.path());
        let first = store.load_or_create("laptop").unwrap();
        let again = store.load_or_create("laptop").unwrap();
        assert_eq!(first.thumbprint(), again.thumbprint());
        let other = store.load_or_create("phone").unwrap();
        assert_ne!(first.thumbprint(), other.thumbprint());
        assert_eq!(first.protection(), KeyProtection::Software);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(dir.path().join("laptop/device-key.jwk")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        for bad in ["", "../x", ".hidden", "a/b"] {
            assert!(
                matches!(store.load_or_create(bad), Err(ClientError::Keys(_))),
                "{bad:?}"
            );
        }
        std::fs::write(dir.path().join("broken/device-key.jwk"), b"{}").unwrap_err();
        std::fs::create_dir_all(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken/device-key.jwk"), b"not a key").unwrap();
        assert!(matches!(
            store.load_or_create("broken"),
            Err(ClientError::Keys(_))
        ));
    }

    #[test]
    fn a_memory_store_keeps_keys_for_its_life() {
        let store = SoftwareMemoryKeyStore::default();
        let a = store.load_or_create("x").unwrap();
        assert_eq!(a.thumbprint(), store.load_or_create("x").unwrap().thumbprint());
    }
}
