package reminders_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/phieu/phieu/reminders"
	"github.com/phieu/phieu/store"
)

// tree: UBND (head) > SNV (head) > {SNV-PA (no head), SNV-PB (head)};
// UBND > XA (head), where everyone answered.
var tree = []reminders.Unit{
	{Code: "UBND", HasHead: true},
	{Code: "SNV", ParentCode: "UBND", HasHead: true},
	{Code: "SNV-PA", ParentCode: "SNV"},
	{Code: "SNV-PB", ParentCode: "SNV", HasHead: true},
	{Code: "XA", ParentCode: "UBND", HasHead: true},
}

var standings = []reminders.Standing{
	{RespondentID: 1, UnitCode: "SNV-PA", Group: "LDP", Status: store.StatusInvited},
	{RespondentID: 2, UnitCode: "SNV-PA", Group: "LDP", Status: store.StatusAnswered},
	{RespondentID: 3, UnitCode: "SNV-PB", Group: "LDP", Status: store.StatusAddressFailed},
	{RespondentID: 4, UnitCode: "SNV", Group: "LDS", Status: store.StatusInvited},
	{RespondentID: 5, UnitCode: "XA", Group: "LDX", Status: store.StatusAnswered},
	{RespondentID: 6, UnitCode: "XA", Group: "LDX", Status: store.StatusExcluded},
}

func TestEscalations(t *testing.T) {
	c := campaign()
	d5 := at(24, 2, 8, 0) // D-5 is Sunday 26/02: the previous working day

	got := reminders.Escalations(c, tree, standings, nil, at(24, 2, 9, 0))
	want := []reminders.Digest{
		{UnitCode: "SNV", Round: 1, At: d5, SendBy: at(24, 2, 14, 0), Pending: []int64{1, 4}, Failed: []int64{3},
			Groups: map[string]store.StatusCounts{"LDP": {store.StatusInvited: 1, store.StatusAnswered: 1, store.StatusAddressFailed: 1}, "LDS": {store.StatusInvited: 1}},
			Counts: store.StatusCounts{store.StatusInvited: 2, store.StatusAnswered: 1, store.StatusAddressFailed: 1}},
		{UnitCode: "SNV-PB", Round: 1, At: d5, SendBy: at(24, 2, 14, 0), Pending: nil, Failed: []int64{3},
			Groups: map[string]store.StatusCounts{"LDP": {store.StatusAddressFailed: 1}}, Counts: store.StatusCounts{store.StatusAddressFailed: 1}},
		{UnitCode: "UBND", Round: 1, At: d5, SendBy: at(24, 2, 14, 0), Pending: []int64{1, 4}, Failed: []int64{3},
			Groups: map[string]store.StatusCounts{"LDP": {store.StatusInvited: 1, store.StatusAnswered: 1, store.StatusAddressFailed: 1},
				"LDS": {store.StatusInvited: 1}, "LDX": {store.StatusAnswered: 1}},
			Counts: store.StatusCounts{store.StatusInvited: 2, store.StatusAnswered: 2, store.StatusAddressFailed: 1}},
	}
	for _, ds := range [][]reminders.Digest{got, want} {
		for i := range ds {
			ds[i].At, ds[i].SendBy = ds[i].At.UTC(), ds[i].SendBy.UTC() // the same instants, whatever the zone value
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("digests:\n got %+v\nwant %+v", got, want)
	}
	// Planned already for SNV: the others still go.
	got = reminders.Escalations(c, tree, standings, map[string]uint64{"SNV": 1}, at(24, 2, 9, 0))
	if len(got) != 2 || got[0].UnitCode != "SNV-PB" || got[1].UnitCode != "UBND" {
		t.Errorf("after SNV's digest was planned: %+v", got)
	}
	// The second round, D-2 (Wednesday 01/03).
	got = reminders.Escalations(c, tree, standings, map[string]uint64{"SNV": 1, "SNV-PB": 1, "UBND": 1}, at(1, 3, 8, 0))
	if len(got) != 3 || got[0].Round != 2 || !got[0].At.Equal(at(1, 3, 8, 0)) {
		t.Errorf("second round: %+v", got)
	}
	// Between rounds, after the deadline, or everyone answered: nothing.
	for name, now := range map[string]time.Time{"between rounds": at(27, 2, 9, 0), "after the deadline": at(4, 3, 8, 0)} {
		if got := reminders.Escalations(c, tree, standings, nil, now); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
	var done []reminders.Standing
	for _, s := range standings {
		if s.Status != store.StatusExcluded {
			s.Status = store.StatusAnswered
		}
		done = append(done, s)
	}
	if got := reminders.Escalations(c, tree, done, nil, at(24, 2, 9, 0)); len(got) != 0 {
		t.Errorf("everyone answered: %+v", got)
	}
}

func TestEscalations_CycleInTheTreeDoesNotHang(t *testing.T) {
	units := []reminders.Unit{{Code: "A", ParentCode: "B", HasHead: true}, {Code: "B", ParentCode: "A", HasHead: true}}
	got := reminders.Escalations(campaign(), units, []reminders.Standing{{RespondentID: 1, UnitCode: "A", Status: store.StatusInvited}}, nil, at(24, 2, 9, 0))
	if len(got) != 2 {
		t.Errorf("%+v", got)
	}
}

// BenchmarkPlan100k plans reminders and escalations for a 100,000-member
// campaign in 2,000 units over three levels.
func BenchmarkPlan100k(b *testing.B) {
	c := campaign()
	units := []reminders.Unit{{Code: "T", HasHead: true}}
	for i := range 40 {
		s := fmt.Sprintf("S%02d", i)
		units = append(units, reminders.Unit{Code: s, ParentCode: "T", HasHead: true})
		for j := range 49 {
			units = append(units, reminders.Unit{Code: fmt.Sprintf("%s-P%02d", s, j), ParentCode: s, HasHead: j%3 != 0})
		}
	}
	members := make([]reminders.Member, 100_000)
	standing := make([]reminders.Standing, len(members))
	for i := range members {
		members[i] = invited()
		members[i].RespondentID = int64(i + 1)
		standing[i] = reminders.Standing{RespondentID: int64(i + 1), UnitCode: units[1+i%(len(units)-1)].Code, Group: "G", Status: store.StatusInvited}
		if i%3 == 0 {
			members[i].Status, standing[i].Status = store.StatusAnswered, store.StatusAnswered
		}
	}
	now := at(24, 2, 8, 30)
	for b.Loop() {
		if len(reminders.Due(c, members, now)) == 0 || len(reminders.Escalations(c, units, standing, nil, now)) == 0 {
			b.Fatal("nothing planned")
		}
	}
}
