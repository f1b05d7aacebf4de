package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phieu/phieu/store"
)

// DashboardService answers the dashboard's read-only questions. Every
// method reads one snapshot on the read pool: the dashboard never waits for
// the sender or the poller.
type DashboardService struct {
	db *DB
}

var _ store.DashboardService = (*DashboardService)(nil)

// NewDashboardService returns the dashboard's queries on db.
func NewDashboardService(db *DB) *DashboardService { return &DashboardService{db: db} }

// Ping runs a query on the read pool.
func (s *DashboardService) Ping(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// dashboardCampaignID returns the id of campaign code, 0 for "".
func dashboardCampaignID(ctx context.Context, tx *Tx, code string) (int64, error) {
	if code == "" {
		return 0, nil
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM campaigns WHERE code = ?`, code).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return 0, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return 0, err
	}
	return id, nil
}

// DashboardCounts counts by state, outcome, class and status, for one
// campaign or (code "") every campaign.
func (s *DashboardService) DashboardCounts(ctx context.Context, code string) (*store.DashboardCounts, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("dashboard counts: %w", err)
	}
	defer tx.Rollback()
	id, err := dashboardCampaignID(ctx, tx, code)
	if err != nil {
		return nil, fmt.Errorf("dashboard counts: %w", err)
	}
	c := &store.DashboardCounts{
		Outbox: map[store.OutboxState]int{}, Attempts: map[store.OutboxState]int{}, Failures: map[store.FailureClass]int{},
		Responses: map[store.ResponseStatus]int{}, Members: map[store.MemberStatus]int{},
	}
	// Each query groups one table; "? = 0" lets one statement serve a
	// campaign and all of them.
	for _, q := range []struct {
		query string
		add   func(key string, n int)
	}{
		{`SELECT state, count(*) FROM outbox WHERE ? = 0 OR campaign_id = ? GROUP BY state`,
			func(k string, n int) { c.Outbox[store.OutboxState(k)] = n }},
		{`SELECT a.outcome, count(*) FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id
			WHERE ? = 0 OR o.campaign_id = ? GROUP BY a.outcome`,
			func(k string, n int) { c.Attempts[store.OutboxState(k)] = n }},
		{`SELECT class, count(*) FROM delivery_failures WHERE ? = 0 OR campaign_id = ? GROUP BY class`,
			func(k string, n int) { c.Failures[store.FailureClass(k)] = n }},
		{`SELECT status, count(*) FROM responses WHERE ? = 0 OR campaign_id = ? GROUP BY status`,
			func(k string, n int) { c.Responses[store.ResponseStatus(k)] = n }},
		{`SELECT status, count(*) FROM campaign_members WHERE ? = 0 OR campaign_id = ? GROUP BY status`,
			func(k string, n int) { c.Members[store.MemberStatus(k)] = n }},
	} {
		if err := countGroups(ctx, tx, q.query, id, q.add); err != nil {
			return nil, fmt.Errorf("dashboard counts: %w", err)
		}
	}
	return c, nil
}

func countGroups(ctx context.Context, tx *Tx, query string, campaignID int64, add func(string, int)) error {
	rows, err := tx.QueryContext(ctx, query, campaignID, campaignID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key string
			n   int
		)
		if err := rows.Scan(&key, &n); err != nil {
			return err
		}
		add(key, n)
	}
	return rows.Err()
}

// FindUnitMembers lists the unit's own members of the campaign in
// Vietnamese name order, each with their newest message that was not
// suppressed.
func (s *DashboardService) FindUnitMembers(ctx context.Context, code, unitCode string) ([]*store.UnitMember, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find unit members: %w", err)
	}
	defer tx.Rollback()
	campaignID, err := dashboardCampaignID(ctx, tx, code)
	if err != nil {
		return nil, fmt.Errorf("find unit members: %w", err)
	}
	var unitID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM units WHERE code = ?`, unitCode).Scan(&unitID); errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "unit %s not found", unitCode)
	} else if err != nil {
		return nil, fmt.Errorf("find unit members: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `WITH last AS (
			SELECT o.respondent_id, o.kind, o.state, coalesce(o.sent_at, o.updated_at) AS at,
				row_number() OVER (PARTITION BY o.respondent_id ORDER BY coalesce(o.sent_at, o.updated_at) DESC, o.id DESC) AS n
			FROM outbox o JOIN respondents r ON r.id = o.respondent_id
			WHERE o.campaign_id = ? AND r.unit_id = ? AND o.state <> 'suppressed'
				AND o.kind IN ('invitation', 'reminder', 'receipt', 'correction'))
		SELECT r.id, r.full_name, r.title, r.mailbox, u.code, u.name, r.group_code, m.status, m.status_changed_at,
			coalesce(l.kind, ''), coalesce(l.state, ''), coalesce(l.at, '')
		FROM campaign_members m JOIN respondents r ON r.id = m.respondent_id JOIN units u ON u.id = r.unit_id
		LEFT JOIN last l ON l.respondent_id = r.id AND l.n = 1
		WHERE m.campaign_id = ? AND r.unit_id = ?
		ORDER BY r.given_key, r.family_key, r.middle_key, r.id`, campaignID, unitID, campaignID, unitID)
	if err != nil {
		return nil, fmt.Errorf("find unit members: %w", err)
	}
	defer rows.Close()
	var out []*store.UnitMember
	for rows.Next() {
		m := &store.UnitMember{}
		var status, changed, kind, state, at string
		if err := rows.Scan(&m.RespondentID, &m.Name, &m.Title, &m.Mailbox, &m.UnitCode, &m.UnitName, &m.Group, &status, &changed,
			&kind, &state, &at); err != nil {
			return nil, fmt.Errorf("find unit members: %w", err)
		}
		m.Status, m.LastKind, m.LastState = store.MemberStatus(status), store.MessageKind(kind), store.OutboxState(state)
		if m.StatusChangedAt, err = parseTime(changed); err != nil {
			return nil, fmt.Errorf("find unit members: %w", err)
		}
		if at != "" {
			if m.LastAt, err = parseTime(at); err != nil {
				return nil, fmt.Errorf("find unit members: %w", err)
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find unit members: %w", err)
	}
	return out, nil
}

// FindDeferred lists deferred messages by next attempt, each with its last
// SMTP attempt.
func (s *DashboardService) FindDeferred(ctx context.Context, code string, limit int) ([]*store.DeferredMessage, int, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, 0, fmt.Errorf("find deferred: %w", err)
	}
	defer tx.Rollback()
	campaignID, err := dashboardCampaignID(ctx, tx, code)
	if err != nil {
		return nil, 0, fmt.Errorf("find deferred: %w", err)
	}
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'deferred' AND (? = 0 OR campaign_id = ?)`,
		campaignID, campaignID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("find deferred: %w", err)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := tx.QueryContext(ctx, `SELECT o.id, c.code, o.kind, o.to_addr, o.to_name, o.attempts, o.next_attempt_at, o.reason,
			coalesce(a.id, 0), coalesce(a.at, ''), coalesce(a.stage, ''), coalesce(a.code, 0), coalesce(a.status, ''),
			coalesce(a.text, ''), coalesce(a.duration_us, 0), coalesce(a.outcome, '')
		FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		LEFT JOIN outbox_attempts a ON a.id = (SELECT max(id) FROM outbox_attempts WHERE outbox_id = o.id)
		WHERE o.state = 'deferred' AND (? = 0 OR o.campaign_id = ?)
		ORDER BY o.next_attempt_at, o.id LIMIT ?`, campaignID, campaignID, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find deferred: %w", err)
	}
	defer rows.Close()
	var out []*store.DeferredMessage
	for rows.Next() {
		var (
			m                    store.DeferredMessage
			a                    store.Attempt
			kind, next, at       string
			stage, outcome       string
			durationMicroseconds int64
		)
		if err := rows.Scan(&m.ID, &m.CampaignCode, &kind, &m.To, &m.ToName, &m.Attempts, &next, &m.Reason,
			&a.ID, &at, &stage, &a.Code, &a.Status, &a.Text, &durationMicroseconds, &outcome); err != nil {
			return nil, 0, fmt.Errorf("find deferred: %w", err)
		}
		m.Kind = store.MessageKind(kind)
		if m.NextAttemptAt, err = parseTime(next); err != nil {
			return nil, 0, fmt.Errorf("find deferred: %w", err)
		}
		if a.ID != 0 {
			if a.At, err = parseTime(at); err != nil {
				return nil, 0, fmt.Errorf("find deferred: %w", err)
			}
			a.OutboxID, a.Stage, a.Outcome = m.ID, store.SMTPStage(stage), store.OutboxState(outcome)
			a.Duration = time.Duration(durationMicroseconds) * time.Microsecond
			m.LastAttempt = &a
		}
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find deferred: %w", err)
	}
	return out, total, nil
}

