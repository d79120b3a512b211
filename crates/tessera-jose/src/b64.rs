//! Strict base64url without padding (RFC 7515 §2), the only encoding JOSE uses on the wire.
//!
//! Decoding refuses padding, characters outside the URL-safe alphabet and non-canonical
//! trailing bits, so every accepted string has exactly one encoding. That matters for
//! thumbprints: re-encoding a decoded member gives back the very string that was hashed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The input was not canonical base64url without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not canonical base64url")]
pub struct Base64Error;

/// Encodes bytes as base64url without padding.
#[must_use]
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical base64url without padding.
///
/// # Errors
/// [`Base64Error`] for padding, a foreign alphabet or non-zero trailing bits.
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Base64Error)
}

/// Decodes into a fixed-size array, refusing any other length.
///
/// # Errors
/// [`Base64Error`] when the text is not canonical or decodes to another length.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], Base64Error> {
    let mut out = [0u8; N];
    // A buffer one byte longer detects over-long input without a second allocation.
    let mut buf = [0u8; 128];
    if N >= buf.len() || text.len() > (buf.len() * 4).div_ceil(3) {
        return Err(Base64Error);
    }
    let n = URL_SAFE_NO_PAD
        .decode_slice(text, &mut buf)
        .map_err(|_| Base64Error)?;
    if n != N {
        return Err(Base64Error);
    }
    out.copy_from_slice(&buf[..N]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8").unwrap(), b"\xfb\xff");
    }

    #[test]
    fn refuses_padding_standard_alphabet_and_trailing_bits() {
        assert_eq!(decode("-_8="), Err(Base64Error));
        assert_eq!(decode("+/8"), Err(Base64Error));
        // "-_9" decodes to the same bytes as "-_8" with a non-zero trailing bit.
        assert_eq!(decode("-_9"), Err(Base64Error));
        assert_eq!(decode("a b"), Err(Base64Error));
    }

    #[test]
    fn decode_array_checks_length() {
        let text = encode([7u8; 32]);
        assert_eq!(decode_array::<32>(&text).unwrap(), [7u8; 32]);
        assert_eq!(decode_array::<31>(&text), Err(Base64Error));
        assert_eq!(decode_array::<33>(&text), Err(Base64Error));
        assert_eq!(decode_array::<32>(&"A".repeat(400)), Err(Base64Error));
    }
}
