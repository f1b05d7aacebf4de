package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// DefaultLocation is where Vietnamese deadlines, dates and schedules live.
const DefaultLocation = "Asia/Ho_Chi_Minh"

// CampaignState is the campaign's life cycle. Later issues act on it: nothing
// is sent while a campaign is paused or closed.
type CampaignState string

const (
	CampaignDraft  CampaignState = "draft"
	CampaignActive CampaignState = "active"
	CampaignPaused CampaignState = "paused"
	CampaignClosed CampaignState = "closed"
)

// Campaign is one survey run: who is asked, what, by whom, until when.
type Campaign struct {
	ID       int64
	Code     string // short, unique: "PAR2022"
	Title    string
	LegalRef string // "Số: 296/UBND-NCKSTTHC ngày 07/02/2023"

	SenderName      string // display name of the From header
	SenderAddress   string
	ReplyTo         string // the survey mailbox phieu polls
	OperatorMailbox string // receives the operator digest
	Office          string // the sender's office and contact line in every message
	// Subaddressing puts each message's reference in its Reply-To as a plus
	// address (khaosat+REF@...), for servers that deliver those to the
	// survey mailbox. Off by default: not every government server does.
	Subaddressing bool
	// TemplateDir holds files overriding the default message templates
	// (see package templates); "" for the defaults.
	TemplateDir string

	Location string    // IANA zone, DefaultLocation unless set
	OpensAt  time.Time // nothing is sent before
	// Deadline is the last instant an answer counts: 23:59:59 on the deadline
	// day in Location unless the campaign file names another time.
	Deadline time.Time

	Groups []string // group codes taking part
	Units  []string // unit codes taking part, each with its whole subtree; empty: all

	Questionnaire Questionnaire
	Reminders     ReminderPolicy
	Escalation    EscalationPolicy
	Calendar      Calendar
	Rates         RateLimits

	State     CampaignState
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeadlineEndOfDay returns 23:59:59 on day d in loc: the default deadline
// instant for a date written in an official letter.
func DeadlineEndOfDay(d Date, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 23, 59, 59, 0, loc)
}

// InTime reports whether an answer received at t counts: any moment up to and
// including the deadline's second.
func (c *Campaign) InTime(t time.Time) bool {
	return t.Before(c.Deadline.Truncate(time.Second).Add(time.Second))
}

// Loc returns the campaign's time zone. Validate has checked it loads.
func (c *Campaign) Loc() *time.Location {
	name := c.Location
	if name == "" {
		name = DefaultLocation
	}
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("ICT", 7*3600)
	}
	locations.Store(name, loc)
	return loc
}

// locations caches loaded zones: LoadLocation reads and parses the zone
// data each time, and messages ask for the zone several times each.
var locations sync.Map

// Round is one scheduled reminder or escalation: a number of days from an
// anchor, at a clock time in the campaign's zone. D-3 at 08:00 is
// {Anchor: AnchorDeadline, Days: -3, At: Clock{8, 0}}.
type Round struct {
	Anchor string // AnchorDeadline or AnchorInvitation
	Days   int
	At     Clock
}

// Anchors of a Round.
const (
	AnchorDeadline   = "deadline"
	AnchorInvitation = "invitation"
)

func (r Round) String() string {
	if r.Anchor == AnchorInvitation {
		return fmt.Sprintf("I%+d %s", r.Days, r.At)
	}
	return fmt.Sprintf("D%+d %s", r.Days, r.At)
}

// Clock is a time of day.
type Clock struct{ Hour, Minute int }

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// ParseClock reads "08:00" or "8h00" or "8h".
func ParseClock(s string) (Clock, error) {
	var c Clock
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Replace(s, "h", ":", 1)
	if strings.HasSuffix(s, ":") {
		s += "00"
	}
	if _, err := fmt.Sscanf(s, "%d:%d", &c.Hour, &c.Minute); err != nil || c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 {
		return Clock{}, fmt.Errorf("%q is not a time of day (write hh:mm)", s)
	}
	return c, nil
}

