package store_test

import (
	"testing"
	"time"

	"github.com/phieu/phieu/store"
)

func TestNextOutboxState(t *testing.T) {
	const (
		q  = store.OutboxQueued
		sg = store.OutboxSending
		st = store.OutboxSent
		d  = store.OutboxDeferred
		f  = store.OutboxFailed
		sp = store.OutboxSuppressed
	)
	// want[from][event] is the next state; "" means the event is refused.
	want := map[store.OutboxState]map[store.OutboxEvent]store.OutboxState{
		q:  {store.EventClaim: sg, store.EventSuppress: sp},
		d:  {store.EventClaim: sg, store.EventSuppress: sp},
		sg: {store.EventSent: st, store.EventDefer: d, store.EventFail: f, store.EventSuppress: sp, store.EventRelease: q},
		st: {},
		f:  {},
		sp: {},
	}
	events := []store.OutboxEvent{store.EventClaim, store.EventSent, store.EventDefer, store.EventFail, store.EventSuppress, store.EventRelease}
	for _, from := range store.OutboxStates {
		for _, ev := range events {
			got, err := store.NextOutboxState(from, ev)
			exp, ok := want[from][ev]
			switch {
			case ok && (err != nil || got != exp):
				t.Errorf("%s --%s--> %s, %v; want %s", from, ev, got, err, exp)
			case !ok && err == nil:
				t.Errorf("%s --%s--> %s; want refused", from, ev, got)
			case !ok && store.ErrorCode(err) != store.ECONFLICT:
				t.Errorf("%s --%s-->: error code %q, want conflict", from, ev, store.ErrorCode(err))
			}
		}
	}
	for _, s := range []store.OutboxState{st, f, sp} {
		if !s.Final() {
			t.Errorf("%s is not final", s)
		}
	}
}

