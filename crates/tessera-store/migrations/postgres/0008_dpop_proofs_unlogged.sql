-- The replay table is a cache shared by the nodes, not a record: it skips the write-ahead log,
-- so recording a proof id costs no flush to disk. PostgreSQL empties it after a crash (not after
-- a clean restart) and does not send it to standbys, so a failover empties it too. That leaves
-- what a single node's memory leaves after a restart: proofs seen in the last
-- `dpop_proof_max_age_seconds` could be accepted once more (each node's memory still refuses the
-- proofs it saw itself).
ALTER TABLE dpop_proofs SET UNLOGGED;
