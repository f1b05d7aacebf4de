package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

func respondentID(tb testing.TB, db *sqlite.DB, mailbox string) int64 {
	tb.Helper()
	rs, err := sqlite.NewRespondentService(db).FindRespondents(context.Background(), store.RespondentFilter{Mailbox: mailbox})
	if err != nil || len(rs) != 1 {
		tb.Fatalf("respondent %s: %v", mailbox, err)
	}
	return rs[0].ID
}

func TestInboundService_CheckpointNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	db, _, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	cp, err := in.FindCheckpoint(ctx, "khaosat@127.0.0.1:1143", "INBOX")
	if err != nil || cp.LastUID != 0 || cp.UIDValidity != 0 {
		t.Fatalf("fresh checkpoint: %+v, %v", cp, err)
	}
	for _, step := range []struct{ validity, uid, want uint32 }{{7, 10, 10}, {7, 4, 10}, {7, 12, 12}, {8, 3, 3}} {
		if err := in.SaveCheckpoint(ctx, &store.Checkpoint{Account: cp.Account, Mailbox: cp.Mailbox, UIDValidity: step.validity, LastUID: step.uid}); err != nil {
			t.Fatal(err)
		}
		got, _ := in.FindCheckpoint(ctx, cp.Account, cp.Mailbox)
		if got.UIDValidity != step.validity || got.LastUID != step.want {
			t.Errorf("after saving %d/%d: %d/%d, want %d/%d", step.validity, step.uid, got.UIDValidity, got.LastUID, step.validity, step.want)
		}
	}
}

func TestInboundService_RecordDedupResponsesAndAccept(t *testing.T) {
	ctx := context.Background()
	db, _, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	an := respondentID(t, db, "an.nv@stp.gov.test")
	cp := &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1}
	reply := func(uid uint32, hash string, status store.ResponseStatus, value string) *store.InboundMessage {
		return &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: "m" + hash + "@x.test",
			ContentHash: hash, Kind: store.InboundReply, From: "an.nv@stp.gov.test", CampaignCode: "PAR2025", RespondentID: an,
			Folder: "phieu/Replies",
			Response: &store.Response{RespondentID: an, From: "an.nv@stp.gov.test", Complete: status != store.ResponsePartial, Status: status,
				Answers: []store.ResponseAnswer{{Code: "C1", Value: value}}},
			Enqueue: []*store.OutboxMessage{{CampaignCode: "PAR2025", Kind: store.KindReceipt, RespondentID: an, NotBefore: t0}}}
	}
	record := func(m *store.InboundMessage) bool {
		t.Helper()
		cp.LastUID = m.UID
		dup, err := in.RecordInbound(ctx, m, cp)
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	if record(reply(1, "h1", store.ResponseCounted, "8")) {
		t.Fatal("a new message reported as duplicate")
	}
	if memberStatus(t, db, an) != store.StatusAnswered {
		t.Errorf("status %s", memberStatus(t, db, an))
	}
	// The same message again (a crash before the checkpoint, a rescan):
	// nothing is counted twice.
	if !record(reply(5, "h1", store.ResponseCounted, "8")) {
		t.Fatal("the same message was not recognised")
	}
	if rs, _ := in.FindResponses(ctx, "PAR2025", an); len(rs) != 1 {
		t.Fatalf("%d responses after a duplicate", len(rs))
	}
	pending, _ := in.PendingFilings(ctx, "a", "INBOX", 1)
	if len(pending) != 2 || pending[0].UID != 1 || pending[1].UID != 5 || pending[1].Folder != "phieu/Replies" {
		t.Errorf("both copies must be filed: %+v", pending)
	}
	// A late reply waits; the counted one stays.
	record(reply(6, "h2", store.ResponseLate, "3"))
	rs, _ := in.FindResponses(ctx, "PAR2025", an)
	if len(rs) != 2 || rs[0].Status != store.ResponseLate || rs[1].Status != store.ResponseCounted || rs[0].Seq != 2 {
		t.Fatalf("responses: %+v %+v", rs[0], rs[1])
	}
	if _, err := in.AcceptResponse(ctx, rs[1].ID); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("accepting a counted response: %v", err)
	}
	if _, err := in.AcceptResponse(ctx, rs[0].ID); err != nil {
		t.Fatal(err)
	}
	rs, _ = in.FindResponses(ctx, "PAR2025", an)
	if rs[0].Status != store.ResponseCounted || rs[1].Status != store.ResponseSuperseded {
		t.Errorf("after accepting: %s, %s", rs[0].Status, rs[1].Status)
	}
	receipts, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindReceipt})
	if len(receipts) != 2 || receipts[0].Round != 2 || receipts[1].Round != 1 {
		t.Errorf("one receipt per response: %+v", receipts)
	}
	cpNow, _ := in.FindCheckpoint(ctx, "a", "INBOX")
	if cpNow.LastUID != 6 {
		t.Errorf("checkpoint %d, want 6", cpNow.LastUID)
	}
}

