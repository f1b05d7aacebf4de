package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
)

// The integrity methods live on InboundService: the poller raises flags on
// the responses it records, through the same store.

var _ store.IntegrityService = (*InboundService)(nil)

// flagged is a response a new flag moves to review, with its member.
type flagged struct {
	campaign     string
	respondentID int64
}

// RecordFlags stores the flags responses do not have yet and moves each
// newly flagged response to needs_review and its member to
// answered_needs_review, in one transaction.
func (s *InboundService) RecordFlags(ctx context.Context, flags []*store.IntegrityFlag) (int, error) {
	if len(flags) == 0 {
		return 0, nil
	}
	members := map[int64]flagged{}
	for _, f := range flags {
		if err := f.Validate(); err != nil {
			return 0, err
		}
		if _, ok := members[f.ResponseID]; ok {
			continue
		}
		// Read before the write transaction: the link between a response
		// and its member is the inbound service's to resolve.
		code, respondentID, err := s.ResponseMember(ctx, f.ResponseID)
		if err != nil {
			return 0, fmt.Errorf("record flags: %w", err)
		}
		if f.Campaign != "" && f.Campaign != code {
			return 0, store.Errorf(store.EINVALID, "record flags: response %d belongs to campaign %s, not %s", f.ResponseID, code, f.Campaign)
		}
		members[f.ResponseID] = flagged{campaign: code, respondentID: respondentID}
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("record flags: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, f := range flags {
		ok, err := recordFlag(ctx, tx, f, members[f.ResponseID])
		if err != nil {
			return 0, fmt.Errorf("record flags: response %d: %w", f.ResponseID, err)
		}
		if ok {
			n++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record flags: commit: %w", err)
	}
	return n, nil
}

// recordFlag stores one flag unless the response has one of its kind,
// and sends the response and its member to review.
func recordFlag(ctx context.Context, tx *Tx, f *store.IntegrityFlag, m flagged) (bool, error) {
	var campaignID int64
	var unit, status, reason, day string
	if err := tx.QueryRowContext(ctx, `SELECT campaign_id, unit_code, status, reason, received_at FROM responses WHERE id = ?`,
		f.ResponseID).Scan(&campaignID, &unit, &status, &reason, &day); errors.Is(err, sql.ErrNoRows) {
		return false, store.Errorf(store.ENOTFOUND, "response %d not found", f.ResponseID)
	} else if err != nil {
		return false, err
	}
	// Like the response, the flag keeps the day it came, not the moment,
	// and what kind of doubt it is, not the mailboxes and times behind it
	// (those stay with the inbound message): a copy of the database must
	// not tie these answers to a mailbox.
	at, err := parseTime(day)
	if err != nil {
		return false, err
	}
	f.At = at
	f.Reason = storedFlagReason(f)
	f.Campaign, f.UnitCode = m.campaign, unit
	res, err := tx.ExecContext(ctx, `INSERT INTO integrity_flags (response_id, campaign_id, unit_code, kind, reason, at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (response_id, kind) DO NOTHING`,
		f.ResponseID, campaignID, unit, string(f.Kind), f.Reason, day)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // raised before: the operator may have decided on it already
	}
	if !strings.Contains(reason, f.Reason) {
		if reason != "" {
			reason += "; "
		}
		reason += f.Reason
	}
	// A counted, partial or late response waits for the operator now;
	// one already waiting, superseded or rejected keeps its status.
	rs := store.ResponseStatus(status)
	switch rs {
	case store.ResponseCounted, store.ResponsePartial, store.ResponseLate:
		rs = store.ResponseNeedsReview
	}
	if _, err := tx.ExecContext(ctx, `UPDATE responses SET status = ?, reason = ? WHERE id = ?`, string(rs), reason, f.ResponseID); err != nil {
		return false, err
	}
	if rs != store.ResponseNeedsReview {
		return true, nil
	}
	// The member's status follows: a counted response was their answer,
	// so "answered" becomes "answered_needs_review" too; a late one leaves
	// an answered member answered (another response counts for them).
	from := `'not_invited', 'invited', 'address_failed'`
	if status == string(store.ResponseCounted) {
		from += `, 'answered'`
	}
	_, err = tx.ExecContext(ctx, `UPDATE campaign_members SET status = 'answered_needs_review', status_changed_at = ?
		WHERE campaign_id = ? AND respondent_id = ? AND status IN (`+from+`)`, formatTime(tx.now), campaignID, m.respondentID)
	return true, err
}

// storedFlagReason is the reason a flag keeps: a cluster's names no one
// (a unit, a window, how many alike, the odds); the others would name the
// mailboxes involved, so they keep their kind's description only (the
// details are in the inbound message's review note: phieu inbox list
// --review).
func storedFlagReason(f *store.IntegrityFlag) string {
	switch f.Kind {
	case store.FlagAnswerCluster:
		return f.Reason
	case store.FlagOtherMailbox:
		return otherMailboxReason
	case store.FlagSharedMailbox:
		return "một hộp thư trả lời cho nhiều thành viên"
	case store.FlagForwardedInvitation:
		return "trích dẫn thư mời đã chuyển tiếp cho người khác"
	}
	return f.Kind.Label()
}

// FindFlags lists a campaign's flags, oldest first.
func (s *InboundService) FindFlags(ctx context.Context, campaign string) ([]*store.IntegrityFlag, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find flags: %w", err)
	}
	defer tx.Rollback()
	fs, err := findFlags(ctx, tx, campaign)
	if err != nil {
		return nil, fmt.Errorf("find flags: %w", err)
	}
	return fs, nil
}

