-- Tessera core schema (PostgreSQL). Times are Unix milliseconds.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    display_name  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    password_hash TEXT,
    risk_level    TEXT NOT NULL DEFAULT 'none' CHECK (risk_level IN ('none', 'low', 'medium', 'high')),
    created_at    BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL
);

CREATE TABLE user_groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
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
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT
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
    generation     BIGINT NOT NULL,
    current_hash   BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    rotated_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX refresh_families_by_session ON refresh_families (session_id);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Issuing and rotating a refresh token is one statement on refresh_families (an INSERT, or the
-- compare-and-swap UPDATE of generation and current_hash); this trigger records the issued
-- token and the session's activity inside that same statement, so it stays atomic.
CREATE FUNCTION tessera_record_refresh_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refresh_tokens (hash, family_id, generation, created_at)
    VALUES (NEW.current_hash, NEW.id, NEW.generation, NEW.rotated_at);
    IF TG_OP = 'UPDATE' THEN
        UPDATE sessions SET last_seen_at = NEW.rotated_at WHERE id = NEW.session_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_families_record AFTER INSERT OR UPDATE OF generation ON refresh_families
FOR EACH ROW EXECUTE FUNCTION tessera_record_refresh_token();

CREATE TABLE not_before (
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'session', 'device')),
    subject_id   TEXT NOT NULL,
    not_before   BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id)
);

CREATE TABLE ssf_streams (
    id         TEXT PRIMARY KEY,
    receiver   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE outbox_deliveries (
    stream_id        TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    claimed_by       TEXT,
    claim_expires_at BIGINT,
    acknowledged_at  BIGINT,
    last_error       TEXT,
    PRIMARY KEY (stream_id, event_id)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at, event_id) WHERE acknowledged_at IS NULL;

CREATE TABLE received_sets (
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
