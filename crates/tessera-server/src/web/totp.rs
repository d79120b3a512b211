//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 30-second steps, six
//! digits, one step of drift either way. Each step can be used once per method (the store
//! records the last step used).

use aws_lc_rs::hmac;

/// Seconds per step.
pub const STEP: i64 = 30;
const DIGITS: u32 = 6;

/// The code for `step` under `secret` (RFC 4226 §5.3 dynamic truncation).
#[must_use]
pub fn code(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % 10u32.pow(DIGITS)
}

/// The step (within one of `now`'s) whose code is `presented`, if any.
#[must_use]
pub fn matching_step(secret: &[u8], presented: &str, now_secs: i64) -> Option<i64> {
    let presented = presented.trim();
    if presented.len() != DIGITS as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = presented.parse().ok()?;
    let current = now_secs.div_euclid(STEP);
    [current, current - 1, current + 1]
        .into_iter()
        .find(|&step| constant_time_eq(code(secret, step), value))
}

fn constant_time_eq(a: u32, b: u32) -> bool {
    (a ^ b) == 0
}

/// Decodes a base32 secret (RFC 4648, case-insensitive, padding and spaces ignored).
#[must_use]
pub fn decode_secret(base32: &str) -> Option<Vec<u8>> {
    let cleaned: String = base32
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(cleaned.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (the last six digits of each eight-digit value).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59_i64, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(code(secret, time / STEP), expected, "at {time}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_nothing_malformed() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let prev = format!("{:06}", code(secret, now / STEP - 1));
        assert_eq!(matching_step(secret, &prev, now), Some(now / STEP - 1));
        let far = format!("{:06}", code(secret, now / STEP - 3));
        assert_eq!(matching_step(secret, &far, now), None);
        for bad in ["", "12345", "1234567", "12a456", "-12345", "１２３４５６"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_secrets() {
        assert_eq!(decode_secret("GEZD GNBV gy3t qojq").unwrap(), b"1234567890");
        assert!(decode_secret("not base32!").is_none());
    }
}
