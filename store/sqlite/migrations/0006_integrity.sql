-- 0006: interference flags, and when responses arrived for the cluster
-- check.

-- One row per piece of evidence that a response may not be the member's
-- own; a response has at most one flag of each kind. unit_code is the
-- member's unit when the flag was raised, for the per-unit report.
CREATE TABLE integrity_flags (
	id          INTEGER PRIMARY KEY,
	response_id INTEGER NOT NULL REFERENCES responses (id),
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
	unit_code   TEXT NOT NULL DEFAULT '',
	kind        TEXT NOT NULL CHECK (kind IN ('other_mailbox', 'shared_mailbox', 'forwarded_invitation', 'answer_cluster')),
	reason      TEXT NOT NULL,
	at          TEXT NOT NULL,
	UNIQUE (response_id, kind)
);
CREATE INDEX integrity_flags_campaign ON integrity_flags (campaign_id, at);

-- When each recent response arrived. Arrival times could tie answers back
-- to the mail they came in, so a row lives only as long as the cluster
-- window: the poller deletes older ones as it adds new ones.
CREATE TABLE integrity_arrivals (
	response_id INTEGER PRIMARY KEY REFERENCES responses (id),
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
	unit_code   TEXT NOT NULL,
	arrived_at  TEXT NOT NULL
);
CREATE INDEX integrity_arrivals_unit ON integrity_arrivals (campaign_id, unit_code, arrived_at);
