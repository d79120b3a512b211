//! Reading TPM marshalled structures: big-endian integers and `TPM2B_*` sized buffers, with
//! every length checked against what is left.

use crate::{AttestError, Result};

/// A cursor over one structure's bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    structure: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(bytes: &'a [u8], structure: &'static str) -> Self {
        Self { bytes, structure }
    }

    pub(crate) fn malformed(&self, detail: impl Into<String>) -> AttestError {
        AttestError::Malformed {
            structure: self.structure,
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(self.malformed(format!(
                "ends inside {what} ({n} bytes needed, {} left)",
                self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A `TPM2B_*`: a 16-bit size, then that many bytes.
    pub(crate) fn sized(&mut self, what: &str) -> Result<&'a [u8]> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }

    /// The structure must end here.
    pub(crate) fn finish(self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(format!("{} bytes after the end", self.bytes.len())))
        }
    }
}

/// Appends a `TPM2B_*` of `bytes`.
pub(crate) fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let n = u16::try_from(bytes.len()).map_err(|_| AttestError::Crypto)?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2], "TPM2B_TEST");
        let e = r.sized("buffer").unwrap_err();
        assert_eq!(
            e.to_string(),
            "TPM2B_TEST is malformed: ends inside buffer (5 bytes needed, 2 left)"
        );
        let mut r = Reader::new(&[0x00, 0x01, 7, 9], "TPM2B_TEST");
        assert_eq!(r.sized("buffer").unwrap(), &[7]);
        assert!(r.finish().is_err());
    }
}
