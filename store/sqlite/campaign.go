package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
)

var _ store.CampaignService = (*CampaignService)(nil)

// CampaignService stores campaigns and their membership.
type CampaignService struct {
	db *DB
}

// NewCampaignService returns a CampaignService on db.
func NewCampaignService(db *DB) *CampaignService { return &CampaignService{db: db} }

// CreateCampaign validates and stores c, filling in its defaults (state
// draft, zone Asia/Ho_Chi_Minh), ID and timestamps. An invalid campaign
// returns the store.ValidationError (code EINVALID); a taken code ECONFLICT.
func (s *CampaignService) CreateCampaign(ctx context.Context, c *store.Campaign) error {
	if c.State == "" {
		c.State = store.CampaignDraft
	}
	if c.Location == "" {
		c.Location = store.DefaultLocation
	}
	if err := c.Validate(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	defer tx.Rollback()
	if err := createCampaign(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create campaign: commit: %w", err)
	}
	return nil
}

// FindCampaignByCode returns the campaign or ENOTFOUND.
func (s *CampaignService) FindCampaignByCode(ctx context.Context, code string) (*store.Campaign, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find campaign: %w", err)
	}
	defer tx.Rollback()
	return findCampaignByCode(ctx, tx, code)
}

// FindCampaigns returns every campaign, newest deadline first.
func (s *CampaignService) FindCampaigns(ctx context.Context) ([]*store.Campaign, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find campaigns: %w", err)
	}
	defer tx.Rollback()
	return findCampaigns(ctx, tx, "")
}

// FindCampaignState returns the campaign's state or ENOTFOUND.
func (s *CampaignService) FindCampaignState(ctx context.Context, code string) (store.CampaignState, error) {
	st, err := s.db.stmt(ctx, false, `SELECT state FROM campaigns WHERE code = ?`)
	if err != nil {
		return "", fmt.Errorf("campaign state: %w", err)
	}
	var state string
	if err := st.QueryRowContext(ctx, code).Scan(&state); errors.Is(err, sql.ErrNoRows) {
		return "", store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return "", fmt.Errorf("campaign state: %w", err)
	}
	return store.CampaignState(state), nil
}

// SetCampaignState moves the campaign to state. Allowed moves are draft →
// active, active ⇄ paused, and any open state → closed; closing is final.
// Setting the current state again is a no-op. Each move is recorded in the
// audit log under the context's actor, in the same transaction.
func (s *CampaignService) SetCampaignState(ctx context.Context, code string, state store.CampaignState) error {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("set campaign state: %w", err)
	}
	defer tx.Rollback()
	c, err := findCampaignByCode(ctx, tx, code)
	if err != nil {
		return err
	}
	if c.State == state {
		return nil
	}
	if err := checkStateChange(c.Code, c.State, state); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?`,
		string(state), formatTime(tx.now), c.ID); err != nil {
		return fmt.Errorf("set campaign state: %w", err)
	}
	if state == store.CampaignClosed {
		// Closing is final: what was still to be sent never will be.
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'suppressed', reason = ?, updated_at = ?
			WHERE campaign_id = ? AND state IN ('queued', 'deferred')`, store.ReasonClosed, formatTime(tx.now), c.ID); err != nil {
			return fmt.Errorf("set campaign state: %w", err)
		}
	}
	if err := recordAudit(ctx, tx, &store.AuditEntry{Action: store.AuditCampaignState, Campaign: c.Code,
		Subject: "campaign " + c.Code, Detail: fmt.Sprintf("state=%s→%s", c.State, state)}); err != nil {
		return fmt.Errorf("set campaign state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set campaign state: commit: %w", err)
	}
	return nil
}

