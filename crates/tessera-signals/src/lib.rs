//! Shared Signals for Tessera: CAEP 1.0 / RISC 1.0 / SSF 1.0 events as typed values
//! ([`SecurityEvent`]), the events each directory change raises ([`events_for`]), SSF stream
//! configuration rules ([`StreamConfig`]), transmitter metadata, RFC 8936 poll bodies, and
//! subject filtering. A pure crate: no I/O. The SET and subject-identifier wire formats live
//! in `tessera-jose`.

pub mod changes;
pub mod events;
pub mod metadata;
pub mod poll;
pub mod stream;
pub mod subjects;

pub use changes::{DirectoryChange, MfaKind, events_for};
pub use events::{Common, EventError, InitiatingEntity, SecurityEvent, SessionDetails};
pub use metadata::{TransmitterMetadata, well_known_url};
pub use poll::{PollRequest, PollResponse, SetError};
pub use stream::{Delivery, StatusUpdate, StreamConfig, StreamError, TransmitterSettings};
pub use subjects::{DefaultSubjects, stream_wants};
