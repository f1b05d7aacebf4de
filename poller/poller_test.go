package poller_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
	"github.com/phieu/phieu/store/endpoint/testcert"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
)

var ict = time.FixedZone("ICT", 7*3600)

const survey = "khaosat.snv@binhson.gov.test"

// env is a campaign with members whose invitations were sent, and a survey
// mailbox on an in-memory IMAP server.
type env struct {
	t         *testing.T
	db        *sqlite.DB
	clock     *storetest.Clock
	outbox    *sqlite.OutboxService
	inbound   *sqlite.InboundService
	campaigns *sqlite.CampaignService
	srv       *imaptest.Server
	sent      map[string]*store.OutboxMessage // by mailbox
}

func newEnv(t *testing.T, opts imaptest.Options) *env {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2023, 2, 20, 9, 0, 0, 0, ict))
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "phieu.db"))
	db.Now = clock.Now
	db.LinkKey = []byte("poller test link key, never real") // ties responses to members
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	units := []*store.Unit{
		{Code: "UBND", Name: "Ủy ban nhân dân tỉnh Bình Sơn"},
		{Code: "STP", Name: "Sở Tư pháp", ParentCode: "UBND", Head: store.Head{Name: "Trần Văn Bình", Title: "Giám đốc", Mailbox: "binh.tv@stp.binhson.gov.test"}},
	}
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, units, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var rs []*store.Respondent
	for i := range 6 {
		r := &store.Respondent{
			FullName: fmt.Sprintf("Nguyễn Văn Số%d", i+1), Salutation: store.SalutationOng, Title: "Phó Giám đốc",
			UnitCode: "STP", Group: "LDS", Mailbox: fmt.Sprintf("cb%03d@stp.binhson.gov.test", i+1), Active: true,
		}
		if i == 0 {
			r.Aliases = []string{"so1.nv@stp.binhson.gov.test"}
		}
		rs = append(rs, r)
	}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &store.Campaign{
		Code: "PAR2022", Title: "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2022",
		SenderName: "Sở Nội vụ tỉnh Bình Sơn", SenderAddress: "snv@binhson.gov.test", ReplyTo: survey,
		OpensAt: time.Date(2023, 2, 8, 8, 0, 0, 0, ict), Deadline: time.Date(2023, 3, 3, 23, 59, 59, 0, ict),
		Groups: []string{"LDS"},
		Questionnaire: store.Questionnaire{Title: "Phiếu khảo sát", Questions: []store.Question{
			{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy", Type: store.AnswerChoice, Required: true,
				Choices: []store.Choice{{Letter: "A", Text: "Hợp lý"}, {Letter: "B", Text: "Chưa hợp lý"}}},
			{Code: "C3", Text: "Ý kiến khác", Type: store.AnswerText},
		}},
		Reminders: store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar(),
	}
	campaigns := sqlite.NewCampaignService(db)
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := campaigns.AddMembers(ctx, "PAR2022", store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, "PAR2022", store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	refs, _ := store.NewRefs([]byte("a test secret that is long enough"))
	outbox := sqlite.NewOutboxService(db, refs)
	if _, err := outbox.EnqueueInvitations(ctx, "PAR2022", 0); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, clock: clock, outbox: outbox, inbound: sqlite.NewInboundService(db, outbox), campaigns: campaigns, sent: map[string]*store.OutboxMessage{}}
	for _, m := range msgs {
		e.sent[m.To] = m
		// As if sent: the member was invited.
		if err := campaigns.SetMemberStatus(ctx, "PAR2022", m.RespondentID, store.StatusInvited); err != nil {
			t.Fatal(err)
		}
	}
	if e.srv, err = imaptest.Start(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	return e
}

type pollStore struct {
	*sqlite.InboundService
	outbox *sqlite.OutboxService
}

func (s pollStore) FindOutbox(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxMessage, int, error) {
	return s.outbox.FindOutbox(ctx, f)
}

func (e *env) poller(mode string) *poller.Poller {
	return &poller.Poller{
		Config: poller.Config{Host: e.srv.Host, Port: e.srv.Port, TLS: endpoint.TLSNone, Username: e.srv.Username,
			Password: e.srv.Password, FileMode: mode},
		Store: pollStore{e.inbound, e.outbox}, Campaigns: e.campaigns, Now: e.clock.Now,
	}
}

