-- The FAPI 2.0 Security Profile mode of a client (see docs/design/008-fapi-refresh-without-rotation.md).
ALTER TABLE applications ADD COLUMN fapi2 BIGINT NOT NULL DEFAULT 0;
