//! `TPM2_MakeCredential` in software (TPM 2.0 Part 1 §24, Part 3 §12.6): a secret sealed so
//! that only the TPM holding the endorsement key can recover it with `TPM2_ActivateCredential`,
//! and only while the object with the given Name is loaded in it.
//!
//! For an RSA 2048 EK with the standard template (nameAlg SHA-256, AES-128-CFB):
//! a random seed is encrypted to the EK with RSA-OAEP-SHA256, label `IDENTITY\0`; from the seed
//! KDFa derives an AES-128 key (label `STORAGE`, context the Name) and an HMAC key (label
//! `INTEGRITY`); the secret, as a `TPM2B_DIGEST`, is encrypted with AES-128-CFB (zero IV) and
//! the HMAC over the ciphertext and the Name protects it.

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};

use super::endorsement::Endorsement;
use super::wire::put_sized;
use crate::{AttestError, Result};

/// What the client passes to `TPM2_ActivateCredential`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The `TPM2B_ID_OBJECT`'s contents: integrity HMAC (as a `TPM2B_DIGEST`) and the encrypted
    /// secret.
    pub id_object: Vec<u8>,
    /// The `TPM2B_ENCRYPTED_SECRET`'s contents: the seed, encrypted to the EK.
    pub encrypted_secret: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id_object", &self.id_object.len())
            .field("encrypted_secret", &self.encrypted_secret.len())
            .finish()
    }
}

/// KDFa (TPM 2.0 Part 1 §11.4.10.2): SP 800-108 counter mode with HMAC-SHA256.
pub(crate) fn kdfa(key: &[u8], label: &str, context_u: &[u8], context_v: &[u8], bits: u32) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let bytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(bytes + 32);
    let mut counter: u32 = 1;
    while out.len() < bytes {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&counter.to_be_bytes());
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(context_u);
        ctx.update(context_v);
        ctx.update(&bits.to_be_bytes());
        out.extend_from_slice(ctx.sign().as_ref());
        counter += 1;
    }
    out.truncate(bytes);
    out
}

/// Makes the credential for `object_name` (the AK's Name) carrying `secret` (at most 32
/// bytes), with `seed` (32 random bytes from the caller) encrypted to the EK.
///
/// # Errors
/// [`AttestError::Unsupported`] for a secret over 32 bytes; [`AttestError::Crypto`].
pub fn make_credential(
    ek: &Endorsement,
    object_name: &[u8],
    secret: &[u8],
    seed: &[u8; 32],
) -> Result<Credential> {
    if secret.len() > 32 {
        return Err(AttestError::Unsupported {
            structure: "TPM2B_DIGEST",
            detail: "a credential is at most 32 bytes".into(),
        });
    }
    let public = PublicEncryptingKey::from_der(ek.public_key_der())
        .map_err(|_| AttestError::Endorsement("the endorsement key is not an RSA encryption key".into()))?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| AttestError::Crypto)?;
    let mut encrypted_secret = vec![0; oaep.ciphertext_size()];
    let n = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            seed,
            &mut encrypted_secret,
            Some(b"IDENTITY\0"),
        )
        .map_err(|_| AttestError::Crypto)?
        .len();
    encrypted_secret.truncate(n);

    let sym_key = kdfa(seed, "STORAGE", object_name, &[], 128);
    let hmac_key = kdfa(seed, "INTEGRITY", &[], &[], 256);

    let mut enc_identity = Vec::with_capacity(secret.len() + 2);
    put_sized(&mut enc_identity, secret)?;
    let key = UnboundCipherKey::new(&AES_128, &sym_key).map_err(|_| AttestError::Crypto)?;
    EncryptingKey::cfb128(key)
        .and_then(|k| {
            k.less_safe_encrypt(
                &mut enc_identity,
                EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
            )
        })
        .map_err(|_| AttestError::Crypto)?;

    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &hmac_key));
    ctx.update(&enc_identity);
    ctx.update(object_name);
    let integrity = ctx.sign();

    let mut id_object = Vec::with_capacity(2 + 32 + enc_identity.len());
    put_sized(&mut id_object, integrity.as_ref())?;
    id_object.extend_from_slice(&enc_identity);
    Ok(Credential {
        id_object,
        encrypted_secret,
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext};
    use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
    use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};

    use super::*;

    /// What a TPM's `TPM2_ActivateCredential` does, written from Part 1 §24 independently of
    /// `make_credential`, so the two meet only in the specification.
    fn activate(private: &PrivateDecryptingKey, name: &[u8], c: &Credential) -> Option<Vec<u8>> {
        let oaep = OaepPrivateDecryptingKey::new(private.clone()).ok()?;
        let mut seed = vec![0; oaep.min_output_size()];
        let seed = oaep
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &c.encrypted_secret,
                &mut seed,
                Some(b"IDENTITY\0"),
            )
            .ok()?
            .to_vec();
        let hmac_key = kdfa(&seed, "INTEGRITY", &[], &[], 256);
        let (size, rest) = c.id_object.split_at(2);
        let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
        let (integrity, enc) = rest.split_at(size);
        let mut message = enc.to_vec();
        message.extend_from_slice(name);
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &hmac_key), &message, integrity).ok()?;
        let sym = kdfa(&seed, "STORAGE", name, &[], 128);
        let mut plain = enc.to_vec();
        let key = DecryptingKey::cfb128(UnboundCipherKey::new(&AES_128, &sym).ok()?).ok()?;
        let plain = key
            .decrypt(&mut plain, DecryptionContext::Iv128(FixedLength::from([0u8; 16])))
            .ok()?;
        Some(plain[2..].to_vec())
    }

    #[test]
    fn kdfa_counts_blocks_and_truncates() {
        let long = kdfa(b"key", "STORAGE", b"u", b"v", 384);
        assert_eq!(long.len(), 48);
        // The first block does not depend on how many blocks follow, except through `bits`.
        let short = kdfa(b"key", "STORAGE", b"u", b"v", 128);
        assert_eq!(short.len(), 16);
        assert_ne!(&long[..16], &short[..]);
    }

    #[test]
    fn only_the_ek_and_only_for_that_name_recovers_the_secret() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der: PublicKeyX509Der<'_> = private.public_key().as_der().unwrap();
        let der = der.as_ref().to_vec();
        let ek = Endorsement::for_tests(der);
        let name = [0x00, 0x0B, 7, 7, 7];
        let c = make_credential(&ek, &name, b"the secret", &[9; 32]).unwrap();
        assert_eq!(c.encrypted_secret.len(), 256);
        assert_eq!(activate(&private, &name, &c).as_deref(), Some(&b"the secret"[..]));
        assert_eq!(activate(&private, &[0x00, 0x0B, 7, 7, 8], &c), None);
        let other = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        assert_eq!(activate(&other, &name, &c), None);
        assert!(make_credential(&ek, &name, &[0; 33], &[9; 32]).is_err());
    }
}