// checkStateChange decides whether a campaign may move from one state to
// another (from != to).
func checkStateChange(code string, from, to store.CampaignState) error {
	switch to {
	case store.CampaignDraft, store.CampaignActive, store.CampaignPaused, store.CampaignClosed:
	default:
		return store.Errorf(store.EINVALID, "%q is not a campaign state (draft, active, paused or closed)", to)
	}
	allowed := map[store.CampaignState][]store.CampaignState{
		store.CampaignDraft:  {store.CampaignActive, store.CampaignClosed},
		store.CampaignActive: {store.CampaignPaused, store.CampaignClosed},
		store.CampaignPaused: {store.CampaignActive, store.CampaignClosed},
	}
	if slices.Contains(allowed[from], to) {
		return nil
	}
	switch {
	case from == store.CampaignClosed:
		return store.Errorf(store.EINVALID, "campaign %s is closed; a closed campaign cannot be reopened", code)
	case to == store.CampaignDraft:
		return store.Errorf(store.EINVALID, "campaign %s is %s; it cannot go back to draft", code, from)
	default:
		return store.Errorf(store.EINVALID, "campaign %s is %s; it cannot become %s", code, from, to)
	}
}

// AddMembers adds the selected active respondents who are not members yet,
// as not_invited, and returns how many it added.
func (s *CampaignService) AddMembers(ctx context.Context, code string, sel store.MemberSelector) (int, error) {
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return 0, fmt.Errorf("add members: %w", err)
	}
	defer tx.Rollback()
	n, err := addMembers(ctx, tx, code, sel)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add members: commit: %w", err)
	}
	return n, nil
}

