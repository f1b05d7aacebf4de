package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phieu/phieu/store"
)

var _ store.FollowUpService = (*OutboxService)(nil)

// FindFollowUps returns every member of the campaign with what reminder
// planning needs, in one query over members and their outbox.
func (s *OutboxService) FindFollowUps(ctx context.Context, code string) ([]*store.FollowUp, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find follow-ups: %w", err)
	}
	defer tx.Rollback()
	var campaignID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM campaigns WHERE code = ?`, code).Scan(&campaignID); errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return nil, fmt.Errorf("find follow-ups: %w", err)
	}
	// Rounds above 62 would not fit a signed 64-bit mask; campaigns have a
	// handful.
	rows, err := tx.QueryContext(ctx, `WITH o AS (
			SELECT respondent_id,
				min(CASE WHEN kind = 'invitation' AND state = 'sent' THEN sent_at END) AS invited_at,
				max(CASE WHEN kind IN ('invitation', 'reminder') AND state <> 'suppressed' THEN coalesce(sent_at, not_before) END) AS last_at,
				max(CASE WHEN kind IN ('invitation', 'reminder') AND state = 'sent' THEN sent_at END) AS accepted_at,
				sum(DISTINCT CASE WHEN kind = 'reminder' AND round BETWEEN 1 AND 62 THEN 1 << (round - 1) END) AS planned,
				max(kind = 'invitation' AND round > 0 AND state IN ('queued', 'deferred', 'sending')) AS resend
			FROM outbox WHERE campaign_id = ? AND respondent_id IS NOT NULL GROUP BY respondent_id)
		SELECT r.id, r.full_name, r.title, r.mailbox, u.code, u.name, r.group_code, m.status,
			coalesce(o.invited_at, ''), coalesce(o.last_at, ''), coalesce(o.accepted_at, ''), coalesce(o.planned, 0), coalesce(o.resend, 0)
		FROM campaign_members m JOIN respondents r ON r.id = m.respondent_id JOIN units u ON u.id = r.unit_id
		LEFT JOIN o ON o.respondent_id = m.respondent_id
		WHERE m.campaign_id = ? ORDER BY r.id`, campaignID, campaignID)
	if err != nil {
		return nil, fmt.Errorf("find follow-ups: %w", err)
	}
	defer rows.Close()
	var out []*store.FollowUp
	for rows.Next() {
		f := &store.FollowUp{}
		var status, invited, last, accepted string
		var planned int64
		if err := rows.Scan(&f.RespondentID, &f.Name, &f.Title, &f.Mailbox, &f.UnitCode, &f.UnitName, &f.Group, &status,
			&invited, &last, &accepted, &planned, &f.ResendPending); err != nil {
			return nil, fmt.Errorf("find follow-ups: %w", err)
		}
		f.Status, f.RemindersPlanned = store.MemberStatus(status), uint64(planned)
		for _, t := range []struct {
			dst *time.Time
			s   string
		}{{&f.InvitedAt, invited}, {&f.LastSentAt, last}, {&f.LastAcceptedAt, accepted}} {
			if t.s == "" {
				continue
			}
			if *t.dst, err = parseTime(t.s); err != nil {
				return nil, fmt.Errorf("find follow-ups: respondent %d: %w", f.RespondentID, err)
			}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find follow-ups: %w", err)
	}
	return out, nil
}

// FindDigestsPlanned returns the head digest rounds queued per unit.
func (s *OutboxService) FindDigestsPlanned(ctx context.Context, code string) (map[string]uint64, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT u.code, sum(DISTINCT 1 << (o.round - 1))
		FROM outbox o JOIN campaigns c ON c.id = o.campaign_id JOIN units u ON u.id = o.unit_id
		WHERE c.code = ? AND o.kind = 'head_digest' AND o.round BETWEEN 1 AND 62 GROUP BY u.code`, code)
	if err != nil {
		return nil, fmt.Errorf("find digests planned: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var unit string
		var mask int64
		if err := rows.Scan(&unit, &mask); err != nil {
			return nil, fmt.Errorf("find digests planned: %w", err)
		}
		out[unit] = uint64(mask)
	}
	return out, rows.Err()
}

// FindRecentAttempts returns the campaign's last n SMTP attempts, newest
// first.
func (s *OutboxService) FindRecentAttempts(ctx context.Context, code string, n int) ([]*store.RecentAttempt, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT a.id, a.outbox_id, a.at, a.stage, a.code, a.status, a.text, a.duration_us, a.outcome, o.to_addr
		FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id JOIN campaigns c ON c.id = o.campaign_id
		WHERE c.code = ? ORDER BY a.id DESC LIMIT ?`, code, n)
	if err != nil {
		return nil, fmt.Errorf("find recent attempts: %w", err)
	}
	defer rows.Close()
	var out []*store.RecentAttempt
	for rows.Next() {
		a := &store.RecentAttempt{}
		var at, stage, outcome string
		var us int64
		if err := rows.Scan(&a.ID, &a.OutboxID, &at, &stage, &a.Code, &a.Status, &a.Text, &us, &outcome, &a.Mailbox); err != nil {
			return nil, fmt.Errorf("find recent attempts: %w", err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("find recent attempts: %w", err)
		}
		a.Stage, a.Outcome, a.Duration = store.SMTPStage(stage), store.OutboxState(outcome), time.Duration(us)*time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}
