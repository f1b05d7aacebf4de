package reminders_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/phieu/phieu/reminders"
	"github.com/phieu/phieu/store"
)

var ict = time.FixedZone("ICT", 7*3600)

func at(day, month, hour, minute int) time.Time {
	return time.Date(2023, time.Month(month), day, hour, minute, 0, 0, ict)
}

// campaign is PAR2022: deadline Friday 03/03/2023, reminders D-7, D-3 and
// D-1 at 08:00 (Friday 24/02, Tuesday 28/02, Thursday 02/03), escalation
// D-5 and D-2 at 08:00 (Sunday 26/02, so Friday 24/02; Wednesday 01/03).
func campaign(edit ...func(*store.Campaign)) *store.Campaign {
	c := &store.Campaign{Code: "PAR2022", Location: "Asia/Ho_Chi_Minh", State: store.CampaignActive,
		OpensAt: at(8, 2, 8, 0), Deadline: time.Date(2023, 3, 3, 23, 59, 59, 0, ict),
		Reminders: store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar()}
	for _, e := range edit {
		e(c)
	}
	return c
}

func invited() reminders.Member {
	return reminders.Member{RespondentID: 7, Status: store.StatusInvited, InvitedAt: at(20, 2, 9, 0), LastSentAt: at(20, 2, 9, 0)}
}

