//! Published test vectors: RFC 7515 Appendix A.2 (RS256) and A.3 (ES256), RFC 9449 §4.1.

use tessera_jose::dpop::{DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache};
use tessera_jose::{Algorithm, ManualClock, PublicJwk, UnixTime, jws};

const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const A_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const A3_SIG: &str = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 9449 §4.1 (Figure 3): the proof for a token request, its key and thumbprint.
pub const RFC9449_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
pub const RFC9449_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
pub const RFC9449_IAT: i64 = 1_562_262_616;

#[test]
fn rfc7515_a2_rs256_verifies() {
    let key = PublicJwk::from_json(format!(r#"{{"kty":"RSA","n":"{A2_N}","e":"AQAB"}}"#).as_bytes()).unwrap();
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{A_PAYLOAD}.{A2_SIG}");
    let jws = jws::decode(&token).unwrap();
    assert_eq!(jws.header().alg, Algorithm::Rs256);
    jws.verify(&key).unwrap();
    // The same RSA key must not verify the signature as PS256 (no algorithm confusion).
    let ps = format!(
        "{}.{A_PAYLOAD}.{A2_SIG}",
        tessera_jose::b64::encode(br#"{"alg":"PS256"}"#)
    );
    assert!(jws::decode(&ps).unwrap().verify(&key).is_err());
}

#[test]
fn rfc7515_a3_es256_verifies() {
    let key = PublicJwk::from_json(
        br#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
    )
    .unwrap();
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{A_PAYLOAD}.{A3_SIG}");
    jws::decode(&token).unwrap().verify(&key).unwrap();
}

#[test]
fn rfc9449_example_proof_verifies() {
    let verifier = DpopVerifier::new(DpopConfig::default(), MemoryReplayCache::default());
    let clock = ManualClock::new(UnixTime(RFC9449_IAT + 5));
    let request = DpopRequest {
        proofs: &[RFC9449_PROOF],
        method: "POST",
        uri: "https://server.example.com/token",
        access_token: None,
        bound_jkt: None,
        nonce: None,
    };
    let proof = verifier.verify(&request, &clock).unwrap();
    assert_eq!(proof.jkt.as_str(), RFC9449_JKT);
    assert_eq!(proof.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(proof.iat, UnixTime(RFC9449_IAT));
    // The same proof a second time is a replay.
    assert_eq!(
        verifier.verify(&request, &clock).unwrap_err(),
        tessera_jose::dpop::DpopError::Replayed
    );
}
