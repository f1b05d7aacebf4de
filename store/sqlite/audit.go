package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/phieu/phieu/store"
)

var _ store.AuditService = (*AuditService)(nil)

// AuditService keeps the append-only audit log. Services that take
// decisions worth auditing (accepting a response, pausing a campaign)
// record their entry with recordAudit in their own transaction instead.
type AuditService struct {
	db *DB
}

// NewAuditService returns the audit log on db.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

// RecordAudit appends e, stamped with the transaction's clock when e.At is
// zero and with the context's actor when e.Actor is empty.
func (s *AuditService) RecordAudit(ctx context.Context, e *store.AuditEntry) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer tx.Rollback()
	if err := recordAudit(ctx, tx, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record audit: commit: %w", err)
	}
	return nil
}

const insertAuditQuery = `INSERT INTO audit (at, actor, action, campaign, subject, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`

// recordAudit appends e within tx, so the entry commits or rolls back with
// the change it records.
func recordAudit(ctx context.Context, tx *Tx, e *store.AuditEntry) error {
	if e.Action == "" {
		return store.Errorf(store.EINVALID, "an audit entry needs an action")
	}
	if e.Actor == "" {
		e.Actor = store.ActorFromContext(ctx)
	}
	if e.At.IsZero() {
		e.At = tx.now
	}
	e.At = e.At.UTC().Truncate(nowPrecision)
	if err := tx.queryRow(ctx, insertAuditQuery, formatTime(e.At), e.Actor, string(e.Action), e.Campaign, e.Subject,
		e.Detail).Scan(&e.ID); err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

// FindAudit lists entries matching f, newest first.
func (s *AuditService) FindAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var where []string
	var args []any
	if f.Campaign != "" {
		where, args = append(where, "campaign = ?"), append(args, f.Campaign)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, string(f.Action))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, formatTime(f.Since))
	}
	q := `SELECT id, at, actor, action, campaign, subject, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find audit: %w", err)
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		e := &store.AuditEntry{}
		var at, action string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &action, &e.Campaign, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("find audit: %w", err)
		}
		e.Action = store.AuditAction(action)
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("find audit %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find audit: %w", err)
	}
	return out, nil
}

var _ store.ConfigService = (*AuditService)(nil)

// RecordConfig remembers the settings for source and audits what changed.
func (s *AuditService) RecordConfig(ctx context.Context, source string, settings map[string]string) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("record config: %w", err)
	}
	defer tx.Rollback()
	old := map[string]string{}
	var stored string
	switch err := tx.queryRow(ctx, `SELECT settings FROM config_state WHERE source = ?`, source).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("record config: %w", err)
	default:
		if err := json.Unmarshal([]byte(stored), &old); err != nil {
			return nil, fmt.Errorf("record config: stored settings: %w", err)
		}
	}
	changes := store.ConfigChanges(old, settings)
	if len(changes) == 0 {
		return nil, nil
	}
	detail := strings.Join(changes, "; ")
	if stored == "" {
		detail = "first run with this configuration: " + detail
	}
	if err := recordAudit(ctx, tx, &store.AuditEntry{Action: store.AuditConfigChange, Subject: source, Detail: detail}); err != nil {
		return nil, err
	}
	data, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("record config: %w", err)
	}
	if _, err := tx.exec(ctx, `INSERT INTO config_state (source, settings, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET settings = excluded.settings, seen_at = excluded.seen_at`,
		source, string(data), formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("record config: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record config: commit: %w", err)
	}
	keys := make([]string, len(changes))
	for i, c := range changes {
		keys[i] = c[:strings.Index(c, ": ")]
	}
	return keys, nil
}