func (e *env) append(raw []byte, err error) {
	t := e.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AppendAt("INBOX", raw, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) status(t *testing.T, mailbox string) store.MemberStatus {
	t.Helper()
	m, err := e.campaigns.FindMember(context.Background(), "PAR2022", e.sent[mailbox].RespondentID)
	if err != nil {
		t.Fatal(err)
	}
	return m.Status
}

func (e *env) list(t *testing.T, mailbox string) []imaptest.Message {
	t.Helper()
	ms, err := e.srv.List(mailbox)
	if err != nil {
		t.Fatalf("list %s: %v", mailbox, err)
	}
	return ms
}

func cb(n int) string { return fmt.Sprintf("cb%03d@stp.binhson.gov.test", n) }

func (e *env) subject(mailbox string) string {
	return "Phiếu khảo sát Chỉ số CCHC năm 2022 [KS-" + e.sent[mailbox].Ref + "]"
}

// reply is cb's answer to its invitation, text written above the quote.
func (e *env) reply(n int, from, text string) ([]byte, error) {
	to := cb(n)
	if from == "" {
		from = to
	}
	return imaptest.Reply{From: from, To: survey, Subject: e.subject(to), InReplyTo: e.sent[to].MessageID, Text: text,
		Quoted: "Kính gửi: Ông Nguyễn Văn Số\n\nC1 [1-10]:\nC2 [A/B]:\nC3 [ý kiến]:\n"}.Bytes()
}

func (e *env) bounce(n int, status, diag string, envid bool) []byte {
	to := cb(n)
	action := "failed"
	if strings.HasPrefix(status, "4.") {
		action = "delayed"
	}
	d := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, Recipient: to, Status: status, Diagnostic: diag, Action: action,
		Original: imaptest.OriginalHeaders("snv@binhson.gov.test", to, e.subject(to), e.sent[to].MessageID, e.sent[to].Ref)}
	if envid {
		d.EnvelopeID = e.sent[to].Ref
	}
	return d.Bytes()
}

