package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
)

var _ store.OutboxService = (*OutboxService)(nil)

// OutboxService stores the outbox. Its writes are few and grouped: a claim
// is one transaction for a batch, and results are committed in groups, so
// durability does not cost a transaction per message.
type OutboxService struct {
	db   *DB
	refs *store.Refs
}

// NewOutboxService returns an OutboxService on db whose references are made
// by refs.
func NewOutboxService(db *DB, refs *store.Refs) *OutboxService {
	return &OutboxService{db: db, refs: refs}
}

// newMessageID returns "<random@domain>": 128 random bits, so Message-IDs
// never collide and reveal nothing.
func newMessageID(domain string) string {
	var b [16]byte
	rand.Read(b[:])
	return "<" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "@" + domain + ">"
}

// EnqueueOutbox inserts the messages whose key is new. Respondent messages
// with no To are addressed to the respondent's mailbox; head digests with no
// To to the unit head.
func (s *OutboxService) EnqueueOutbox(ctx context.Context, msgs []*store.OutboxMessage) (int, error) {
	if err := s.db.warm(ctx, enqueueQueries...); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	defer tx.Rollback()
	n, err := s.enqueue(ctx, tx, msgs, true)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("enqueue: commit: %w", err)
	}
	return n, nil
}

type campaignRef struct {
	id     int64
	domain string
}

// Statements of enqueue; warmed (see DB.warm) by the transactions that
// enqueue.
var enqueueQueries = []string{
	enqueueCampaignQuery, enqueueRespondentQuery, enqueueUnitQuery, enqueueInsertQuery, enqueueExistingQuery,
	enqueueRefQuery, enqueueReadBackQuery,
}

const (
	enqueueCampaignQuery   = `SELECT id, sender_address FROM campaigns WHERE code = ?`
	enqueueRespondentQuery = `SELECT mailbox, full_name FROM respondents WHERE id = ?`
	enqueueUnitQuery       = `SELECT id, head_mailbox, head_name FROM units WHERE code = ?`
	enqueueInsertQuery     = `INSERT INTO outbox (campaign_id, recipient_key, kind, round, respondent_id, unit_id,
		to_addr, to_name, message_id, payload, not_before, send_by, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (campaign_id, recipient_key) DO NOTHING RETURNING id`
	enqueueExistingQuery = `SELECT id FROM outbox WHERE campaign_id = ? AND recipient_key = ?`
	enqueueRefQuery      = `UPDATE outbox SET ref = ? WHERE id = ?`
	enqueueReadBackQuery = `SELECT ` + outboxColumns + ` FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		LEFT JOIN units u ON u.id = o.unit_id WHERE o.id = ?`
)

