package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/phieu/phieu/store"
)

// InboundService stores what the poller reads. It queues receipts and
// resends through the outbox in the same transaction as the message.
type InboundService struct {
	db     *DB
	outbox *OutboxService

	campaignIDs sync.Map // code -> id: campaigns are never deleted
}

var _ store.InboundService = (*InboundService)(nil)

// NewInboundService returns the inbound service; outbox queues replies.
func NewInboundService(db *DB, outbox *OutboxService) *InboundService {
	return &InboundService{db: db, outbox: outbox}
}

// campaignID returns the id of the campaign code, 0 for "".
func (s *InboundService) campaignID(ctx context.Context, tx *Tx, code string) (int64, error) {
	if code == "" {
		return 0, nil
	}
	if id, ok := s.campaignIDs.Load(code); ok {
		return id.(int64), nil
	}
	var id int64
	if err := tx.queryRow(ctx, campaignIDQuery, code).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return 0, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return 0, err
	}
	s.campaignIDs.Store(code, id)
	return id, nil
}

// FindCheckpoint returns the mailbox's checkpoint, zero when never read.
func (s *InboundService) FindCheckpoint(ctx context.Context, account, mailbox string) (*store.Checkpoint, error) {
	cp := &store.Checkpoint{Account: account, Mailbox: mailbox}
	var updated string
	err := s.db.read.QueryRowContext(ctx, `SELECT uid_validity, last_uid, updated_at FROM mailbox_checkpoints
		WHERE account = ? AND mailbox = ?`, account, mailbox).Scan(&cp.UIDValidity, &cp.LastUID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, nil
	} else if err != nil {
		return nil, fmt.Errorf("find checkpoint: %w", err)
	}
	if cp.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("find checkpoint: %w", err)
	}
	return cp, nil
}

const saveCheckpointQuery = `INSERT INTO mailbox_checkpoints (account, mailbox, uid_validity, last_uid, updated_at)
	VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (account, mailbox) DO UPDATE SET
		last_uid = CASE WHEN uid_validity = excluded.uid_validity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
		uid_validity = excluded.uid_validity, updated_at = excluded.updated_at`

// SaveCheckpoint stores a checkpoint. Under the same UIDVALIDITY it never
// moves backwards.
func (s *InboundService) SaveCheckpoint(ctx context.Context, cp *store.Checkpoint) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, saveCheckpointQuery, cp.Account, cp.Mailbox, cp.UIDValidity, cp.LastUID, formatTime(tx.now)); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save checkpoint: commit: %w", err)
	}
	cp.UpdatedAt = tx.now
	return nil
}

// The statements of record, warmed before its transaction.
const (
	campaignIDQuery       = `SELECT id FROM campaigns WHERE code = ?`
	insertDSNFailureQuery = `INSERT INTO delivery_failures (campaign_id, outbox_id, respondent_id, mailbox,
			domain, stage, code, status, class, text, permanent, occurred_at, source, inbound_id, remote_mta)
			VALUES (?, ?, ?, ?, ?, 'dsn', ?, ?, ?, ?, ?, ?, 'dsn', ?, ?)`
	addressFailedQuery = `UPDATE campaign_members SET status = 'address_failed', status_changed_at = ?
				WHERE campaign_id = ? AND respondent_id = ? AND status IN ('not_invited', 'invited')`
	nextResponseSeqQuery = `SELECT coalesce(max(seq), 0) + 1 FROM responses WHERE campaign_id = ? AND member_link = ?`
	// "+status": find the member's rows by (campaign_id, member_link), not
	// every counted response of the campaign by status, which SQLite would
	// otherwise pick, making each reply cost as much as all before it.
	supersedeResponsesQuery = `UPDATE responses SET status = 'superseded'
			WHERE campaign_id = ? AND member_link = ? AND +status IN ('counted', 'partial')`
	responseSnapshotQuery = `SELECT u.code, p.group_code, c.location FROM respondents p JOIN units u ON u.id = p.unit_id
		JOIN campaigns c ON c.id = ? WHERE p.id = ?`
	answeredQuery = `UPDATE campaign_members SET status = 'answered', status_changed_at = ?
			WHERE campaign_id = ? AND respondent_id = ? AND status <> 'answered'`
	answeredNeedsReviewQuery = `UPDATE campaign_members SET status = 'answered_needs_review', status_changed_at = ?
			WHERE campaign_id = ? AND respondent_id = ? AND status IN ('not_invited', 'invited', 'address_failed')`
)

