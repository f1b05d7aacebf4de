package sqlite_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

func TestDashboardService(t *testing.T) {
	ctx := context.Background()
	db, clock, o := openOutbox(t)
	d := sqlite.NewDashboardService(db)
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := o.EnqueueInvitations(ctx, "PAR2025", 0); err != nil {
		t.Fatal(err)
	}
	byTo := map[string]*store.OutboxMessage{}
	for _, m := range mustClaim(t, o, "A", 10) {
		byTo[m.To] = m
	}
	an, bich, cuong := byTo["an.nv@stp.gov.test"], byTo["bich.tt@stp.gov.test"], byTo["cuong.lh@stc.gov.test"]
	at := clock.Now()
	mustComplete(t, o, "A",
		&store.OutboxResult{ID: an.ID, Event: store.EventSent, Attempt: &store.Attempt{At: at, Stage: store.StageData, Code: 250, Outcome: store.OutboxSent}},
		&store.OutboxResult{ID: bich.ID, Event: store.EventFail, Reason: "550 5.1.1",
			Attempt: &store.Attempt{At: at, Stage: store.StageRcpt, Code: 550, Status: "5.1.1", Text: "User unknown", Outcome: store.OutboxFailed}},
		&store.OutboxResult{ID: cuong.ID, Event: store.EventDefer, NextAttemptAt: at.Add(time.Hour), Reason: "452 4.2.2",
			Attempt: &store.Attempt{At: at, Stage: store.StageRcpt, Code: 452, Status: "4.2.2", Text: "Mailbox full", Outcome: store.OutboxDeferred}},
	)
	// An's reply comes from another mailbox: it waits for review.
	in := sqlite.NewInboundService(db, o)
	m := &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: 1, ContentHash: "h1", Kind: store.InboundReply,
		From: "thuky@stp.gov.test", Subject: "Re: Phiếu khảo sát <b>", CampaignCode: "PAR2025", RespondentID: an.RespondentID,
		Review: "trả lời từ hộp thư khác",
		Response: &store.Response{RespondentID: an.RespondentID, From: "thuky@stp.gov.test", Complete: true, Status: store.ResponseNeedsReview,
			Answers: []store.ResponseAnswer{{Code: "C1", Value: "9"}}}}
	if _, err := in.RecordInbound(ctx, m, &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1, LastUID: 1}); err != nil {
		t.Fatal(err)
	}

	t.Run("Counts", func(t *testing.T) {
		want := &store.DashboardCounts{
			Outbox:    map[store.OutboxState]int{store.OutboxSent: 1, store.OutboxFailed: 1, store.OutboxDeferred: 1},
			Attempts:  map[store.OutboxState]int{store.OutboxSent: 1, store.OutboxFailed: 1, store.OutboxDeferred: 1},
			Failures:  map[store.FailureClass]int{store.ClassUserUnknown: 1, store.ClassMailboxFull: 1},
			Responses: map[store.ResponseStatus]int{store.ResponseNeedsReview: 1},
			Members:   map[store.MemberStatus]int{store.StatusAnsweredNeedsReview: 1, store.StatusAddressFailed: 1, store.StatusNotInvited: 1},
		}
		for _, code := range []string{"PAR2025", ""} {
			got, err := d.DashboardCounts(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DashboardCounts(%q) = %+v\nwant %+v", code, got, want)
			}
		}
		if _, err := d.DashboardCounts(ctx, "NOPE"); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("unknown campaign: %v", err)
		}
	})

	t.Run("UnitMembers", func(t *testing.T) {
		ms, err := d.FindUnitMembers(ctx, "PAR2025", "STP")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 {
			t.Fatalf("STP's own members: %+v", ms)
		}
		got := ms[0]
		if got.Name != "Nguyễn Văn An" || got.Mailbox != "an.nv@stp.gov.test" || got.UnitName != "Sở Tư pháp" ||
			got.Status != store.StatusAnsweredNeedsReview || got.LastKind != store.KindInvitation || got.LastState != store.OutboxSent ||
			!got.LastAt.Equal(at.Truncate(time.Microsecond)) {
			t.Errorf("member: %+v", got)
		}
		ms, err = d.FindUnitMembers(ctx, "PAR2025", "STC-VP")
		if err != nil || len(ms) != 0 {
			t.Errorf("a unit without members: %+v, %v", ms, err)
		}
		if _, err := d.FindUnitMembers(ctx, "PAR2025", "NOPE"); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("unknown unit: %v", err)
		}
	})

	t.Run("Deferred", func(t *testing.T) {
		ms, total, err := d.FindDeferred(ctx, "PAR2025", 10)
		if err != nil || total != 1 || len(ms) != 1 {
			t.Fatalf("FindDeferred: %+v, %d, %v", ms, total, err)
		}
		got := ms[0]
		if got.ID != cuong.ID || got.To != "cuong.lh@stc.gov.test" || !got.NextAttemptAt.Equal(at.Add(time.Hour).Truncate(time.Microsecond)) ||
			got.LastAttempt == nil || got.LastAttempt.Text != "Mailbox full" || got.LastAttempt.Code != 452 || got.Attempts != 1 {
			t.Errorf("deferred: %+v %+v", got, got.LastAttempt)
		}
	})

	t.Run("ResponseContexts", func(t *testing.T) {
		rs, err := in.FindResponses(ctx, "PAR2025", an.RespondentID)
		if err != nil || len(rs) != 1 {
			t.Fatalf("responses: %+v, %v", rs, err)
		}
		cs, err := d.FindResponseContexts(ctx, []int64{rs[0].ID, 999})
		if err != nil {
			t.Fatal(err)
		}
		want := &store.ResponseContext{ResponseID: rs[0].ID, Name: "Nguyễn Văn An", Title: "Chuyên viên", Mailbox: "an.nv@stp.gov.test",
			UnitCode: "STP", UnitName: "Sở Tư pháp", Subject: "Re: Phiếu khảo sát <b>", Review: "trả lời từ hộp thư khác"}
		if len(cs) != 1 || !reflect.DeepEqual(cs[rs[0].ID], want) {
			t.Errorf("contexts: %+v", cs)
		}
	})
}
