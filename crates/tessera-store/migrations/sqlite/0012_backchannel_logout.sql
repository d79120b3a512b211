-- OpenID Connect Back-Channel Logout: where a client wants its logout tokens, which browser
-- session a token session was started from (so signing out of the browser reaches every
-- application it signed in to), and the deliveries still owed, written in the same transaction
-- as the revocation that owes them.
ALTER TABLE applications ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE sessions ADD COLUMN browser_sid TEXT;
CREATE INDEX sessions_by_browser ON sessions (browser_sid) WHERE browser_sid IS NOT NULL;

CREATE TABLE logout_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id        TEXT NOT NULL,
    uri              TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    reason           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claim_expires_at INTEGER,
    settled_at       INTEGER,
    outcome          TEXT CHECK (outcome IN ('delivered', 'refused', 'failed')),
    last_error       TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at, id) WHERE settled_at IS NULL;
