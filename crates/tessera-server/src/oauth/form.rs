//! Request bodies of the token, pushed-authorization, introspection and revocation endpoints: `application/x-www-form-urlencoded`, each parameter at most
//! once (RFC 6749 §3.2), parameters without a value treated as absent.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::error::OAuthError;

/// The largest body accepted at the token endpoint.
pub const MAX_BODY: usize = 64 * 1024;

/// A parsed form.
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    /// Parses `body`, checking the content type.
    ///
    /// # Errors
    /// `invalid_request` for another content type, a repeated parameter or an oversized body.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        if body.len() > MAX_BODY {
            return Err(OAuthError::invalid_request("the request body is too large"));
        }
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(map))
    }

    /// A parameter.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every parameter.
    #[must_use]
    pub fn params(&self) -> &HashMap<String, String> {
        &self.0
    }

    /// A required parameter.
    ///
    /// # Errors
    /// `invalid_request` naming it when absent.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}
