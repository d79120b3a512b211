-- Secrets every node of one deployment must share and no client may see (the key behind DPoP
-- server nonces, …). Created once by whichever node needs one first.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
