-- 0001: the unit tree, respondents, campaigns and their membership.
--
-- Instants are TEXT "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (UTC, fixed width, so
-- text order is time order); civil dates are TEXT "YYYY-MM-DD" or NULL.

-- The administrative tree, of any depth. Units are never deleted: a unit that
-- disappears gets valid_to, because old campaigns still point at it.
CREATE TABLE units (
	id           INTEGER PRIMARY KEY,
	code         TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL,
	parent_id    INTEGER REFERENCES units (id),
	kind         TEXT NOT NULL DEFAULT '',
	head_name    TEXT NOT NULL DEFAULT '',
	head_title   TEXT NOT NULL DEFAULT '',
	head_mailbox TEXT NOT NULL DEFAULT '',
	valid_from   TEXT, -- NULL: always
	valid_to     TEXT, -- NULL: still valid
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX units_parent_id ON units (parent_id);

-- People phieu may survey. The *_key columns hold vn.Key collation keys of
-- the name parts, so ORDER BY given_key, family_key, middle_key, id lists
-- people in Vietnamese order (tên, họ, tên đệm) straight from an index.
CREATE TABLE respondents (
	id          INTEGER PRIMARY KEY,
	external_id TEXT, -- "Mã cán bộ"; NULL when the roster has none
	full_name   TEXT NOT NULL,
	family_name TEXT NOT NULL DEFAULT '',
	middle_name TEXT NOT NULL DEFAULT '',
	given_name  TEXT NOT NULL,
	given_key   BLOB NOT NULL,
	family_key  BLOB NOT NULL,
	middle_key  BLOB NOT NULL,
	salutation  TEXT NOT NULL DEFAULT '' CHECK (salutation IN ('', 'Ông', 'Bà', 'đồng chí')),
	title       TEXT NOT NULL DEFAULT '',
	unit_id     INTEGER NOT NULL REFERENCES units (id),
	group_code  TEXT NOT NULL,
	mailbox     TEXT NOT NULL UNIQUE,
	active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	CHECK (external_id IS NULL OR external_id <> '')
);
CREATE UNIQUE INDEX respondents_external_id ON respondents (external_id) WHERE external_id IS NOT NULL;
-- Every index ends with the rowid (id), so this one also serves ORDER BY ..., id.
CREATE INDEX respondents_name_order ON respondents (given_key, family_key, middle_key);
CREATE INDEX respondents_unit_id ON respondents (unit_id);

-- Other mailboxes a respondent may answer from, in the roster's order. A
-- mailbox is the primary of one respondent or an alias of one respondent,
-- never both. A UNIQUE constraint cannot span two tables, so import checks
-- it; the triggers below refuse an alias that is a primary and a primary
-- that becomes another's alias. (A trigger on every respondent insert would
-- double the cost of importing a roster, so new primaries rely on import.)
CREATE TABLE respondent_aliases (
	respondent_id INTEGER NOT NULL REFERENCES respondents (id) ON DELETE CASCADE,
	position      INTEGER NOT NULL,
	mailbox       TEXT NOT NULL UNIQUE,
	PRIMARY KEY (respondent_id, position)
) WITHOUT ROWID;

CREATE TRIGGER respondent_aliases_not_primary
BEFORE INSERT ON respondent_aliases
WHEN EXISTS (SELECT 1 FROM respondents WHERE mailbox = NEW.mailbox)
BEGIN
	SELECT RAISE(ABORT, 'mailbox is already a primary mailbox');
END;

CREATE TRIGGER respondents_mailbox_not_alias
BEFORE UPDATE OF mailbox ON respondents
WHEN EXISTS (SELECT 1 FROM respondent_aliases WHERE mailbox = NEW.mailbox AND respondent_id <> NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'mailbox is already an alias of another respondent');
END;

-- Survey runs. The nested policies are JSON documents (see campaign.go for
-- their shape); groups, units and questions are rows so they can be queried
-- and referenced.
CREATE TABLE campaigns (
	id                  INTEGER PRIMARY KEY,
	code                TEXT NOT NULL UNIQUE,
	title               TEXT NOT NULL,
	legal_ref           TEXT NOT NULL DEFAULT '',
	sender_name         TEXT NOT NULL,
	sender_address      TEXT NOT NULL,
	reply_to            TEXT NOT NULL,
	operator_mailbox    TEXT NOT NULL DEFAULT '',
	office              TEXT NOT NULL DEFAULT '',
	location            TEXT NOT NULL,
	opens_at            TEXT NOT NULL,
	deadline            TEXT NOT NULL,
	questionnaire_title TEXT NOT NULL DEFAULT '',
	questionnaire_intro TEXT NOT NULL DEFAULT '',
	reminders           TEXT NOT NULL, -- JSON
	escalation          TEXT NOT NULL, -- JSON
	calendar            TEXT NOT NULL, -- JSON
	rates               TEXT NOT NULL, -- JSON
	state               TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'active', 'paused', 'closed')),
	created_at          TEXT NOT NULL,
	updated_at          TEXT NOT NULL
);
CREATE INDEX campaigns_deadline ON campaigns (deadline);

CREATE TABLE campaign_groups (
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	position    INTEGER NOT NULL,
	group_code  TEXT NOT NULL,
	PRIMARY KEY (campaign_id, position),
	UNIQUE (campaign_id, group_code)
) WITHOUT ROWID;

-- Each unit takes part with its whole subtree. No rows: every unit.
CREATE TABLE campaign_units (
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	position    INTEGER NOT NULL,
	unit_id     INTEGER NOT NULL REFERENCES units (id),
	PRIMARY KEY (campaign_id, position),
	UNIQUE (campaign_id, unit_id)
) WITHOUT ROWID;

CREATE TABLE campaign_questions (
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	position    INTEGER NOT NULL,
	code        TEXT NOT NULL COLLATE NOCASE,
	text        TEXT NOT NULL,
	type        TEXT NOT NULL CHECK (type IN ('scale', 'choice', 'text')),
	min         INTEGER NOT NULL DEFAULT 0,
	max         INTEGER NOT NULL DEFAULT 0,
	choices     TEXT NOT NULL DEFAULT '[]', -- JSON [{"letter": "A", "text": "..."}]
	required    INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1)),
	PRIMARY KEY (campaign_id, position),
	UNIQUE (campaign_id, code)
) WITHOUT ROWID;

-- Who is asked in which campaign, and where they stand. Respondents who are
-- members are never deleted (import deactivates them instead).
CREATE TABLE campaign_members (
	campaign_id       INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	respondent_id     INTEGER NOT NULL REFERENCES respondents (id),
	status            TEXT NOT NULL DEFAULT 'not_invited' CHECK (status IN (
		'not_invited', 'invited', 'answered', 'answered_needs_review', 'address_failed', 'excluded')),
	added_at          TEXT NOT NULL,
	status_changed_at TEXT NOT NULL,
	PRIMARY KEY (campaign_id, respondent_id)
) WITHOUT ROWID;
CREATE INDEX campaign_members_respondent_id ON campaign_members (respondent_id);
CREATE INDEX campaign_members_status ON campaign_members (campaign_id, status);
