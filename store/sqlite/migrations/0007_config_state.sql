-- 0007: the configuration the daemon last ran with, as flat key = value
-- settings (no secrets: passwords live in the environment or files), so
-- that a change is written to the audit log with what changed.
CREATE TABLE config_state (
	source   TEXT PRIMARY KEY, -- the config file, or "built-in defaults"
	settings TEXT NOT NULL,    -- JSON {"smtp.host": "...", ...}
	seen_at  TEXT NOT NULL
) WITHOUT ROWID;
