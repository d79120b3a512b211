-- Dynamic client registration (RFC 7591/7592): for a client that registered itself, the SHA-256
-- of its registration access token and the informational metadata it registered (names, URIs,
-- contacts, software id), returned as registered. Goes with its application.
CREATE TABLE client_registrations (
    client_id  TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL,
    metadata   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
