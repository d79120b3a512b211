-- What a refresh-token family was granted (scope, resource, authentication methods and time,
-- client capabilities), as JSON, so every refresh re-issues the same grant and Conditional
-- Access is re-run with how the user signed in.
ALTER TABLE refresh_families ADD COLUMN grant_data TEXT NOT NULL DEFAULT '{}';