func findFlags(ctx context.Context, tx *Tx, campaign string) ([]*store.IntegrityFlag, error) {
	rows, err := tx.QueryContext(ctx, `SELECT f.response_id, c.code, f.unit_code, f.kind, f.reason, f.at
		FROM integrity_flags f JOIN campaigns c ON c.id = f.campaign_id WHERE c.code = ? ORDER BY f.at, f.id`, campaign)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.IntegrityFlag
	for rows.Next() {
		f := &store.IntegrityFlag{}
		var kind, at string
		if err := rows.Scan(&f.ResponseID, &f.Campaign, &f.UnitCode, &kind, &f.Reason, &at); err != nil {
			return nil, err
		}
		f.Kind = store.IntegrityKind(kind)
		if f.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// IntegrityReport counts the campaign's responses and flags per unit, in
// the unit tree order of the campaign's statistics.
func (s *InboundService) IntegrityReport(ctx context.Context, campaign string) (*store.IntegrityReport, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("integrity report: %w", err)
	}
	defer tx.Rollback()
	st, err := campaignStats(ctx, tx, campaign)
	if err != nil {
		return nil, fmt.Errorf("integrity report: %w", err)
	}
	rep := &store.IntegrityReport{Campaign: campaign, ByKind: map[store.IntegrityKind]int{}}
	byCode := map[string]*store.IntegrityUnit{}
	unit := func(code, name string, depth int) *store.IntegrityUnit {
		u := byCode[code]
		if u == nil {
			u = &store.IntegrityUnit{Code: code, Name: name, Depth: depth, ByKind: map[store.IntegrityKind]int{}}
			byCode[code] = u
			rep.Units = append(rep.Units, u)
		}
		return u
	}
	for _, us := range st.ByUnit {
		unit(us.UnitCode, us.UnitName, us.Depth)
	}
	rows, err := tx.QueryContext(ctx, `SELECT unit_code, count(*) FROM responses
		WHERE campaign_id = ? AND status <> 'superseded' GROUP BY unit_code`, st.Campaign.ID)
	if err != nil {
		return nil, fmt.Errorf("integrity report: %w", err)
	}
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("integrity report: %w", err)
		}
		unit(code, "", 0).Responses += n
		rep.Responses += n
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("integrity report: %w", err)
	}
	if rep.Flags, err = findFlags(ctx, tx, campaign); err != nil {
		return nil, fmt.Errorf("integrity report: %w", err)
	}
	seen := map[int64]bool{}
	for _, f := range rep.Flags {
		u := unit(f.UnitCode, "", 0)
		u.ByKind[f.Kind]++
		rep.ByKind[f.Kind]++
		if !seen[f.ResponseID] {
			seen[f.ResponseID] = true
			u.Flagged++
			rep.Flagged++
		}
	}
	return rep, nil
}