var recordQueries = []string{campaignIDQuery, insertDSNFailureQuery, addressFailedQuery, nextResponseSeqQuery, supersedeResponsesQuery,
	responseSnapshotQuery, insertResponseQuery, answeredQuery, answeredNeedsReviewQuery}

var inboundQueries = [4]string{
	`SELECT id, folder FROM inbound WHERE content_hash = ? AND message_id = ?`,
	`INSERT INTO inbound (account, mailbox, uid_validity, uid, message_id, content_hash, size, kind, engine, from_addr,
		subject, sent_at, processed_at, campaign_id, respondent_id, outbox_id, match_method, review, note, auth_results,
		failures, folder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (content_hash, message_id) DO NOTHING RETURNING id`,
	saveCheckpointQuery,
	`INSERT INTO inbound_filings (account, mailbox, uid_validity, uid, inbound_id, folder) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
}

// RecordInbound stores the message and its effects and advances the
// checkpoint, in one transaction.
func (s *InboundService) RecordInbound(ctx context.Context, m *store.InboundMessage, cp *store.Checkpoint) (bool, error) {
	var stmts [len(inboundQueries)]*sql.Stmt
	for i, q := range inboundQueries {
		st, err := s.db.stmt(ctx, true, q)
		if err != nil {
			return false, fmt.Errorf("record inbound: %w", err)
		}
		stmts[i] = st
	}
	if err := s.db.warm(ctx, append(recordQueries, enqueueQueries...)...); err != nil {
		return false, fmt.Errorf("record inbound: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return false, fmt.Errorf("record inbound: %w", err)
	}
	defer tx.Rollback()
	dup, err := s.record(ctx, tx, stmts, m, cp)
	if err != nil {
		return false, fmt.Errorf("record inbound uid %d: %w", m.UID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record inbound: commit: %w", err)
	}
	cp.UpdatedAt = tx.now
	return dup, nil
}

func (s *InboundService) record(ctx context.Context, tx *Tx, stmts [4]*sql.Stmt, m *store.InboundMessage, cp *store.Checkpoint) (bool, error) {
	now := formatTime(tx.now)
	if cp != nil {
		if _, err := tx.StmtContext(ctx, stmts[2]).ExecContext(ctx, cp.Account, cp.Mailbox, cp.UIDValidity, cp.LastUID, now); err != nil {
			return false, fmt.Errorf("checkpoint: %w", err)
		}
	}
	fileCopy := func() error {
		if m.Folder == "" {
			return nil
		}
		_, err := tx.StmtContext(ctx, stmts[3]).ExecContext(ctx, m.Account, m.Mailbox, m.UIDValidity, m.UID, m.ID, m.Folder)
		return err
	}
	campaignID, err := s.campaignID(ctx, tx, m.CampaignCode)
	if err != nil {
		return false, err
	}
	failures, err := json.Marshal(nonNil(m.Failures))
	if err != nil {
		return false, err
	}
	var sentAt any
	if !m.Date.IsZero() {
		sentAt = formatTime(m.Date)
	}
	m.At = tx.now
	err = tx.StmtContext(ctx, stmts[1]).QueryRowContext(ctx, m.Account, m.Mailbox, m.UIDValidity, m.UID, m.MessageID,
		m.ContentHash, m.Size, string(m.Kind), m.Engine, m.From, m.Subject, sentAt, now, nullID(campaignID),
		nullID(m.RespondentID), nullID(m.OutboxID), string(m.Match), m.Review, m.Note, m.AuthResults, failures,
		m.Folder).Scan(&m.ID)
	if errors.Is(err, sql.ErrNoRows) {
		// Seen before (a second delivery, a rescan after a UIDVALIDITY
		// change): this copy is filed like the first, nothing recounted.
		if err := tx.StmtContext(ctx, stmts[0]).QueryRowContext(ctx, m.ContentHash, m.MessageID).Scan(&m.ID, &m.Folder); err != nil {
			return false, err
		}
		if err := fileCopy(); err != nil {
			return true, fmt.Errorf("file copy: %w", err)
		}
		return true, nil
	} else if err != nil {
		return false, err
	}
	if err := fileCopy(); err != nil {
		return false, fmt.Errorf("file: %w", err)
	}
	if campaignID == 0 {
		return false, nil
	}
	for _, f := range m.Failures {
		if m.Kind != store.InboundBounce {
			break // delays and success notices stay with the message only
		}
		var outboxID any
		if m.OutboxID != 0 && (f.RespondentID == m.RespondentID || m.RespondentID == 0) {
			outboxID = m.OutboxID
		}
		if _, err := tx.exec(ctx, insertDSNFailureQuery, campaignID, outboxID, nullID(f.RespondentID),
			f.Recipient, store.MailboxDomain(f.Recipient), f.Code, f.Status, string(f.Class), f.Diagnostic, f.Hard,
			now, m.ID, f.RemoteMTA); err != nil {
			return false, fmt.Errorf("delivery failure: %w", err)
		}
		if f.Hard && f.RespondentID != 0 && m.Kind == store.InboundBounce {
			if _, err := tx.exec(ctx, addressFailedQuery,
				now, campaignID, f.RespondentID); err != nil {
				return false, fmt.Errorf("member status: %w", err)
			}
		}
	}
	if r := m.Response; r != nil {
		if err := s.recordResponse(ctx, tx, campaignID, m, r); err != nil {
			return false, fmt.Errorf("response: %w", err)
		}
	}
	if len(m.Enqueue) > 0 {
		// Receipts and corrections repeat answers: they are stored sealed,
		// and the caller keeps its plain payloads.
		plain := make([][]byte, len(m.Enqueue))
		defer func() {
			for i, q := range m.Enqueue {
				q.Payload = plain[i]
			}
		}()
		for i, q := range m.Enqueue {
			if q.Round == 0 && m.Response != nil && (q.Kind == store.KindReceipt || q.Kind == store.KindCorrection) {
				q.Round = m.Response.Seq // one receipt per response
			}
			plain[i] = q.Payload
			if sealsPayload(q.Kind) {
				if q.Payload, err = seal(s.db.LinkKey, q.Payload); err != nil {
					return false, fmt.Errorf("enqueue: %w", err)
				}
			}
		}
		if _, err := s.outbox.enqueue(ctx, tx, m.Enqueue, false); err != nil {
			return false, fmt.Errorf("enqueue: %w", err)
		}
	}
	return false, nil
}

// recordResponse stores the reply's answers under the member's link, with
// a random id, the day it came and the member's unit and group; nothing
// on the row names the member, the sender or the message.
func (s *InboundService) recordResponse(ctx context.Context, tx *Tx, campaignID int64, m *store.InboundMessage, r *store.Response) error {
	link, err := s.db.link(m.CampaignCode, r.RespondentID)
	if err != nil {
		return err
	}
	var location string
	if err := tx.queryRow(ctx, responseSnapshotQuery, campaignID, r.RespondentID).Scan(&r.UnitCode, &r.GroupCode, &location); err != nil {
		return fmt.Errorf("member %d: %w", r.RespondentID, err)
	}
	if err := tx.queryRow(ctx, nextResponseSeqQuery, campaignID, link).Scan(&r.Seq); err != nil {
		return err
	}
	answers, err := json.Marshal(nonNil(r.Answers))
	if err != nil {
		return err
	}
	problems, err := json.Marshal(nonNil(r.Problems))
	if err != nil {
		return err
	}
	// Only an answer that counts or asks for a correction replaces the
	// current one; a late reply or one from another mailbox waits for the
	// operator and leaves the counted answer alone.
	if r.Status == store.ResponseCounted || r.Status == store.ResponsePartial {
		if _, err := tx.exec(ctx, supersedeResponsesQuery, campaignID, link); err != nil {
			return err
		}
	}
	r.InboundID, r.CampaignCode = m.ID, m.CampaignCode
	r.At = receivedDay(tx.now, (&store.Campaign{Location: location}).Loc())
	r.Reason = storedReason(r)
	if r.ID, err = insertResponse(ctx, tx, campaignID, link, int64(r.Seq), r.At, r.UnitCode, r.GroupCode,
		string(answers), string(problems), r.Complete, string(r.Status), r.Reason); err != nil {
		return err
	}
	return setAnsweredStatus(ctx, tx, campaignID, r.RespondentID, r.Status)
}

// storedReason is the reason kept with a response. A late reply's exact
// time and another sender's address would tie the answers to the inbound
// message (which keeps both, with the sender): the response only says why.
func storedReason(r *store.Response) string {
	switch r.Status {
	case store.ResponseLate:
		return "trả lời sau hạn"
	case store.ResponseNeedsReview:
		return otherMailboxReason
	}
	return r.Reason
}

const otherMailboxReason = "trả lời từ hộp thư khác"

// setAnsweredStatus moves the member to the status the response earns.
func setAnsweredStatus(ctx context.Context, tx *Tx, campaignID, respondentID int64, status store.ResponseStatus) error {
	now := formatTime(tx.now)
	var err error
	switch status {
	case store.ResponseCounted:
		// An answer proves the address works, whatever a bounce said.
		_, err = tx.exec(ctx, answeredQuery, now, campaignID, respondentID)
	case store.ResponseNeedsReview:
		_, err = tx.exec(ctx, answeredNeedsReviewQuery,
			now, campaignID, respondentID)
	}
	return err
}

// reviewed is a response waiting for the operator's decision, with what
// the decision and its audit entry need.
type reviewed struct {
	r          *store.Response
	campaignID int64
	link       string
	mailbox    string             // the member's primary mailbox
	member     store.MemberStatus // before the decision
}

// findReviewed loads response id within tx, finds its member through the
// link (which needs the key) and checks that it waits for a decision: only
// late and needs-review responses do.
func (s *InboundService) findReviewed(ctx context.Context, tx *Tx, id int64) (*reviewed, error) {
	rs, err := s.findResponses(ctx, tx, `r.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, store.Errorf(store.ENOTFOUND, "response %d not found", id)
	}
	rv := &reviewed{r: rs[0].Response, campaignID: rs[0].campaignID, link: rs[0].link}
	switch rv.r.Status {
	case store.ResponseLate, store.ResponseNeedsReview:
	default:
		return nil, store.Errorf(store.EINVALID, "response %d is %s: only late or needs-review responses wait for the operator's decision", id, rv.r.Status)
	}
	if len(s.db.LinkKey) == 0 {
		return nil, errNoLinkKey
	}
	if rv.r.RespondentID == 0 {
		return nil, store.Errorf(store.ENOTFOUND, "response %d belongs to no member of campaign %s (was the installation secret changed?)", id, rv.r.CampaignCode)
	}
	var member string
	if err := tx.QueryRowContext(ctx, `SELECT p.mailbox, coalesce(m.status, '') FROM respondents p
		LEFT JOIN campaign_members m ON m.campaign_id = ? AND m.respondent_id = p.id
		WHERE p.id = ?`, rv.campaignID, rv.r.RespondentID).Scan(&rv.mailbox, &member); err != nil {
		return nil, err
	}
	rv.member = store.MemberStatus(member)
	return rv, nil
}