func TestPoll_ClassifiesFilesAndLeavesHumanMailAlone(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	e.append(e.reply(1, "", "Kính gửi Sở Nội vụ,\n\nC1: 8\nC2: A\nC3: Đề nghị giảm giấy tờ.\n\nTrân trọng."))
	e.append(e.bounce(2, "5.1.1", "smtp; 550 5.1.1 <"+cb(2)+">: Recipient address rejected: User unknown in virtual mailbox table", true), nil)
	e.append(imaptest.AutoReply(cb(3), survey, e.subject(cb(3)), e.sent[cb(3)].MessageID, "Tôi đang đi công tác đến hết ngày 05/03/2023."))
	e.append(imaptest.Human("vanthu@ubnd.binhson.gov.test", survey, "Giấy mời họp giao ban", "Kính mời đồng chí dự họp giao ban tuần."))
	// No envelope id: matched through the attached original's headers.
	e.append(e.bounce(4, "4.4.1", "smtp; 421 4.4.1 connection timed out", false), nil)
	// cb005's answer sent from someone else's mailbox.
	e.append(e.reply(5, "thuky@stp.binhson.gov.test", "C1: 9\nC2: B"))
	// cb001 again, from an alias, changing an answer.
	e.clock.Add(time.Hour)
	e.append(e.reply(1, "so1.nv@stp.binhson.gov.test", "Xin sửa lại:\nC1: 7"))

	st, err := e.poller(poller.FileMove).Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 7 || st.Stored != 6 || st.Ignored != 1 || st.Filed != 6 {
		t.Errorf("stats %+v", st)
	}
	inbox := e.list(t, "INBOX")
	if len(inbox) != 1 || inbox[0].Seen() || inbox[0].Has(poller.ProcessedFlag) || inbox[0].Subject != "Giấy mời họp giao ban" {
		t.Errorf("INBOX should hold only the human mail, unread and unflagged: %+v", inbox)
	}
	for folder, want := range map[string]int{"phieu/Replies": 3, "phieu/Bounces": 2, "phieu/AutoReplies": 1, "phieu/Unmatched": 0} {
		if got := len(e.list(t, folder)); got != want {
			t.Errorf("%s holds %d messages, want %d", folder, got, want)
		}
	}
	for n, want := range map[int]store.MemberStatus{1: store.StatusAnswered, 2: store.StatusAddressFailed, 3: store.StatusInvited,
		4: store.StatusInvited, 5: store.StatusAnsweredNeedsReview, 6: store.StatusInvited} {
		if got := e.status(t, cb(n)); got != want {
			t.Errorf("cb%03d: status %s, want %s", n, got, want)
		}
	}
	rs, err := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(1)].RespondentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Status != store.ResponseCounted || rs[1].Status != store.ResponseSuperseded {
		t.Fatalf("cb001 responses: %+v", rs)
	}
	if got := answerMap(rs[0]); got["C1"] != "7" || got["C2"] != "A" || !strings.Contains(got["C3"], "giảm giấy tờ") {
		t.Errorf("the correction must keep the other answers: %v", got)
	}
	receipts, _, err := e.outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022", Kind: store.KindReceipt})
	if err != nil {
		t.Fatal(err)
	}
	if len(receipts) != 2 || receipts[0].To != cb(1) || !strings.Contains(string(receipts[0].Payload), `"C1"`) {
		t.Errorf("receipts: %d, %+v", len(receipts), receipts)
	}
	failures, err := e.outbox.FindDeliveryFailures(ctx, "PAR2022", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || failures[0].Mailbox != cb(2) || failures[0].Class != store.ClassUserUnknown || !failures[0].Permanent ||
		failures[0].Stage != store.StageDSN {
		t.Errorf("failures: %+v", failures)
	}
	msgs, _, err := e.inbound.FindInbound(ctx, store.InboundFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[store.InboundKind][]*store.InboundMessage{}
	for _, m := range msgs {
		byKind[m.Kind] = append(byKind[m.Kind], m)
	}
	if d := byKind[store.InboundDelay]; len(d) != 1 || d[0].RespondentID != e.sent[cb(4)].RespondentID || d[0].Match == store.MatchEnvelopeID {
		t.Errorf("delay: %+v", d)
	}
	if b := byKind[store.InboundBounce]; len(b) != 1 || b[0].Match != store.MatchEnvelopeID {
		t.Errorf("bounce: %+v", b)
	}
	if a := byKind[store.InboundAutoReply]; len(a) != 1 || a[0].Note == "" || a[0].Match != store.MatchInReplyTo {
		t.Errorf("auto-reply: %+v", a)
	}
	review, _, _ := e.inbound.FindInbound(ctx, store.InboundFilter{ReviewOnly: true})
	if len(review) != 1 || !strings.Contains(review[0].Review, "thuky@stp.binhson.gov.test") {
		t.Errorf("review list: %+v", review)
	}

	// Nothing new: a second poll reads nothing.
	st, err = e.poller(poller.FileMove).Poll(ctx)
	if err != nil || st.Fetched != 0 {
		t.Errorf("second poll: %+v, %v", st, err)
	}
}

func answerMap(r *store.Response) map[string]string {
	out := map[string]string{}
	for _, a := range r.Answers {
		out[a.Code] = a.Value
	}
	return out
}

func TestPoll_PartialReplyGetsACorrectionThenCompletes(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	e.append(e.reply(2, "", "C1: 12"))
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.status(t, cb(2)); got != store.StatusInvited {
		t.Errorf("partial reply: status %s", got)
	}
	corr, _, _ := e.outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindCorrection})
	if len(corr) != 1 || !strings.Contains(string(corr[0].Payload), "C1") || !strings.Contains(string(corr[0].Payload), "C2") {
		t.Fatalf("correction: %+v", corr)
	}
	e.append(e.reply(2, "", "C1: 10\nC2: b"))
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.status(t, cb(2)); got != store.StatusAnswered {
		t.Errorf("after the correction: status %s", got)
	}
	rs, _ := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(2)].RespondentID)
	if len(rs) != 2 || rs[0].Status != store.ResponseCounted || answerMap(rs[0])["C2"] != "B" || rs[1].Status != store.ResponseSuperseded {
		t.Errorf("responses: %+v", rs)
	}
}

func TestPoll_LateReplyWaitsForTheOperator(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	e.clock.Set(time.Date(2023, 3, 4, 0, 5, 0, 0, ict))
	e.append(e.reply(3, "", "C1: 5\nC2: A"))
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(3)].RespondentID)
	if len(rs) != 1 || rs[0].Status != store.ResponseLate || e.status(t, cb(3)) != store.StatusInvited {
		t.Fatalf("late reply: %+v, status %s", rs, e.status(t, cb(3)))
	}
	if _, err := e.inbound.AcceptResponse(ctx, rs[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := e.status(t, cb(3)); got != store.StatusAnswered {
		t.Errorf("accepted: status %s", got)
	}
}

func TestPoll_MailboxFullQueuesTheInvitationAgain(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	e.append(e.bounce(6, "5.2.2", "smtp; 552 5.2.2 <"+cb(6)+">: Mailbox full: quota exceeded", true), nil)
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	inv, _, _ := e.outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindInvitation, RespondentID: e.sent[cb(6)].RespondentID})
	if len(inv) != 2 || inv[0].Round != 1 || !inv[0].NotBefore.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("invitations after mailbox full: %+v", inv)
	}
	if got := e.status(t, cb(6)); got != store.StatusInvited {
		t.Errorf("a full mailbox is not a failed address: %s", got)
	}
}

