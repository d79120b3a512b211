-- An address an API reported seeing the session used from, where a location policy would apply
-- (a CAEP session-presented signal). The next refresh evaluates Conditional Access from that
-- address too, and clears it once policy is met there.
ALTER TABLE sessions ADD COLUMN presented_ip TEXT;
