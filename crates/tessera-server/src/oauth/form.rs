//! Request bodies of the token, pushed-authorization, introspection and revocation endpoints:
//! `application/x-www-form-urlencoded`, each parameter at most once (RFC 6749 §3.2) except the
//! target parameters `resource` (RFC 8707 §2) and `audience` (RFC 8693 §2.1), parameters without
//! a value treated as absent.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::error::OAuthError;

/// The largest body accepted at the token endpoint.
pub const MAX_BODY: usize = 64 * 1024;

/// Parameters that may be given more than once: each names a target the token is for.
const TARGETS: [&str; 2] = ["resource", "audience"];

/// A parsed form.
#[derive(Debug, Default)]
pub struct Form {
    /// Each parameter's (first) value.
    params: HashMap<String, String>,
    /// The second and later values of a repeated target parameter, in order.
    more: Vec<(String, String)>,
}

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
        let mut form = Self::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if form.params.contains_key(k.as_ref()) {
                if !TARGETS.contains(&k.as_ref()) {
                    return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
                }
                form.more.push((k.into_owned(), v.into_owned()));
            } else {
                form.params.insert(k.into_owned(), v.into_owned());
            }
        }
        Ok(form)
    }

    /// A parameter (the first value of a repeated target parameter: see [`all`](Self::all)).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Every value of a parameter, in order: more than one only for `resource` and `audience`.
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .into_iter()
            .chain(
                self.more
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str()),
            )
            .collect()
    }

    /// The one `resource` of a request for a single audience (RFC 8707 §2), if any.
    ///
    /// # Errors
    /// `invalid_target` when there are several: a token of Tessera has one audience.
    pub fn one_resource(&self) -> Result<Option<&str>, OAuthError> {
        match self.all("resource").as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(OAuthError::invalid_target(
                "one resource per request: each access token has a single audience",
            )),
        }
    }

    /// Every parameter (the first value of each).
    #[must_use]
    pub fn params(&self) -> &HashMap<String, String> {
        &self.params
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