// failingStore fails the nth RecordInbound or the first MarkMoved, like a
// crash at that point.
type failingStore struct {
	pollStore
	failRecord int
	failMove   bool
	records    int
}

func (s *failingStore) RecordInbound(ctx context.Context, m *store.InboundMessage, cp *store.Checkpoint) (bool, error) {
	s.records++
	if s.records == s.failRecord {
		return false, errors.New("crash")
	}
	return s.pollStore.RecordInbound(ctx, m, cp)
}

func (s *failingStore) MarkFiled(ctx context.Context, account, mailbox string, uidValidity uint32, uids []uint32) error {
	if s.failMove {
		s.failMove = false
		return errors.New("crash")
	}
	return s.pollStore.MarkFiled(ctx, account, mailbox, uidValidity, uids)
}

func TestPoll_CrashReprocessesAtMostOneMessageAndNeverDoubleCounts(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	for n := 1; n <= 4; n++ {
		e.append(e.reply(n, "", fmt.Sprintf("C1: %d\nC2: A", n+4)))
	}
	// Crash while storing the third message.
	p := e.poller(poller.FileMove)
	fs := &failingStore{pollStore: pollStore{e.inbound, e.outbox}, failRecord: 3}
	p.Store = fs
	if _, err := p.Poll(ctx); err == nil {
		t.Fatal("the crash did not surface")
	}
	cp, _ := e.inbound.FindCheckpoint(ctx, p.Config.Account(), "INBOX")
	if cp.LastUID != 2 {
		t.Errorf("checkpoint after the crash: %d, want 2", cp.LastUID)
	}
	// Crash after storing, before the move is recorded.
	fs = &failingStore{pollStore: pollStore{e.inbound, e.outbox}, failMove: true}
	p.Store = fs
	if _, err := p.Poll(ctx); err == nil {
		t.Fatal("the crash did not surface")
	}
	st, err := e.poller(poller.FileMove).Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The first poll stored two; the second filed them and crashed before
	// recording it; the third reads the two left, once.
	if st.Fetched != 2 || st.Stored != 2 || st.Duplicates != 0 {
		t.Errorf("the restart: %+v", st)
	}
	if got := len(e.list(t, "INBOX")); got != 0 {
		t.Errorf("%d messages left unfiled in INBOX", got)
	}
	stats, _ := e.campaigns.CampaignStats(ctx, "PAR2022")
	if got := stats.Total[store.StatusAnswered]; got != 4 {
		t.Errorf("answered: %d, want 4", got)
	}
	for n := 1; n <= 4; n++ {
		rs, _ := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(n)].RespondentID)
		if len(rs) != 1 {
			t.Errorf("cb%03d has %d responses, want 1", n, len(rs))
		}
	}
}

func TestPoll_DuplicateDeliveryAndUIDValidityChange(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	raw, err := e.reply(1, "", "C1: 8\nC2: A")
	if err != nil {
		t.Fatal(err)
	}
	e.append(raw, nil)
	e.append(raw, nil) // delivered twice
	e.append(e.bounce(2, "5.1.1", "smtp; 550 5.1.1 User unknown", true), nil)
	e.append(imaptest.Human("vanthu@ubnd.binhson.gov.test", survey, "Lịch công tác", "Lịch công tác tuần."))
	p := e.poller(poller.FileFlag) // leave everything in place
	st, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stored != 2 || st.Duplicates != 1 || st.Ignored != 1 {
		t.Errorf("first poll: %+v", st)
	}
	flagged := 0
	for _, m := range e.list(t, "INBOX") {
		if m.Seen() {
			t.Errorf("message %d marked as read", m.UID)
		}
		if m.Has(poller.ProcessedFlag) {
			flagged++
		}
	}
	if flagged != 3 {
		t.Errorf("%d messages flagged, want 3 (not the human mail)", flagged)
	}
	if err := e.srv.Recreate("INBOX"); err != nil {
		t.Fatal(err)
	}
	st, err = p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 4 || st.Stored != 0 || st.Duplicates != 3 {
		t.Errorf("rescan after UIDVALIDITY change: %+v", st)
	}
	rs, _ := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(1)].RespondentID)
	failures, _ := e.outbox.FindDeliveryFailures(ctx, "PAR2022", time.Time{})
	if len(rs) != 1 || len(failures) != 1 {
		t.Errorf("after the rescan: %d responses, %d failures; want 1 and 1", len(rs), len(failures))
	}
}

