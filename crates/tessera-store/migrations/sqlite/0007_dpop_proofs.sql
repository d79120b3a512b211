-- DPoP proof ids already used, for servers that share one database: a proof replayed at another
-- node is refused there too. The key is SHA-256(jkt "." jti); rows go once the proof's iat
-- window has passed.
CREATE TABLE dpop_proofs (
    key        BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