// audit records the operator's decision on rv within tx. It names the
// member and the response's number among theirs, not the response id: the
// audit log must not become the link between people and answers.
func (rv *reviewed) audit(ctx context.Context, tx *Tx, action store.AuditAction, member store.MemberStatus) error {
	return recordAudit(ctx, tx, &store.AuditEntry{
		Action:   action,
		Campaign: rv.r.CampaignCode,
		Subject:  fmt.Sprintf("respondent %d", rv.r.RespondentID),
		Detail: fmt.Sprintf("respondent=%d mailbox=%s seq=%d response=%s member=%s→%s",
			rv.r.RespondentID, rv.mailbox, rv.r.Seq, rv.r.Status, rv.member, member),
	})
}

// Marks appended to a response's reason when the operator decides on it.
const (
	acceptedMark = " (người điều hành đã chấp nhận)"
	rejectedMark = " (người điều hành không tính)"
)

// AcceptResponse makes a late or needs-review response the member's counted
// one, superseding any other, and records the decision in the audit log
// under the context's actor, in the same transaction.
func (s *InboundService) AcceptResponse(ctx context.Context, id int64) (*store.Response, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	defer tx.Rollback()
	rv, err := s.findReviewed(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	r := rv.r
	if !r.Complete {
		return nil, store.Errorf(store.EINVALID, "response %d is incomplete: it cannot be counted", id)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = 'superseded'
		WHERE campaign_id = ? AND member_link = ? AND +status IN ('counted', 'partial') AND id <> ?`, rv.campaignID, rv.link, id); err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = 'counted', reason = reason || ? WHERE id = ?`, acceptedMark, id); err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	if err := setAnsweredStatus(ctx, tx, rv.campaignID, r.RespondentID, store.ResponseCounted); err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	if err := rv.audit(ctx, tx, store.AuditReviewAccept, store.StatusAnswered); err != nil {
		return nil, fmt.Errorf("accept response: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("accept response: commit: %w", err)
	}
	r.Status, r.Reason = store.ResponseCounted, r.Reason+acceptedMark
	return r, nil
}

// RejectResponse marks a late or needs-review response as not counted. The
// member's status then follows from the responses left: answered if one
// counts, answered_needs_review if another still waits, else invited (an
// excluded member stays excluded, and a member the response never moved
// keeps their status). The decision is audited in the same transaction.
func (s *InboundService) RejectResponse(ctx context.Context, id int64) (*store.Response, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("reject response: %w", err)
	}
	defer tx.Rollback()
	rv, err := s.findReviewed(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("reject response: %w", err)
	}
	r := rv.r
	if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = 'rejected', reason = reason || ? WHERE id = ?`, rejectedMark, id); err != nil {
		return nil, fmt.Errorf("reject response: %w", err)
	}
	member, err := statusAfterReject(ctx, tx, rv)
	if err != nil {
		return nil, fmt.Errorf("reject response: %w", err)
	}
	if member != rv.member {
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_members SET status = ?, status_changed_at = ?
			WHERE campaign_id = ? AND respondent_id = ?`, string(member), formatTime(tx.now), rv.campaignID, r.RespondentID); err != nil {
			return nil, fmt.Errorf("reject response: %w", err)
		}
	}
	if err := rv.audit(ctx, tx, store.AuditReviewReject, member); err != nil {
		return nil, fmt.Errorf("reject response: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("reject response: commit: %w", err)
	}
	r.Status, r.Reason = store.ResponseRejected, r.Reason+rejectedMark
	return r, nil
}

