package poller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// seedMessages are realistic messages of every kind the poller meets, for
// the fuzzers to mutate. Addresses and references are filled in by fill.
func seedMessages(ref, messageID string) [][]byte {
	to := "cb001@stp.binhson.gov.test"
	subject := "Phiếu khảo sát Chỉ số CCHC năm 2022 [KS-" + ref + "]"
	reply, _ := imaptest.Reply{From: to, To: survey, Subject: subject, InReplyTo: messageID, Text: "C1: 8\nC2: A",
		Quoted: "C1 [1-10]:\nC2 [A/B]:\n"}.Bytes()
	html, _ := imaptest.Reply{From: to, To: survey, Subject: subject, Text: "C1: 9", HTMLOnly: true}.Bytes()
	auto, _ := imaptest.AutoReply(to, survey, subject, messageID, "Tôi đang đi công tác đến hết ngày 05/03/2023.")
	human, _ := imaptest.Human("vanthu@ubnd.binhson.gov.test", survey, "Giấy mời họp", "Kính mời đồng chí dự họp.")
	dsn := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, Recipient: to, Status: "5.1.1", EnvelopeID: ref,
		Diagnostic: "smtp; 550 5.1.1 <" + to + ">: Recipient address rejected: User unknown",
		Original:   imaptest.OriginalHeaders("snv@binhson.gov.test", to, subject, messageID, ref)}.Bytes()
	delay := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: "khaosat.snv+" + strings.ToLower(ref) + "@binhson.gov.test", Recipient: to,
		Status: "4.4.1", Action: "delayed", Diagnostic: "smtp; 421 4.4.1 connection timed out"}.Bytes()
	return [][]byte{reply, html, auto, human, dsn, delay, nestedForward(3), manyRecipientsDSN(3),
		textReply("text/plain; charset=windows-1258", append([]byte("C1: 9\r\nC3: "), win1258...))}
}

// FuzzAnalyze: the poller's whole reading of a message, as `phieu inspect`
// does it: never a panic, an error only with no analysis, and everything it
// hands the store valid UTF-8.
func FuzzAnalyze(f *testing.F) {
	for _, m := range seedMessages("0123456789", "<inv.1@binhson.gov.test>") {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := poller.Analyze(raw)
		if err != nil {
			if a != nil {
				t.Fatal("an analysis with an error")
			}
			return
		}
		if a.Kind == "" || a.Size != len(raw) || len(a.Hash) != 64 {
			t.Fatalf("kind %q, size %d of %d, hash %q", a.Kind, a.Size, len(raw), a.Hash)
		}
		texts := map[string]string{"text": a.Text, "visible": a.Visible, "quoted": a.Quoted, "subject": a.Subject,
			"from name": a.FromName, "original subject": a.OriginalSubject, "auto-reply reason": a.AutoReplyReason}
		for i, f := range a.Failures {
			texts[fmt.Sprintf("failure %d diagnostic", i)] = f.Diagnostic
		}
		for what, s := range texts {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8: %q", what, s)
			}
		}
		if a.Text == "" && (a.Visible != "" || a.Quoted != "") {
			t.Fatalf("visible %q and quoted %q of no text", a.Visible, a.Quoted)
		}
	})
}

// matchStore is a store holding one campaign with one member whose
// invitation was queued, for matching against.
func matchStore(tb testing.TB) (*sqlite.InboundService, *store.OutboxMessage) {
	tb.Helper()
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "phieu.db"))
	db.Now = func() time.Time { return time.Date(2023, 2, 20, 9, 0, 0, 0, ict) }
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{{Code: "STP", Name: "Sở Tư pháp"}}, store.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	r := &store.Respondent{FullName: "Nguyễn Văn Số1", Salutation: store.SalutationOng, UnitCode: "STP", Group: "LDS",
		Mailbox: "cb001@stp.binhson.gov.test", Active: true}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, []*store.Respondent{r}, store.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	campaigns := sqlite.NewCampaignService(db)
	c := &store.Campaign{Code: "PAR2022", Title: "Khảo sát", SenderName: "Sở Nội vụ", SenderAddress: "snv@binhson.gov.test", ReplyTo: survey,
		OpensAt: time.Date(2023, 2, 8, 8, 0, 0, 0, ict), Deadline: time.Date(2023, 3, 3, 23, 59, 59, 0, ict), Groups: []string{"LDS"},
		Questionnaire: store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10}}},
		Reminders:     store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar()}
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		tb.Fatal(err)
	}
	if _, err := campaigns.AddMembers(ctx, "PAR2022", store.MemberSelector{}); err != nil {
		tb.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, "PAR2022", store.CampaignActive); err != nil {
		tb.Fatal(err)
	}
	refs, _ := store.NewRefs([]byte("a test secret that is long enough"))
	outbox := sqlite.NewOutboxService(db, refs)
	if _, err := outbox.EnqueueInvitations(ctx, "PAR2022", 0); err != nil {
		tb.Fatal(err)
	}
	msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022"})
	if err != nil || len(msgs) != 1 {
		tb.Fatalf("outbox: %d, %v", len(msgs), err)
	}
	return sqlite.NewInboundService(db, outbox), msgs[0]
}

// FuzzMatch: references in subjects, plus addresses, envelope ids and
// Message-IDs, read from any message and looked up in a real store. A
// match must name the one campaign member there is, with the outbox
// message when it was found by reference or Message-ID.
func FuzzMatch(f *testing.F) {
	inbound, sent := matchStore(f)
	m := poller.Matcher{Lookup: inbound}
	seeds := seedMessages(sent.Ref, sent.MessageID)
	for _, raw := range seeds {
		f.Add(raw)
	}
	// The harness must be able to match at all: the seed reply does.
	if a, err := poller.Analyze(seeds[0]); err != nil {
		f.Fatal(err)
	} else if mt, reason, err := m.Match(context.Background(), a); err != nil || mt.Outbox == nil {
		f.Fatalf("the seed reply does not match: %+v, %s, %v", mt, reason, err)
	}
	f.Add([]byte("Subject: Re: [ks-" + strings.ToLower(sent.Ref) + "]\r\nFrom: x@y.test\r\n\r\nC1: 1\r\n"))
	f.Add([]byte("Subject: KS-" + sent.Ref + "X\r\nTo: khaosat.snv+" + sent.Ref + "@binhson.gov.test\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := poller.Analyze(raw)
		if err != nil {
			return
		}
		mt, reason, err := m.Match(context.Background(), a)
		if err != nil {
			t.Fatalf("match: %v", err)
		}
		if mt.Method == "" {
			if reason == "" {
				t.Fatal("no match and no reason")
			}
			return
		}
		if mt.CampaignCode != "PAR2022" || mt.RespondentID != sent.RespondentID {
			t.Fatalf("matched %+v, not the one member", mt)
		}
		if mt.Method != store.MatchAddress && (mt.Outbox == nil || mt.Outbox.ID != sent.ID) {
			t.Fatalf("matched by %s without the sent message: %+v", mt.Method, mt.Outbox)
		}
	})
}
