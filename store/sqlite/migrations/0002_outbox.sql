-- 0002: the outbox (every message phieu owes someone), its SMTP attempts,
-- delivery failures and alerts for the IT liaison.

ALTER TABLE campaigns ADD COLUMN subaddressing INTEGER NOT NULL DEFAULT 0 CHECK (subaddressing IN (0, 1));
ALTER TABLE campaigns ADD COLUMN template_dir TEXT NOT NULL DEFAULT '';

-- One row per (campaign, recipient, kind, round): recipient_key spells the
-- last three ("invitation/0/r42"), so enqueueing twice is a no-op and a
-- resumed or restarted sender cannot create a second invitation.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	campaign_id     INTEGER NOT NULL REFERENCES campaigns (id),
	recipient_key   TEXT NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder', 'receipt', 'correction',
		'head_digest', 'operator_digest', 'liaison_digest')),
	round           INTEGER NOT NULL DEFAULT 0,
	respondent_id   INTEGER REFERENCES respondents (id),
	unit_id         INTEGER REFERENCES units (id),
	to_addr         TEXT NOT NULL,
	to_name         TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN (
		'queued', 'sending', 'sent', 'deferred', 'failed', 'suppressed')),
	message_id      TEXT NOT NULL UNIQUE, -- kept across retries
	ref             TEXT UNIQUE,          -- HMAC of id; set in the inserting transaction
	payload         BLOB,
	not_before      TEXT NOT NULL,
	send_by         TEXT,                 -- NULL: until the deadline
	next_attempt_at TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	lease_owner     TEXT,
	lease_until     TEXT,
	reason          TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	sent_at         TEXT,
	UNIQUE (campaign_id, recipient_key),
	CHECK ((state = 'sending') = (lease_until IS NOT NULL))
);
-- What a sender claims next, per campaign, straight from the index.
CREATE INDEX outbox_due ON outbox (campaign_id, next_attempt_at) WHERE state IN ('queued', 'deferred');
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE state = 'sending';
CREATE INDEX outbox_campaign_state ON outbox (campaign_id, state);
CREATE INDEX outbox_respondent ON outbox (respondent_id) WHERE respondent_id IS NOT NULL;

-- Every SMTP conversation about a message, whatever its outcome.
CREATE TABLE outbox_attempts (
	id          INTEGER PRIMARY KEY,
	outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
	at          TEXT NOT NULL,
	stage       TEXT NOT NULL,
	code        INTEGER NOT NULL DEFAULT 0,
	status      TEXT NOT NULL DEFAULT '',
	text        TEXT NOT NULL DEFAULT '',
	duration_us INTEGER NOT NULL DEFAULT 0,
	outcome     TEXT NOT NULL CHECK (outcome IN ('sent', 'deferred', 'failed'))
);
CREATE INDEX outbox_attempts_outbox_id ON outbox_attempts (outbox_id);

-- Recipients the mail system refused, during the SMTP conversation (stage
-- rcpt, data...) or later in a bounce (stage dsn). The IT liaison reads this.
CREATE TABLE delivery_failures (
	id            INTEGER PRIMARY KEY,
	campaign_id   INTEGER NOT NULL REFERENCES campaigns (id),
	outbox_id     INTEGER REFERENCES outbox (id),
	respondent_id INTEGER REFERENCES respondents (id),
	mailbox       TEXT NOT NULL,
	domain        TEXT NOT NULL,
	stage         TEXT NOT NULL,
	code          INTEGER NOT NULL DEFAULT 0,
	status        TEXT NOT NULL DEFAULT '',
	class         TEXT NOT NULL,
	text          TEXT NOT NULL DEFAULT '',
	permanent     INTEGER NOT NULL CHECK (permanent IN (0, 1)),
	occurred_at   TEXT NOT NULL
);
CREATE INDEX delivery_failures_campaign ON delivery_failures (campaign_id, occurred_at);

-- Problems a person must act on (the official server refusing connections,
-- TLS or logins). Open while resolved_at is NULL.
CREATE TABLE alerts (
	id          INTEGER PRIMARY KEY,
	kind        TEXT NOT NULL,
	campaign_id INTEGER REFERENCES campaigns (id),
	stage       TEXT NOT NULL DEFAULT '',
	text        TEXT NOT NULL,
	raised_at   TEXT NOT NULL,
	resolved_at TEXT
);
CREATE INDEX alerts_open ON alerts (kind) WHERE resolved_at IS NULL;
