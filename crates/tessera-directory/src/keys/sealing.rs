//! Private signing keys at rest: each is sealed (AES-256-GCM, the key id as associated data)
//! under a key-encryption key that is never in the database, so a copied database alone signs
//! nothing.
//!
//! The key-encryption key comes from, in order: the `TESSERA_KEY_ENCRYPTION_KEY` environment
//! variable, a command whose standard output is the key (a KMS or secret-manager hook), or a
//! file (mode 0600, `key-encryption.key` in the data directory unless configured otherwise),
//! created on first run. Its text is 32 random bytes in base64url.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use tessera_jose::b64;
use zeroize::Zeroizing;

/// What sealed text starts with; a private JWK (legacy, unsealed) starts with `{`.
const SEALED_PREFIX: &str = "kek1.";

/// Where the key-encryption key comes from.
#[derive(Clone)]
pub enum KekSource {
    /// The key itself (base64url), from the environment.
    Value(Zeroizing<String>),
    /// A program and its arguments; its standard output is the key.
    Command(Vec<String>),
    /// A file holding the key, created (mode 0600) when missing and no key is sealed yet.
    File {
        /// The file.
        path: PathBuf,
        /// Whether a file that other users can read is accepted.
        allow_readable: bool,
    },
}

impl std::fmt::Debug for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("environment (TESSERA_KEY_ENCRYPTION_KEY)"),
            Self::Command(argv) => write!(f, "command {:?}", argv.first().map_or("", String::as_str)),
            Self::File { path, .. } => write!(f, "file {}", path.display()),
        }
    }
}

/// Why the key-encryption key is unavailable, or a sealed key does not open.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The database's keys are sealed, and this node has no key-encryption key.
    #[error(
        "the signing keys in the database are sealed under key-encryption key {sealed_under}, and {path} does not exist; \
         copy that file from the node that made it, or set TESSERA_KEY_ENCRYPTION_KEY"
    )]
    Missing {
        /// Where the file was looked for.
        path: String,
        /// The id of the key the database needs.
        sealed_under: String,
    },
    /// The key's text is not 32 bytes of base64url.
    #[error(
        "key-encryption key from {from}: not 32 bytes in base64url (make one with `openssl rand 32 | basenc --base64url`)"
    )]
    Malformed {
        /// Where it came from.
        from: String,
    },
    /// The file is readable by other users.
    #[error(
        "{path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`, or set security.allow_readable_data_dir"
    )]
    Readable {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// Reading or creating the file, or running the command, failed.
    #[error("key-encryption key from {from}: {message}")]
    Io {
        /// Where it came from.
        from: String,
        /// What failed.
        message: String,
    },
    /// A sealed key was sealed under another key-encryption key, or was altered.
    #[error(
        "signing key {kid} does not open with key-encryption key {have}: it was sealed under {sealed_under}"
    )]
    WrongKey {
        /// The signing key.
        kid: String,
        /// This node's key-encryption key.
        have: String,
        /// The one the sealed text names.
        sealed_under: String,
    },
    /// Sealing failed (the system's cipher or random source).
    #[error("cannot seal signing key {0}")]
    Seal(String),
}

/// The key that seals and opens private signing keys.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Whether `stored` (a signing key record's private part) is sealed.
#[must_use]
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The id of the key-encryption key `stored` was sealed under.
#[must_use]
pub fn sealed_under(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(SEALED_PREFIX)?
        .split_once('.')
        .map(|(id, _)| id)
}

impl KeyEncryptionKey {
    /// The key from 32 bytes.
    ///
    /// # Errors
    /// Never for 32 bytes; [`KekError::Malformed`] otherwise.
    pub fn from_bytes(bytes: &[u8], from: &str) -> Result<Self, KekError> {
        let malformed = || KekError::Malformed {
            from: from.to_owned(),
        };
        if bytes.len() != 32 {
            return Err(malformed());
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| malformed())?;
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"tessera key-encryption key id\0");
        ctx.update(bytes);
        let digest = ctx.finish();
        let id = data_encoding::HEXLOWER.encode(&digest.as_ref()[..6]);
        Ok(Self {
            key: LessSafeKey::new(key),
            id,
        })
    }

    fn from_text(text: &str, from: &str) -> Result<Self, KekError> {
        let bytes = Zeroizing::new(b64::decode(text.trim()).map_err(|_| KekError::Malformed {
            from: from.to_owned(),
        })?);
        Self::from_bytes(&bytes, from)
    }

    /// This key's id (public: it names the key, it reveals nothing of it).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals the private JWK of signing key `kid`.
    ///
    /// # Errors
    /// [`KekError::Seal`] when the random source or cipher fails.
    pub fn seal(&self, kid: &str, private_jwk: &str) -> Result<String, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KekError::Seal(kid.to_owned()))?;
        let mut sealed = private_jwk.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(kid), &mut sealed)
            .map_err(|_| KekError::Seal(kid.to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}.{}", self.id, b64::encode(out)))
    }

    /// Opens what [`Self::seal`] made for `kid`.
    ///
    /// # Errors
    /// [`KekError::WrongKey`] when it was sealed under another key, for another key id, or
    /// altered.
    pub fn open(&self, kid: &str, stored: &str) -> Result<Zeroizing<String>, KekError> {
        let wrong = || KekError::WrongKey {
            kid: kid.to_owned(),
            have: self.id.clone(),
            sealed_under: sealed_under(stored).unwrap_or("(unreadable)").to_owned(),
        };
        let body = stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .map(|(_, body)| body)
            .ok_or_else(wrong)?;
        let bytes = b64::decode(body).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, aad(kid), &mut buf)
            .map_err(|_| wrong())?;
        let text = std::str::from_utf8(plain).map_err(|_| wrong())?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

