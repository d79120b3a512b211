-- Device authorization grants (RFC 8628): by the SHA-256 of the device code; the user code as
-- people type it, normalised. `request` is what the device asked for (scope, resource, its
-- address, its DPoP key); `approval` how the user approved it (the browser session's sign-in,
-- the approving address). Status: pending, approved, denied, redeemed.
CREATE TABLE device_authorizations (
    device_code_hash BYTEA PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    request          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval_ms      BIGINT NOT NULL,
    next_poll_at     BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    approval         TEXT,
    decided_at       BIGINT
);
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
