-- The replay table is a cache shared by the nodes, not a record: it skips the write-ahead log,
-- so recording a proof id costs no flush to disk. PostgreSQL empties it after a crash (not after
-- a clean restart), which leaves what a single node's memory leaves after a restart: proofs
-- seen in the last `dpop_proof_max_age_seconds` could be accepted once more.
ALTER TABLE dpop_proofs SET UNLOGGED;