func TestCheckSend(t *testing.T) {
	ict := time.FixedZone("ICT", 7*3600)
	opens := time.Date(2023, 2, 8, 8, 0, 0, 0, ict)
	deadline := time.Date(2023, 3, 3, 23, 59, 59, 0, ict) // a Friday
	campaign := func(state store.CampaignState) *store.Campaign {
		return &store.Campaign{Code: "PAR2022", State: state, OpensAt: opens, Deadline: deadline}
	}
	active := &store.Respondent{ID: 7, Active: true}
	msg := func(kind store.MessageKind, status store.MemberStatus, edit ...func(*store.OutboxMessage)) *store.OutboxMessage {
		m := &store.OutboxMessage{ID: 1, Kind: kind, RespondentID: 7, To: "an@stp.gov.test", Respondent: active, MemberStatus: status}
		for _, e := range edit {
			e(m)
		}
		return m
	}
	during := time.Date(2023, 2, 20, 9, 0, 0, 0, ict)
	tests := []struct {
		name     string
		m        *store.OutboxMessage
		c        *store.Campaign
		now      time.Time
		decision store.SendDecision
		reason   string
		at       time.Time
	}{
		{"InvitationNotInvited", msg(store.KindInvitation, store.StatusNotInvited), campaign(store.CampaignActive), during, store.Send, "", time.Time{}},
		{"ReminderInvited", msg(store.KindReminder, store.StatusInvited), campaign(store.CampaignActive), during, store.Send, "", time.Time{}},
		{"AnsweredAMinuteBeforeReminder", msg(store.KindReminder, store.StatusAnswered), campaign(store.CampaignActive), during, store.Suppress, store.ReasonAnswered, time.Time{}},
		{"AnsweredNeedsReviewGetsNoReminder", msg(store.KindReminder, store.StatusAnsweredNeedsReview), campaign(store.CampaignActive), during, store.Suppress, store.ReasonAnswered, time.Time{}},
		{"AnsweredStillGetsReceipt", msg(store.KindReceipt, store.StatusAnswered), campaign(store.CampaignActive), during, store.Send, "", time.Time{}},
		{"AddressFailed", msg(store.KindReminder, store.StatusAddressFailed), campaign(store.CampaignActive), during, store.Suppress, store.ReasonAddressFailed, time.Time{}},
		{"Excluded", msg(store.KindInvitation, store.StatusExcluded), campaign(store.CampaignActive), during, store.Suppress, store.ReasonExcluded, time.Time{}},
		{"NoLongerMember", msg(store.KindInvitation, ""), campaign(store.CampaignActive), during, store.Suppress, store.ReasonNotMember, time.Time{}},
		{"Inactive", msg(store.KindInvitation, store.StatusNotInvited, func(m *store.OutboxMessage) { m.Respondent = &store.Respondent{ID: 7} }),
			campaign(store.CampaignActive), during, store.Suppress, store.ReasonInactive, time.Time{}},
		{"PausedHolds", msg(store.KindInvitation, store.StatusNotInvited), campaign(store.CampaignPaused), during, store.Hold, store.ReasonPaused, time.Time{}},
		{"DraftHolds", msg(store.KindInvitation, store.StatusNotInvited), campaign(store.CampaignDraft), during, store.Hold, store.ReasonDraft, time.Time{}},
		{"Closed", msg(store.KindInvitation, store.StatusNotInvited), campaign(store.CampaignClosed), during, store.Suppress, store.ReasonClosed, time.Time{}},
		{"BeforeOpeningHoldsUntilOpening", msg(store.KindInvitation, store.StatusNotInvited), campaign(store.CampaignActive), opens.Add(-time.Hour), store.Hold, store.ReasonNotOpen, opens},
		{"LastSecondOfDeadline", msg(store.KindReminder, store.StatusInvited), campaign(store.CampaignActive), deadline.Add(999 * time.Millisecond), store.Send, "", time.Time{}},
		{"PastDeadline", msg(store.KindReminder, store.StatusInvited), campaign(store.CampaignActive), deadline.Add(time.Second), store.Suppress, store.ReasonPastDeadline, time.Time{}},
		{"OperatorDigestAfterDeadline", &store.OutboxMessage{Kind: store.KindOperatorDigest, To: "vanthu@tinh.gov.test"}, campaign(store.CampaignActive), deadline.Add(time.Hour), store.Send, "", time.Time{}},
		{"ReminderPastItsWindow", msg(store.KindReminder, store.StatusInvited, func(m *store.OutboxMessage) { m.SendBy = during.Add(-time.Minute) }),
			campaign(store.CampaignActive), during, store.Suppress, store.ReasonTooLate, time.Time{}},
		{"ReminderNotYetDue", msg(store.KindReminder, store.StatusInvited, func(m *store.OutboxMessage) { m.NotBefore = during.Add(time.Hour) }),
			campaign(store.CampaignActive), during, store.Hold, store.ReasonNotYet, during.Add(time.Hour)},
		{"HeadWithoutMailbox", &store.OutboxMessage{Kind: store.KindHeadDigest, UnitCode: "STP"}, campaign(store.CampaignActive), during, store.Suppress, store.ReasonNoHeadMailbox, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, at := store.CheckSend(tt.m, tt.c, tt.now)
			if d != tt.decision || reason != tt.reason || !at.Equal(tt.at) {
				t.Fatalf("CheckSend = %v, %q, %v; want %v, %q, %v", d, reason, at, tt.decision, tt.reason, tt.at)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	refs, err := store.NewRefs([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := store.NewRefs([]byte("another secret of the same length"))
	seen := map[string]bool{}
	for id := int64(1); id <= 20000; id++ {
		ref := refs.Ref(id)
		if len(ref) != store.RefLength || seen[ref] {
			t.Fatalf("ref %d = %q (len %d, seen %v)", id, ref, len(ref), seen[ref])
		}
		seen[ref] = true
	}
	ref := refs.Ref(42)
	if !refs.Check(42, ref) || !refs.Check(42, toLower(ref)) || refs.Check(43, ref) || other.Check(42, ref) {
		t.Fatal("Check accepts the wrong reference or refuses the right one")
	}
	if _, err := store.NewRefs([]byte("short")); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("short secret: %v", err)
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
