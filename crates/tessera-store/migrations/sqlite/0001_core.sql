-- Tessera core schema (SQLite). Times are Unix milliseconds.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    display_name  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    password_hash TEXT,
    risk_level    TEXT NOT NULL DEFAULT 'none' CHECK (risk_level IN ('none', 'low', 'medium', 'high')),
    created_at    INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL
);

CREATE TABLE user_groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL,
    device_id    TEXT,
    jkt          TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE refresh_families (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- The binding is kept on the family (as well as the session) so a rotation reads and
    -- writes one row.
    user_id        TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    device_id      TEXT,
    jkt            TEXT,
    generation     INTEGER NOT NULL,
    current_hash   BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    rotated_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX refresh_families_by_session ON refresh_families (session_id);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Issuing and rotating a refresh token is one statement on refresh_families (an INSERT, or the
-- compare-and-swap UPDATE of generation and current_hash); these triggers record the issued
-- token and the session's activity inside that same statement, so it stays atomic.
CREATE TRIGGER refresh_families_issue AFTER INSERT ON refresh_families
BEGIN
    INSERT INTO refresh_tokens (hash, family_id, generation, created_at)
    VALUES (NEW.current_hash, NEW.id, NEW.generation, NEW.rotated_at);
END;

CREATE TRIGGER refresh_families_rotate AFTER UPDATE OF generation ON refresh_families
BEGIN
    INSERT INTO refresh_tokens (hash, family_id, generation, created_at)
    VALUES (NEW.current_hash, NEW.id, NEW.generation, NEW.rotated_at);
    UPDATE sessions SET last_seen_at = NEW.rotated_at WHERE id = NEW.session_id;
END;

CREATE TABLE not_before (
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'session', 'device')),
    subject_id   TEXT NOT NULL,
    not_before   INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject_id)
);

CREATE TABLE ssf_streams (
    id         TEXT PRIMARY KEY,
    receiver   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    config     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE outbox_deliveries (
    stream_id        TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claim_expires_at INTEGER,
    acknowledged_at  INTEGER,
    last_error       TEXT,
    PRIMARY KEY (stream_id, event_id)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at, event_id) WHERE acknowledged_at IS NULL;

CREATE TABLE received_sets (
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);
