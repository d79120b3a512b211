//! JWT-secured authorization requests (RFC 9101): what a verified request object says, as the
//! authorization request parameters it stands for.
//!
//! The object carries every parameter (§4) as a claim. Parameters are strings on the wire, so a
//! claim becomes one: strings as they are, integers (`max_age`) in decimal, booleans as
//! `true`/`false`, and JSON objects and arrays (`claims`, `authorization_details`) as their JSON
//! text, which is how they would travel in a query. The JWT's own claims (`iss`, `aud`, `exp`,
//! `nbf`, `iat`, `jti`) are about the object, not the request, and are left out. An object that
//! names `request` or `request_uri` is refused (§4: it MUST NOT).
//!
//! Signature, `typ` and time checks are [`crate::jwt::verify`]'s, with
//! [`crate::jwt::TokenKind::RequestObject`].

use std::collections::BTreeMap;

/// Claims of the JWT itself, not parameters of the request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];
/// Most parameters a request object may carry.
const MAX_PARAMETERS: usize = 64;

/// Why a request object's payload is not an authorization request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestObjectError {
    /// The payload is not a JSON object.
    #[error("the request object's payload is not a JSON object")]
    NotAnObject,
    /// It nests another request (RFC 9101 §4).
    #[error("a request object must not contain {0}")]
    Nested(&'static str),
    /// A parameter with a value no query could carry (a fraction, a huge number).
    #[error("parameter {0} has a value that is not a string, integer, boolean, object or array")]
    BadValue(String),
    /// More parameters than any authorization request has.
    #[error("the request object has more than {MAX_PARAMETERS} parameters")]
    TooMany,
}

/// The authorization request parameters of a request object's (verified) payload.
///
/// # Errors
/// [`RequestObjectError`] when the payload is not a JSON object, nests a request, or holds a
/// value no query parameter could.
pub fn parameters(payload: &[u8]) -> Result<BTreeMap<String, String>, RequestObjectError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| RequestObjectError::NotAnObject)?;
    let serde_json::Value::Object(members) = value else {
        return Err(RequestObjectError::NotAnObject);
    };
    if members.len() > MAX_PARAMETERS + JWT_CLAIMS.len() {
        return Err(RequestObjectError::TooMany);
    }
    for nested in ["request", "request_uri"] {
        if members.contains_key(nested) {
            return Err(RequestObjectError::Nested(nested));
        }
    }
    let mut params = BTreeMap::new();
    for (name, value) in members {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            serde_json::Value::Number(_) => return Err(RequestObjectError::BadValue(name)),
            v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)) => v.to_string(),
        };
        params.insert(name, text);
    }
    if params.len() > MAX_PARAMETERS {
        return Err(RequestObjectError::TooMany);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_the_parameters_a_query_would_carry() {
        // RFC 9101 §4's example object, with a max_age and a claims request added.
        let payload = br#"{"iss":"s6BhdRkqt3","aud":"https://server.example.com",
            "response_type":"code id_token","client_id":"s6BhdRkqt3",
            "redirect_uri":"https://client.example.org/cb","scope":"openid",
            "state":"af0ifjsldkj","nonce":"n-0S6_WzA2Mj","max_age":86400,
            "claims":{"userinfo":{"given_name":{"essential":true}}},"exp":1700000300,"nbf":null}"#;
        let params = parameters(payload).unwrap();
        assert_eq!(params["response_type"], "code id_token");
        assert_eq!(params["client_id"], "s6BhdRkqt3");
        assert_eq!(params["max_age"], "86400");
        assert_eq!(
            params["claims"],
            r#"{"userinfo":{"given_name":{"essential":true}}}"#
        );
        for jwt_claim in ["iss", "aud", "exp", "nbf"] {
            assert!(!params.contains_key(jwt_claim), "{jwt_claim}");
        }
    }

    #[test]
    fn what_no_authorization_request_can_be_is_refused() {
        let cases: [(&[u8], RequestObjectError); 6] = [
            (b"[]", RequestObjectError::NotAnObject),
            (b"\"code\"", RequestObjectError::NotAnObject),
            (b"{", RequestObjectError::NotAnObject),
            (
                br#"{"client_id":"a","request":"eyJ..."}"#,
                RequestObjectError::Nested("request"),
            ),
            (
                br#"{"client_id":"a","request_uri":"urn:x"}"#,
                RequestObjectError::Nested("request_uri"),
            ),
            (
                br#"{"max_age":1.5}"#,
                RequestObjectError::BadValue("max_age".into()),
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(
                parameters(payload),
                Err(want),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        let many: serde_json::Map<String, serde_json::Value> =
            (0..100).map(|i| (format!("p{i}"), "v".into())).collect();
        assert_eq!(
            parameters(serde_json::Value::Object(many).to_string().as_bytes()),
            Err(RequestObjectError::TooMany)
        );
    }
}
