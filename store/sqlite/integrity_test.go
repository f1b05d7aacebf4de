package sqlite_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// recordReply stores a reply with one answer from the mailbox for the
// member and returns its response.
func recordReply(tb testing.TB, in *sqlite.InboundService, uid uint32, respondentID int64, from string, status store.ResponseStatus) *store.Response {
	tb.Helper()
	r := &store.Response{RespondentID: respondentID, From: from, Complete: true, Status: status,
		Answers: []store.ResponseAnswer{{Code: "C1", Value: "8"}}}
	m := &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: "m" + string(rune('a'+uid)) + "@x.test",
		ContentHash: "h" + string(rune('a'+uid)), Kind: store.InboundReply, From: from, CampaignCode: "PAR2025", RespondentID: respondentID,
		Response: r}
	if _, err := in.RecordInbound(context.Background(), m, &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1, LastUID: uid}); err != nil {
		tb.Fatal(err)
	}
	return r
}

func responseStatus(tb testing.TB, in *sqlite.InboundService, respondentID, id int64) *store.Response {
	tb.Helper()
	rs, err := in.FindResponses(context.Background(), "PAR2025", respondentID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	tb.Fatalf("response %d not found", id)
	return nil
}

// openIntegrity is the outbox fixture's database with its inbound service
// and two members: an (unit STP) and bich (STP-VP).
func openIntegrity(t *testing.T) (*sqlite.DB, *sqlite.InboundService, int64, int64) {
	t.Helper()
	db, _, outbox := openOutbox(t)
	return db, sqlite.NewInboundService(db, outbox), respondentID(t, db, "an.nv@stp.gov.test"), respondentID(t, db, "bich.tt@stp.gov.test")
}

func TestInboundService_RecordFlags(t *testing.T) {
	ctx := context.Background()
	db, in, an, bich := openIntegrity(t)
	counted := recordReply(t, in, 1, an, "an.nv@stp.gov.test", store.ResponseCounted)
	other := recordReply(t, in, 2, bich, "thuky@gmail.test", store.ResponseNeedsReview)

	n, err := in.RecordFlags(ctx, []*store.IntegrityFlag{
		{ResponseID: counted.ID, Kind: store.FlagAnswerCluster, Reason: "3 trong 4 câu trả lời giống nhau"},
		{ResponseID: other.ID, Kind: store.FlagOtherMailbox, Reason: "trả lời gửi từ hộp thư thuky@gmail.test"},
		{ResponseID: other.ID, Kind: store.FlagSharedMailbox, Reason: "hộp thư thuky@gmail.test đã trả lời cho 1 thành viên khác"},
	})
	if err != nil || n != 3 {
		t.Fatalf("RecordFlags = %d, %v; want 3 new", n, err)
	}
	t.Run("CountedGoesToReview", func(t *testing.T) {
		r := responseStatus(t, in, an, counted.ID)
		if r.Status != store.ResponseNeedsReview || !strings.Contains(r.Reason, "3 trong 4 câu trả lời giống nhau") {
			t.Errorf("response %s %q, want needs_review with the flag's reason", r.Status, r.Reason)
		}
		if got := memberStatus(t, db, an); got != store.StatusAnsweredNeedsReview {
			t.Errorf("member %s, want answered_needs_review", got)
		}
		queue, err := in.FindReviewQueue(ctx, "PAR2025")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range queue {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, []int64{counted.ID, other.ID}) && !reflect.DeepEqual(ids, []int64{other.ID, counted.ID}) {
			t.Errorf("review queue %v, want both responses", ids)
		}
	})
	t.Run("WaitingKeepsStatusGainsReasons", func(t *testing.T) {
		r := responseStatus(t, in, bich, other.ID)
		if r.Status != store.ResponseNeedsReview || !strings.Contains(r.Reason, "một hộp thư trả lời cho nhiều thành viên") || strings.Contains(r.Reason, "@") {
			t.Errorf("response %s %q", r.Status, r.Reason)
		}
	})
	t.Run("SameKindTwiceIsKept", func(t *testing.T) {
		if _, err := in.AcceptResponse(ctx, counted.ID); err != nil {
			t.Fatal(err)
		}
		n, err := in.RecordFlags(ctx, []*store.IntegrityFlag{{ResponseID: counted.ID, Kind: store.FlagAnswerCluster, Reason: "lại"}})
		if err != nil || n != 0 {
			t.Fatalf("RecordFlags again = %d, %v; want 0", n, err)
		}
		if r := responseStatus(t, in, an, counted.ID); r.Status != store.ResponseCounted {
			t.Errorf("an accepted response went back to %s: the operator's decision stands", r.Status)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, f := range []*store.IntegrityFlag{
			{ResponseID: counted.ID, Kind: "gut_feeling", Reason: "x"},
			{ResponseID: counted.ID, Kind: store.FlagOtherMailbox},
			{Kind: store.FlagOtherMailbox, Reason: "x"},
		} {
			if _, err := in.RecordFlags(ctx, []*store.IntegrityFlag{f}); store.ErrorCode(err) != store.EINVALID {
				t.Errorf("%+v: %v, want invalid", f, err)
			}
		}
		if _, err := in.RecordFlags(ctx, []*store.IntegrityFlag{{ResponseID: 12345, Kind: store.FlagOtherMailbox, Reason: "x"}}); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("unknown response: %v, want not found", err)
		}
	})
	t.Run("Report", func(t *testing.T) {
		rep, err := in.IntegrityReport(ctx, "PAR2025")
		if err != nil {
			t.Fatal(err)
		}
		type line struct {
			code             string
			depth, resp, flg int
			kinds            map[store.IntegrityKind]int
		}
		var got []line
		for _, u := range rep.Units {
			got = append(got, line{u.Code, u.Depth, u.Responses, u.Flagged, u.ByKind})
		}
		none := map[store.IntegrityKind]int{}
		want := []line{
			{"UBND", 0, 0, 0, none},
			{"STC", 1, 0, 0, none}, {"STC-VP", 2, 0, 0, none},
			{"STP", 1, 1, 1, map[store.IntegrityKind]int{store.FlagAnswerCluster: 1}},
			{"STP-VP", 2, 1, 1, map[store.IntegrityKind]int{store.FlagOtherMailbox: 1, store.FlagSharedMailbox: 1}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("units\n got %+v\nwant %+v", got, want)
		}
		if rep.Responses != 2 || rep.Flagged != 2 || len(rep.Flags) != 3 || rep.ByKind[store.FlagOtherMailbox] != 1 {
			t.Errorf("totals: %d responses, %d flagged, %d flags, %v", rep.Responses, rep.Flagged, len(rep.Flags), rep.ByKind)
		}
		if f := rep.Flags[0]; f.Campaign != "PAR2025" || f.UnitCode != "STP" || f.At.IsZero() {
			t.Errorf("first flag %+v", f)
		}
	})
}

func TestInboundService_FindMailboxUse(t *testing.T) {
	ctx := context.Background()
	db, _, outbox := openOutbox(t)
	units := treeUnits()
	units[1].Head = store.Head{Name: "Phạm Văn Giám", Mailbox: "giamdoc@stp.gov.test"} // STP, above STP-VP
	mustImportUnits(t, db, units, store.ImportOptions{})
	in := sqlite.NewInboundService(db, outbox)
	an, bich, cuong := respondentID(t, db, "an.nv@stp.gov.test"), respondentID(t, db, "bich.tt@stp.gov.test"), respondentID(t, db, "cuong.lh@stc.gov.test")
	recordReply(t, in, 1, cuong, "thuky@gmail.test", store.ResponseNeedsReview)
	for _, tc := range []struct {
		name    string
		mailbox string
		member  int64
		want    store.MailboxUse
	}{
		{"HeadOfTheUnitAbove", "GiamDoc@stp.gov.test", bich, store.MailboxUse{Mailbox: "giamdoc@stp.gov.test", HeadOf: []string{"STP"}}},
		{"HeadOfAnotherBranch", "giamdoc@stp.gov.test", cuong, store.MailboxUse{Mailbox: "giamdoc@stp.gov.test"}},
		{"AnotherMembersMailbox", "an.nv@stp.gov.test", bich, store.MailboxUse{Mailbox: "an.nv@stp.gov.test", Owners: []int64{an}}},
		{"AnsweredForOthers", "thuky@gmail.test", an, store.MailboxUse{Mailbox: "thuky@gmail.test", AnsweredFor: []int64{cuong}}},
		{"OnlyThisMember", "thuky@gmail.test", cuong, store.MailboxUse{Mailbox: "thuky@gmail.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := in.FindMailboxUse(ctx, "PAR2025", tc.mailbox, tc.member)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
	if got, err := in.MemberUnit(ctx, bich); err != nil || got != "STP-VP" {
		t.Errorf("MemberUnit = %q, %v", got, err)
	}
}

func TestInboundService_ArrivalsLastOnlyTheWindow(t *testing.T) {
	ctx := context.Background()
	db, in, an, bich := openIntegrity(t)
	first := recordReply(t, in, 1, an, "an.nv@stp.gov.test", store.ResponseCounted)
	second := recordReply(t, in, 2, bich, "bich.tt@stp.gov.test", store.ResponseCounted)
	if err := in.RecordArrival(ctx, &store.Arrival{ResponseID: first.ID, UnitCode: "STP", At: t0}, "PAR2025", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := in.FindArrivals(ctx, "PAR2025", "STP", t0.Add(-time.Hour))
	if err != nil || len(got) != 1 || got[0].ResponseID != first.ID || got[0].Answers["C1"] != "8" || !got[0].At.Equal(t0) {
		t.Fatalf("arrivals %+v, %v", got, err)
	}
	// Three hours later the first arrival is past the window: forgotten.
	if err := in.RecordArrival(ctx, &store.Arrival{ResponseID: second.ID, UnitCode: "STP", At: t0.Add(3 * time.Hour)}, "PAR2025", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if rows := queryStrings(t, db, `SELECT response_id FROM integrity_arrivals`); len(rows) != 1 {
		t.Errorf("arrivals kept: %v, want only the second", rows)
	}
	base, err := in.FindAnswerBase(ctx, "PAR2025")
	if err != nil || len(base) != 2 {
		t.Fatalf("answer base %+v, %v", base, err)
	}
}
