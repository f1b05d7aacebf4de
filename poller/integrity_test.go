package poller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// flagsOf returns the campaign's flags by member mailbox and kind, through
// the stored responses.
func (e *env) flagsOf(t *testing.T) map[string]map[store.IntegrityKind]string {
	t.Helper()
	ctx := context.Background()
	flags, err := e.inbound.FindFlags(ctx, "PAR2022")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[store.IntegrityKind]string{}
	for _, f := range flags {
		_, respondent, err := e.inbound.ResponseMember(ctx, f.ResponseID)
		if err != nil {
			t.Fatal(err)
		}
		mb := ""
		for to, m := range e.sent {
			if m.RespondentID == respondent {
				mb = to
			}
		}
		if out[mb] == nil {
			out[mb] = map[store.IntegrityKind]string{}
		}
		out[mb][f.Kind] = f.Reason
	}
	return out
}

// responseOf is the member's newest response.
func (e *env) responseOf(t *testing.T, mailbox string) *store.Response {
	t.Helper()
	rs, err := e.inbound.FindResponses(context.Background(), "PAR2022", e.sent[mailbox].RespondentID)
	if err != nil || len(rs) == 0 {
		t.Fatalf("%s: responses %v, %v", mailbox, rs, err)
	}
	return rs[0]
}

