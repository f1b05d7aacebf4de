package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
)

var ict = time.FixedZone("ICT", 7*3600)

// start is 09:00 on Monday 20/02/2023, inside the PAR 2022 campaign.
var start = time.Date(2023, 2, 20, 9, 0, 0, 0, ict)

// Clock is the tests' clock; Sleep advances it instead of waiting.
type Clock = storetest.Clock

// env is a store with a campaign of n members, its outbox, and a clock.
type env struct {
	db        *sqlite.DB
	clock     *Clock
	outbox    *sqlite.OutboxService
	campaigns *sqlite.CampaignService
	refs      *store.Refs
	members   []*store.Respondent
}

func newEnv(tb testing.TB, n int) *env {
	tb.Helper()
	ctx := context.Background()
	clock := storetest.NewClock(start)
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "phieu.db"))
	db.Now = clock.Now
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	units := []*store.Unit{
		{Code: "UBND", Name: "Ủy ban nhân dân tỉnh Bình Sơn"},
		{Code: "STP", Name: "Sở Tư pháp", ParentCode: "UBND", Head: store.Head{Name: "Trần Văn Bình", Title: "Giám đốc", Mailbox: "binh.tv@stp.binhson.gov.test"}},
	}
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, units, store.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	var rs []*store.Respondent
	for i := range n {
		rs = append(rs, &store.Respondent{
			FullName: fmt.Sprintf("Nguyễn Văn Số%d", i+1), Salutation: store.SalutationOng, Title: "Phó Giám đốc",
			UnitCode: "STP", Group: "LDS", Mailbox: fmt.Sprintf("cb%03d@stp.binhson.gov.test", i+1), Active: true,
		})
	}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	c := &store.Campaign{
		Code: "PAR2022", Title: "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2022",
		LegalRef: "Số: 296/UBND-NCKSTTHC ngày 07/02/2023", SenderName: "Sở Nội vụ tỉnh Bình Sơn",
		SenderAddress: "snv@binhson.gov.test", ReplyTo: "khaosat.snv@binhson.gov.test",
		OpensAt: time.Date(2023, 2, 8, 8, 0, 0, 0, ict), Deadline: time.Date(2023, 3, 3, 23, 59, 59, 0, ict),
		Groups: []string{"LDS"},
		Questionnaire: store.Questionnaire{Title: "Phiếu khảo sát", Questions: []store.Question{
			{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
		}},
		Reminders: store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar(),
	}
	campaigns := sqlite.NewCampaignService(db)
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
	members, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{db: db, clock: clock, outbox: sqlite.NewOutboxService(db, refs), campaigns: campaigns, refs: refs, members: members}
	if _, err := e.outbox.EnqueueInvitations(ctx, "PAR2022", 0); err != nil {
		tb.Fatal(err)
	}
	return e
}

func (e *env) sender(tb testing.TB, srv *smtptest.Server, edit func(*mailer.Config)) *mailer.Sender {
	tb.Helper()
	cfg := mailer.Config{Host: srv.Host, Port: srv.Port, TLS: mailer.TLSNone, HeloName: "phieu.binhson.gov.test", Connections: 1,
		CommandTimeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := mailer.NewTransport(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &mailer.Sender{Outbox: e.outbox, Campaigns: e.campaigns, Transport: tr, Now: e.clock.Now, Sleep: e.clock.Sleep,
		Owner: fmt.Sprintf("test-%p", tb)}
}

func (e *env) counts(tb testing.TB) map[store.OutboxState]int {
	tb.Helper()
	c, err := e.outbox.OutboxCounts(context.Background(), "PAR2022")
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *env) status(tb testing.TB, mailbox string) store.MemberStatus {
	tb.Helper()
	for _, r := range e.members {
		if r.Mailbox == mailbox {
			m, err := e.campaigns.FindMember(context.Background(), "PAR2022", r.ID)
			if err != nil {
				tb.Fatal(err)
			}
			return m.Status
		}
	}
	tb.Fatalf("no member %s", mailbox)
	return ""
}

// pipelining runs a test with commands pipelined (RFC 2920, what the test
// server offers) and one at a time.
func pipelining(t *testing.T, f func(t *testing.T, edit func(*mailer.Config))) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoPipelining=%v", off), func(t *testing.T) {
			f(t, func(c *mailer.Config) { c.NoPipelining = off })
		})
	}
}