// FindMailboxUse says whose the mailbox is among the campaign's members,
// for which members it replied before, and which units above the member
// it heads.
func (s *InboundService) FindMailboxUse(ctx context.Context, campaign, mailbox string, respondentID int64) (*store.MailboxUse, error) {
	mailbox = store.NormalizeMailbox(mailbox)
	use := &store.MailboxUse{Mailbox: mailbox}
	ms, err := s.FindMemberships(ctx, mailbox)
	if err != nil {
		return nil, fmt.Errorf("find mailbox use: %w", err)
	}
	for _, m := range ms {
		if m.CampaignCode == campaign && m.RespondentID != respondentID {
			use.Owners = append(use.Owners, m.RespondentID)
		}
	}
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find mailbox use: %w", err)
	}
	defer tx.Rollback()
	if use.AnsweredFor, err = queryInt64s(ctx, tx, `SELECT DISTINCT i.respondent_id FROM inbound i
		JOIN campaigns c ON c.id = i.campaign_id
		WHERE c.code = ? AND i.from_addr = ? AND i.kind = 'reply' AND i.respondent_id IS NOT NULL AND i.respondent_id <> ?
		ORDER BY i.respondent_id`, campaign, mailbox, respondentID); err != nil {
		return nil, fmt.Errorf("find mailbox use: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE up(id, parent_id, code, head, depth) AS (
			SELECT u.id, u.parent_id, u.code, u.head_mailbox, 0 FROM units u JOIN respondents r ON r.unit_id = u.id WHERE r.id = ?
			UNION ALL
			SELECT u.id, u.parent_id, u.code, u.head_mailbox, up.depth + 1 FROM units u JOIN up ON u.id = up.parent_id)
		SELECT code FROM up WHERE lower(head) = ? ORDER BY depth`, respondentID, mailbox)
	if err != nil {
		return nil, fmt.Errorf("find mailbox use: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		if err := rows.Scan(&code); err != nil {
			return nil, fmt.Errorf("find mailbox use: %w", err)
		}
		use.HeadOf = append(use.HeadOf, code)
	}
	return use, rows.Err()
}

// MemberUnit returns the code of the respondent's unit.
func (s *InboundService) MemberUnit(ctx context.Context, respondentID int64) (string, error) {
	st, err := s.db.stmt(ctx, false, `SELECT u.code FROM respondents r JOIN units u ON u.id = r.unit_id WHERE r.id = ?`)
	if err != nil {
		return "", fmt.Errorf("member unit: %w", err)
	}
	var code string
	if err := st.QueryRowContext(ctx, respondentID).Scan(&code); errors.Is(err, sql.ErrNoRows) {
		return "", store.Errorf(store.ENOTFOUND, "respondent %d not found", respondentID)
	} else if err != nil {
		return "", fmt.Errorf("member unit: %w", err)
	}
	return code, nil
}

// RecordArrival notes when the response arrived and forgets the campaign's
// arrivals older than keep before it.
func (s *InboundService) RecordArrival(ctx context.Context, a *store.Arrival, campaign string, keep time.Duration) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("record arrival: %w", err)
	}
	defer tx.Rollback()
	campaignID, err := s.campaignID(ctx, tx, campaign)
	if err != nil {
		return fmt.Errorf("record arrival: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO integrity_arrivals (response_id, campaign_id, unit_code, arrived_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, a.ResponseID, campaignID, a.UnitCode, formatTime(a.At)); err != nil {
		return fmt.Errorf("record arrival: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM integrity_arrivals WHERE campaign_id = ? AND arrived_at < ?`,
		campaignID, formatTime(a.At.Add(-keep))); err != nil {
		return fmt.Errorf("record arrival: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record arrival: commit: %w", err)
	}
	return nil
}

// FindArrivals returns the unit's standing responses that arrived at or
// after since, oldest first.
func (s *InboundService) FindArrivals(ctx context.Context, campaign, unitCode string, since time.Time) ([]*store.Arrival, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT a.response_id, a.unit_code, a.arrived_at, r.answers
		FROM integrity_arrivals a JOIN campaigns c ON c.id = a.campaign_id JOIN responses r ON r.id = a.response_id
		WHERE c.code = ? AND a.unit_code = ? AND a.arrived_at >= ? AND r.status NOT IN ('superseded', 'rejected')
		ORDER BY a.arrived_at, a.response_id`, campaign, unitCode, formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("find arrivals: %w", err)
	}
	out, err := scanArrivals(rows, true)
	if err != nil {
		return nil, fmt.Errorf("find arrivals: %w", err)
	}
	return out, nil
}

// FindAnswerBase returns the answers of the campaign's standing responses.
func (s *InboundService) FindAnswerBase(ctx context.Context, campaign string) ([]*store.Arrival, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT r.id, r.unit_code, '', r.answers FROM responses r
		JOIN campaigns c ON c.id = r.campaign_id
		WHERE c.code = ? AND r.status NOT IN ('superseded', 'rejected') ORDER BY r.id`, campaign)
	if err != nil {
		return nil, fmt.Errorf("find answer base: %w", err)
	}
	out, err := scanArrivals(rows, false)
	if err != nil {
		return nil, fmt.Errorf("find answer base: %w", err)
	}
	return out, nil
}

// scanArrivals reads and closes rows of (id, unit, arrived_at, answers).
func scanArrivals(rows *sql.Rows, timed bool) ([]*store.Arrival, error) {
	defer rows.Close()
	var out []*store.Arrival
	for rows.Next() {
		a := &store.Arrival{Answers: map[string]string{}}
		var at string
		var answers []byte
		if err := rows.Scan(&a.ResponseID, &a.UnitCode, &at, &answers); err != nil {
			return nil, err
		}
		if timed {
			var err error
			if a.At, err = parseTime(at); err != nil {
				return nil, err
			}
		}
		var list []store.ResponseAnswer
		if err := json.Unmarshal(answers, &list); err != nil {
			return nil, fmt.Errorf("response %d answers: %w", a.ResponseID, err)
		}
		for _, an := range list {
			a.Answers[an.Code] = an.Value
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
