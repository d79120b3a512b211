//! SSF 1.0 stream configuration: what a receiver may ask for, and what the transmitter sets.
//!
//! A receiver supplies `events_requested`, `delivery` and `description`. The transmitter sets
//! `stream_id`, `iss`, `aud`, `events_supported`, `events_delivered` (supported ∩ requested),
//! `min_verification_interval` and `inactivity_timeout`. A create request without `delivery`
//! means poll, at an endpoint the transmitter chooses. Updates may repeat transmitter-set values
//! but never change them; `aud` in particular cannot change.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_jose::jwt::Audience;

/// RFC 8935 push delivery.
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// RFC 8936 poll delivery.
pub const POLL: &str = "urn:ietf:rfc:8936";

/// A stream request the transmitter must refuse; [`StreamError::status`] gives the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Not a JSON object of the right shape, or a value that makes no sense (400).
    #[error("{0}")]
    Malformed(String),
    /// An attempt to change something only the transmitter sets (400).
    #[error("{0} is set by the transmitter and cannot be changed")]
    TransmitterSupplied(&'static str),
}

impl StreamError {
    /// The HTTP status to answer with.
    #[must_use]
    pub const fn status(&self) -> u16 {
        400
    }
}

/// How events reach the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// [`PUSH`] or [`POLL`].
    pub method: String,
    /// Push: the receiver's endpoint. Poll: the transmitter's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Push: the exact `Authorization` header value to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_header: Option<String>,
}

/// A stream's configuration as the transmitter keeps and returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// The stream's id.
    pub stream_id: String,
    /// The transmitter.
    pub iss: String,
    /// The receiver's audience.
    pub aud: Audience,
    /// Event types the transmitter can send.
    pub events_supported: Vec<String>,
    /// Event types the receiver asked for.
    pub events_requested: Vec<String>,
    /// Event types that will be sent: supported ∩ requested.
    pub events_delivered: Vec<String>,
    /// Push or poll.
    pub delivery: Delivery,
    /// Minimum seconds between verification requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_verification_interval: Option<u64>,
    /// A note from the receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds of receiver inactivity after which the transmitter may pause the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout: Option<u64>,
    /// The subject identifier format the receiver wants in `sub_id` (one of
    /// [`SUBJECT_FORMATS`]); absent means the transmitter's choice (`iss_sub` for users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The subject identifier formats a receiver may ask for in a stream's `format`.
pub const SUBJECT_FORMATS: [&str; 3] = ["iss_sub", "email", "opaque"];

/// What the transmitter decides for a new stream.
#[derive(Debug, Clone)]
pub struct TransmitterSettings<'a> {
    /// The new stream's id.
    pub stream_id: &'a str,
    /// The transmitter's issuer.
    pub issuer: &'a str,
    /// The receiver's audience (its client id or API identifier).
    pub audience: &'a str,
    /// Event types this transmitter sends.
    pub events_supported: &'a [String],
    /// The poll endpoint for this stream.
    pub poll_endpoint: &'a str,
    /// Minimum seconds between verification requests.
    pub min_verification_interval: u64,
    /// Whether push endpoints may use `http://` on a loopback address (demos and tests).
    pub allow_http_loopback: bool,
}

/// The members a receiver sends when creating or changing a stream. Unknown members are ignored;
/// transmitter-set members are checked, not taken.
#[derive(Debug, Clone, Default, Deserialize)]
struct ReceiverFields {
    events_requested: Option<Vec<String>>,
    delivery: Option<Delivery>,
    description: Option<String>,
    stream_id: Option<String>,
    iss: Option<String>,
    aud: Option<Audience>,
    events_supported: Option<Vec<String>>,
    format: Option<String>,
}

const MAX_DESCRIPTION: usize = 1024;
const MAX_EVENTS: usize = 64;

fn parse_fields(body: &Value) -> Result<ReceiverFields, StreamError> {
    if !body.is_object() {
        return Err(StreamError::Malformed(
            "the request body must be a JSON object".into(),
        ));
    }
    let fields: ReceiverFields =
        serde_json::from_value(body.clone()).map_err(|e| StreamError::Malformed(e.to_string()))?;
    if let Some(events) = &fields.events_requested {
        if events.len() > MAX_EVENTS {
            return Err(StreamError::Malformed(format!(
                "events_requested lists more than {MAX_EVENTS} events"
            )));
        }
        if let Some(bad) = events.iter().find(|e| url::Url::parse(e).is_err()) {
            return Err(StreamError::Malformed(format!(
                "events_requested has a value that is not a URI: {bad:?}"
            )));
        }
    }
    if fields
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION)
    {
        return Err(StreamError::Malformed(format!(
            "description is longer than {MAX_DESCRIPTION} bytes"
        )));
    }
    if let Some(format) = &fields.format
        && !SUBJECT_FORMATS.contains(&format.as_str())
    {
        return Err(StreamError::Malformed(format!(
            "format {format:?} is not one of {}",
            SUBJECT_FORMATS.join(", ")
        )));
    }
    Ok(fields)
}

fn delivered(supported: &[String], requested: &[String]) -> Vec<String> {
    let requested: BTreeSet<&String> = requested.iter().collect();
    supported
        .iter()
        .filter(|e| requested.contains(e))
        .cloned()
        .collect()
}