func TestSender_DeliversWithDSNAndStableIDs(t *testing.T) {
	pipelining(t, testDeliversWithDSNAndStableIDs)
}

func testDeliversWithDSNAndStableIDs(t *testing.T, pipe func(*mailer.Config)) {
	ctx := context.Background()
	e := newEnv(t, 3)
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	stats, err := e.sender(t, srv, pipe).Deliver(ctx, mailer.DeliverOptions{})
	if err != nil || stats.Sent != 3 {
		t.Fatalf("Deliver = %+v, %v", stats, err)
	}
	if srv.Conns() != 1 {
		t.Errorf("%d connections for 3 messages; one should be reused", srv.Conns())
	}
	msgs, _, _ := e.outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022"})
	byTo := map[string]*store.OutboxMessage{}
	for _, m := range msgs {
		byTo[m.To] = m
		if m.State != store.OutboxSent || m.SentAt.IsZero() {
			t.Errorf("%s: %s", m.To, m.State)
		}
		if got := e.status(t, m.To); got != store.StatusInvited {
			t.Errorf("%s: member %s, want invited", m.To, got)
		}
	}
	dec := new(mime.WordDecoder)
	for _, got := range srv.Received() {
		m := byTo[got.To[0]]
		if m == nil {
			t.Fatalf("unexpected recipient %v", got.To)
		}
		if got.From != "khaosat.snv@binhson.gov.test" || got.EnvelopeID != m.Ref || got.Return != "HDRS" ||
			strings.Join(got.Notify[m.To], ",") != "FAILURE,DELAY" {
			t.Errorf("envelope: from %s envid %q ret %q notify %v; want ref %s", got.From, got.EnvelopeID, got.Return, got.Notify, m.Ref)
		}
		if got.Header.Get("Message-Id") != m.MessageID {
			t.Errorf("Message-ID %q, stored %q", got.Header.Get("Message-Id"), m.MessageID)
		}
		subject, err := dec.DecodeHeader(got.Header.Get("Subject"))
		if err != nil || !strings.HasPrefix(subject, "[KS-"+m.Ref+"] Đề nghị trả lời phiếu khảo sát") {
			t.Errorf("subject %q (%v)", subject, err)
		}
		from, err := (&mail.AddressParser{WordDecoder: dec}).Parse(got.Header.Get("From"))
		if err != nil || from.Name != "Sở Nội vụ tỉnh Bình Sơn" || from.Address != "snv@binhson.gov.test" {
			t.Errorf("From %q: %+v %v", got.Header.Get("From"), from, err)
		}
		for _, line := range strings.Split(string(got.Data), "\r\n") {
			if len(line) > 78 {
				t.Errorf("MIME line of %d bytes: %q", len(line), line)
				break
			}
		}
		if !strings.Contains(string(got.Data), "quoted-printable") || strings.ContainsFunc(string(got.Data), func(r rune) bool { return r > 127 }) {
			t.Error("body is not 7-bit quoted-printable")
		}
	}
	m, attempts, _ := e.outbox.FindOutboxMessage(ctx, msgs[0].ID)
	if len(attempts) != 1 || attempts[0].Code != 250 || attempts[0].Outcome != store.OutboxSent || m.Attempts != 1 {
		t.Errorf("attempts: %+v", attempts)
	}
	// Sending again sends nothing: every invitation is out.
	if stats, err := e.sender(t, srv, nil).Deliver(ctx, mailer.DeliverOptions{}); err != nil || stats.Claimed != 0 {
		t.Fatalf("second Deliver = %+v, %v", stats, err)
	}
	if n, _ := e.outbox.EnqueueInvitations(ctx, "PAR2022", 0); n != 0 {
		t.Fatalf("re-enqueue queued %d", n)
	}
}