// FindResponseContexts reads who each response is from and the subject of
// the reply it came in. Responses name no one: the member is found through
// the response's link (which needs the link key), and the reply is the
// member's newest one in the campaign that asked for a person. Without the
// key only the unit is known and Name says so.
func (s *DashboardService) FindResponseContexts(ctx context.Context, ids []int64) (map[int64]*store.ResponseContext, error) {
	out := map[int64]*store.ResponseContext{}
	if len(ids) == 0 {
		return out, nil
	}
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find response contexts: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		c := &store.ResponseContext{ResponseID: id}
		var campaignID int64
		var link string
		err := tx.QueryRowContext(ctx, `SELECT r.campaign_id, r.member_link, r.unit_code, coalesce(u.name, '')
			FROM responses r LEFT JOIN units u ON u.code = r.unit_code WHERE r.id = ?`, id).Scan(&campaignID, &link, &c.UnitCode, &c.UnitName)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("find response contexts: %w", err)
		}
		out[id] = c
		if len(s.db.LinkKey) == 0 {
			c.Name = "không xác định được (thiếu khóa)"
			continue
		}
		respondentID, err := s.db.memberOf(ctx, tx, campaignID, link)
		if err != nil {
			return nil, fmt.Errorf("find response contexts: %w", err)
		}
		if respondentID == 0 {
			c.Name = "không xác định được (không thành viên nào khớp)"
			continue
		}
		if err := tx.QueryRowContext(ctx, `SELECT p.full_name, p.title, p.mailbox, u.code, u.name,
				coalesce(i.subject, ''), coalesce(i.review, '')
			FROM respondents p JOIN units u ON u.id = p.unit_id
			LEFT JOIN inbound i ON i.id = (SELECT max(id) FROM inbound WHERE campaign_id = ? AND respondent_id = p.id
				AND kind = 'reply' AND review <> '')
			WHERE p.id = ?`, campaignID, respondentID).Scan(&c.Name, &c.Title, &c.Mailbox, &c.UnitCode, &c.UnitName,
			&c.Subject, &c.Review); err != nil {
			return nil, fmt.Errorf("find response contexts: %w", err)
		}
	}
	return out, nil
}