// SetMemberStatus changes one member's status, recording the change in the
// audit log under the context's actor, in the same transaction.
func (s *CampaignService) SetMemberStatus(ctx context.Context, code string, respondentID int64, status store.MemberStatus) error {
	if !status.Valid() {
		return store.Errorf(store.EINVALID, "%q is not a member status", status)
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("set member status: %w", err)
	}
	defer tx.Rollback()
	m, err := findMember(ctx, tx, code, respondentID)
	if err != nil {
		return err
	}
	if m.Status == status {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_members SET status = ?, status_changed_at = ?
		WHERE campaign_id = (SELECT id FROM campaigns WHERE code = ?) AND respondent_id = ?`,
		string(status), formatTime(tx.now), code, respondentID); err != nil {
		return fmt.Errorf("set member status: %w", err)
	}
	if err := recordAudit(ctx, tx, &store.AuditEntry{Action: store.AuditMemberStatus, Campaign: code,
		Subject: fmt.Sprintf("respondent %d", respondentID), Detail: fmt.Sprintf("member=%s→%s", m.Status, status)}); err != nil {
		return fmt.Errorf("set member status: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set member status: commit: %w", err)
	}
	return nil
}

// FindMember returns one membership, or ENOTFOUND.
func (s *CampaignService) FindMember(ctx context.Context, code string, respondentID int64) (*store.Member, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	defer tx.Rollback()
	return findMember(ctx, tx, code, respondentID)
}

// FindMembers returns the campaign's members in respondent id order.
func (s *CampaignService) FindMembers(ctx context.Context, code string, status store.MemberStatus) ([]*store.Member, error) {
	if status != "" && !status.Valid() {
		return nil, store.Errorf(store.EINVALID, "%q is not a member status", status)
	}
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer tx.Rollback()
	c, err := findCampaignByCode(ctx, tx, code)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT respondent_id, status, added_at, status_changed_at
		FROM campaign_members WHERE campaign_id = ? AND (? = '' OR status = ?)
		ORDER BY respondent_id`, c.ID, string(status), string(status))
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer rows.Close()
	var out []*store.Member
	for rows.Next() {
		m, err := scanMember(rows, code)
		if err != nil {
			return nil, fmt.Errorf("find members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	return out, nil
}

// CampaignStats counts the campaign's members by status, by group and by
// unit.
func (s *CampaignService) CampaignStats(ctx context.Context, code string) (*store.CampaignStats, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("campaign stats: %w", err)
	}
	defer tx.Rollback()
	return campaignStats(ctx, tx, code)
}

// AnswerTrend counts, day by day in the campaign's zone, the members whose
// first counted answer arrived that day, from the day the first invitation
// was sent to the day of min(now, deadline). A member's first counted answer
// is the earliest of their responses that counts or once counted (superseded
// but complete: only a counted response, or an accepted one, is both), so a
// later correction does not move the member to a later day. An accepted late
// answer arrived after the deadline and so falls outside the range. Answers
// before the first day (a test send, a reply to an earlier mailing) are in
// every day's Cumulative but no day's Answered; answers after now are not
// counted yet. Empty when nothing was sent.
func (s *CampaignService) AnswerTrend(ctx context.Context, code string, now time.Time) ([]store.DayCount, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}
	defer tx.Rollback()
	var (
		id           int64
		location, dl string
		firstSent    sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT c.id, c.location, c.deadline,
		(SELECT min(sent_at) FROM outbox WHERE campaign_id = c.id AND kind = 'invitation' AND sent_at IS NOT NULL)
		FROM campaigns c WHERE c.code = ?`, code).Scan(&id, &location, &dl, &firstSent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}
	if !firstSent.Valid {
		return []store.DayCount{}, nil
	}
	loc := (&store.Campaign{Location: location}).Loc()
	first, err := parseTime(firstSent.String)
	if err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}
	deadline, err := parseTime(dl)
	if err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}
	end := now
	if deadline.Before(end) {
		end = deadline
	}
	startDay, endDay := store.DateOf(first.In(loc)), store.DateOf(end.In(loc))
	if endDay.Before(startDay) {
		return []store.DayCount{}, nil
	}

	rows, err := tx.QueryContext(ctx, `SELECT min(received_at) FROM responses
		WHERE campaign_id = ? AND (status = 'counted' OR (status = 'superseded' AND complete = 1))
		GROUP BY member_link HAVING min(received_at) <= ?`, id, formatTime(end))
	if err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}
	defer rows.Close()
	startOfFirstDay := time.Date(startDay.Year, startDay.Month, startDay.Day, 0, 0, 0, 0, loc)
	perDay := map[store.Date]int{}
	before := 0
	for rows.Next() {
		var at string
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("answer trend: %w", err)
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, fmt.Errorf("answer trend: %w", err)
		}
		if t.Before(startOfFirstDay) {
			before++
		} else {
			perDay[store.DateOf(t.In(loc))]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("answer trend: %w", err)
	}

	var out []store.DayCount
	total := before
	for i := 0; ; i++ {
		day := time.Date(startDay.Year, startDay.Month, startDay.Day+i, 0, 0, 0, 0, loc)
		d := store.DateOf(day)
		if endDay.Before(d) {
			break
		}
		total += perDay[d]
		out = append(out, store.DayCount{Day: day, Answered: perDay[d], Cumulative: total})
	}
	return out, nil
}

// Campaign documents: the JSON stored in the nested-policy columns. They are
// spelled out here, not derived from the store types, so that renaming a Go
// field cannot silently change what old rows mean.

type roundDoc struct {
	Anchor string `json:"anchor"`
	Days   int    `json:"days"`
	At     string `json:"at"` // "08:00"
}

type remindersDoc struct {
	Rounds               []roundDoc `json:"rounds"`
	MaxRounds            int        `json:"max_rounds"`
	MinSpacing           string     `json:"min_spacing"` // Go duration: "24h0m0s"
	QuietStart           string     `json:"quiet_start"`
	QuietEnd             string     `json:"quiet_end"`
	SendOnNonWorkingDays bool       `json:"send_on_non_working_days"`
	LateWindow           string     `json:"late_window"`
}

type escalationDoc struct {
	Rounds []roundDoc `json:"rounds"`
}

type calendarDoc struct {
	Weekend     []string `json:"weekend"`      // "Saturday"
	Holidays    []string `json:"holidays"`     // "2025-09-02"
	WorkingDays []string `json:"working_days"` // "2025-04-26"
}

type ratesDoc struct {
	PerMinute int `json:"per_minute"`
	PerHour   int `json:"per_hour"`
}

type choiceDoc struct {
	Letter string `json:"letter"`
	Text   string `json:"text"`
}

func roundDocs(rs []store.Round) []roundDoc {
	out := make([]roundDoc, len(rs))
	for i, r := range rs {
		out[i] = roundDoc{Anchor: r.Anchor, Days: r.Days, At: r.At.String()}
	}
	return out
}

func roundsOf(docs []roundDoc) ([]store.Round, error) {
	var out []store.Round
	for _, d := range docs {
		at, err := store.ParseClock(d.At)
		if err != nil {
			return nil, err
		}
		out = append(out, store.Round{Anchor: d.Anchor, Days: d.Days, At: at})
	}
	return out, nil
}

func dateDocs(ds []store.Date) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ISO()
	}
	return out
}

func datesOf(ss []string) ([]store.Date, error) {
	var out []store.Date
	for _, s := range ss {
		d, err := store.ParseDate(s)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func weekdayOf(s string) (time.Weekday, error) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a weekday", s)
}

// campaignDocs returns the JSON of the nested policies: reminders,
// escalation, calendar, rates.
func campaignDocs(c *store.Campaign) ([4]string, error) {
	weekend := make([]string, len(c.Calendar.Weekend))
	for i, d := range c.Calendar.Weekend {
		weekend[i] = d.String()
	}
	var out [4]string
	for i, v := range []any{
		remindersDoc{
			Rounds:               roundDocs(c.Reminders.Rounds),
			MaxRounds:            c.Reminders.MaxRounds,
			MinSpacing:           c.Reminders.MinSpacing.String(),
			QuietStart:           c.Reminders.QuietStart.String(),
			QuietEnd:             c.Reminders.QuietEnd.String(),
			SendOnNonWorkingDays: c.Reminders.SendOnNonWorkingDays,
			LateWindow:           c.Reminders.LateWindow.String(),
		},
		escalationDoc{Rounds: roundDocs(c.Escalation.Rounds)},
		calendarDoc{Weekend: weekend, Holidays: dateDocs(c.Calendar.Holidays), WorkingDays: dateDocs(c.Calendar.WorkingDays)},
		ratesDoc{PerMinute: c.Rates.PerMinute, PerHour: c.Rates.PerHour},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return out, err
		}
		out[i] = string(b)
	}
	return out, nil
}

// decodeCampaignDocs fills c's nested policies from their JSON.
func decodeCampaignDocs(c *store.Campaign, reminders, escalation, calendar, rates string) error {
	var (
		rd  remindersDoc
		ed  escalationDoc
		cd  calendarDoc
		rtd ratesDoc
		err error
	)
	for _, d := range []struct {
		json string
		v    any
	}{{reminders, &rd}, {escalation, &ed}, {calendar, &cd}, {rates, &rtd}} {
		if err := json.Unmarshal([]byte(d.json), d.v); err != nil {
			return err
		}
	}
	r := &c.Reminders
	if r.Rounds, err = roundsOf(rd.Rounds); err != nil {
		return err
	}
	r.MaxRounds, r.SendOnNonWorkingDays = rd.MaxRounds, rd.SendOnNonWorkingDays
	if r.MinSpacing, err = time.ParseDuration(rd.MinSpacing); err != nil {
		return err
	}
	if r.LateWindow, err = time.ParseDuration(rd.LateWindow); err != nil {
		return err
	}
	if r.QuietStart, err = store.ParseClock(rd.QuietStart); err != nil {
		return err
	}
	if r.QuietEnd, err = store.ParseClock(rd.QuietEnd); err != nil {
		return err
	}
	if c.Escalation.Rounds, err = roundsOf(ed.Rounds); err != nil {
		return err
	}
	for _, s := range cd.Weekend {
		d, err := weekdayOf(s)
		if err != nil {
			return err
		}
		c.Calendar.Weekend = append(c.Calendar.Weekend, d)
	}
	if c.Calendar.Holidays, err = datesOf(cd.Holidays); err != nil {
		return err
	}
	if c.Calendar.WorkingDays, err = datesOf(cd.WorkingDays); err != nil {
		return err
	}
	c.Rates = store.RateLimits{PerMinute: rtd.PerMinute, PerHour: rtd.PerHour}
	return nil
}

func createCampaign(ctx context.Context, tx *Tx, c *store.Campaign) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM campaigns WHERE code = ?`, c.Code).Scan(&n); err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	if n > 0 {
		return store.Errorf(store.ECONFLICT, "campaign %s already exists", c.Code)
	}

	// What Validate cannot see: repeats, and units that are not stored.
	var v store.ValidationError
	for i, g := range c.Groups {
		if slices.Contains(c.Groups[:i], g) {
			v = append(v, store.FieldError{Field: store.FieldGroups, Message: fmt.Sprintf("group %s is listed twice", g)})
		}
	}
	unitIDs := make([]int64, len(c.Units))
	for i, code := range c.Units {
		if slices.Contains(c.Units[:i], code) {
			v = append(v, store.FieldError{Field: store.FieldUnits, Message: fmt.Sprintf("unit %s is listed twice", code)})
			continue
		}
		err := tx.QueryRowContext(ctx, `SELECT id FROM units WHERE code = ?`, code).Scan(&unitIDs[i])
		if errors.Is(err, sql.ErrNoRows) {
			v = append(v, store.FieldError{Field: store.FieldUnits, Message: fmt.Sprintf("unit %s is not in the unit tree (import the units first)", code)})
		} else if err != nil {
			return fmt.Errorf("create campaign: %w", err)
		}
	}
	if len(v) > 0 {
		return v
	}

	docs, err := campaignDocs(c)
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	now := formatTime(tx.now)
	res, err := tx.ExecContext(ctx, `INSERT INTO campaigns (code, title, legal_ref, sender_name, sender_address, reply_to,
		operator_mailbox, office, location, opens_at, deadline, questionnaire_title, questionnaire_intro,
		reminders, escalation, calendar, rates, state, subaddressing, template_dir, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Code, c.Title, c.LegalRef, c.SenderName, c.SenderAddress, c.ReplyTo,
		c.OperatorMailbox, c.Office, c.Location, formatTime(c.OpensAt), formatTime(c.Deadline),
		c.Questionnaire.Title, c.Questionnaire.Intro, docs[0], docs[1], docs[2], docs[3], string(c.State),
		c.Subaddressing, c.TemplateDir, now, now)
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	for i, g := range c.Groups {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_groups (campaign_id, position, group_code) VALUES (?, ?, ?)`, id, i, g); err != nil {
			return fmt.Errorf("create campaign: group %s: %w", g, err)
		}
	}
	for i, uid := range unitIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_units (campaign_id, position, unit_id) VALUES (?, ?, ?)`, id, i, uid); err != nil {
			return fmt.Errorf("create campaign: unit %s: %w", c.Units[i], err)
		}
	}
	for i, q := range c.Questionnaire.Questions {
		choices := make([]choiceDoc, len(q.Choices))
		for k, ch := range q.Choices {
			choices[k] = choiceDoc{Letter: ch.Letter, Text: ch.Text}
		}
		b, err := json.Marshal(choices)
		if err != nil {
			return fmt.Errorf("create campaign: question %s: %w", q.Code, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_questions (campaign_id, position, code, text, type, min, max, choices, required)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, i, q.Code, q.Text, string(q.Type), q.Min, q.Max, string(b), q.Required); err != nil {
			return fmt.Errorf("create campaign: question %s: %w", q.Code, err)
		}
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, tx.now, tx.now
	return nil
}

func findCampaignByCode(ctx context.Context, tx *Tx, code string) (*store.Campaign, error) {
	cs, err := findCampaigns(ctx, tx, code)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	}
	return cs[0], nil
}

// findCampaigns returns the campaign with the code, or every campaign if code
// is "", newest deadline first, with groups, units and questions.
func findCampaigns(ctx context.Context, tx *Tx, code string) ([]*store.Campaign, error) {
	cs, err := loadCampaignRows(ctx, tx, code)
	if err != nil {
		return nil, fmt.Errorf("find campaigns: %w", err)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	if err := loadCampaignChildren(ctx, tx, cs, code != ""); err != nil {
		return nil, fmt.Errorf("find campaigns: %w", err)
	}
	return cs, nil
}

func loadCampaignRows(ctx context.Context, tx *Tx, code string) ([]*store.Campaign, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, code, title, legal_ref, sender_name, sender_address, reply_to,
		operator_mailbox, office, location, opens_at, deadline, questionnaire_title, questionnaire_intro,
		reminders, escalation, calendar, rates, state, subaddressing, template_dir, created_at, updated_at
		FROM campaigns WHERE ? = '' OR code = ? ORDER BY deadline DESC, code`, code, code)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []*store.Campaign
	for rows.Next() {
		var (
			c                                      store.Campaign
			opens, deadline, created, updated      string
			reminders, escalation, calendar, rates string
			state                                  string
		)
		if err := rows.Scan(&c.ID, &c.Code, &c.Title, &c.LegalRef, &c.SenderName, &c.SenderAddress, &c.ReplyTo,
			&c.OperatorMailbox, &c.Office, &c.Location, &opens, &deadline, &c.Questionnaire.Title, &c.Questionnaire.Intro,
			&reminders, &escalation, &calendar, &rates, &state, &c.Subaddressing, &c.TemplateDir, &created, &updated); err != nil {
			return nil, err
		}
		c.State = store.CampaignState(state)
		for _, t := range []struct {
			dst *time.Time
			s   string
		}{{&c.OpensAt, opens}, {&c.Deadline, deadline}, {&c.CreatedAt, created}, {&c.UpdatedAt, updated}} {
			if *t.dst, err = parseTime(t.s); err != nil {
				return nil, fmt.Errorf("campaign %s: %w", c.Code, err)
			}
		}
		if err := decodeCampaignDocs(&c, reminders, escalation, calendar, rates); err != nil {
			return nil, fmt.Errorf("campaign %s: %w", c.Code, err)
		}
		cs = append(cs, &c)
	}
	return cs, rows.Err()
}