func TestInboundService_BouncesAndMemberships(t *testing.T) {
	ctx := context.Background()
	db, _, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	bich := respondentID(t, db, "bich.tt@stp.gov.test")
	ms, err := in.FindMemberships(ctx, "BICH@gmail.test")
	if err != nil || len(ms) != 1 || ms[0].RespondentID != bich || !ms[0].Alias || ms[0].CampaignCode != "PAR2025" {
		t.Fatalf("memberships by alias: %+v, %v", ms, err)
	}
	if ms, _ := in.FindMemberships(ctx, "nobody@x.test"); len(ms) != 0 {
		t.Errorf("a stranger has memberships: %+v", ms)
	}
	for i, kind := range []store.InboundKind{store.InboundDelay, store.InboundBounce} {
		m := &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), ContentHash: fmt.Sprint(kind),
			Kind: kind, CampaignCode: "PAR2025", RespondentID: bich, Folder: "phieu/Bounces",
			Failures: []*store.InboundFailure{{Recipient: "bich.tt@stp.gov.test", RespondentID: bich, Status: "5.1.1", Code: 550,
				Class: store.ClassUserUnknown, Hard: kind == store.InboundBounce, Diagnostic: "User unknown"}}}
		if _, err := in.RecordInbound(ctx, m, &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1, LastUID: m.UID}); err != nil {
			t.Fatal(err)
		}
		want := store.StatusNotInvited
		if kind == store.InboundBounce {
			want = store.StatusAddressFailed
		}
		if got := memberStatus(t, db, bich); got != want {
			t.Errorf("after a %s: status %s, want %s", kind, got, want)
		}
	}
	fs, _ := outbox.FindDeliveryFailures(ctx, "PAR2025", t0.AddDate(-1, 0, 0))
	if len(fs) != 1 || fs[0].Stage != store.StageDSN || fs[0].Class != store.ClassUserUnknown {
		t.Errorf("only the bounce is a delivery failure: %+v", fs)
	}
	msgs, total, _ := in.FindInbound(ctx, store.InboundFilter{CampaignCode: "PAR2025"})
	if total != 2 || len(msgs[0].Failures) != 1 || msgs[0].Failures[0].Class != store.ClassUserUnknown {
		t.Errorf("inbound: %d, %+v", total, msgs)
	}
	pending, _ := in.PendingFilings(ctx, "a", "INBOX", 1)
	var uids []uint32
	for _, p := range pending {
		uids = append(uids, p.UID)
	}
	if err := in.MarkFiled(ctx, "a", "INBOX", 1, uids); err != nil {
		t.Fatal(err)
	}
	if pending, _ := in.PendingFilings(ctx, "a", "INBOX", 1); len(pending) != 0 || len(uids) != 2 {
		t.Errorf("pending after marking: %+v (%d marked)", pending, len(uids))
	}
}