fn aad(kid: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("tessera signing key\0{kid}").into_bytes())
}

impl KekSource {
    /// The source for a data directory, as `tessera serve` and the CLI resolve it: the
    /// environment's key if set, else `file` (default: `key-encryption.key` in `data_dir`).
    #[must_use]
    pub fn resolve(
        data_dir: &Path,
        file: Option<PathBuf>,
        command: Option<Vec<String>>,
        allow_readable: bool,
    ) -> Self {
        if let Ok(value) = std::env::var("TESSERA_KEY_ENCRYPTION_KEY")
            && !value.is_empty()
        {
            return Self::Value(Zeroizing::new(value));
        }
        if let Some(argv) = command.filter(|a| !a.is_empty()) {
            return Self::Command(argv);
        }
        Self::File {
            path: file.unwrap_or_else(|| data_dir.join("key-encryption.key")),
            allow_readable,
        }
    }

    /// The key. A missing file is created when `sealed_under` is `None` (nothing is sealed
    /// yet); otherwise its absence is [`KekError::Missing`].
    ///
    /// # Errors
    /// [`KekError`] naming the source and what to do.
    pub fn obtain(&self, sealed_under: Option<&str>) -> Result<KeyEncryptionKey, KekError> {
        match self {
            Self::Value(text) => KeyEncryptionKey::from_text(text, "TESSERA_KEY_ENCRYPTION_KEY"),
            Self::Command(argv) => {
                let from = format!("the command {:?}", argv[0]);
                let out = std::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| KekError::Io {
                        from: from.clone(),
                        message: e.to_string(),
                    })?;
                let stdout = Zeroizing::new(out.stdout);
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    return Err(KekError::Io {
                        from,
                        message: format!(
                            "exited with {}: {}",
                            out.status,
                            stderr.lines().next().unwrap_or("")
                        ),
                    });
                }
                let text =
                    std::str::from_utf8(&stdout).map_err(|_| KekError::Malformed { from: from.clone() })?;
                KeyEncryptionKey::from_text(text, &from)
            }
            Self::File { path, allow_readable } => {
                let shown = path.display().to_string();
                match std::fs::metadata(path) {
                    Ok(meta) => {
                        let mode = meta.permissions().mode() & 0o777;
                        if mode & 0o077 != 0 && !allow_readable {
                            return Err(KekError::Readable { path: shown, mode });
                        }
                        let text =
                            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| KekError::Io {
                                from: shown.clone(),
                                message: e.to_string(),
                            })?);
                        KeyEncryptionKey::from_text(&text, &shown)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => match sealed_under {
                        Some(id) => Err(KekError::Missing {
                            path: shown,
                            sealed_under: id.to_owned(),
                        }),
                        None => create(path),
                    },
                    Err(e) => Err(KekError::Io {
                        from: shown,
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
}

/// A new key in a new file (mode 0600 from the start; written beside and renamed, so a crash
/// never leaves half a key).
fn create(path: &Path) -> Result<KeyEncryptionKey, KekError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| KekError::Io {
        from: shown.clone(),
        message: e.to_string(),
    };
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| KekError::Seal("(key-encryption key)".into()))?;
    let text = Zeroizing::new(b64::encode(bytes.as_ref()));
    let tmp = path.with_extension("key.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::hard_link(&tmp, path).map_err(io)?;
    let _ = std::fs::remove_file(&tmp);
    KeyEncryptionKey::from_bytes(bytes.as_ref(), &shown)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(&[byte; 32], "test").unwrap()
    }

    #[test]
    fn seals_and_opens_for_the_same_kid_only() {
        let k = kek(1);
        let sealed = k.seal("kid-1", r#"{"d":"secret"}"#).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("secret"));
        assert_eq!(sealed_under(&sealed), Some(k.id()));
        assert_eq!(k.open("kid-1", &sealed).unwrap().as_str(), r#"{"d":"secret"}"#);
        assert!(matches!(k.open("kid-2", &sealed), Err(KekError::WrongKey { .. })));
        assert!(matches!(
            kek(2).open("kid-1", &sealed),
            Err(KekError::WrongKey { .. })
        ));
    }

    #[test]
    fn altered_or_truncated_text_does_not_open() {
        let k = kek(3);
        let sealed = k.seal("k", "{}").unwrap();
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        for bad in [
            String::from_utf8(altered).unwrap(),
            sealed[..sealed.len() - 4].to_owned(),
            "kek1.".into(),
            "kek1.x.".into(),
            "{}".into(),
        ] {
            assert!(k.open("k", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let source = KekSource::File {
            path: path.clone(),
            allow_readable: false,
        };
        let made = source.obtain(None).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(source.obtain(Some(made.id())).unwrap().id(), made.id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(source.obtain(None), Err(KekError::Readable { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            source.obtain(Some("abc")),
            Err(KekError::Missing { .. })
        ));
    }

    #[test]
    fn malformed_values_and_failing_commands_are_refused() {
        assert!(matches!(
            KekSource::Value(Zeroizing::new("short".into())).obtain(None),
            Err(KekError::Malformed { .. })
        ));
        assert!(matches!(
            KekSource::Command(vec!["false".into()]).obtain(None),
            Err(KekError::Io { .. })
        ));
        let key = b64::encode([7u8; 32]);
        let from_command = KekSource::Command(vec!["echo".into(), key]).obtain(None).unwrap();
        assert_eq!(from_command.id(), kek(7).id());
    }
}