// loadCampaignChildren fills in groups, units and questions: three queries
// whatever the number of campaigns. one restricts them to the single
// campaign in cs.
func loadCampaignChildren(ctx context.Context, tx *Tx, cs []*store.Campaign, one bool) error {
	byID := make(map[int64]*store.Campaign, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
	var only int64
	if one {
		only = cs[0].ID
	}
	rows, err := tx.QueryContext(ctx, `SELECT campaign_id, group_code FROM campaign_groups
		WHERE ? = 0 OR campaign_id = ? ORDER BY campaign_id, position`, only, only)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var g string
		if err := rows.Scan(&id, &g); err != nil {
			rows.Close()
			return err
		}
		if c := byID[id]; c != nil {
			c.Groups = append(c.Groups, g)
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}

	rows, err = tx.QueryContext(ctx, `SELECT cu.campaign_id, u.code FROM campaign_units cu JOIN units u ON u.id = cu.unit_id
		WHERE ? = 0 OR cu.campaign_id = ? ORDER BY cu.campaign_id, cu.position`, only, only)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var code string
		if err := rows.Scan(&id, &code); err != nil {
			rows.Close()
			return err
		}
		if c := byID[id]; c != nil {
			c.Units = append(c.Units, code)
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}

	rows, err = tx.QueryContext(ctx, `SELECT campaign_id, code, text, type, min, max, choices, required FROM campaign_questions
		WHERE ? = 0 OR campaign_id = ? ORDER BY campaign_id, position`, only, only)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id      int64
			q       store.Question
			typ     string
			choices string
		)
		if err := rows.Scan(&id, &q.Code, &q.Text, &typ, &q.Min, &q.Max, &choices, &q.Required); err != nil {
			rows.Close()
			return err
		}
		q.Type = store.AnswerType(typ)
		var docs []choiceDoc
		if err := json.Unmarshal([]byte(choices), &docs); err != nil {
			rows.Close()
			return fmt.Errorf("question %s: %w", q.Code, err)
		}
		for _, d := range docs {
			q.Choices = append(q.Choices, store.Choice{Letter: d.Letter, Text: d.Text})
		}
		if c := byID[id]; c != nil {
			c.Questionnaire.Questions = append(c.Questionnaire.Questions, q)
		}
	}
	return closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// unitTree is the whole unit tree in memory: a few thousand rows at most.
