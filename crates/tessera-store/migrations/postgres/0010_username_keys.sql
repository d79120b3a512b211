-- Usernames compare case-insensitively: they are stored in their canonical form (lower case,
-- NFKC; see `username_key`). Existing names are lower-cased here, one per group of names that
-- differ only in case (the oldest id); the others keep their spelling and are still found by
-- it exactly, until an administrator renames them.
UPDATE users SET username = lower(username)
WHERE username <> lower(username)
  AND NOT EXISTS (SELECT 1 FROM users other WHERE other.username = lower(users.username))
  AND users.id = (SELECT min(u2.id) FROM users u2 WHERE lower(u2.username) = lower(users.username));