func TestPoll_WithoutMoveCopiesAndFlags(t *testing.T) {
	e := newEnv(t, imaptest.Options{NoMove: true})
	ctx := context.Background()
	e.append(e.reply(1, "", "C1: 8\nC2: A"))
	e.append(imaptest.Human("vanthu@ubnd.binhson.gov.test", survey, "Lịch công tác", "Lịch công tác tuần."))
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	inbox := e.list(t, "INBOX")
	if len(inbox) != 2 || !inbox[0].Has(poller.ProcessedFlag) || inbox[1].Has(poller.ProcessedFlag) || inbox[1].Seen() {
		t.Errorf("INBOX: %+v", inbox)
	}
	if got := e.list(t, "phieu/Replies"); len(got) != 1 {
		t.Errorf("phieu/Replies: %+v", got)
	}
}

func TestPoll_UnmatchedBounceGoesToReview(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	d := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, Recipient: "nobody@khac.invalid", Status: "5.1.1",
		Diagnostic: "smtp; 550 5.1.1 User unknown", Original: "From: vanthu@binhson.gov.test\nTo: nobody@khac.invalid\nSubject: Công văn\nMessage-ID: <abc@binhson.gov.test>\n"}
	e.append(d.Bytes(), nil)
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.list(t, "phieu/Unmatched"); len(got) != 1 {
		t.Errorf("phieu/Unmatched: %+v", got)
	}
	review, _, _ := e.inbound.FindInbound(ctx, store.InboundFilter{ReviewOnly: true})
	if len(review) != 1 || !strings.HasPrefix(review[0].Review, "không khớp") || len(review[0].Failures) != 1 {
		t.Errorf("review: %+v", review)
	}
}

func TestWatch_IdleAndPolling(t *testing.T) {
	for _, noIdle := range []bool{false, true} {
		t.Run(fmt.Sprintf("noIdle=%v", noIdle), func(t *testing.T) {
			e := newEnv(t, imaptest.Options{NoIdle: noIdle})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := e.poller(poller.FileMove)
			waiting := make(chan struct{}, 10)
			p.Sleep = func(ctx context.Context, d time.Duration) error {
				// The polling fallback: no real waiting in a test.
				waiting <- struct{}{}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
					return nil
				}
			}
			reports := make(chan poller.Stats, 10)
			done := make(chan error, 1)
			go func() { done <- p.Watch(ctx, func(st poller.Stats) { reports <- st }) }()
			e.append(e.reply(1, "", "C1: 8\nC2: A"))
			select {
			case st := <-reports:
				if st.Responses != 1 {
					t.Errorf("report: %+v", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no report of the new message")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("watch: %v", err)
			}
		})
	}
}

func TestDial_TLSModesAndAuth(t *testing.T) {
	caPEM, cert := testcert.New(t, "mail.binhson.gov.test", false)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, untrusted := testcert.New(t, "mail.binhson.gov.test", true)
	ctx := context.Background()
	for _, tt := range []struct {
		name, mode, auth string
		cert             tls.Certificate
		caFile, password string
		wantErr          string
	}{
		{"starttls", endpoint.TLSStartTLS, "login", cert, caFile, "", ""},
		{"implicit tls, AUTHENTICATE PLAIN", endpoint.TLSImplicit, "plain", cert, caFile, "", ""},
		{"unknown CA", endpoint.TLSImplicit, "login", cert, "", "", "certificate"},
		{"untrusted certificate", endpoint.TLSStartTLS, "login", untrusted, caFile, "", "certificate"},
		{"wrong password", endpoint.TLSStartTLS, "login", cert, caFile, "sai", "imap login as khaosat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tlsMode := "starttls"
			if tt.mode == endpoint.TLSImplicit {
				tlsMode = "tls"
			}
			srv, err := imaptest.Start(imaptest.Options{TLS: tlsMode, Cert: tt.cert})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			pw := srv.Password
			if tt.password != "" {
				pw = tt.password
			}
			conn, err := poller.Dial(ctx, poller.Config{Host: srv.Host, Port: srv.Port, TLS: tt.mode, CAFile: tt.caFile,
				ServerName: "mail.binhson.gov.test", Username: srv.Username, Password: pw, Auth: tt.auth, DialTimeout: 5 * time.Second}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if err := (poller.Config{Host: "mail.binhson.gov.test", Port: 143, TLS: endpoint.TLSNone}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "only for a server on this machine") {
		t.Errorf("tls none to a remote host: %v", err)
	}
	// A dead server: a clear error naming it, nothing else.
	_, err := poller.Dial(ctx, poller.Config{Host: "127.0.0.1", Port: 1, TLS: endpoint.TLSNone, Username: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "imap 127.0.0.1:1: connect") {
		t.Errorf("dead server: %v", err)
	}
}