// enqueue inserts the messages whose key is new; with readBack, each
// message is then filled in as stored (id, reference, Message-ID).
func (s *OutboxService) enqueue(ctx context.Context, tx *Tx, msgs []*store.OutboxMessage, readBack bool) (int, error) {
	var st [7]*sql.Stmt
	for i, q := range enqueueQueries {
		var err error
		if st[i], err = tx.stmt(ctx, q); err != nil {
			return 0, err
		}
	}
	campaignQ, respondentQ, unitQ, insert, existingQ, refQ, readBackQ := st[0], st[1], st[2], st[3], st[4], st[5], st[6]
	campaigns := map[string]campaignRef{}
	now := formatTime(tx.now)
	added := 0
	for _, m := range msgs {
		c, ok := campaigns[m.CampaignCode]
		if !ok {
			var sender string
			if err := campaignQ.QueryRowContext(ctx, m.CampaignCode).Scan(&c.id, &sender); errors.Is(err, sql.ErrNoRows) {
				return 0, store.Errorf(store.ENOTFOUND, "campaign %s not found", m.CampaignCode)
			} else if err != nil {
				return 0, err
			}
			c.domain = store.MailboxDomain(sender)
			campaigns[m.CampaignCode] = c
		}
		var respondentID, unitID any
		switch {
		case m.RespondentID != 0:
			respondentID = m.RespondentID
			if m.To == "" {
				if err := respondentQ.QueryRowContext(ctx, m.RespondentID).Scan(&m.To, &m.ToName); errors.Is(err, sql.ErrNoRows) {
					return 0, store.Errorf(store.ENOTFOUND, "respondent %d not found", m.RespondentID)
				} else if err != nil {
					return 0, err
				}
			}
		case m.UnitCode != "":
			var id int64
			var mailbox, name string
			if err := unitQ.QueryRowContext(ctx, m.UnitCode).Scan(&id, &mailbox, &name); errors.Is(err, sql.ErrNoRows) {
				return 0, store.Errorf(store.ENOTFOUND, "unit %s not found", m.UnitCode)
			} else if err != nil {
				return 0, err
			}
			unitID = id
			if m.To == "" {
				m.To, m.ToName = mailbox, name
			}
		case m.To == "":
			return 0, store.Errorf(store.EINVALID, "%s message has no recipient", m.Kind)
		}
		notBefore := m.NotBefore
		if notBefore.IsZero() {
			notBefore = tx.now
		}
		var sendBy any
		if !m.SendBy.IsZero() {
			sendBy = formatDue(m.SendBy)
		}
		var id int64
		err := insert.QueryRowContext(ctx, c.id, m.Key(), string(m.Kind), m.Round, respondentID, unitID,
			m.To, m.ToName, newMessageID(c.domain), m.Payload, formatDue(notBefore), sendBy, formatDue(notBefore), now, now).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows): // already there
			if err := existingQ.QueryRowContext(ctx, c.id, m.Key()).Scan(&id); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		default:
			added++
			if _, err := refQ.ExecContext(ctx, s.refs.Ref(id), id); err != nil {
				return 0, fmt.Errorf("reference of message %d: %w", id, err)
			}
		}
		if !readBack {
			continue
		}
		rows, err := readBackQ.QueryContext(ctx, id)
		if err != nil {
			return 0, err
		}
		stored, err := scanOutbox(rows, s.db.LinkKey)
		if err != nil {
			return 0, err
		}
		*m = *stored[0]
	}
	return added, nil
}