func TestSender_NoDSNWithoutTheExtension(t *testing.T) {
	e := newEnv(t, 1)
	srv := smtptest.Start(t, smtptest.Options{})
	if _, err := e.sender(t, srv, nil).Deliver(context.Background(), mailer.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 1 || got[0].EnvelopeID != "" || got[0].Return != "" {
		t.Fatalf("DSN parameters sent to a server without DSN: %+v", got)
	}
}

func TestSender_RefusalsAndRetries(t *testing.T) {
	pipelining(t, testRefusalsAndRetries)
}

func testRefusalsAndRetries(t *testing.T, pipe func(*mailer.Config)) {
	ctx := context.Background()
	e := newEnv(t, 4)
	var mu sync.Mutex
	tries := map[string]int{}
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if s.Stage == smtptest.StageRcpt {
			tries[s.To]++
		}
		switch {
		case s.Stage == smtptest.StageRcpt && s.To == "cb001@stp.binhson.gov.test":
			return smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown in virtual mailbox table"}
		case s.Stage == smtptest.StageRcpt && s.To == "cb002@stp.binhson.gov.test" && tries[s.To] <= 2:
			return smtptest.Reply{Code: 452, Enhanced: "4.2.2", Text: "Mailbox full"}
		case s.Stage == smtptest.StageData && s.To == "cb003@stp.binhson.gov.test":
			return smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "Message rejected as spam"}
		}
		return smtptest.Reply{}
	}})
	s := e.sender(t, srv, pipe)
	stats, err := s.Deliver(ctx, mailer.DeliverOptions{})
	if err != nil || stats.Sent != 1 || stats.Failed != 2 || stats.Deferred != 1 {
		t.Fatalf("Deliver = %+v, %v", stats, err)
	}
	if srv.Conns() != 1 {
		t.Errorf("refusals cost %d connections; the connection should be reset and reused", srv.Conns())
	}
	if got := e.status(t, "cb001@stp.binhson.gov.test"); got != store.StatusAddressFailed {
		t.Errorf("550 at RCPT: member %s", got)
	}
	if got := e.status(t, "cb003@stp.binhson.gov.test"); got != store.StatusNotInvited {
		t.Errorf("554 at DATA (content, not address): member %s", got)
	}
	failures, _ := e.outbox.FindDeliveryFailures(ctx, "PAR2022", time.Time{})
	classes := map[string]store.FailureClass{}
	for _, f := range failures {
		classes[f.Mailbox] = f.Class
	}
	if classes["cb001@stp.binhson.gov.test"] != "user_unknown" || classes["cb002@stp.binhson.gov.test"] != "mailbox_full" ||
		classes["cb003@stp.binhson.gov.test"] != "content_rejected" {
		t.Errorf("failure classes: %v", classes)
	}
	// The full mailbox is retried with backoff, not before.
	if stats, _ := s.Deliver(ctx, mailer.DeliverOptions{}); stats.Claimed != 0 {
		t.Fatalf("retried before its backoff: %+v", stats)
	}
	e.clock.Add(5 * time.Minute * 6 / 5)
	stats, err = s.Deliver(ctx, mailer.DeliverOptions{Wait: time.Hour})
	if err != nil || stats.Sent != 1 || stats.Deferred != 1 {
		t.Fatalf("retries = %+v, %v; want one more deferral then sent", stats, err)
	}
	if c := e.counts(t); c[store.OutboxSent] != 2 || c[store.OutboxFailed] != 2 {
		t.Fatalf("counts %v", c)
	}
}

func TestSender_ThrottlingSlowsDownNeverFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 30)
	var mu sync.Mutex
	accepted := 0
	srv := smtptest.Start(t, smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage != smtptest.StageMail {
			return smtptest.Reply{}
		}
		mu.Lock()
		defer mu.Unlock()
		// A server that takes 10 messages, then refuses the next 5 attempts.
		if s.N > 10 && s.N <= 15 {
			return smtptest.Reply{Code: 450, Enhanced: "4.7.1", Text: "Too many messages, slow down"}
		}
		accepted++
		return smtptest.Reply{}
	}})
	s := e.sender(t, srv, func(c *mailer.Config) { c.Connections = 3 })
	t0 := e.clock.Now()
	stats, err := s.Deliver(ctx, mailer.DeliverOptions{Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sent != 30 || stats.Failed != 0 || stats.Throttled == 0 {
		t.Fatalf("stats %+v; want all 30 sent, none failed, some throttled", stats)
	}
	if waited := e.clock.Now().Sub(t0); waited < 30*time.Second {
		t.Fatalf("the sender waited %s after throttling; want at least the first pause", waited)
	}
	if c := e.counts(t); c[store.OutboxSent] != 30 {
		t.Fatalf("counts %v", c)
	}
}

func TestSender_RateLimits(t *testing.T) {
	e := newEnv(t, 25)
	srv := smtptest.Start(t, smtptest.Options{})
	s := e.sender(t, srv, func(c *mailer.Config) { c.PerMinute = 10; c.Connections = 2 })
	t0 := e.clock.Now()
	stats, err := s.Deliver(context.Background(), mailer.DeliverOptions{})
	if err != nil || stats.Sent != 25 {
		t.Fatalf("Deliver = %+v, %v", stats, err)
	}
	// 10 per minute: the 21st message waits for the third minute.
	if took := e.clock.Now().Sub(t0); took < 2*time.Minute || took > 3*time.Minute {
		t.Fatalf("25 messages at 10/min took %s of clock time", took)
	}
}

func TestSender_ServerDownRaisesAlert(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 10)
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Close() // nothing listens on the port now
	s := e.sender(t, srv, func(c *mailer.Config) { c.Connections = 2 })
	stats, err := s.Deliver(ctx, mailer.DeliverOptions{})
	var down *mailer.DownError
	if !errors.As(err, &down) || down.Last.Stage != store.StageDial {
		t.Fatalf("Deliver = %+v, %v; want a DownError at dial", stats, err)
	}
	if c := e.counts(t); c[store.OutboxFailed] != 0 || c[store.OutboxSending] != 0 || c[store.OutboxQueued]+c[store.OutboxDeferred] != 10 {
		t.Fatalf("a dead server must not fail or strand messages: %v", c)
	}
	alerts, _ := e.outbox.FindAlerts(ctx, true)
	if len(alerts) != 1 || alerts[0].Kind != mailer.AlertSMTPDown || alerts[0].Stage != store.StageDial {
		t.Fatalf("alerts %+v", alerts)
	}
	// The server comes back: the alert is resolved by the first success.
	srv2 := smtptest.Start(t, smtptest.Options{})
	e.clock.Add(2 * time.Minute)
	if stats, err := e.sender(t, srv2, nil).Deliver(ctx, mailer.DeliverOptions{}); err != nil || stats.Sent != 10 {
		t.Fatalf("after recovery: %+v, %v", stats, err)
	}
	if alerts, _ := e.outbox.FindAlerts(ctx, true); len(alerts) != 0 {
		t.Fatalf("alert still open: %+v", alerts)
	}
}

