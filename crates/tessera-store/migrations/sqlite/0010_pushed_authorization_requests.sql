-- Pushed authorization requests (RFC 9126): the validated parameters, by the SHA-256 of the
-- `request_uri`'s reference. A request is short-lived until its first use at /authorize, then
-- lives as long as a sign-in may take, and ends when a code is issued from it (`used_at`).
CREATE TABLE pushed_requests (
    request_hash BLOB PRIMARY KEY,
    client_id    TEXT NOT NULL,
    params       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    opened_at    INTEGER,
    used_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

-- Clients that may start an authorization only with a pushed request.
ALTER TABLE applications ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