// EnqueueInvitations queues an invitation for every active member of the
// campaign who is not invited yet and has none queued, at most limit (0: no
// limit), in respondent order. One INSERT ... SELECT, so a 100,000-member
// campaign is queued in about a second.
func (s *OutboxService) EnqueueInvitations(ctx context.Context, code string, limit int) (int, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("enqueue invitations: %w", err)
	}
	defer tx.Rollback()
	var id int64
	var sender string
	if err := tx.QueryRowContext(ctx, `SELECT id, sender_address FROM campaigns WHERE code = ?`, code).Scan(&id, &sender); errors.Is(err, sql.ErrNoRows) {
		return 0, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return 0, fmt.Errorf("enqueue invitations: %w", err)
	}
	if limit <= 0 {
		limit = -1
	}
	now := formatTime(tx.now)
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox (campaign_id, recipient_key, kind, round, respondent_id,
		to_addr, to_name, message_id, not_before, next_attempt_at, created_at, updated_at)
		SELECT m.campaign_id, 'invitation/0/r' || r.id, 'invitation', 0, r.id, r.mailbox, r.full_name,
			'<' || lower(hex(randomblob(16))) || '@' || ? || '>', ?, ?, ?, ?
		FROM campaign_members m JOIN respondents r ON r.id = m.respondent_id
		WHERE m.campaign_id = ? AND m.status = 'not_invited' AND r.active = 1
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = m.campaign_id AND o.recipient_key = 'invitation/0/r' || r.id)
		ORDER BY r.id LIMIT ?`,
		store.MailboxDomain(sender), now, now, now, now, id, limit)
	if err != nil {
		return 0, fmt.Errorf("enqueue invitations: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := assignRefs(ctx, tx, s.refs); err != nil {
		return 0, fmt.Errorf("enqueue invitations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("enqueue invitations: commit: %w", err)
	}
	return int(n), nil
}

// assignRefs gives a reference to every message inserted without one.
func assignRefs(ctx context.Context, tx *Tx, refs *store.Refs) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM outbox WHERE ref IS NULL`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	update, err := tx.PrepareContext(ctx, `UPDATE outbox SET ref = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer update.Close()
	for _, id := range ids {
		if _, err := update.ExecContext(ctx, refs.Ref(id), id); err != nil {
			return fmt.Errorf("reference of message %d: %w", id, err)
		}
	}
	return nil
}

// ClaimOutbox claims up to n due messages of active campaigns, spread over
// the campaigns, and loads what rendering and CheckSend need.
func (s *OutboxService) ClaimOutbox(ctx context.Context, owner string, n int, lease time.Duration) ([]*store.OutboxMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	defer tx.Rollback()
	campaignIDs, err := queryInt64s(ctx, tx, `SELECT id FROM campaigns WHERE state = 'active' ORDER BY deadline, id`)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	now := formatTime(tx.now)
	var ids []int64
	for i, cid := range campaignIDs {
		// An even share per campaign, the last one taking what is left.
		want := (n - len(ids)) / (len(campaignIDs) - i)
		if i == len(campaignIDs)-1 {
			want = n - len(ids)
		}
		if want <= 0 {
			continue
		}
		got, err := queryInt64s(ctx, tx, `UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE id IN (SELECT id FROM outbox WHERE campaign_id = ? AND state IN ('queued', 'deferred') AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id`, owner, formatTime(tx.now.Add(lease)), now, cid, now, want)
		if err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		ids = append(ids, got...)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	msgs, err := loadClaimed(ctx, tx, ids)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim: commit: %w", err)
	}
	return msgs, nil
}

// loadClaimed reads the messages with ids and, for rendering, their
// respondents, units and member statuses: four queries for the batch.
func loadClaimed(ctx context.Context, tx *Tx, ids []int64) ([]*store.OutboxMessage, error) {
	msgs, err := findOutbox(ctx, tx, store.OutboxFilter{}, ids...)
	if err != nil {
		return nil, err
	}
	var respondentIDs []any
	unitCodes := map[string]bool{}
	for _, m := range msgs {
		if m.RespondentID != 0 {
			respondentIDs = append(respondentIDs, m.RespondentID)
		}
		if m.UnitCode != "" {
			unitCodes[m.UnitCode] = true
		}
	}
	respondents := map[int64]*store.Respondent{}
	if len(respondentIDs) > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT `+respondentColumns+` FROM respondents r JOIN units u ON u.id = r.unit_id
			WHERE r.id IN (`+placeholders(len(respondentIDs))+`)`, respondentIDs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanRespondent(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			respondents[r.ID] = r
			unitCodes[r.UnitCode] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	units := map[string]*store.Unit{}
	if len(unitCodes) > 0 {
		var codes []any
		for c := range unitCodes {
			codes = append(codes, c)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+unitColumns+` FROM units u LEFT JOIN units p ON p.id = u.parent_id
			WHERE u.code IN (`+placeholders(len(codes))+`)`, codes...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			u, err := scanUnit(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			units[u.Code] = u
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	statuses := map[int64]store.MemberStatus{}
	if len(respondentIDs) > 0 {
		anyIDs := make([]any, len(ids))
		for i, id := range ids {
			anyIDs[i] = id
		}
		rows, err := tx.QueryContext(ctx, `SELECT o.id, m.status FROM outbox o
			JOIN campaign_members m ON m.campaign_id = o.campaign_id AND m.respondent_id = o.respondent_id
			WHERE o.id IN (`+placeholders(len(anyIDs))+`)`, anyIDs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var status string
			if err := rows.Scan(&id, &status); err != nil {
				rows.Close()
				return nil, err
			}
			statuses[id] = store.MemberStatus(status)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, m := range msgs {
		if m.RespondentID != 0 {
			m.Respondent = respondents[m.RespondentID]
			if m.Respondent != nil {
				m.Unit = units[m.Respondent.UnitCode]
			}
			m.MemberStatus = statuses[m.ID]
		} else if m.UnitCode != "" {
			m.Unit = units[m.UnitCode]
		}
	}
	return msgs, nil
}

// CompleteOutbox records a group of results in one transaction. A result for
// a message that is no longer this owner's (its lease expired and it was
// reclaimed) keeps its attempt but changes nothing else.
func (s *OutboxService) CompleteOutbox(ctx context.Context, owner string, results []*store.OutboxResult) error {
	if len(results) == 0 {
		return nil
	}
	stmts, err := s.completionStmts(ctx)
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	defer tx.Rollback()
	w := newCompletion(ctx, tx, stmts)
	defer w.close()
	for _, r := range results {
		if err := w.complete(ctx, owner, r); err != nil {
			return fmt.Errorf("complete message %d: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("complete: commit: %w", err)
	}
	return nil
}

type completion struct {
	tx                                                *Tx
	now                                               string
	load, update, attempt, invited, failure, addrFail *sql.Stmt
}

var completionQueries = [6]string{
	`SELECT state, coalesce(lease_owner, ''), kind, campaign_id, coalesce(respondent_id, 0), to_addr FROM outbox WHERE id = ?`,
	`UPDATE outbox SET state = ?, attempts = attempts + ?, next_attempt_at = coalesce(?, next_attempt_at),
		lease_owner = NULL, lease_until = NULL, reason = ?, sent_at = coalesce(?, sent_at), updated_at = ? WHERE id = ?`,
	`INSERT INTO outbox_attempts (outbox_id, at, stage, code, status, text, duration_us, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	`UPDATE campaign_members SET status = 'invited', status_changed_at = ?
		WHERE campaign_id = ? AND respondent_id = ? AND status = 'not_invited'`,
	`INSERT INTO delivery_failures (campaign_id, outbox_id, respondent_id, mailbox, domain, stage, code, status,
		class, text, permanent, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	`UPDATE campaign_members SET status = 'address_failed', status_changed_at = ?
		WHERE campaign_id = ? AND respondent_id = ? AND status IN ('not_invited', 'invited')`,
}

// completionStmts returns the statements CompleteOutbox runs, prepared once.
func (s *OutboxService) completionStmts(ctx context.Context) ([6]*sql.Stmt, error) {
	var out [6]*sql.Stmt
	for i, q := range completionQueries {
		st, err := s.db.stmt(ctx, true, q)
		if err != nil {
			return out, err
		}
		out[i] = st
	}
	return out, nil
}

func newCompletion(ctx context.Context, tx *Tx, stmts [6]*sql.Stmt) *completion {
	w := &completion{tx: tx, now: formatTime(tx.now)}
	for i, dst := range []**sql.Stmt{&w.load, &w.update, &w.attempt, &w.invited, &w.failure, &w.addrFail} {
		*dst = tx.StmtContext(ctx, stmts[i])
	}
	return w
}

func (w *completion) close() {
	for _, st := range []*sql.Stmt{w.load, w.update, w.attempt, w.invited, w.failure, w.addrFail} {
		if st != nil {
			st.Close()
		}
	}
}

func (w *completion) complete(ctx context.Context, owner string, r *store.OutboxResult) error {
	var (
		state, leaseOwner, kind, to string
		campaignID, respondentID    int64
	)
	if err := w.load.QueryRowContext(ctx, r.ID).Scan(&state, &leaseOwner, &kind, &campaignID, &respondentID, &to); errors.Is(err, sql.ErrNoRows) {
		return store.Errorf(store.ENOTFOUND, "outbox message %d not found", r.ID)
	} else if err != nil {
		return err
	}
	if a := r.Attempt; a != nil {
		if _, err := w.attempt.ExecContext(ctx, r.ID, formatTime(a.At), string(a.Stage), a.Code, a.Status, a.Text,
			a.Duration.Microseconds(), string(a.Outcome)); err != nil {
			return fmt.Errorf("attempt: %w", err)
		}
	}
	if store.OutboxState(state) != store.OutboxSending || leaseOwner != owner {
		// Reclaimed after the lease expired (and maybe taken by another
		// sender, whose result wins): the attempt is kept, nothing else.
		return nil
	}
	next, err := store.NextOutboxState(store.OutboxState(state), r.Event)
	if err != nil {
		return err
	}
	var nextAttempt, sentAt any
	if !r.NextAttemptAt.IsZero() {
		nextAttempt = formatDue(r.NextAttemptAt)
	}
	if next == store.OutboxSent {
		sentAt = w.now
	}
	attempts := 0
	if r.Attempt != nil {
		attempts = 1
	}
	if _, err := w.update.ExecContext(ctx, string(next), attempts, nextAttempt, r.Reason, sentAt, w.now, r.ID); err != nil {
		return err
	}
	k := store.MessageKind(kind)
	switch {
	case next == store.OutboxSent && respondentID != 0 && (k == store.KindInvitation || k == store.KindReminder):
		if _, err := w.invited.ExecContext(ctx, w.now, campaignID, respondentID); err != nil {
			return fmt.Errorf("member status: %w", err)
		}
	case r.Attempt != nil && (next == store.OutboxFailed || next == store.OutboxDeferred) && !r.Throttled && !r.Interrupted &&
		(r.Attempt.Stage == store.StageRcpt || r.Attempt.Stage == store.StageData):
		// The server refused this recipient or this message: the same
		// record a bounce would make, for the IT liaison.
		a := r.Attempt
		permanent := next == store.OutboxFailed
		var rid any
		if respondentID != 0 {
			rid = respondentID
		}
		if _, err := w.failure.ExecContext(ctx, campaignID, r.ID, rid, to, store.MailboxDomain(to), string(a.Stage), a.Code,
			a.Status, store.ClassifyFailure(a.Code, a.Status, a.Text), a.Text, permanent, formatTime(a.At)); err != nil {
			return fmt.Errorf("delivery failure: %w", err)
		}
		// A recipient refused for good at RCPT is an address that fails;
		// a message refused at DATA may be the content, not the address.
		if permanent && a.Stage == store.StageRcpt && respondentID != 0 {
			if _, err := w.addrFail.ExecContext(ctx, w.now, campaignID, respondentID); err != nil {
				return fmt.Errorf("member status: %w", err)
			}
		}
	}
	return nil
}

// ReclaimOutbox gives back sending messages whose lease expired, or all of
// them when the caller holds the sender lock.
func (s *OutboxService) ReclaimOutbox(ctx context.Context, all bool) (int, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("reclaim: %w", err)
	}
	defer tx.Rollback()
	now := formatTime(tx.now)
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'queued', lease_owner = NULL, lease_until = NULL,
		reason = 'reclaimed after an interrupted send', updated_at = ?
		WHERE state = 'sending' AND (? OR lease_until < ?)`, now, all, now)
	if err != nil {
		return 0, fmt.Errorf("reclaim: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("reclaim: commit: %w", err)
	}
	return int(n), nil
}

// NextOutboxDue returns the earliest due time among waiting messages of
// active campaigns.
func (s *OutboxService) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	defer tx.Rollback()
	var at sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT min(o.next_attempt_at) FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		WHERE c.state = 'active' AND o.state IN ('queued', 'deferred')`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	t, err := parseTime(at.String)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return t, true, nil
}

// FindOutbox lists messages newest first with the count of all that match.
func (s *OutboxService) FindOutbox(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxMessage, int, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, 0, fmt.Errorf("find outbox: %w", err)
	}
	defer tx.Rollback()
	where, args := outboxWhere(f)
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox o JOIN campaigns c ON c.id = o.campaign_id`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("find outbox: %w", err)
	}
	msgs, err := findOutbox(ctx, tx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("find outbox: %w", err)
	}
	return msgs, total, nil
}

// FindOutboxMessage returns one message with every attempt, oldest first.
func (s *OutboxService) FindOutboxMessage(ctx context.Context, id int64) (*store.OutboxMessage, []*store.Attempt, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, nil, fmt.Errorf("find outbox message: %w", err)
	}
	defer tx.Rollback()
	msgs, err := findOutbox(ctx, tx, store.OutboxFilter{ID: id})
	if err != nil {
		return nil, nil, fmt.Errorf("find outbox message: %w", err)
	}
	if len(msgs) == 0 {
		return nil, nil, store.Errorf(store.ENOTFOUND, "outbox message %d not found", id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, outbox_id, at, stage, code, status, text, duration_us, outcome
		FROM outbox_attempts WHERE outbox_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("find outbox message: %w", err)
	}
	defer rows.Close()
	var attempts []*store.Attempt
	for rows.Next() {
		var (
			a            store.Attempt
			at, stage, o string
			us           int64
		)
		if err := rows.Scan(&a.ID, &a.OutboxID, &at, &stage, &a.Code, &a.Status, &a.Text, &us, &o); err != nil {
			return nil, nil, fmt.Errorf("find outbox message: %w", err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, nil, fmt.Errorf("find outbox message: %w", err)
		}
		a.Stage, a.Outcome, a.Duration = store.SMTPStage(stage), store.OutboxState(o), time.Duration(us)*time.Microsecond
		attempts = append(attempts, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("find outbox message: %w", err)
	}
	return msgs[0], attempts, nil
}

// OutboxCounts counts messages by state.
func (s *OutboxService) OutboxCounts(ctx context.Context, code string) (map[store.OutboxState]int, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("outbox counts: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT o.state, count(*) FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		WHERE ? = '' OR c.code = ? GROUP BY o.state`, code, code)
	if err != nil {
		return nil, fmt.Errorf("outbox counts: %w", err)
	}
	defer rows.Close()
	counts := map[store.OutboxState]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("outbox counts: %w", err)
		}
		counts[store.OutboxState(state)] = n
	}
	return counts, rows.Err()
}

const outboxColumns = `o.id, c.code, o.kind, o.round, coalesce(o.respondent_id, 0), coalesce(u.code, ''), o.to_addr, o.to_name,
	o.state, o.message_id, coalesce(o.ref, ''), o.payload, o.not_before, coalesce(o.send_by, ''), o.next_attempt_at,
	o.attempts, coalesce(o.lease_until, ''), o.reason, o.created_at, o.updated_at, coalesce(o.sent_at, '')`

func outboxWhere(f store.OutboxFilter, ids ...int64) (string, []any) {
	var where []string
	var args []any
	if f.ID != 0 {
		where, args = append(where, "o.id = ?"), append(args, f.ID)
	}
	if len(ids) > 0 {
		where = append(where, "o.id IN ("+placeholders(len(ids))+")")
		for _, id := range ids {
			args = append(args, id)
		}
	}
	if f.CampaignCode != "" {
		where, args = append(where, "c.code = ?"), append(args, f.CampaignCode)
	}
	if f.State != "" {
		where, args = append(where, "o.state = ?"), append(args, string(f.State))
	}
	if f.Kind != "" {
		where, args = append(where, "o.kind = ?"), append(args, string(f.Kind))
	}
	if f.RespondentID != 0 {
		where, args = append(where, "o.respondent_id = ?"), append(args, f.RespondentID)
	}
	if f.Ref != "" {
		where, args = append(where, "o.ref = ?"), append(args, strings.ToUpper(f.Ref))
	}
	if f.MessageID != "" {
		where, args = append(where, "o.message_id = ?"), append(args, "<"+strings.Trim(f.MessageID, "<> ")+">")
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

func findOutbox(ctx context.Context, tx *Tx, f store.OutboxFilter, ids ...int64) ([]*store.OutboxMessage, error) {
	where, args := outboxWhere(f, ids...)
	q := `SELECT ` + outboxColumns + ` FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		LEFT JOIN units u ON u.id = o.unit_id` + where + ` ORDER BY o.id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, f.Offset)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanOutbox(rows, tx.db.LinkKey)
}

// scanOutbox reads and closes rows of outboxColumns, opening sealed
// payloads with linkKey (link.go).
func scanOutbox(rows *sql.Rows, linkKey []byte) ([]*store.OutboxMessage, error) {
	defer rows.Close()
	var msgs []*store.OutboxMessage
	for rows.Next() {
		var (
			err                                             error
			m                                               store.OutboxMessage
			kind, state                                     string
			notBefore, sendBy, next, lease, created, update string
			sent                                            string
		)
		if err := rows.Scan(&m.ID, &m.CampaignCode, &kind, &m.Round, &m.RespondentID, &m.UnitCode, &m.To, &m.ToName,
			&state, &m.MessageID, &m.Ref, &m.Payload, &notBefore, &sendBy, &next, &m.Attempts, &lease, &m.Reason,
			&created, &update, &sent); err != nil {
			return nil, err
		}
		m.Kind, m.State = store.MessageKind(kind), store.OutboxState(state)
		if m.Payload, err = unseal(linkKey, m.Payload); err != nil {
			return nil, fmt.Errorf("outbox %d: %w", m.ID, err)
		}
		for _, t := range []struct {
			dst *time.Time
			s   string
		}{{&m.NotBefore, notBefore}, {&m.SendBy, sendBy}, {&m.NextAttemptAt, next}, {&m.LeaseUntil, lease},
			{&m.CreatedAt, created}, {&m.UpdatedAt, update}, {&m.SentAt, sent}} {
			if t.s == "" {
				continue
			}
			if *t.dst, err = parseTime(t.s); err != nil {
				return nil, fmt.Errorf("outbox message %d: %w", m.ID, err)
			}
		}
		msgs = append(msgs, &m)
	}
	return msgs, rows.Err()
}

// FindDeliveryFailures lists a campaign's failures since a moment, newest first.
func (s *OutboxService) FindDeliveryFailures(ctx context.Context, code string, since time.Time) ([]*store.DeliveryFailure, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find delivery failures: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT f.id, c.code, coalesce(f.outbox_id, 0), coalesce(f.respondent_id, 0), f.mailbox, f.domain,
		f.stage, f.code, f.status, f.class, f.text, f.permanent, f.occurred_at
		FROM delivery_failures f JOIN campaigns c ON c.id = f.campaign_id
		WHERE (? = '' OR c.code = ?) AND f.occurred_at >= ? ORDER BY f.occurred_at DESC, f.id DESC`,
		code, code, formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("find delivery failures: %w", err)
	}
	defer rows.Close()
	var out []*store.DeliveryFailure
	for rows.Next() {
		var (
			d         store.DeliveryFailure
			stage, at string
		)
		if err := rows.Scan(&d.ID, &d.CampaignCode, &d.OutboxID, &d.RespondentID, &d.Mailbox, &d.Domain, &stage, &d.Code,
			&d.Status, &d.Class, &d.Text, &d.Permanent, &at); err != nil {
			return nil, fmt.Errorf("find delivery failures: %w", err)
		}
		d.Stage = store.SMTPStage(stage)
		if d.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("find delivery failures: %w", err)
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

// RaiseAlert records a as open unless an open alert of its kind and
// campaign exists.
func (s *OutboxService) RaiseAlert(ctx context.Context, a *store.Alert) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("raise alert: %w", err)
	}
	defer tx.Rollback()
	var cid any
	if a.CampaignCode != "" {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM campaigns WHERE code = ?`, a.CampaignCode).Scan(&id); err != nil {
			return fmt.Errorf("raise alert: campaign %s: %w", a.CampaignCode, err)
		}
		cid = id
	}
	var open int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM alerts WHERE kind = ? AND campaign_id IS ? AND resolved_at IS NULL`, a.Kind, cid).Scan(&open)
	switch {
	case err == nil:
		a.ID = open
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("raise alert: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO alerts (kind, campaign_id, stage, text, raised_at) VALUES (?, ?, ?, ?, ?)`,
		a.Kind, cid, string(a.Stage), a.Text, formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("raise alert: %w", err)
	}
	a.ID, _ = res.LastInsertId()
	a.RaisedAt = tx.now
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("raise alert: commit: %w", err)
	}
	return nil
}

// ResolveAlerts closes the open alerts of a kind (and campaign, if given).
func (s *OutboxService) ResolveAlerts(ctx context.Context, kind, code string) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("resolve alerts: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE kind = ? AND resolved_at IS NULL
		AND (? = '' OR campaign_id = (SELECT id FROM campaigns WHERE code = ?))`, formatTime(tx.now), kind, code, code); err != nil {
		return fmt.Errorf("resolve alerts: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resolve alerts: commit: %w", err)
	}
	return nil
}

// FindAlerts lists alerts, newest first.
func (s *OutboxService) FindAlerts(ctx context.Context, openOnly bool) ([]*store.Alert, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find alerts: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT a.id, a.kind, coalesce(c.code, ''), a.stage, a.text, a.raised_at, coalesce(a.resolved_at, '')
		FROM alerts a LEFT JOIN campaigns c ON c.id = a.campaign_id
		WHERE NOT ? OR a.resolved_at IS NULL ORDER BY a.id DESC`, openOnly)
	if err != nil {
		return nil, fmt.Errorf("find alerts: %w", err)
	}
	defer rows.Close()
	var out []*store.Alert
	for rows.Next() {
		var (
			a                       store.Alert
			stage, raised, resolved string
		)
		if err := rows.Scan(&a.ID, &a.Kind, &a.CampaignCode, &stage, &a.Text, &raised, &resolved); err != nil {
			return nil, fmt.Errorf("find alerts: %w", err)
		}
		a.Stage = store.SMTPStage(stage)
		if a.RaisedAt, err = parseTime(raised); err != nil {
			return nil, fmt.Errorf("find alerts: %w", err)
		}
		if resolved != "" {
			if a.ResolvedAt, err = parseTime(resolved); err != nil {
				return nil, fmt.Errorf("find alerts: %w", err)
			}
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

func queryInt64s(ctx context.Context, tx *Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