func TestSender_TLSAndAuth(t *testing.T) {
	ctx := context.Background()
	users := map[string]string{"khaosat.snv@binhson.gov.test": "đúng-mật-khẩu"}
	t.Run("StartTLSWithCAFile", func(t *testing.T) {
		e := newEnv(t, 2)
		srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSRequireStartTLS, Auth: users})
		s := e.sender(t, srv, func(c *mailer.Config) {
			c.TLS, c.CAFile, c.Username, c.Password = mailer.TLSStartTLS, srv.CAFile, "khaosat.snv@binhson.gov.test", "đúng-mật-khẩu"
		})
		if stats, err := s.Deliver(ctx, mailer.DeliverOptions{}); err != nil || stats.Sent != 2 {
			t.Fatalf("%+v %v", stats, err)
		}
		for _, m := range srv.Received() {
			if !m.TLS || m.Auth != "khaosat.snv@binhson.gov.test" {
				t.Fatalf("sent without TLS or login: %+v", m)
			}
		}
	})
	t.Run("ImplicitTLSLogin", func(t *testing.T) {
		e := newEnv(t, 1)
		srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSImplicit, Auth: users})
		s := e.sender(t, srv, func(c *mailer.Config) {
			c.TLS, c.CAFile, c.Username, c.Password, c.Auth = mailer.TLSImplicit, srv.CAFile, "khaosat.snv@binhson.gov.test", "đúng-mật-khẩu", "login"
		})
		if stats, err := s.Deliver(ctx, mailer.DeliverOptions{}); err != nil || stats.Sent != 1 {
			t.Fatalf("%+v %v", stats, err)
		}
	})
	for _, tt := range []struct {
		name  string
		opts  smtptest.Options
		edit  func(*mailer.Config, *smtptest.Server)
		stage store.SMTPStage
		fatal bool // stops the sender at once with an alert
	}{
		{"ErrUnknownCA", smtptest.Options{TLS: smtptest.TLSStartTLS}, func(c *mailer.Config, s *smtptest.Server) { c.TLS = mailer.TLSStartTLS }, store.StageTLS, true},
		{"ErrUntrustedCertificate", smtptest.Options{TLS: smtptest.TLSStartTLS, UntrustedCert: true}, func(c *mailer.Config, s *smtptest.Server) {
			c.TLS, c.CAFile = mailer.TLSStartTLS, s.CAFile
		}, store.StageTLS, true},
		{"ErrNoStartTLSOffered", smtptest.Options{}, func(c *mailer.Config, s *smtptest.Server) { c.TLS = mailer.TLSStartTLS }, store.StageTLS, true},
		{"ErrWrongPassword", smtptest.Options{TLS: smtptest.TLSStartTLS, Auth: users}, func(c *mailer.Config, s *smtptest.Server) {
			c.TLS, c.CAFile, c.Username, c.Password = mailer.TLSStartTLS, s.CAFile, "khaosat.snv@binhson.gov.test", "sai"
		}, store.StageAuth, true},
		{"ErrGreeting421", smtptest.Options{Script: func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageConnect {
				return smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available"}
			}
			return smtptest.Reply{}
		}}, nil, store.StageHelo, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			srv := smtptest.Start(t, tt.opts)
			s := e.sender(t, srv, func(c *mailer.Config) {
				if tt.edit != nil {
					tt.edit(c, srv)
				}
			})
			_, err := s.Deliver(ctx, mailer.DeliverOptions{})
			var down *mailer.DownError
			switch {
			case tt.fatal && (!errors.As(err, &down) || down.Last.Stage != tt.stage):
				t.Fatalf("err = %v; want a DownError at %s", err, tt.stage)
			case !tt.fatal && err != nil:
				t.Fatalf("err = %v; a transient failure must not stop the sender", err)
			}
			msgs, _, _ := e.outbox.FindOutbox(ctx, store.OutboxFilter{})
			var attempts []*store.Attempt
			for _, m := range msgs {
				_, a, _ := e.outbox.FindOutboxMessage(ctx, m.ID)
				attempts = append(attempts, a...)
			}
			if len(attempts) == 0 || attempts[0].Stage != tt.stage {
				for _, m := range msgs {
					t.Logf("%d %s %s", m.ID, m.State, m.Reason)
				}
				t.Fatalf("attempts %+v; want one ending at %s", attempts, tt.stage)
			}
			if len(srv.Received()) != 0 {
				t.Fatal("a message went out")
			}
			if c := e.counts(t); c[store.OutboxFailed] != 0 {
				t.Fatalf("messages failed for a server-side problem: %v", c)
			}
		})
	}
	if _, err := mailer.NewTransport(mailer.Config{Host: "mail.binhson.gov.test", Port: 25, TLS: mailer.TLSNone}); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("tls none to a remote host: %v", err)
	}
}

