-- Directory, clients, keys, codes, logs and stream details (SQLite). Times are Unix ms;
-- lists are JSON arrays in TEXT.
CREATE TABLE applications (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_hash          TEXT,
    redirect_uris        TEXT NOT NULL,
    grant_types          TEXT NOT NULL,
    scopes               TEXT NOT NULL,
    jwks                 TEXT,
    access_token_minutes INTEGER NOT NULL,
    refresh_token_days   INTEGER NOT NULL,
    cae_capable          INTEGER NOT NULL,
    require_dpop         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    changed_at           INTEGER NOT NULL,
    CHECK (kind = 'public' OR secret_hash IS NOT NULL OR jwks IS NOT NULL)
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    platform     TEXT NOT NULL,
    os_version   TEXT,
    trust_type   TEXT NOT NULL CHECK (trust_type IN ('registered', 'joined', 'managed')),
    compliance   TEXT NOT NULL CHECK (compliance IN ('unknown', 'compliant', 'not-compliant')),
    status       TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    public_jwk   TEXT NOT NULL,
    jkt          TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE mfa_methods (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('totp', 'passkey')),
    label          TEXT NOT NULL,
    secret         TEXT NOT NULL,
    last_used_step INTEGER NOT NULL DEFAULT -1,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
);
CREATE INDEX mfa_methods_by_user ON mfa_methods (user_id);

CREATE TABLE named_locations (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    ip_ranges    TEXT NOT NULL,
    trusted      INTEGER NOT NULL,
    changed_at   INTEGER NOT NULL
);

CREATE TABLE policies (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'enabledForReportingButNotEnforced')),
    document   TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_jwk  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    created_at   INTEGER NOT NULL,
    changed_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE authorization_codes (
    code_hash  BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grant_data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    session_id TEXT
) WITHOUT ROWID;

CREATE TABLE sign_in_logs (
    id               TEXT PRIMARY KEY,
    at               INTEGER NOT NULL,
    user_id          TEXT,
    client_id        TEXT,
    ip               TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    token_protection TEXT NOT NULL,
    device_id        TEXT,
    jkt              TEXT,
    error            TEXT,
    details          TEXT NOT NULL
);
CREATE INDEX sign_in_logs_by_time ON sign_in_logs (at, id);
CREATE INDEX sign_in_logs_by_user ON sign_in_logs (user_id, at);

CREATE TABLE stream_subjects (
    stream_id TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    subject   TEXT NOT NULL,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (stream_id, subject)
);

ALTER TABLE ssf_streams ADD COLUMN last_verification_at INTEGER;