fn check_delivery(d: Option<Delivery>, s: &TransmitterSettings<'_>) -> Result<Delivery, StreamError> {
    let Some(d) = d else {
        return Ok(Delivery {
            method: POLL.into(),
            endpoint_url: Some(s.poll_endpoint.into()),
            authorization_header: None,
        });
    };
    match d.method.as_str() {
        POLL => Ok(Delivery {
            method: POLL.into(),
            endpoint_url: Some(s.poll_endpoint.into()),
            authorization_header: None,
        }),
        PUSH => {
            let endpoint = d
                .endpoint_url
                .ok_or_else(|| StreamError::Malformed("push delivery needs endpoint_url".into()))?;
            let url = url::Url::parse(&endpoint)
                .map_err(|_| StreamError::Malformed("endpoint_url is not a URL".into()))?;
            let loopback = url.host().is_some_and(|h| match h {
                url::Host::Domain(d) => d == "localhost",
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            });
            let ok = url.scheme() == "https" || (s.allow_http_loopback && url.scheme() == "http" && loopback);
            if !ok || url.fragment().is_some() {
                return Err(StreamError::Malformed(
                    "endpoint_url must be an https URL without a fragment".into(),
                ));
            }
            if d.authorization_header
                .as_ref()
                .is_some_and(|h| h.contains(['\r', '\n']))
            {
                return Err(StreamError::Malformed(
                    "authorization_header must be a single header value".into(),
                ));
            }
            Ok(Delivery {
                method: PUSH.into(),
                endpoint_url: Some(endpoint),
                authorization_header: d.authorization_header,
            })
        }
        other => Err(StreamError::Malformed(format!(
            "unsupported delivery method {other:?}"
        ))),
    }
}

impl StreamConfig {
    /// A new stream from a receiver's create request.
    ///
    /// # Errors
    /// [`StreamError`] for a malformed request.
    pub fn create(body: &Value, s: &TransmitterSettings<'_>) -> Result<Self, StreamError> {
        let f = parse_fields(body)?;
        let requested = f.events_requested.unwrap_or_default();
        Ok(Self {
            stream_id: s.stream_id.into(),
            iss: s.issuer.into(),
            aud: Audience::One(s.audience.into()),
            events_supported: s.events_supported.to_vec(),
            events_delivered: delivered(s.events_supported, &requested),
            events_requested: requested,
            delivery: check_delivery(f.delivery, s)?,
            min_verification_interval: Some(s.min_verification_interval),
            description: f.description,
            inactivity_timeout: None,
            format: f.format,
        })
    }

    fn check_transmitter_fields(&self, f: &ReceiverFields) -> Result<(), StreamError> {
        if f.stream_id.as_ref().is_some_and(|v| *v != self.stream_id) {
            return Err(StreamError::TransmitterSupplied("stream_id"));
        }
        if f.iss.as_ref().is_some_and(|v| *v != self.iss) {
            return Err(StreamError::TransmitterSupplied("iss"));
        }
        if f.aud.as_ref().is_some_and(|v| *v != self.aud) {
            return Err(StreamError::TransmitterSupplied("aud"));
        }
        if f.events_supported
            .as_ref()
            .is_some_and(|v| *v != self.events_supported)
        {
            return Err(StreamError::TransmitterSupplied("events_supported"));
        }
        Ok(())
    }

    /// Applies a PATCH: the receiver-set members present in `body` change; the rest stay.
    ///
    /// # Errors
    /// [`StreamError`] for a malformed request or a changed transmitter-set member.
    pub fn update(&self, body: &Value, s: &TransmitterSettings<'_>) -> Result<Self, StreamError> {
        let f = parse_fields(body)?;
        self.check_transmitter_fields(&f)?;
        let mut next = self.clone();
        if let Some(requested) = f.events_requested {
            next.events_delivered = delivered(&next.events_supported, &requested);
            next.events_requested = requested;
        }
        if f.delivery.is_some() {
            next.delivery = check_delivery(f.delivery, s)?;
        }
        if f.description.is_some() {
            next.description = f.description;
        }
        if f.format.is_some() {
            next.format = f.format;
        }
        Ok(next)
    }

    /// Applies a PUT: every receiver-set member is replaced; absent ones return to their
    /// defaults (no events requested, poll delivery, no description).
    ///
    /// # Errors
    /// [`StreamError`] for a malformed request or a changed transmitter-set member.
    pub fn replace(&self, body: &Value, s: &TransmitterSettings<'_>) -> Result<Self, StreamError> {
        let f = parse_fields(body)?;
        self.check_transmitter_fields(&f)?;
        let requested = f.events_requested.unwrap_or_default();
        Ok(Self {
            events_delivered: delivered(&self.events_supported, &requested),
            events_requested: requested,
            delivery: check_delivery(f.delivery, s)?,
            description: f.description,
            format: f.format,
            ..self.clone()
        })
    }
}

/// A stream's status (`enabled`, `paused`, `disabled`), as the status endpoint sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The stream.
    pub stream_id: String,
    /// The status.
    pub status: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StatusUpdate {
    /// Parses a status request.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] for a missing stream id or an unknown status.
    pub fn parse(body: &Value) -> Result<Self, StreamError> {
        if !body.is_object() {
            return Err(StreamError::Malformed(
                "the request body must be a JSON object".into(),
            ));
        }
        let s: Self =
            serde_json::from_value(body.clone()).map_err(|e| StreamError::Malformed(e.to_string()))?;
        if !matches!(s.status.as_str(), "enabled" | "paused" | "disabled") {
            return Err(StreamError::Malformed(format!(
                "status must be enabled, paused or disabled, not {:?}",
                s.status
            )));
        }
        if s.stream_id.is_empty() {
            return Err(StreamError::Malformed("stream_id must not be empty".into()));
        }
        Ok(s)
    }
}