// ReminderPolicy says when non-respondents are reminded.
type ReminderPolicy struct {
	Rounds     []Round
	MaxRounds  int           // 0: as many as Rounds
	MinSpacing time.Duration // between two messages to one person
	// QuietStart..QuietEnd is when nothing is sent (21:00–07:00 by default).
	QuietStart, QuietEnd Clock
	// SendOnNonWorkingDays allows sending on weekends and holidays.
	SendOnNonWorkingDays bool
	// LateWindow: a round whose moment passed by more than this is skipped,
	// never sent late.
	LateWindow time.Duration
}

// EscalationPolicy says when unit heads get non-response digests.
type EscalationPolicy struct {
	Rounds []Round
}

// Calendar is the working-day calendar. Holidays are data, not computed: Tết
// follows the lunar calendar and the government moves days off every year.
type Calendar struct {
	Weekend     []time.Weekday // Saturday and Sunday by default
	Holidays    []Date
	WorkingDays []Date // make-up working days (ngày làm bù) that fall on a weekend
}

// IsWorkingDay reports whether d is a working day.
func (c Calendar) IsWorkingDay(d Date) bool {
	for _, w := range c.WorkingDays {
		if w == d {
			return true
		}
	}
	for _, h := range c.Holidays {
		if h == d {
			return false
		}
	}
	for _, w := range c.Weekend {
		if d.Weekday() == w {
			return false
		}
	}
	return true
}

// RateLimits cap what phieu sends through the province's server.
type RateLimits struct {
	PerMinute int
	PerHour   int
}

// DefaultReminderPolicy returns D-7, D-3 and D-1 at 08:00, quiet 21:00–07:00.
func DefaultReminderPolicy() ReminderPolicy {
	return ReminderPolicy{
		Rounds: []Round{
			{Anchor: AnchorDeadline, Days: -7, At: Clock{8, 0}},
			{Anchor: AnchorDeadline, Days: -3, At: Clock{8, 0}},
			{Anchor: AnchorDeadline, Days: -1, At: Clock{8, 0}},
		},
		MinSpacing: 24 * time.Hour,
		QuietStart: Clock{21, 0},
		QuietEnd:   Clock{7, 0},
		LateWindow: 6 * time.Hour,
	}
}

// DefaultEscalationPolicy returns D-5 and D-2 at 08:00.
func DefaultEscalationPolicy() EscalationPolicy {
	return EscalationPolicy{Rounds: []Round{
		{Anchor: AnchorDeadline, Days: -5, At: Clock{8, 0}},
		{Anchor: AnchorDeadline, Days: -2, At: Clock{8, 0}},
	}}
}

// DefaultCalendar returns a Saturday–Sunday weekend with no holidays.
func DefaultCalendar() Calendar {
	return Calendar{Weekend: []time.Weekday{time.Saturday, time.Sunday}}
}

// Campaign field names for validation errors; campaign files map them to keys.
const (
	FieldCampaignCode     = "code"
	FieldCampaignTitle    = "title"
	FieldLegalRef         = "legal_ref"
	FieldSenderName       = "sender.name"
	FieldSenderAddress    = "sender.address"
	FieldReplyTo          = "sender.reply_to"
	FieldOperatorMailbox  = "sender.operator"
	FieldOffice           = "sender.office"
	FieldLocation         = "timezone"
	FieldOpensAt          = "opens_at"
	FieldDeadline         = "deadline"
	FieldGroups           = "groups"
	FieldUnits            = "units"
	FieldQuestions        = "questionnaire.questions"
	FieldReminderRounds   = "reminders.rounds"
	FieldEscalationRounds = "escalation.rounds"
	FieldRates            = "rate_limits"
)

var campaignCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// Validate checks a campaign before it is stored.
func (c *Campaign) Validate() error {
	var v ValidationError
	if c.Code == "" {
		v.add(FieldCampaignCode, "is required")
	} else if !campaignCodeRE.MatchString(c.Code) {
		v.add(FieldCampaignCode, "%q must be 1–32 letters, digits, '.', '_' or '-' (no spaces or diacritics)", c.Code)
	}
	checkFreeText(&v, FieldCampaignTitle, c.Title, true, maxNameLength)
	checkFreeText(&v, FieldLegalRef, c.LegalRef, false, maxNameLength)
	checkFreeText(&v, FieldSenderName, c.SenderName, true, maxNameLength)
	checkFreeText(&v, FieldOffice, c.Office, false, 1000)
	for _, m := range []struct{ field, addr string }{
		{FieldSenderAddress, c.SenderAddress}, {FieldReplyTo, c.ReplyTo}, {FieldOperatorMailbox, c.OperatorMailbox},
	} {
		if m.addr == "" && m.field == FieldOperatorMailbox {
			continue
		}
		if msg := CheckMailbox(m.addr); msg != "" {
			if m.addr == "" {
				v.add(m.field, "is required")
			} else {
				v.add(m.field, "%q %s", m.addr, msg)
			}
		}
	}
	if c.Location != "" {
		if _, err := time.LoadLocation(c.Location); err != nil {
			v.add(FieldLocation, "%q is not a known time zone", c.Location)
		}
	}
	if c.Deadline.IsZero() {
		v.add(FieldDeadline, "is required")
	}
	if c.OpensAt.IsZero() {
		v.add(FieldOpensAt, "is required")
	}
	if !c.Deadline.IsZero() && !c.OpensAt.IsZero() && !c.OpensAt.Before(c.Deadline) {
		v.add(FieldDeadline, "(%s) is not after opens_at (%s)", c.Deadline.In(c.Loc()).Format("02/01/2006 15:04"), c.OpensAt.In(c.Loc()).Format("02/01/2006 15:04"))
	}
	if len(c.Groups) == 0 {
		v.add(FieldGroups, "name at least one respondent group")
	}
	for _, g := range c.Groups {
		checkCode(&v, FieldGroups, g, true)
	}
	for _, u := range c.Units {
		checkCode(&v, FieldUnits, u, true)
	}
	v = append(v, c.Questionnaire.validate()...)
	checkRounds(&v, FieldReminderRounds, c.Reminders.Rounds)
	checkRounds(&v, FieldEscalationRounds, c.Escalation.Rounds)
	if c.Reminders.MaxRounds < 0 || c.Reminders.MinSpacing < 0 || c.Reminders.LateWindow < 0 {
		v.add(FieldReminderRounds, "max_rounds, min_spacing and late_window cannot be negative")
	}
	if c.Rates.PerMinute < 0 || c.Rates.PerHour < 0 {
		v.add(FieldRates, "cannot be negative")
	}
	switch c.State {
	case "", CampaignDraft, CampaignActive, CampaignPaused, CampaignClosed:
	default:
		v.add("state", "%q is not draft, active, paused or closed", c.State)
	}
	return v.err()
}

func checkRounds(v *ValidationError, field string, rounds []Round) {
	for i, r := range rounds {
		switch r.Anchor {
		case AnchorDeadline:
			if r.Days > 0 {
				v.add(field, "round %d (%s) falls after the deadline", i+1, r)
			}
		case AnchorInvitation:
			if r.Days < 0 {
				v.add(field, "round %d (%s) falls before the invitation", i+1, r)
			}
		default:
			v.add(field, "round %d: anchor %q is not %q or %q", i+1, r.Anchor, AnchorDeadline, AnchorInvitation)
		}
	}
}

// MemberStatus is where one respondent stands in one campaign.
type MemberStatus string

const (
	StatusNotInvited          MemberStatus = "not_invited"
	StatusInvited             MemberStatus = "invited"
	StatusAnswered            MemberStatus = "answered"
	StatusAnsweredNeedsReview MemberStatus = "answered_needs_review"
	StatusAddressFailed       MemberStatus = "address_failed"
	StatusExcluded            MemberStatus = "excluded"
)

// MemberStatuses lists every status in display order.
var MemberStatuses = []MemberStatus{
	StatusNotInvited, StatusInvited, StatusAnswered, StatusAnsweredNeedsReview, StatusAddressFailed, StatusExcluded,
}

