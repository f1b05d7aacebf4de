package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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

// replies records replies through RecordInbound, each its own message.
type replies struct {
	tb    testing.TB
	in    *sqlite.InboundService
	clock *Clock
	uid   uint32
}

// record stores a reply of respondent from mailbox at the clock's time,
// with the status the poller would have decided, and returns its response.
func (rp *replies) record(respondent int64, from string, status store.ResponseStatus) *store.Response {
	rp.tb.Helper()
	rp.uid++
	r := &store.Response{RespondentID: respondent, From: from, Complete: status != store.ResponsePartial, Status: status,
		Answers: []store.ResponseAnswer{{Code: "C1", Value: "8"}}}
	m := &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: rp.uid, MessageID: fmt.Sprintf("r%d@x.test", rp.uid),
		ContentHash: fmt.Sprintf("hash%d", rp.uid), Kind: store.InboundReply, From: from, CampaignCode: "PAR2025",
		RespondentID: respondent, Response: r}
	if _, err := rp.in.RecordInbound(context.Background(), m, &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1, LastUID: rp.uid}); err != nil {
		rp.tb.Fatal(err)
	}
	return r
}

// recordAt moves the clock to at, then records.
func (rp *replies) recordAt(at time.Time, respondent int64, from string, status store.ResponseStatus) *store.Response {
	rp.tb.Helper()
	rp.clock.Set(at)
	return rp.record(respondent, from, status)
}

func auditEntries(tb testing.TB, db *sqlite.DB, action store.AuditAction) []*store.AuditEntry {
	tb.Helper()
	es, err := sqlite.NewAuditService(db).FindAudit(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

func TestInboundService_RejectResponse(t *testing.T) {
	const stranger = "someone@gmail.test"
	for _, tc := range []struct {
		name string
		// setup records the member's replies and returns the one to reject.
		setup      func(rp *replies, an int64) *store.Response
		before     store.MemberStatus // set by hand before the replies, "" to leave
		wantMember store.MemberStatus
	}{
		{"NeedsReviewAlone", func(rp *replies, an int64) *store.Response {
			return rp.record(an, stranger, store.ResponseNeedsReview)
		}, store.StatusInvited, store.StatusInvited},
		{"NeedsReviewAfterCounted", func(rp *replies, an int64) *store.Response {
			rp.record(an, "an.nv@stp.gov.test", store.ResponseCounted)
			return rp.record(an, stranger, store.ResponseNeedsReview)
		}, store.StatusInvited, store.StatusAnswered},
		{"LateAfterCounted", func(rp *replies, an int64) *store.Response {
			rp.record(an, "an.nv@stp.gov.test", store.ResponseCounted)
			return rp.record(an, "an.nv@stp.gov.test", store.ResponseLate)
		}, store.StatusInvited, store.StatusAnswered},
		{"LateAlone", func(rp *replies, an int64) *store.Response {
			return rp.record(an, "an.nv@stp.gov.test", store.ResponseLate)
		}, store.StatusInvited, store.StatusInvited},
		{"AnotherStillWaits", func(rp *replies, an int64) *store.Response {
			first := rp.record(an, stranger, store.ResponseNeedsReview)
			rp.record(an, "other@gmail.test", store.ResponseNeedsReview)
			return first
		}, store.StatusInvited, store.StatusAnsweredNeedsReview},
		{"AddressFailedLate", func(rp *replies, an int64) *store.Response {
			return rp.record(an, "an.nv@stp.gov.test", store.ResponseLate)
		}, store.StatusAddressFailed, store.StatusAddressFailed},
		{"ExcludedStaysExcluded", func(rp *replies, an int64) *store.Response {
			return rp.record(an, stranger, store.ResponseNeedsReview)
		}, store.StatusExcluded, store.StatusExcluded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := store.NewContextWithActor(context.Background(), "cli:thu")
			db, clock, outbox := openOutbox(t)
			in := sqlite.NewInboundService(db, outbox)
			an := respondentID(t, db, "an.nv@stp.gov.test")
			if err := sqlite.NewCampaignService(db).SetMemberStatus(ctx, "PAR2025", an, tc.before); err != nil {
				t.Fatal(err)
			}
			target := tc.setup(&replies{tb: t, in: in, clock: clock}, an)
			memberBefore := memberStatus(t, db, an)
			r, err := in.RejectResponse(ctx, target.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != store.ResponseRejected || r.ID != target.ID {
				t.Errorf("returned %+v", r)
			}
			rs, _ := in.FindResponses(ctx, "PAR2025", an)
			for _, got := range rs {
				if got.ID == target.ID && (got.Status != store.ResponseRejected || !strings.HasSuffix(got.Reason, "(người điều hành không tính)")) {
					t.Errorf("stored: %s %q", got.Status, got.Reason)
				}
			}
			if got := memberStatus(t, db, an); got != tc.wantMember {
				t.Errorf("member %s, want %s", got, tc.wantMember)
			}
			es := auditEntries(t, db, store.AuditReviewReject)
			if len(es) != 1 {
				t.Fatalf("%d review_reject entries, want 1", len(es))
			}
			e := es[0]
			// The entry names the member and which of their responses, never
			// the response id: the audit log must not link people to answers.
			wantDetail := fmt.Sprintf("respondent=%d mailbox=an.nv@stp.gov.test seq=%d response=%s member=%s→%s", an, target.Seq, target.Status, memberBefore, tc.wantMember)
			if e.Actor != "cli:thu" || e.Campaign != "PAR2025" || e.Subject != fmt.Sprintf("respondent %d", an) ||
				e.Detail != wantDetail || !e.At.Equal(clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("audit entry %+v, want detail %q", e, wantDetail)
			}
			if _, err := in.RejectResponse(ctx, target.ID); store.ErrorCode(err) != store.EINVALID {
				t.Errorf("rejecting twice: %v", err)
			}
		})
	}
}

func TestInboundService_RejectRefused(t *testing.T) {
	ctx := context.Background()
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	an := respondentID(t, db, "an.nv@stp.gov.test")
	rp := &replies{tb: t, in: in, clock: clock}
	partial := rp.record(an, "an.nv@stp.gov.test", store.ResponsePartial)
	counted := rp.record(an, "an.nv@stp.gov.test", store.ResponseCounted) // supersedes the partial one
	for _, tc := range []struct {
		name string
		id   int64
		code string
	}{
		{"Counted", counted.ID, store.EINVALID},
		{"Superseded", partial.ID, store.EINVALID},
		{"Missing", 9999, store.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, db)
			_, err := in.RejectResponse(ctx, tc.id)
			mustCode(t, err, tc.code)
			mustEqualDump(t, dump(t, db), before)
		})
	}
}