// waiting checks that the member's answer waits for review with the
// reason, and is not counted.
func (e *env) waiting(t *testing.T, mailbox string, reason ...string) {
	t.Helper()
	r := e.responseOf(t, mailbox)
	if r.Status != store.ResponseNeedsReview {
		t.Errorf("%s: response %s, want needs_review (not counted)", mailbox, r.Status)
	}
	// The details (mailboxes, times) are in the review note of the message
	// that brought the answer, with the sender; the response itself names
	// no mailbox, so that a copy of the database cannot tie answers to one.
	if strings.Contains(r.Reason, "@") {
		t.Errorf("%s: the response's reason %q names a mailbox", mailbox, r.Reason)
	}
	msgs, _, err := e.inbound.FindInbound(context.Background(), store.InboundFilter{CampaignCode: "PAR2022", ReviewOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	note := r.Reason + "\n" // a cluster's reason names no one: the response keeps it
	for _, m := range msgs {
		if m.RespondentID == e.sent[mailbox].RespondentID {
			note += m.Review + "\n"
		}
	}
	for _, s := range reason {
		if !strings.Contains(note, s) {
			t.Errorf("%s: review note %q lacks %q", mailbox, note, s)
		}
	}
	if got := e.status(t, mailbox); got != store.StatusAnsweredNeedsReview {
		t.Errorf("%s: member %s, want answered_needs_review", mailbox, got)
	}
	queue, err := e.inbound.FindReviewQueue(context.Background(), "PAR2022")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queue {
		if q.ID == r.ID {
			return
		}
	}
	t.Errorf("%s: response %d is not in the review queue", mailbox, r.ID)
}

func TestPoll_MailboxSignsGoToReview(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	next := func() { e.clock.Add(10 * time.Minute) }
	// cb001 answers from their own mailbox: counted, nothing raised.
	e.append(e.reply(1, "", "C1: 8\nC2: A"))
	next()
	// A secretary's mailbox answers for cb005, then for cb006.
	e.append(e.reply(5, "thuky@stp.binhson.gov.test", "C1: 9\nC2: B"))
	next()
	e.append(e.reply(6, "thuky@stp.binhson.gov.test", "C1: 9\nC2: B"))
	next()
	// The head of the unit answers for cb004.
	e.append(e.reply(4, "binh.tv@stp.binhson.gov.test", "C1: 10\nC2: A"))
	next()
	// cb002 forwarded the invitation to a colleague and sends back what
	// came back, from their own mailbox.
	e.append(e.reply(2, "", "C1: 6\nC2: B\n\n---------- Forwarded message ---------\n"+
		"From: Nguyễn Văn Số2 <cb002@stp.binhson.gov.test>\nDate: Mon, Feb 20, 2023 at 8:30 AM\n"+
		"Subject: Fwd: "+e.subject(cb(2))+"\nTo: Trần Thị Em <em.tt@stp.binhson.gov.test>\n"))

	st, err := e.poller(poller.FileMove).Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stored != 5 || st.Responses != 5 {
		t.Errorf("stats %+v", st)
	}
	if r := e.responseOf(t, cb(1)); r.Status != store.ResponseCounted || e.status(t, cb(1)) != store.StatusAnswered {
		t.Errorf("cb001's own answer: %s, member %s", r.Status, e.status(t, cb(1)))
	}
	e.waiting(t, cb(5), "thuky@stp.binhson.gov.test")
	e.waiting(t, cb(6), "thuky@stp.binhson.gov.test", "đã trả lời cho 1 thành viên khác")
	e.waiting(t, cb(4), "binh.tv@stp.binhson.gov.test", "thủ trưởng đơn vị STP")
	e.waiting(t, cb(2), "chuyển tiếp tới em.tt@stp.binhson.gov.test")

	flags := e.flagsOf(t)
	want := map[string][]store.IntegrityKind{
		cb(5): {store.FlagOtherMailbox},
		cb(6): {store.FlagOtherMailbox, store.FlagSharedMailbox},
		cb(4): {store.FlagOtherMailbox, store.FlagSharedMailbox},
		cb(2): {store.FlagForwardedInvitation},
	}
	for mb, kinds := range want {
		if len(flags[mb]) != len(kinds) {
			t.Errorf("%s: flags %v, want %v", mb, flags[mb], kinds)
		}
		for _, k := range kinds {
			if flags[mb][k] == "" {
				t.Errorf("%s: no %s flag (%v)", mb, k, flags[mb])
			}
		}
	}
	if len(flags[cb(1)]) != 0 {
		t.Errorf("cb001 answered from their own mailbox and was flagged: %v", flags[cb(1)])
	}
	e.waiting(t, cb(5), "lúc 09:10 20/02/2023") // the note says when; the flag does not
	for mb, kinds := range flags {
		for k, r := range kinds {
			if strings.Contains(r, "@") || strings.Contains(r, "09:") {
				t.Errorf("%s: the %s flag keeps %q: a mailbox or a time ties the answers to the message", mb, k, r)
			}
		}
	}
	// No receipt goes to a reply under review.
	receipts, _, err := e.outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022", Kind: store.KindReceipt})
	if err != nil || len(receipts) != 1 || receipts[0].To != cb(1) {
		t.Errorf("receipts %+v, %v: only cb001's own answer earns one", receipts, err)
	}
}

// clusterEnv is newEnv with 25 members of another unit who already
// answered, each their own way: the campaign's answer distribution.
func clusterEnv(t *testing.T) *env {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	if _, err := sqlite.NewUnitService(e.db).ImportUnits(ctx, []*store.Unit{{Code: "STC", Name: "Sở Tài chính", ParentCode: "UBND"}},
		store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var rs []*store.Respondent
	for i := range 25 {
		rs = append(rs, &store.Respondent{FullName: fmt.Sprintf("Lê Thị Tài%d", i+1), UnitCode: "STC", Group: "LDS",
			Mailbox: fmt.Sprintf("tc%03d@stc.binhson.gov.test", i+1), Active: true})
	}
	if _, err := sqlite.NewRespondentService(e.db).ImportRespondents(ctx, rs, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.campaigns.AddMembers(ctx, "PAR2022", store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	members, err := sqlite.NewRespondentService(e.db).FindRespondents(ctx, store.RespondentFilter{Subtree: "STC"})
	if err != nil || len(members) != 25 {
		t.Fatalf("STC members: %d, %v", len(members), err)
	}
	for i, m := range members {
		uid := uint32(1000 + i)
		r := &store.Response{RespondentID: m.ID, From: m.Mailbox, Complete: true, Status: store.ResponseCounted,
			Answers: []store.ResponseAnswer{{Code: "C1", Value: fmt.Sprint(5 + i%6)}, {Code: "C2", Value: []string{"A", "A", "B"}[i%3]},
				{Code: "C3", Value: fmt.Sprintf("Ý kiến số %d", i)}}}
		msg := &store.InboundMessage{Account: "seed", Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: fmt.Sprintf("seed%d@x.test", i),
			ContentHash: fmt.Sprint("seed", i), Kind: store.InboundReply, From: m.Mailbox, CampaignCode: "PAR2022", RespondentID: m.ID, Response: r}
		if _, err := e.inbound.RecordInbound(ctx, msg, &store.Checkpoint{Account: "seed", Mailbox: "INBOX", UIDValidity: 1, LastUID: uid}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestPoll_AnswerClusterGoesToReview(t *testing.T) {
	e := clusterEnv(t)
	ctx := context.Background()
	same := "C1: 3\nC2: B\nC3: Không có ý kiến"
	// Two honest answers, then three identical forms within 25 minutes.
	e.append(e.reply(4, "", "C1: 8\nC2: A\nC3: Cần rút ngắn thời gian giải quyết."))
	e.clock.Add(5 * time.Minute)
	e.append(e.reply(5, "", "C1: 9\nC2: A"))
	for _, n := range []int{1, 2, 3} {
		e.clock.Add(10 * time.Minute)
		e.append(e.reply(n, "", same))
	}
	p := e.poller(poller.FileMove)
	// Three questions are too few for "all but one alike" to be rare:
	// identical forms only.
	p.Integrity = store.ClusterPolicy{Window: 2 * time.Hour, Min: 3, MaxDistance: 0, MaxProbability: 0.001}
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3} {
		e.waiting(t, cb(n), "3 trong 5 phiếu trả lời của đơn vị STP", "giống hệt nhau", "09:15–09:35 20/02/2023", "ngưỡng 0,001")
	}
	for _, n := range []int{4, 5} {
		if r := e.responseOf(t, cb(n)); r.Status != store.ResponseCounted {
			t.Errorf("cb%03d's own answer: %s, want counted", n, r.Status)
		}
	}
	flags := e.flagsOf(t)
	if len(flags) != 3 || flags[cb(1)][store.FlagAnswerCluster] == "" || flags[cb(3)][store.FlagAnswerCluster] == "" {
		t.Fatalf("flags %v", flags)
	}
	t.Logf("reason: %s", flags[cb(3)][store.FlagAnswerCluster])

	// The same form three hours later is outside the window: nothing like
	// it arrived in the two hours before.
	e.clock.Add(3 * time.Hour)
	e.append(e.reply(6, "", same))
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.responseOf(t, cb(6)); r.Status != store.ResponseCounted {
		t.Errorf("cb006 alone in its window: %s %q, want counted", r.Status, r.Reason)
	}
	rows, err := e.db.BeginTx(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Rollback()
	var kept int
	if err := rows.QueryRowContext(ctx, `SELECT count(*) FROM integrity_arrivals`).Scan(&kept); err != nil || kept != 1 {
		t.Errorf("arrival times kept: %d (%v), want only the last window's", kept, err)
	}
}