// Valid reports whether s is a known status.
func (s MemberStatus) Valid() bool {
	for _, k := range MemberStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// Label returns the Vietnamese label shown to operators.
func (s MemberStatus) Label() string {
	switch s {
	case StatusNotInvited:
		return "Chưa gửi phiếu"
	case StatusInvited:
		return "Đã gửi, chưa trả lời"
	case StatusAnswered:
		return "Đã trả lời"
	case StatusAnsweredNeedsReview:
		return "Đã trả lời, cần xem xét"
	case StatusAddressFailed:
		return "Địa chỉ thư lỗi"
	case StatusExcluded:
		return "Không khảo sát"
	}
	return string(s)
}

// Member is one respondent's membership of one campaign.
type Member struct {
	CampaignCode    string
	RespondentID    int64
	Status          MemberStatus
	AddedAt         time.Time
	StatusChangedAt time.Time
}

// MemberSelector chooses respondents to add to a campaign: those in any of
// Groups (default: the campaign's groups) and under any of Subtrees (default:
// the campaign's units, or all units). Inactive respondents are never added.
type MemberSelector struct {
	Groups   []string
	Subtrees []string
}

// StatusCounts counts members by status.
type StatusCounts map[MemberStatus]int

// Total counts every member.
func (c StatusCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// GroupStats is a campaign's progress within one group.
type GroupStats struct {
	Group  string
	Counts StatusCounts
}

// UnitStats is a campaign's progress within one unit: its own members and,
// rolled up, those of every unit below it.
type UnitStats struct {
	UnitCode   string
	UnitName   string
	ParentCode string
	Depth      int
	Own        StatusCounts
	Subtree    StatusCounts
}

// CampaignStats summarizes a campaign's membership.
type CampaignStats struct {
	Campaign *Campaign
	Total    StatusCounts
	ByGroup  []GroupStats // by group code
	ByUnit   []UnitStats  // tree order: each unit followed by its children
}

// CampaignService persists campaigns and their membership.
type CampaignService interface {
	// CreateCampaign stores a new campaign; ECONFLICT if the code is taken.
	CreateCampaign(ctx context.Context, c *Campaign) error
	// FindCampaignByCode returns ENOTFOUND if there is no such campaign.
	FindCampaignByCode(ctx context.Context, code string) (*Campaign, error)
	// FindCampaigns returns every campaign, newest deadline first.
	FindCampaigns(ctx context.Context) ([]*Campaign, error)
	// FindCampaignState returns a campaign's state: cheap enough to ask
	// before every message, so a pause takes effect at once.
	FindCampaignState(ctx context.Context, code string) (CampaignState, error)
	// SetCampaignState moves a campaign through its life cycle.
	SetCampaignState(ctx context.Context, code string, state CampaignState) error
	// AddMembers adds the selected active respondents who are not members
	// yet, as not_invited; it returns how many were added.
	AddMembers(ctx context.Context, code string, sel MemberSelector) (int, error)
	// SetMemberStatus changes one member's status (e.g. to excluded).
	SetMemberStatus(ctx context.Context, code string, respondentID int64, status MemberStatus) error
	// FindMember returns ENOTFOUND if the respondent is not a member.
	FindMember(ctx context.Context, code string, respondentID int64) (*Member, error)
	// FindMembers returns the campaign's members by respondent id, only
	// those with status if it is not "".
	FindMembers(ctx context.Context, code string, status MemberStatus) ([]*Member, error)
	// CampaignStats counts members by status, group and unit.
	CampaignStats(ctx context.Context, code string) (*CampaignStats, error)
	// AnswerTrend counts, for each calendar day (in the campaign's time
	// zone) from the first invitation sent to min(now, deadline), the
	// members whose first counted answer arrived that day and the running
	// total; days without answers are included with 0. A member's first
	// counted answer is their earliest response that counts or was
	// accepted, on the day it arrived. Empty, not nil, when no invitation
	// was sent yet; ENOTFOUND for an unknown campaign.
	AnswerTrend(ctx context.Context, code string, now time.Time) ([]DayCount, error)
}

// DayCount is one day of a campaign's answers.
type DayCount struct {
	Day        time.Time // midnight, in the campaign's time zone
	Answered   int       // members whose first counted answer came that day
	Cumulative int       // members answered by the end of the day
}
