//! The bodies of RFC 8936 (poll) and RFC 8935 (push) exchanges.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An error a receiver reports for a SET (RFC 8935 §2.3, RFC 8936 `setErrs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetError {
    /// `invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience`,
    /// `authentication_failed` or `access_denied`.
    pub err: String,
    /// For people.
    pub description: String,
}

/// The error codes RFC 8935 §2.3 registers.
pub const ERROR_CODES: [&str; 6] = [
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
];

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    /// At most this many SETs; `Some(0)` only acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    /// Answer at once even when nothing is waiting (otherwise the transmitter may wait).
    #[serde(default)]
    pub return_immediately: bool,
    /// `jti`s of SETs received and processed.
    #[serde(default)]
    pub ack: Vec<String>,
    /// `jti`s of SETs received but refused, with why.
    #[serde(default)]
    pub set_errs: BTreeMap<String, SetError>,
}

/// A malformed poll request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid poll request: {0}")]
pub struct PollError(pub String);

/// The most SETs one poll may return.
pub const MAX_EVENTS_PER_POLL: u32 = 1000;
/// The most acknowledgements one poll may carry.
pub const MAX_ACKS_PER_POLL: usize = 10_000;

impl PollRequest {
    /// Parses a poll body, refusing unusable values.
    ///
    /// # Errors
    /// [`PollError`] naming the problem.
    pub fn parse(body: &[u8]) -> Result<Self, PollError> {
        // serde would also accept a struct written as an array; RFC 8936 bodies are objects.
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| PollError(e.to_string()))?;
        if !value.is_object() {
            return Err(PollError("the body must be a JSON object".into()));
        }
        let req: Self = serde_json::from_value(value).map_err(|e| PollError(e.to_string()))?;
        if req.ack.len() + req.set_errs.len() > MAX_ACKS_PER_POLL {
            return Err(PollError(format!(
                "more than {MAX_ACKS_PER_POLL} acknowledgements"
            )));
        }
        if let Some((jti, e)) = req
            .set_errs
            .iter()
            .find(|(_, e)| !ERROR_CODES.contains(&e.err.as_str()))
        {
            return Err(PollError(format!(
                "setErrs[{jti}] has an unregistered err {:?}",
                e.err
            )));
        }
        Ok(req)
    }

    /// How many SETs to return, capped.
    #[must_use]
    pub fn limit(&self) -> u32 {
        self.max_events
            .unwrap_or(MAX_EVENTS_PER_POLL)
            .min(MAX_EVENTS_PER_POLL)
    }
}

/// A poll response (RFC 8936 §2.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    /// SETs by `jti`.
    pub sets: BTreeMap<String, String>,
    /// Whether more are waiting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more_available: bool,
}
