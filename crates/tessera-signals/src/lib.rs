//! Shared Signals for Tessera: SSF stream configuration, CAEP and RISC event types, and the
//! mapping between directory changes and Security Event Tokens. A pure crate: no I/O. The
//! SET and subject-identifier wire formats themselves live in `tessera-jose`.