func TestSender_NothingAfterDeadlineOrWhilePaused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 6)
	srv := smtptest.Start(t, smtptest.Options{})
	s := e.sender(t, srv, nil)
	s.StateCheckEvery = -1 // read the state for every message
	// Pause after the second message is taken.
	srv.SetScript(func(st smtptest.Step) smtptest.Reply {
		if st.Stage == smtptest.StageData && st.N == 2 {
			if err := e.campaigns.SetCampaignState(ctx, "PAR2022", store.CampaignPaused); err != nil {
				t.Error(err)
			}
		}
		return smtptest.Reply{}
	})
	stats, err := s.Deliver(ctx, mailer.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	paused := len(srv.Received())
	if paused != 2 || stats.Held == 0 {
		t.Fatalf("%d sent after pausing at 2 (%+v)", paused, stats)
	}
	if stats, _ := s.Deliver(ctx, mailer.DeliverOptions{}); stats.Claimed != 0 {
		t.Fatalf("a paused campaign was sent from: %+v", stats)
	}
	// Resume: everyone else gets exactly one invitation.
	if err := e.campaigns.SetCampaignState(ctx, "PAR2022", store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	srv.SetScript(nil)
	if _, err := s.Deliver(ctx, mailer.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range srv.Received() {
		seen[m.To[0]]++
	}
	if len(seen) != 6 {
		t.Fatalf("%d of 6 members got an invitation", len(seen))
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s got %d invitations", to, n)
		}
	}

	// After the deadline, reminders are suppressed, not sent.
	r := &store.OutboxMessage{CampaignCode: "PAR2022", Kind: store.KindReminder, Round: 1, RespondentID: e.members[0].ID}
	if _, err := e.outbox.EnqueueOutbox(ctx, []*store.OutboxMessage{r}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Date(2023, 3, 4, 0, 0, 0, 0, ict).Sub(e.clock.Now()))
	stats, err = s.Deliver(ctx, mailer.DeliverOptions{})
	if err != nil || stats.Suppressed != 1 || stats.Sent != 0 {
		t.Fatalf("after the deadline: %+v, %v", stats, err)
	}
	if m, _, _ := e.outbox.FindOutboxMessage(ctx, r.ID); m.State != store.OutboxSuppressed || m.Reason != store.ReasonPastDeadline {
		t.Fatalf("reminder after deadline: %s %q", m.State, m.Reason)
	}
}

// TestSender_KilledAtEachStage stops the sender in the middle of a
// conversation (its context cancelled, its connection cut) at each stage,
// restarts it as a new process would (reclaiming what the dead one held),
// and checks that every member got an invitation and that at most the
// message in flight was sent twice.
func TestSender_KilledAtEachStage(t *testing.T) {
	pipelining(t, testKilledAtEachStage)
}

func testKilledAtEachStage(t *testing.T, pipe func(*mailer.Config)) {
	for _, stage := range []smtptest.Stage{smtptest.StageMail, smtptest.StageRcpt, smtptest.StageBody, smtptest.StageData} {
		for _, drop := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/drop=%v", stage, drop), func(t *testing.T) {
				ctx := context.Background()
				e := newEnv(t, 12)
				srv := smtptest.Start(t, smtptest.Options{DSN: true})
				runCtx, kill := context.WithCancel(ctx)
				srv.SetScript(func(s smtptest.Step) smtptest.Reply {
					if s.Stage == stage && s.N == 5 {
						kill()
						return smtptest.Reply{Drop: drop, Stall: 50 * time.Millisecond}
					}
					return smtptest.Reply{}
				})
				s := e.sender(t, srv, func(c *mailer.Config) { pipe(c); c.Connections = 2 })
				if _, err := s.Deliver(runCtx, mailer.DeliverOptions{}); err != nil {
					t.Fatal(err)
				}
				if c := e.counts(t); c[store.OutboxSending] != 0 {
					t.Fatalf("a stopped sender left messages claimed: %v", c)
				}
				// Our own stop says nothing of the recipients' mailboxes.
				if fs, err := e.outbox.FindDeliveryFailures(ctx, "PAR2022", time.Time{}); err != nil || len(fs) != 0 {
					t.Fatalf("a stop recorded delivery failures: %+v, %v", fs, err)
				}
				// A new process: reclaims what a dead one held, sends the rest.
				srv.SetScript(nil)
				if _, err := e.outbox.ReclaimOutbox(ctx, true); err != nil {
					t.Fatal(err)
				}
				e.clock.Add(2 * time.Minute)
				if _, err := e.sender(t, srv, func(c *mailer.Config) { c.Connections = 2 }).Deliver(ctx, mailer.DeliverOptions{}); err != nil {
					t.Fatal(err)
				}
				seen := map[string]int{}
				dups := 0
				for _, m := range srv.Received() {
					seen[m.To[0]]++
					if seen[m.To[0]] > 1 {
						dups++
					}
				}
				if len(seen) != 12 {
					t.Fatalf("%d of 12 members got an invitation", len(seen))
				}
				if dups > 2 {
					t.Fatalf("%d duplicates after one kill with 2 connections", dups)
				}
				if c := e.counts(t); c[store.OutboxSent] != 12 {
					t.Fatalf("counts %v", c)
				}
			})
		}
	}
}