// statusAfterReject is the member's status once rv is rejected (its row
// already updated in tx), from the responses left.
func statusAfterReject(ctx context.Context, tx *Tx, rv *reviewed) (store.MemberStatus, error) {
	if rv.member == "" || rv.member == store.StatusExcluded {
		return rv.member, nil
	}
	var counted, waiting int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(status = 'counted'), 0), coalesce(sum(status = 'needs_review'), 0)
		FROM responses WHERE campaign_id = ? AND member_link = ?`, rv.campaignID, rv.link).Scan(&counted, &waiting); err != nil {
		return "", err
	}
	switch {
	case counted > 0:
		return store.StatusAnswered, nil
	case waiting > 0:
		return store.StatusAnsweredNeedsReview, nil
	case rv.member == store.StatusAnswered || rv.member == store.StatusAnsweredNeedsReview:
		return store.StatusInvited, nil
	}
	return rv.member, nil
}

// FindReviewQueue lists the late and needs-review responses waiting for the
// operator, oldest first; every campaign's when campaignCode is "".
// Without the link key their RespondentID and From are unknown (0, "").
func (s *InboundService) FindReviewQueue(ctx context.Context, campaignCode string) ([]*store.Response, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find review queue: %w", err)
	}
	defer tx.Rollback()
	rs, err := s.findResponses(ctx, tx, `r.status IN ('late', 'needs_review') AND (? = '' OR c.code = ?)`, campaignCode, campaignCode)
	if err != nil {
		return nil, fmt.Errorf("find review queue: %w", err)
	}
	// Ids are random: oldest first is by day, then by the member's count.
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].At.Equal(rs[j].At) {
			return rs[i].At.Before(rs[j].At)
		}
		return rs[i].Seq < rs[j].Seq
	})
	return plain(rs), nil
}

// FindResponses returns a member's responses, newest first, or every
// response of the campaign when respondentID is 0. A member's responses
// are found through their link, which needs the key; the whole campaign's
// can be read without it, de-identified (RespondentID 0, From "").
func (s *InboundService) FindResponses(ctx context.Context, campaignCode string, respondentID int64) ([]*store.Response, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find responses: %w", err)
	}
	defer tx.Rollback()
	var rs []*linkedResponse
	if respondentID != 0 {
		link, err := s.db.link(campaignCode, respondentID)
		if err != nil {
			return nil, fmt.Errorf("find responses: %w", err)
		}
		rs, err = s.findResponses(ctx, tx, `c.code = ? AND r.member_link = ?`, campaignCode, link)
		if err != nil {
			return nil, fmt.Errorf("find responses: %w", err)
		}
	} else if rs, err = s.findResponses(ctx, tx, `c.code = ?`, campaignCode); err != nil {
		return nil, fmt.Errorf("find responses: %w", err)
	}
	// Newest first: by day, then by the member's count; ids say nothing.
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].At.Equal(rs[j].At) {
			return rs[i].At.After(rs[j].At)
		}
		return rs[i].Seq > rs[j].Seq
	})
	return plain(rs), nil
}

// ResponseMember returns the campaign and member a response belongs to,
// found by computing the links of the campaign's members. Without the link
// key, or when no member has the response's link, the error is ENOTFOUND.
func (s *InboundService) ResponseMember(ctx context.Context, responseID int64) (campaignCode string, respondentID int64, err error) {
	var campaignID int64
	var link string
	err = s.db.read.QueryRowContext(ctx, `SELECT c.code, r.campaign_id, r.member_link FROM responses r
		JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = ?`, responseID).Scan(&campaignCode, &campaignID, &link)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, store.Errorf(store.ENOTFOUND, "response %d not found", responseID)
	} else if err != nil {
		return "", 0, fmt.Errorf("response member: %w", err)
	}
	if respondentID, err = s.db.memberOf(ctx, s.db.read, campaignID, link); err != nil {
		return "", 0, fmt.Errorf("response member: %w", err)
	}
	if respondentID == 0 {
		return "", 0, store.Errorf(store.ENOTFOUND, "response %d belongs to no member of campaign %s", responseID, campaignCode)
	}
	return campaignCode, respondentID, nil
}

// linkedResponse is a response with what ties it to its member.
type linkedResponse struct {
	*store.Response
	campaignID int64
	link       string
}

func plain(rs []*linkedResponse) []*store.Response {
	out := make([]*store.Response, len(rs))
	for i, r := range rs {
		out[i] = r.Response
	}
	return out
}

const responsesSelect = `SELECT r.id, c.code, r.campaign_id, r.member_link, r.seq, r.received_at, r.unit_code, r.group_code,
		r.answers, r.problems, r.complete, r.status, r.reason
		FROM responses r JOIN campaigns c ON c.id = r.campaign_id`

// findResponses reads the responses matching where and, with the link key,
// fills in each one's member and sender.
func (s *InboundService) findResponses(ctx context.Context, tx *Tx, where string, args ...any) ([]*linkedResponse, error) {
	rows, err := tx.QueryContext(ctx, responsesSelect+` WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	rs, err := scanResponses(rows)
	if err != nil {
		return nil, err
	}
	if len(s.db.LinkKey) == 0 {
		return rs, nil
	}
	for _, r := range rs {
		if r.RespondentID, err = s.db.memberOf(ctx, tx, r.campaignID, r.link); err != nil {
			return nil, err
		}
		if r.RespondentID == 0 {
			continue
		}
		if err := responseSender(ctx, tx, r); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// responseSender fills in who sent r: the member's own mailbox, or for a
// reply from another mailbox (waiting or decided) the sender the inbound
// message recorded, which stays on the identity side.
func responseSender(ctx context.Context, tx *Tx, r *linkedResponse) error {
	other := r.Status == store.ResponseNeedsReview || strings.HasPrefix(r.Reason, otherMailboxReason)
	var mailbox, sender string
	if err := tx.QueryRowContext(ctx, `SELECT p.mailbox, CASE WHEN ? THEN coalesce((SELECT i.from_addr FROM inbound i
			WHERE i.campaign_id = ? AND i.respondent_id = p.id AND i.kind = 'reply' AND i.review <> '' AND i.from_addr <> p.mailbox
			ORDER BY i.id DESC LIMIT 1), '') ELSE '' END
		FROM respondents p WHERE p.id = ?`, other, r.campaignID, r.RespondentID).Scan(&mailbox, &sender); err != nil {
		return err
	}
	r.From = mailbox
	if sender != "" {
		r.From = sender
	}
	return nil
}

// scanResponses reads and closes rows of responsesSelect.
func scanResponses(rows *sql.Rows) ([]*linkedResponse, error) {
	defer rows.Close()
	var out []*linkedResponse
	for rows.Next() {
		r := &linkedResponse{Response: &store.Response{}}
		var at, status string
		var answers, problems []byte
		if err := rows.Scan(&r.ID, &r.CampaignCode, &r.campaignID, &r.link, &r.Seq, &at, &r.UnitCode, &r.GroupCode,
			&answers, &problems, &r.Complete, &status, &r.Reason); err != nil {
			return nil, err
		}
		r.Status = store.ResponseStatus(status)
		var err error
		if r.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(answers, &r.Answers); err != nil {
			return nil, fmt.Errorf("response %d answers: %w", r.ID, err)
		}
		if err := json.Unmarshal(problems, &r.Problems); err != nil {
			return nil, fmt.Errorf("response %d problems: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PendingFilings lists the copies in the mailbox still to be filed.
func (s *InboundService) PendingFilings(ctx context.Context, account, mailbox string, uidValidity uint32) ([]*store.InboundMessage, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT inbound_id, uid, folder FROM inbound_filings
		WHERE account = ? AND mailbox = ? AND uid_validity = ? ORDER BY uid`, account, mailbox, uidValidity)
	if err != nil {
		return nil, fmt.Errorf("pending filings: %w", err)
	}
	defer rows.Close()
	var out []*store.InboundMessage
	for rows.Next() {
		m := &store.InboundMessage{Account: account, Mailbox: mailbox, UIDValidity: uidValidity}
		if err := rows.Scan(&m.ID, &m.UID, &m.Folder); err != nil {
			return nil, fmt.Errorf("pending filings: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MarkFiled records that the copies were filed.
func (s *InboundService) MarkFiled(ctx context.Context, account, mailbox string, uidValidity uint32, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("mark filed: %w", err)
	}
	defer tx.Rollback()
	for start := 0; start < len(uids); start += 500 {
		chunk := uids[start:min(start+500, len(uids))]
		args := []any{account, mailbox, uidValidity}
		for _, u := range chunk {
			args = append(args, u)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM inbound_filings WHERE account = ? AND mailbox = ? AND uid_validity = ?
			AND uid IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("mark filed: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark filed: commit: %w", err)
	}
	return nil
}

// FindInbound lists stored messages, newest first, with the total.
func (s *InboundService) FindInbound(ctx context.Context, f store.InboundFilter) ([]*store.InboundMessage, int, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, 0, fmt.Errorf("find inbound: %w", err)
	}
	defer tx.Rollback()
	var where []string
	var args []any
	if f.CampaignCode != "" {
		where, args = append(where, "c.code = ?"), append(args, f.CampaignCode)
	}
	if f.Kind != "" {
		where, args = append(where, "i.kind = ?"), append(args, string(f.Kind))
	}
	if f.ReviewOnly {
		where = append(where, "i.review <> ''")
	}
	w := ""
	if len(where) > 0 {
		w = " WHERE " + strings.Join(where, " AND ")
	}
	from := ` FROM inbound i LEFT JOIN campaigns c ON c.id = i.campaign_id` + w
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("find inbound: %w", err)
	}
	q := `SELECT i.id, i.account, i.mailbox, i.uid_validity, i.uid, i.message_id, i.content_hash, i.size, i.kind, i.engine,
		i.from_addr, i.subject, coalesce(i.sent_at, ''), i.processed_at, coalesce(c.code, ''), coalesce(i.respondent_id, 0),
		coalesce(i.outbox_id, 0), i.match_method, i.review, i.note, i.auth_results, i.failures, i.folder` + from +
		` ORDER BY i.id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, f.Offset)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find inbound: %w", err)
	}
	defer rows.Close()
	var out []*store.InboundMessage
	for rows.Next() {
		m := &store.InboundMessage{}
		var kind, match, sent, at string
		var failures []byte
		if err := rows.Scan(&m.ID, &m.Account, &m.Mailbox, &m.UIDValidity, &m.UID, &m.MessageID, &m.ContentHash, &m.Size,
			&kind, &m.Engine, &m.From, &m.Subject, &sent, &at, &m.CampaignCode, &m.RespondentID, &m.OutboxID, &match,
			&m.Review, &m.Note, &m.AuthResults, &failures, &m.Folder); err != nil {
			return nil, 0, fmt.Errorf("find inbound: %w", err)
		}
		m.Kind, m.Match = store.InboundKind(kind), store.MatchMethod(match)
		if sent != "" {
			if m.Date, err = parseTime(sent); err != nil {
				return nil, 0, fmt.Errorf("find inbound: %w", err)
			}
		}
		if m.At, err = parseTime(at); err != nil {
			return nil, 0, fmt.Errorf("find inbound: %w", err)
		}
		if err := json.Unmarshal(failures, &m.Failures); err != nil {
			return nil, 0, fmt.Errorf("find inbound %d: failures: %w", m.ID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find inbound: %w", err)
	}
	return out, total, nil
}

// FindMemberships returns the campaigns whose member owns the mailbox,
// active campaigns first, then the latest deadline.
func (s *InboundService) FindMemberships(ctx context.Context, mailbox string) ([]*store.Membership, error) {
	mailbox = store.NormalizeMailbox(mailbox)
	st, err := s.db.stmt(ctx, false, `SELECT code, respondent_id, status, alias FROM (
		SELECT c.code, m.respondent_id, m.status, 0 AS alias, c.state, c.deadline FROM respondents r
			JOIN campaign_members m ON m.respondent_id = r.id JOIN campaigns c ON c.id = m.campaign_id WHERE r.mailbox = ?
		UNION ALL
		SELECT c.code, m.respondent_id, m.status, 1, c.state, c.deadline FROM respondent_aliases a
			JOIN campaign_members m ON m.respondent_id = a.respondent_id JOIN campaigns c ON c.id = m.campaign_id WHERE a.mailbox = ?)
		ORDER BY state = 'active' DESC, deadline DESC`)
	if err != nil {
		return nil, fmt.Errorf("find memberships: %w", err)
	}
	rows, err := st.QueryContext(ctx, mailbox, mailbox)
	if err != nil {
		return nil, fmt.Errorf("find memberships: %w", err)
	}
	defer rows.Close()
	var out []*store.Membership
	for rows.Next() {
		m := &store.Membership{}
		var status string
		if err := rows.Scan(&m.CampaignCode, &m.RespondentID, &status, &m.Alias); err != nil {
			return nil, fmt.Errorf("find memberships: %w", err)
		}
		m.Status = store.MemberStatus(status)
		out = append(out, m)
	}
	return out, rows.Err()
}

// FindOutboxByMessageID returns the outbox message with the Message-ID.
func (s *InboundService) FindOutboxByMessageID(ctx context.Context, messageID string) (*store.OutboxMessage, error) {
	m, err := s.findOutboxBy(ctx, "message_id", "<"+strings.Trim(messageID, "<> ")+">")
	if err == nil && m == nil {
		err = store.Errorf(store.ENOTFOUND, "no message with Message-ID <%s>", strings.Trim(messageID, "<> "))
	}
	return m, err
}

// FindOutboxByRef returns the outbox message with the reference.
func (s *InboundService) FindOutboxByRef(ctx context.Context, ref string) (*store.OutboxMessage, error) {
	m, err := s.findOutboxBy(ctx, "ref", strings.ToUpper(ref))
	if err == nil && m == nil {
		err = store.Errorf(store.ENOTFOUND, "no message with reference %s", ref)
	}
	return m, err
}

// findOutboxBy looks one message up by a unique column, through a cached
// statement: the poller does this for every message it reads.
func (s *InboundService) findOutboxBy(ctx context.Context, column, value string) (*store.OutboxMessage, error) {
	st, err := s.db.stmt(ctx, false, `SELECT `+outboxColumns+` FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
		LEFT JOIN units u ON u.id = o.unit_id WHERE o.`+column+` = ?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, value)
	if err != nil {
		return nil, err
	}
	msgs, err := scanOutbox(rows, s.db.LinkKey)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	return msgs[0], nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