func TestDue(t *testing.T) {
	for _, tt := range []struct {
		name     string
		campaign *store.Campaign
		member   func(*reminders.Member)
		now      time.Time
		round    int // 0: nothing due
		at       time.Time
	}{
		{"first round at its moment", campaign(), nil, at(24, 2, 8, 0), 1, at(24, 2, 8, 0)},
		{"first round within its late window", campaign(), nil, at(24, 2, 13, 59), 1, at(24, 2, 8, 0)},
		{"first round after its late window: skipped", campaign(), nil, at(24, 2, 14, 1), 0, time.Time{}},
		{"nothing before the first round", campaign(), nil, at(24, 2, 7, 59), 0, time.Time{}},
		{"answered, even a minute before", campaign(), func(m *reminders.Member) { m.Status = store.StatusAnswered }, at(24, 2, 8, 1), 0, time.Time{}},
		{"answered from another mailbox, awaiting review", campaign(), func(m *reminders.Member) { m.Status = store.StatusAnsweredNeedsReview }, at(24, 2, 8, 1), 0, time.Time{}},
		{"address failed", campaign(), func(m *reminders.Member) { m.Status = store.StatusAddressFailed }, at(24, 2, 8, 1), 0, time.Time{}},
		{"excluded", campaign(), func(m *reminders.Member) { m.Status = store.StatusExcluded }, at(24, 2, 8, 1), 0, time.Time{}},
		{"never invited", campaign(), func(m *reminders.Member) { m.Status, m.InvitedAt = store.StatusNotInvited, time.Time{} }, at(24, 2, 8, 1), 0, time.Time{}},
		{"mailbox full, invitation queued again", campaign(), func(m *reminders.Member) { m.RetryPending = true }, at(24, 2, 8, 1), 0, time.Time{}},
		{"round already planned", campaign(), func(m *reminders.Member) { m.Queued = 1 }, at(24, 2, 9, 0), 0, time.Time{}},
		{"second round", campaign(), func(m *reminders.Member) { m.Queued, m.LastSentAt = 1, at(24, 2, 8, 0) }, at(28, 2, 8, 5), 2, at(28, 2, 8, 0)},
		{"deadline on a Friday: D-1 on the Thursday", campaign(), func(m *reminders.Member) { m.Queued, m.LastSentAt = 3, at(28, 2, 8, 0) },
			at(2, 3, 8, 0), 3, at(2, 3, 8, 0)},
		{"down over the second round: skipped for the third", campaign(), func(m *reminders.Member) { m.Queued, m.LastSentAt = 1, at(24, 2, 8, 0) },
			at(2, 3, 9, 30), 3, at(2, 3, 8, 0)},
		{"down over the second round, not yet the third", campaign(), func(m *reminders.Member) { m.Queued = 1 }, at(1, 3, 10, 0), 0, time.Time{}},
		{"an earlier round still in its window after a later one was planned", campaign(func(c *store.Campaign) {
			c.Reminders.Rounds = []store.Round{{Anchor: store.AnchorDeadline, Days: -3, At: store.Clock{Hour: 8}}, {Anchor: store.AnchorDeadline, Days: -3, At: store.Clock{Hour: 10}}}
			c.Reminders.MinSpacing = 0
		}), func(m *reminders.Member) { m.Queued = 2 }, at(28, 2, 10, 30), 0, time.Time{}},
		{"holiday moves the round to the previous working day", campaign(func(c *store.Campaign) {
			c.Calendar.Holidays = []store.Date{store.DateOf(at(28, 2, 0, 0))}
		}), func(m *reminders.Member) { m.Queued, m.LastSentAt = 1, at(24, 2, 8, 0) }, at(27, 2, 8, 0), 2, at(27, 2, 8, 0)},
		{"holiday block: two days back", campaign(func(c *store.Campaign) {
			c.Calendar.Holidays = []store.Date{store.DateOf(at(1, 3, 0, 0)), store.DateOf(at(2, 3, 0, 0))}
		}), func(m *reminders.Member) { m.Queued, m.LastSentAt = 3, at(28, 2, 8, 0) }, at(28, 2, 8, 0), 0, time.Time{}}, // D-1 lands on D-3's day: spacing
		{"deadline on a Monday: D-1 on the Friday before, with D-3: once, the firmer", campaign(func(c *store.Campaign) {
			c.Deadline = time.Date(2023, 3, 6, 23, 59, 59, 0, ict)
		}), func(m *reminders.Member) { m.Queued, m.LastSentAt = 1, at(27, 2, 8, 0) }, at(3, 3, 8, 0), 3, at(3, 3, 8, 0)},
		{"weekend sending allowed", campaign(func(c *store.Campaign) {
			c.Deadline = time.Date(2023, 3, 6, 23, 59, 59, 0, ict)
			c.Reminders.SendOnNonWorkingDays = true
		}), func(m *reminders.Member) { m.Queued, m.LastSentAt = 3, at(1, 3, 8, 0) }, at(5, 3, 8, 0), 3, at(5, 3, 8, 0)},
		{"added late: rounds before the invitation are skipped", campaign(), func(m *reminders.Member) {
			m.InvitedAt, m.LastSentAt = at(1, 3, 10, 0), at(1, 3, 10, 0)
		}, at(2, 3, 10, 0), 3, at(2, 3, 8, 0)},
		{"added late: not reminded right after the invitation", campaign(), func(m *reminders.Member) {
			m.InvitedAt, m.LastSentAt = at(2, 3, 7, 30), at(2, 3, 7, 30)
		}, at(2, 3, 8, 0), 0, time.Time{}},
		{"minimum spacing after the last message", campaign(), func(m *reminders.Member) { m.LastSentAt = at(23, 2, 16, 0) }, at(24, 2, 8, 0), 0, time.Time{}},
		{"maximum rounds", campaign(func(c *store.Campaign) { c.Reminders.MaxRounds = 2 }), func(m *reminders.Member) {
			m.Queued, m.LastSentAt = 3, at(28, 2, 8, 0)
		}, at(2, 3, 8, 0), 0, time.Time{}},
		{"a round in the quiet hours moves to their end", campaign(func(c *store.Campaign) {
			c.Reminders.Rounds = []store.Round{{Anchor: store.AnchorDeadline, Days: -7, At: store.Clock{Hour: 6}}}
		}), nil, at(24, 2, 7, 0), 1, at(24, 2, 7, 0)},
		{"invitation round: I+2 on a Saturday moves to Friday", campaign(func(c *store.Campaign) {
			c.Reminders.Rounds = []store.Round{{Anchor: store.AnchorInvitation, Days: 2, At: store.Clock{Hour: 8}}}
			c.Reminders.MinSpacing = 0
		}), func(m *reminders.Member) { m.InvitedAt, m.LastSentAt = at(23, 2, 7, 0), at(23, 2, 7, 0) }, at(24, 2, 8, 0), 1, at(24, 2, 8, 0)},
		{"paused campaign", campaign(func(c *store.Campaign) { c.State = store.CampaignPaused }), nil, at(24, 2, 8, 0), 0, time.Time{}},
		{"after the deadline", campaign(func(c *store.Campaign) {
			c.Reminders.Rounds = []store.Round{{Anchor: store.AnchorDeadline, Days: 0, At: store.Clock{Hour: 20}}}
			c.Reminders.LateWindow = 24 * time.Hour
		}), nil, at(4, 3, 8, 0), 0, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := invited()
			if tt.member != nil {
				tt.member(&m)
			}
			got := reminders.Due(tt.campaign, []reminders.Member{m}, tt.now)
			switch {
			case tt.round == 0 && len(got) != 0:
				t.Fatalf("due %+v, want nothing", got)
			case tt.round == 0:
			case len(got) != 1:
				t.Fatalf("nothing due, want round %d at %s", tt.round, tt.at)
			case got[0].Round != tt.round || !got[0].At.Equal(tt.at):
				t.Fatalf("round %d at %s, want round %d at %s", got[0].Round, got[0].At, tt.round, tt.at)
			case !got[0].SendBy.After(tt.now) && !got[0].SendBy.Equal(tt.now):
				t.Fatalf("send by %s is before now %s", got[0].SendBy, tt.now)
			}
		})
	}
}

