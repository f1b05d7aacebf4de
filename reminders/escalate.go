package reminders

import (
	"sort"
	"time"

	"github.com/phieu/phieu/store"
)

// Unit is a node of the unit tree, as escalation sees it.
type Unit struct {
	Code       string
	ParentCode string
	HasHead    bool // false: its members roll up to the nearest head above
}

// Standing is one member, as a unit head's digest shows them: never their
// answers, only whether they answered.
type Standing struct {
	RespondentID int64
	UnitCode     string
	Group        string
	Status       store.MemberStatus
}

// Digest is one unit head's non-response digest for one escalation round:
// everything under the head's unit, sub-units included.
type Digest struct {
	UnitCode string // the head's unit
	Round    int    // 1-based, in the policy's order
	At       time.Time
	SendBy   time.Time
	Pending  []int64                       // invited, not answered, in respondent order
	Failed   []int64                       // their address failed: the head can give a correct one
	Groups   map[string]store.StatusCounts // members by group and status
	Counts   store.StatusCounts            // members by status, excluded ones left out
}

// EscalationDue returns the escalation round (1-based) whose moment has
// come and whose late window has not passed at now, the latest if several,
// and its moment; 0 when none.
func EscalationDue(c *store.Campaign, now time.Time) (int, time.Time) {
	round, at := 0, time.Time{}
	for i, r := range c.Escalation.Rounds {
		if i >= 64 {
			break
		}
		m := Moment(c, r, time.Time{})
		if m.After(now) || now.After(sendBy(c, m)) || !m.Before(c.Deadline) {
			continue
		}
		if round == 0 || !m.Before(at) {
			round, at = i+1, m
		}
	}
	return round, at
}

// Escalations returns the digests due at now: for the latest escalation
// round whose moment has come and whose late window has not passed, one
// digest per unit head whose units still have members who have not
// answered, unless already planned for that unit and round (planned holds
// bit r-1 per unit code). Units where everyone answered get nothing.
func Escalations(c *store.Campaign, units []Unit, members []Standing, planned map[string]uint64, now time.Time) []Digest {
	if c.State != store.CampaignActive || !now.Before(c.Deadline) || now.Before(c.OpensAt) {
		return nil
	}
	round1, at := EscalationDue(c, now)
	if round1 == 0 {
		return nil
	}
	round := round1 - 1
	// heads[u]: the units whose heads see u's members: u's own head if any,
	// and every head above it.
	parent := make(map[string]string, len(units))
	hasHead := make(map[string]bool, len(units))
	for _, u := range units {
		parent[u.Code], hasHead[u.Code] = u.ParentCode, u.HasHead
	}
	headsOf := map[string][]string{}
	heads := func(unit string) []string {
		if hs, ok := headsOf[unit]; ok {
			return hs
		}
		var hs []string
		seen := map[string]bool{}
		for u := unit; u != "" && !seen[u]; u = parent[u] {
			seen[u] = true // a cycle in bad data must not hang the planner
			if hasHead[u] && planned[u]&(1<<round) == 0 {
				hs = append(hs, u)
			}
		}
		headsOf[unit] = hs
		return hs
	}
	digests := map[string]*Digest{}
	for _, m := range members {
		if m.Status == store.StatusExcluded {
			continue
		}
		for _, h := range heads(m.UnitCode) {
			d := digests[h]
			if d == nil {
				d = &Digest{UnitCode: h, Round: round + 1, At: at, SendBy: sendBy(c, at), Groups: map[string]store.StatusCounts{},
					Counts: store.StatusCounts{}}
				digests[h] = d
			}
			d.Counts[m.Status]++
			g := d.Groups[m.Group]
			if g == nil {
				g = store.StatusCounts{}
				d.Groups[m.Group] = g
			}
			g[m.Status]++
			switch m.Status {
			case store.StatusInvited:
				d.Pending = append(d.Pending, m.RespondentID)
			case store.StatusAddressFailed:
				d.Failed = append(d.Failed, m.RespondentID)
			}
		}
	}
	var out []Digest
	for _, d := range digests {
		if len(d.Pending) == 0 && len(d.Failed) == 0 {
			continue // everyone answered
		}
		sort.Slice(d.Pending, func(a, b int) bool { return d.Pending[a] < d.Pending[b] })
		sort.Slice(d.Failed, func(a, b int) bool { return d.Failed[a] < d.Failed[b] })
		out = append(out, *d)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].UnitCode < out[b].UnitCode })
	return out
}
