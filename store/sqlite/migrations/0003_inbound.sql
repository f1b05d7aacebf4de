-- 0003: what the poller reads from the survey mailbox: per-mailbox
-- checkpoints, every inbound message phieu acted on, and the responses read
-- out of replies. Failure classes take the receiving side's vocabulary.

CREATE TABLE mailbox_checkpoints (
	account      TEXT NOT NULL,
	mailbox      TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	last_uid     INTEGER NOT NULL,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (account, mailbox)
) WITHOUT ROWID;

-- One row per distinct message (Message-ID and content): a message seen
-- again after a crash or a UIDVALIDITY change is recognised, not recounted.
CREATE TABLE inbound (
	id            INTEGER PRIMARY KEY,
	account       TEXT NOT NULL,
	mailbox       TEXT NOT NULL,
	uid_validity  INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	message_id    TEXT NOT NULL DEFAULT '',
	content_hash  TEXT NOT NULL,
	size          INTEGER NOT NULL DEFAULT 0,
	kind          TEXT NOT NULL CHECK (kind IN ('bounce', 'delay', 'delivered', 'auto_reply', 'complaint', 'reply', 'other')),
	engine        TEXT NOT NULL DEFAULT '',
	from_addr     TEXT NOT NULL DEFAULT '',
	subject       TEXT NOT NULL DEFAULT '',
	sent_at       TEXT,
	processed_at  TEXT NOT NULL,
	campaign_id   INTEGER REFERENCES campaigns (id),
	respondent_id INTEGER REFERENCES respondents (id),
	outbox_id     INTEGER REFERENCES outbox (id),
	match_method  TEXT NOT NULL DEFAULT '',
	review        TEXT NOT NULL DEFAULT '',
	note          TEXT NOT NULL DEFAULT '',
	auth_results  TEXT NOT NULL DEFAULT '',
	failures      TEXT NOT NULL DEFAULT '[]', -- JSON: every failed recipient, matched or not
	folder        TEXT NOT NULL DEFAULT '', -- where phieu files it; '' leaves it in place
	UNIQUE (content_hash, message_id)
);

-- Copies still to be filed, by where they sit: a row is written with the
-- message (or when another copy of it turns up) and deleted once the
-- server has moved, copied or flagged that copy.
CREATE TABLE inbound_filings (
	account      TEXT NOT NULL,
	mailbox      TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	uid          INTEGER NOT NULL,
	inbound_id   INTEGER NOT NULL REFERENCES inbound (id),
	folder       TEXT NOT NULL,
	PRIMARY KEY (account, mailbox, uid_validity, uid)
) WITHOUT ROWID;
CREATE INDEX inbound_campaign ON inbound (campaign_id, kind);
CREATE INDEX inbound_review ON inbound (campaign_id) WHERE review <> '';

-- Every reply's answers. The member's current response is the newest that
-- is not superseded; older ones stay as history.
CREATE TABLE responses (
	id            INTEGER PRIMARY KEY,
	campaign_id   INTEGER NOT NULL REFERENCES campaigns (id),
	respondent_id INTEGER NOT NULL REFERENCES respondents (id),
	inbound_id    INTEGER NOT NULL REFERENCES inbound (id),
	seq           INTEGER NOT NULL,
	received_at   TEXT NOT NULL,
	from_addr     TEXT NOT NULL,
	answers       TEXT NOT NULL, -- JSON [{"code", "value", "source"}]
	problems      TEXT NOT NULL, -- JSON [{"code", "kind", "got", "message"}]
	complete      INTEGER NOT NULL CHECK (complete IN (0, 1)),
	status        TEXT NOT NULL CHECK (status IN ('counted', 'partial', 'late', 'needs_review', 'superseded')),
	reason        TEXT NOT NULL DEFAULT '',
	UNIQUE (campaign_id, respondent_id, seq)
);
CREATE INDEX responses_campaign_status ON responses (campaign_id, status);

ALTER TABLE delivery_failures ADD COLUMN source TEXT NOT NULL DEFAULT 'smtp' CHECK (source IN ('smtp', 'dsn'));
ALTER TABLE delivery_failures ADD COLUMN inbound_id INTEGER REFERENCES inbound (id);
ALTER TABLE delivery_failures ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';


UPDATE delivery_failures SET class = CASE class
	WHEN 'unknown_user' THEN 'user_unknown'
	WHEN 'unknown_domain' THEN 'host_unknown'
	WHEN 'message_too_big' THEN 'message_too_large'
	WHEN 'policy' THEN 'sender_rejected'
	WHEN 'permanent' THEN 'other'
	WHEN 'transient' THEN 'other'
	WHEN 'unknown' THEN 'other'
	ELSE class END;
