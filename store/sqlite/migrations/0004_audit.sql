-- 0004: the audit log, and responses the operator rejects.

-- Who did what, to what, when: identified exports, review decisions,
-- campaign and member changes, sign-ins. Append-only: the triggers below
-- refuse any change or deletion, whoever asks. campaign is the code, not a
-- reference, so an entry stands on its own and can name no campaign ('').
CREATE TABLE audit (
	id       INTEGER PRIMARY KEY,
	at       TEXT NOT NULL,
	actor    TEXT NOT NULL,
	action   TEXT NOT NULL,
	campaign TEXT NOT NULL DEFAULT '',
	subject  TEXT NOT NULL DEFAULT '',
	detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_campaign ON audit (campaign, at);

CREATE TRIGGER audit_no_update
BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed');
END;

CREATE TRIGGER audit_no_delete
BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted');
END;

-- INSERT OR REPLACE deletes the row it replaces without firing delete
-- triggers (unless recursive_triggers is on), so replacing is refused too.
CREATE TRIGGER audit_no_replace
BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be replaced');
END;

-- responses.status gains 'rejected'. SQLite cannot alter a CHECK
-- constraint, so the table is rebuilt: new table, copy, drop, rename,
-- indexes again. Nothing references responses, so this is safe with
-- foreign keys on and inside the migration's transaction.
CREATE TABLE responses_new (
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
	status        TEXT NOT NULL CHECK (status IN ('counted', 'partial', 'late', 'needs_review', 'superseded', 'rejected')),
	reason        TEXT NOT NULL DEFAULT '',
	UNIQUE (campaign_id, respondent_id, seq)
);
INSERT INTO responses_new (id, campaign_id, respondent_id, inbound_id, seq, received_at, from_addr, answers, problems,
	complete, status, reason)
	SELECT id, campaign_id, respondent_id, inbound_id, seq, received_at, from_addr, answers, problems,
	complete, status, reason FROM responses;
DROP TABLE responses;
ALTER TABLE responses_new RENAME TO responses;
CREATE INDEX responses_campaign_status ON responses (campaign_id, status);
