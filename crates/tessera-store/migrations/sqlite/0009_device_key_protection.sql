-- Where a device's key lives: `software`, `hardware` (the client says so) or `attested`
-- (Tessera verified evidence at registration); what the evidence showed, as JSON.
ALTER TABLE devices ADD COLUMN key_protection TEXT NOT NULL DEFAULT 'software';
ALTER TABLE devices ADD COLUMN key_attestation TEXT;
