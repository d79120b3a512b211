//! Persistence for Tessera: narrow repository traits (users, devices, tokens, policies, the
//! event outbox, …) with an embedded SQLite backend and a PostgreSQL backend, and one
//! conformance suite that both pass.
