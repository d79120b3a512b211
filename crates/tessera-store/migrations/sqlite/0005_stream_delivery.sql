-- How each stream's events leave (push or poll), so a push worker and a poll request claim only
-- their own; and why a stream was paused or disabled, as its status endpoint reports it.
ALTER TABLE ssf_streams ADD COLUMN delivery TEXT NOT NULL DEFAULT 'poll' CHECK (delivery IN ('push', 'poll'));
ALTER TABLE ssf_streams ADD COLUMN status_reason TEXT;
