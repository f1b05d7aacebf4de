// Package reminders plans the follow-up of a campaign: reminder rounds to
// members who have not answered, and non-response digests to unit heads.
// Planning is a pure function of the campaign's policy, the members' state
// and the time, so every rule (working days, quiet hours, late windows,
// spacing, catch-up after downtime) is tested without a clock or a server;
// the daemon's job only reads the state, calls it, and queues the result.
package reminders

import (
	"math/bits"
	"sort"
	"time"

	"github.com/phieu/phieu/store"
)

// DefaultLateWindow applies when the policy names none: a round not sent
// within it is skipped, never sent late.
const DefaultLateWindow = 6 * time.Hour

// Member is what planning knows of one campaign member.
type Member struct {
	RespondentID int64
	Status       store.MemberStatus
	InvitedAt    time.Time // when the invitation went out; zero: not yet
	LastSentAt   time.Time // the latest invitation or reminder sent or queued to them
	// Queued holds bit r-1 for each reminder round r already queued (or
	// sent, or suppressed): a round is planned once, never twice.
	Queued uint64
	// RetryPending: the invitation is queued again after a "mailbox full"
	// bounce; reminding before it goes out would only bounce too.
	RetryPending bool
}

// Reminder is one reminder to queue.
type Reminder struct {
	RespondentID int64
	Round        int       // 1-based, in the policy's order
	At           time.Time // the round's moment: not sent before
	SendBy       time.Time // not sent after: the late window, the quiet hours, the deadline
}

// Moment returns when round r happens for a member invited at invited
// (deadline rounds ignore it), in the campaign's zone: on the previous
// working day if it falls on a day off (unless the policy sends on days
// off), and moved out of the quiet hours.
func Moment(c *store.Campaign, r store.Round, invited time.Time) time.Time {
	loc := c.Loc()
	anchor := c.Deadline
	if r.Anchor == store.AnchorInvitation {
		anchor = invited
	}
	day := store.DateOf(anchor.In(loc)).AddDays(r.Days)
	p := c.Reminders
	if !p.SendOnNonWorkingDays {
		for i := 0; i < 366 && !c.Calendar.IsWorkingDay(day); i++ {
			day = day.AddDays(-1)
		}
	}
	at := r.At
	if quiet(p, at) {
		at = p.QuietEnd // the first moment sending is allowed that day
	}
	return day.In(loc).Add(time.Duration(at.Hour)*time.Hour + time.Duration(at.Minute)*time.Minute)
}

// quiet reports whether a time of day is within the quiet hours.
func quiet(p store.ReminderPolicy, t store.Clock) bool {
	start, end := minutes(p.QuietStart), minutes(p.QuietEnd)
	m := minutes(t)
	switch {
	case start == end:
		return false // no quiet hours
	case start < end:
		return m >= start && m < end
	default: // across midnight: 21:00–07:00
		return m >= start || m < end
	}
}

func minutes(c store.Clock) int { return c.Hour*60 + c.Minute }

// sendBy is the last moment a round planned for at may go out: its late
// window, cut at the quiet hours that evening and at the deadline.
func sendBy(c *store.Campaign, at time.Time) time.Time {
	p := c.Reminders
	late := p.LateWindow
	if late <= 0 {
		late = DefaultLateWindow
	}
	by := at.Add(late)
	if p.QuietStart != p.QuietEnd {
		loc := c.Loc()
		day := store.DateOf(at.In(loc))
		qs := day.In(loc).Add(time.Duration(minutes(p.QuietStart)) * time.Minute)
		if qs.After(at) && qs.Before(by) {
			by = qs
		}
	}
	if c.Deadline.Before(by) {
		by = c.Deadline
	}
	return by
}

// Schedule is a campaign's reminder rounds, worked out once for every
// member: deadline rounds do not depend on the member.
type Schedule struct {
	c      *store.Campaign
	fixed  []time.Time // per round; zero for invitation rounds
	max    int
	spaced time.Duration
}

// NewSchedule works out the campaign's rounds.
func NewSchedule(c *store.Campaign) *Schedule {
	s := &Schedule{c: c, max: c.Reminders.MaxRounds, spaced: c.Reminders.MinSpacing}
	rounds := c.Reminders.Rounds
	if len(rounds) > 64 {
		rounds = rounds[:64] // Member.Queued holds 64 rounds; validation allows far fewer
	}
	s.fixed = make([]time.Time, len(rounds))
	for i, r := range rounds {
		if r.Anchor != store.AnchorInvitation {
			s.fixed[i] = Moment(c, r, time.Time{})
		}
	}
	return s
}

// Due returns the reminders due at now, at most one per member: the latest
// round whose moment has come and whose late window has not passed. A
// round missed while phieu was down is skipped, not sent late; the next
// round takes over. Nobody is reminded who has answered, whose address
// failed, who was never invited, before their invitation, within the
// minimum spacing of their last message, or after the deadline.
func (s *Schedule) Due(members []Member, now time.Time) []Reminder {
	c := s.c
	if c.State != store.CampaignActive || !now.Before(c.Deadline) || now.Before(c.OpensAt) {
		return nil
	}
	var out []Reminder
	for i := range members {
		if r, ok := s.due(&members[i], now); ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].RespondentID < out[b].RespondentID })
	return out
}

func (s *Schedule) due(m *Member, now time.Time) (Reminder, bool) {
	if m.Status != store.StatusInvited || m.InvitedAt.IsZero() || m.RetryPending {
		return Reminder{}, false
	}
	if s.max > 0 && bits.OnesCount64(m.Queued) >= s.max {
		return Reminder{}, false
	}
	if s.spaced > 0 && !m.LastSentAt.IsZero() && now.Sub(m.LastSentAt) < s.spaced {
		return Reminder{}, false
	}
	moments := make([]time.Time, len(s.fixed))
	var lastQueued time.Time
	for i, at := range s.fixed {
		if at.IsZero() {
			at = Moment(s.c, s.c.Reminders.Rounds[i], m.InvitedAt)
		}
		moments[i] = at
		if m.Queued&(1<<i) != 0 && at.After(lastQueued) {
			lastQueued = at
		}
	}
	best := -1
	var bestAt time.Time
	for i, at := range moments {
		switch {
		case m.Queued&(1<<i) != 0, // planned before
			!at.After(lastQueued),      // an earlier round than one already planned
			at.After(now),              // not yet
			!at.After(m.InvitedAt),     // before they were invited: added late
			!at.Before(s.c.Deadline),   // after the deadline
			now.After(sendBy(s.c, at)): // missed: skipped for the next round
			continue
		}
		if best < 0 || !at.Before(bestAt) { // rounds moved onto one day: the later, firmer one
			best, bestAt = i, at
		}
	}
	if best < 0 {
		return Reminder{}, false
	}
	return Reminder{RespondentID: m.RespondentID, Round: best + 1, At: bestAt, SendBy: sendBy(s.c, bestAt)}, true
}

// Due is NewSchedule(c).Due(members, now).
func Due(c *store.Campaign, members []Member, now time.Time) []Reminder {
	return NewSchedule(c).Due(members, now)
}
