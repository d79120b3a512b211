-- A sign-in log entry keeps its Conditional Access report (a few kilobytes of JSON, one result
-- per policy), which PostgreSQL compresses as it stores it. Its default method (pglz) was the
-- largest single cost of writing the log under load; lz4 compresses several times faster.
-- Values already stored keep their method. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE sign_in_logs ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; sign-in reports stay compressed with pglz';
END
$$;