func TestDue_SendByStopsAtQuietHoursAndDeadline(t *testing.T) {
	c := campaign(func(c *store.Campaign) {
		c.Reminders.Rounds = []store.Round{{Anchor: store.AnchorDeadline, Days: 0, At: store.Clock{Hour: 18}}}
	})
	got := reminders.Due(c, []reminders.Member{invited()}, at(3, 3, 18, 0))
	if len(got) != 1 || !got[0].SendBy.Equal(at(3, 3, 21, 0)) {
		t.Fatalf("%+v: want send by 21:00, the quiet hours", got)
	}
	c.Reminders.QuietStart, c.Reminders.QuietEnd = store.Clock{}, store.Clock{}
	c.Reminders.LateWindow = 12 * time.Hour
	got = reminders.Due(c, []reminders.Member{invited()}, at(3, 3, 18, 0))
	if len(got) != 1 || !got[0].SendBy.Equal(c.Deadline) {
		t.Fatalf("%+v: want send by the deadline", got)
	}
}

// BenchmarkDue100k plans a round for a 100,000-member campaign.
func BenchmarkDue100k(b *testing.B) {
	c := campaign()
	members := make([]reminders.Member, 100_000)
	for i := range members {
		members[i] = invited()
		members[i].RespondentID = int64(i + 1)
		switch i % 10 {
		case 0, 1, 2:
			members[i].Status = store.StatusAnswered
		case 3:
			members[i].Queued = 1
		}
	}
	now := at(24, 2, 8, 30)
	var n int
	for b.Loop() {
		n = len(reminders.Due(c, members, now))
	}
	if n != 60_000 {
		b.Fatalf("%d due, want 60000", n)
	}
	b.ReportMetric(float64(len(members)), "members")
}

func ExampleDue() {
	c := campaign()
	for _, r := range reminders.Due(c, []reminders.Member{invited()}, at(2, 3, 9, 0)) {
		fmt.Printf("respondent %d: round %d at %s, send by %s\n", r.RespondentID, r.Round,
			r.At.Format("02/01/2006 15:04"), r.SendBy.Format("15:04"))
	}
	// Output: respondent 7: round 3 at 02/03/2023 08:00, send by 14:00
}