func TestCompose(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	msgs, _, _ := e.outbox.FindOutbox(ctx, store.OutboxFilter{})
	m := msgs[0]
	c, _ := e.campaigns.FindCampaignByCode(ctx, "PAR2022")
	c.Subaddressing = true
	m.Respondent = e.members[0]
	m.Unit = &store.Unit{Code: "STP", Name: "Sở Tư pháp"}
	p := mailer.NewComposer()
	r, err := p.Render(m, c, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := mailer.Compose(m, c, r, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := "khaosat.snv+" + strings.ToLower(m.Ref) + "@binhson.gov.test"
	if rt := msg.Header.Get("Reply-To"); !strings.Contains(rt, want) {
		t.Errorf("Reply-To %q, want the plus address %s", rt, want)
	}
	if got := mailer.EnvelopeSender(m, c); got != want {
		t.Errorf("envelope sender %q", got)
	}
	if msg.Header.Get("X-Phieu-Ref") != m.Ref || msg.Header.Get("Auto-Submitted") != "" {
		t.Errorf("headers: ref %q auto-submitted %q", msg.Header.Get("X-Phieu-Ref"), msg.Header.Get("Auto-Submitted"))
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(e.clock.Now()) {
		t.Errorf("Date %v %v", d, err)
	}
	body, _ := io.ReadAll(msg.Body)
	if !strings.Contains(string(body), "C1 [1-10]:") {
		t.Error("the answer line is not in the body")
	}
}

// A stop (Ctrl-C, SIGTERM) takes no new message but lets the transaction
// under way finish and records it: stopping alone never sends twice.
func TestSender_StopFinishesTheTransactionUnderWay(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 12)
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	runCtx, stop := context.WithCancel(ctx)
	srv.SetScript(func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageData && s.N == 5 {
			stop()
			return smtptest.Reply{Stall: 100 * time.Millisecond, Queued: true}
		}
		return smtptest.Reply{}
	})
	if _, err := e.sender(t, srv, func(c *mailer.Config) { c.Connections = 2 }).Deliver(runCtx, mailer.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if c := e.counts(t); c[store.OutboxSent] != len(srv.Received()) || c[store.OutboxSending] != 0 {
		t.Fatalf("after the stop the store says %v, the server has %d", c, len(srv.Received()))
	}
	srv.SetScript(nil)
	if _, err := e.sender(t, srv, nil).Deliver(ctx, mailer.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range srv.Received() {
		if seen[m.To[0]] {
			t.Errorf("%s got the invitation twice", m.To[0])
		}
		seen[m.To[0]] = true
	}
	if len(seen) != 12 {
		t.Errorf("%d of 12 members got an invitation", len(seen))
	}
}
