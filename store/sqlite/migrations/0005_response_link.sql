-- 0005: answers kept apart from who gave them. A response no longer names
-- its respondent, sender or inbound message: member_link is the hex
-- HMAC-SHA256, under a key derived from the installation secret (never
-- stored here), of the campaign code and respondent id, so a copy of the
-- database alone cannot tell whose answers a row holds. Ids are random, not
-- in arrival order, and received_at keeps only the day (midnight in the
-- campaign's time zone, as an instant), so neither can be joined to the
-- inbound messages. unit_code and group_code are the member's at the time,
-- for aggregates.
--
-- SQL cannot compute the HMAC, so the old rows wait in responses_unlinked:
-- DB.Open converts them (relink) in one transaction as soon as it has the
-- link key, then drops the table; without the key it refuses to open a
-- database that still holds any.
ALTER TABLE responses RENAME TO responses_unlinked;
DROP INDEX responses_campaign_status;

CREATE TABLE responses (
	id          INTEGER PRIMARY KEY, -- random, 1 .. 2^63-1
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
	member_link TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	received_at TEXT NOT NULL, -- the day: midnight in the campaign's time zone
	unit_code   TEXT NOT NULL DEFAULT '',
	group_code  TEXT NOT NULL DEFAULT '',
	answers     TEXT NOT NULL, -- JSON [{"code", "value", "source"}]
	problems    TEXT NOT NULL, -- JSON [{"code", "kind", "got", "message"}]
	complete    INTEGER NOT NULL CHECK (complete IN (0, 1)),
	status      TEXT NOT NULL CHECK (status IN ('counted', 'partial', 'late', 'needs_review', 'superseded', 'rejected')),
	reason      TEXT NOT NULL DEFAULT '',
	UNIQUE (campaign_id, member_link, seq)
);
CREATE INDEX responses_campaign_status ON responses (campaign_id, status);