type unitTree struct {
	nodes    map[int64]*unitNode
	byCode   map[string]*unitNode
	roots    []*unitNode // sorted by code
	children map[int64][]*unitNode
}

type unitNode struct {
	id       int64
	code     string
	name     string
	parentID int64 // 0 for a root
	validTo  store.Date
}

func loadUnitTree(ctx context.Context, tx *Tx) (*unitTree, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, code, name, coalesce(parent_id, 0), valid_to FROM units ORDER BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &unitTree{nodes: map[int64]*unitNode{}, byCode: map[string]*unitNode{}, children: map[int64][]*unitNode{}}
	var all []*unitNode
	for rows.Next() {
		var n unitNode
		var validTo sql.NullString
		if err := rows.Scan(&n.id, &n.code, &n.name, &n.parentID, &validTo); err != nil {
			return nil, err
		}
		if n.validTo, err = parseDate(validTo); err != nil {
			return nil, fmt.Errorf("unit %s: %w", n.code, err)
		}
		t.nodes[n.id] = &n
		t.byCode[n.code] = &n
		all = append(all, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range all { // in code order, so children lists are sorted
		if n.parentID == 0 {
			t.roots = append(t.roots, n)
		} else {
			t.children[n.parentID] = append(t.children[n.parentID], n)
		}
	}
	return t, nil
}

// within reports whether n is one of units or below one of them.
func (t *unitTree) within(n *unitNode, units map[int64]bool) bool {
	for seen := 0; n != nil && seen <= len(t.nodes); seen++ {
		if units[n.id] {
			return true
		}
		n = t.nodes[n.parentID]
	}
	return false
}

func addMembers(ctx context.Context, tx *Tx, code string, sel store.MemberSelector) (int, error) {
	c, err := findCampaignByCode(ctx, tx, code)
	if err != nil {
		return 0, err
	}
	if c.State == store.CampaignClosed {
		return 0, store.Errorf(store.EINVALID, "campaign %s is closed; no members can be added", c.Code)
	}
	groups := sel.Groups
	if len(groups) == 0 {
		groups = c.Groups
	}
	for _, g := range groups {
		if !slices.Contains(c.Groups, g) {
			return 0, store.Errorf(store.EINVALID, "group %s is not one of campaign %s's groups (%s)", g, c.Code, strings.Join(c.Groups, ", "))
		}
	}
	subtrees := sel.Subtrees
	if len(subtrees) > 0 {
		tree, err := loadUnitTree(ctx, tx)
		if err != nil {
			return 0, fmt.Errorf("add members: %w", err)
		}
		campaignUnits := map[int64]bool{}
		for _, u := range c.Units {
			if n := tree.byCode[u]; n != nil {
				campaignUnits[n.id] = true
			}
		}
		for _, u := range subtrees {
			n := tree.byCode[u]
			if n == nil {
				return 0, store.Errorf(store.ENOTFOUND, "unit %s not found", u)
			}
			if len(c.Units) > 0 && !tree.within(n, campaignUnits) {
				return 0, store.Errorf(store.EINVALID, "unit %s is outside campaign %s's units (%s)", u, c.Code, strings.Join(c.Units, ", "))
			}
		}
	} else {
		subtrees = c.Units
	}

	now := formatTime(tx.now)
	var (
		q    string
		args []any
	)
	if len(subtrees) > 0 {
		q = `WITH RECURSIVE subtree(id) AS (
			SELECT id FROM units WHERE code IN (` + placeholders(len(subtrees)) + `)
			UNION
			SELECT c.id FROM units c JOIN subtree s ON c.parent_id = s.id
		)
		`
		args = append(args, anys(subtrees)...)
	}
	q += `INSERT INTO campaign_members (campaign_id, respondent_id, status, added_at, status_changed_at)
		SELECT ?, r.id, ?, ?, ? FROM respondents r
		WHERE r.active = 1 AND r.group_code IN (` + placeholders(len(groups)) + `)`
	args = append(args, c.ID, string(store.StatusNotInvited), now, now)
	args = append(args, anys(groups)...)
	if len(subtrees) > 0 {
		q += ` AND r.unit_id IN (SELECT id FROM subtree)`
	}
	q += ` ON CONFLICT (campaign_id, respondent_id) DO NOTHING`
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("add members: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("add members: %w", err)
	}
	return int(n), nil
}

func findMember(ctx context.Context, tx *Tx, code string, respondentID int64) (*store.Member, error) {
	var campaignID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM campaigns WHERE code = ?`, code).Scan(&campaignID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "campaign %s not found", code)
	} else if err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	m, err := scanMember(tx.QueryRowContext(ctx, `SELECT respondent_id, status, added_at, status_changed_at
		FROM campaign_members WHERE campaign_id = ? AND respondent_id = ?`, campaignID, respondentID), code)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "respondent %d is not a member of campaign %s", respondentID, code)
	} else if err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	return m, nil
}

// scanMember reads respondent_id, status, added_at, status_changed_at.
func scanMember(row interface{ Scan(...any) error }, code string) (*store.Member, error) {
	m := &store.Member{CampaignCode: code}
	var status, added, changed string
	if err := row.Scan(&m.RespondentID, &status, &added, &changed); err != nil {
		return nil, err
	}
	m.Status = store.MemberStatus(status)
	var err error
	if m.AddedAt, err = parseTime(added); err != nil {
		return nil, err
	}
	if m.StatusChangedAt, err = parseTime(changed); err != nil {
		return nil, err
	}
	return m, nil
}

// campaignStats counts members by status, group and unit. ByUnit lists the
// campaign's units (every unit if it names none) in tree order, skipping
// units that have ended and have no member below them.
func campaignStats(ctx context.Context, tx *Tx, code string) (*store.CampaignStats, error) {
	c, err := findCampaignByCode(ctx, tx, code)
	if err != nil {
		return nil, err
	}
	st := &store.CampaignStats{Campaign: c, Total: store.StatusCounts{}}

	rows, err := tx.QueryContext(ctx, `SELECT r.group_code, r.unit_id, m.status, count(*)
		FROM campaign_members m JOIN respondents r ON r.id = m.respondent_id
		WHERE m.campaign_id = ? GROUP BY r.group_code, r.unit_id, m.status`, c.ID)
	if err != nil {
		return nil, fmt.Errorf("campaign stats: %w", err)
	}
	byGroup := map[string]store.StatusCounts{}
	for _, g := range c.Groups {
		byGroup[g] = store.StatusCounts{}
	}
	own := map[int64]store.StatusCounts{}
	for rows.Next() {
		var (
			group  string
			unitID int64
			status string
			n      int
		)
		if err := rows.Scan(&group, &unitID, &status, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("campaign stats: %w", err)
		}
		s := store.MemberStatus(status)
		st.Total[s] += n
		if byGroup[group] == nil {
			byGroup[group] = store.StatusCounts{}
		}
		byGroup[group][s] += n
		if own[unitID] == nil {
			own[unitID] = store.StatusCounts{}
		}
		own[unitID][s] += n
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("campaign stats: %w", err)
	}
	for g, counts := range byGroup {
		st.ByGroup = append(st.ByGroup, store.GroupStats{Group: g, Counts: counts})
	}
	sort.Slice(st.ByGroup, func(i, j int) bool { return st.ByGroup[i].Group < st.ByGroup[j].Group })

	tree, err := loadUnitTree(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("campaign stats: %w", err)
	}
	roots := tree.roots
	if len(c.Units) > 0 {
		// The campaign's units, less those inside another of them.
		listed := map[int64]bool{}
		for _, code := range c.Units {
			if n := tree.byCode[code]; n != nil {
				listed[n.id] = true
			}
		}
		roots = nil
		for id := range listed {
			n := tree.nodes[id]
			if !tree.within(tree.nodes[n.parentID], listed) {
				roots = append(roots, n)
			}
		}
		sort.Slice(roots, func(i, j int) bool { return roots[i].code < roots[j].code })
	}
	today := tx.today()
	var walk func(n *unitNode, parentCode string, depth int) []store.UnitStats
	walk = func(n *unitNode, parentCode string, depth int) []store.UnitStats {
		us := store.UnitStats{
			UnitCode: n.code, UnitName: n.name, ParentCode: parentCode, Depth: depth,
			Own: store.StatusCounts{}, Subtree: store.StatusCounts{},
		}
		for s, k := range own[n.id] {
			us.Own[s] += k
			us.Subtree[s] += k
		}
		var below []store.UnitStats
		for _, ch := range tree.children[n.id] {
			sub := walk(ch, n.code, depth+1)
			if len(sub) > 0 {
				for s, k := range sub[0].Subtree {
					us.Subtree[s] += k
				}
			}
			below = append(below, sub...)
		}
		if !n.validTo.IsZero() && n.validTo.Before(today) && us.Subtree.Total() == 0 {
			return nil
		}
		return append([]store.UnitStats{us}, below...)
	}
	for _, r := range roots {
		parentCode := ""
		if p := tree.nodes[r.parentID]; p != nil {
			parentCode = p.code
		}
		st.ByUnit = append(st.ByUnit, walk(r, parentCode, 0)...)
	}
	return st, nil
}