// The decision and its audit entry commit together: when the entry cannot
// be written, the response and the member are left as they were.
func TestInboundService_DecisionAndAuditOneTransaction(t *testing.T) {
	ctx := context.Background()
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	an := respondentID(t, db, "an.nv@stp.gov.test")
	r := (&replies{tb: t, in: in, clock: clock}).record(an, "someone@gmail.test", store.ResponseNeedsReview)
	tx, err := db.BeginTx(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	for name, decide := range map[string]func(context.Context, int64) (*store.Response, error){
		"Accept": in.AcceptResponse, "Reject": in.RejectResponse,
	} {
		if _, err := decide(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s without an audit entry: %v", name, err)
		}
		mustEqualDump(t, dump(t, db), before)
	}
}

func TestInboundService_AcceptAudited(t *testing.T) {
	ctx := store.NewContextWithActor(context.Background(), "Nguyễn Thị Ánh")
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	an := respondentID(t, db, "an.nv@stp.gov.test")
	r := (&replies{tb: t, in: in, clock: clock}).record(an, "someone@gmail.test", store.ResponseNeedsReview)
	got, err := in.AcceptResponse(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.ResponseCounted || !strings.HasSuffix(got.Reason, "(người điều hành đã chấp nhận)") {
		t.Errorf("accepted: %s %q", got.Status, got.Reason)
	}
	es := auditEntries(t, db, store.AuditReviewAccept)
	want := fmt.Sprintf("respondent=%d mailbox=an.nv@stp.gov.test seq=1 response=needs_review member=answered_needs_review→answered", an)
	if len(es) != 1 || es[0].Actor != "Nguyễn Thị Ánh" || es[0].Subject != fmt.Sprintf("respondent %d", an) || es[0].Detail != want {
		t.Fatalf("audit: %+v, want detail %q", es, want)
	}
	if _, err := in.AcceptResponse(ctx, r.ID); store.ErrorCode(err) != store.EINVALID {
		t.Errorf("accepting twice: %v", err)
	}
	if es := auditEntries(t, db, store.AuditReviewAccept); len(es) != 1 {
		t.Errorf("a refused accept was audited: %d entries", len(es))
	}
}

func TestInboundService_FindReviewQueue(t *testing.T) {
	ctx := context.Background()
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	mustCreateCampaign(t, db, "SIPAS2025", func(c *store.Campaign) { c.Groups = []string{"CV"} })
	if _, err := sqlite.NewCampaignService(db).AddMembers(ctx, "SIPAS2025", store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	an := respondentID(t, db, "an.nv@stp.gov.test")
	bich := respondentID(t, db, "bich.tt@stp.gov.test")
	rp := &replies{tb: t, in: in, clock: clock}
	rp.record(an, "an.nv@stp.gov.test", store.ResponseCounted)
	late := rp.record(an, "an.nv@stp.gov.test", store.ResponseLate)
	clock.Add(24 * time.Hour) // only the day is stored: oldest first is by day
	review := rp.record(bich, "x@gmail.test", store.ResponseNeedsReview)
	rejected := rp.record(bich, "y@gmail.test", store.ResponseNeedsReview)
	rp.record(bich, "bich.tt@stp.gov.test", store.ResponsePartial)
	if _, err := in.RejectResponse(ctx, rejected.ID); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []*store.Response) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		campaign string
		want     []int64
	}{
		{"PAR2025", []int64{late.ID, review.ID}},
		{"", []int64{late.ID, review.ID}},
		{"SIPAS2025", nil},
	} {
		got, err := in.FindReviewQueue(ctx, tc.campaign)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("queue of %q: %v, want %v (oldest first)", tc.campaign, ids(got), tc.want)
		}
	}
}
