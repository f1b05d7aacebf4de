package poller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
)

// replies are the env's six members, all answering.
const replies = 6

// answerAll appends every member's reply, from first to last.
func (e *env) answerAll(from, to int) {
	for n := from; n <= to; n++ {
		e.append(e.reply(n, "", fmt.Sprintf("C1: %d\nC2: A", n+3)))
	}
}

// countResponses checks every member who answered has exactly one response
// and is counted answered once, and returns how many answers were missed
// and double-counted.
func (e *env) countResponses(t *testing.T, answered int) (missed, doubled int) {
	t.Helper()
	ctx := context.Background()
	for n := 1; n <= replies; n++ {
		rs, err := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(n)].RespondentID)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if n <= answered {
			want = 1
		}
		switch {
		case len(rs) < want:
			missed++
			t.Errorf("%s: %d responses, want %d", cb(n), len(rs), want)
		case len(rs) > want:
			doubled += len(rs) - want
			t.Errorf("%s: %d responses, want %d", cb(n), len(rs), want)
		}
	}
	stats, err := e.campaigns.CampaignStats(ctx, "PAR2022")
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.Total[store.StatusAnswered]; got != answered {
		t.Errorf("%d members answered, want %d", got, answered)
	}
	return missed, doubled
}

// faultCase starts a case of TestFaultsIMAP: its line in the report and
// a fresh campaign and mailbox.
func faultCase(t *testing.T, name, expected string) (*smtptest.FaultResult, *env) {
	t.Helper()
	res := &smtptest.FaultResult{Suite: "imap", Case: name, Expected: expected, Items: replies}
	smtptest.Report(t, res)
	return res, newEnv(t, imaptest.Options{})
}

// TestFaultsIMAP are the IMAP faults of the fault suite (scripts/faults):
// the survey mailbox's server fails while phieu reads replies; afterwards
// no reply is missed or counted twice. (poller_test.go's crash and
// duplicate-delivery tests cover phieu itself dying mid-poll.)
func TestFaultsIMAP(t *testing.T) {
	t.Run("connection dropped mid-FETCH", func(t *testing.T) {
		res, e := faultCase(t, "connection dropped mid-FETCH (proxy cuts 3,000 bytes into the bodies)",
			"the poll fails; the checkpoint holds what was stored; the next poll reads the rest once")
		ctx := context.Background()
		e.answerAll(1, replies)
		proxy := smtptest.StartProxy(t, e.srv.Addr(), smtptest.ProxyFaults{CutAt: []byte("BODY["), CutAfter: 3000})
		p := e.poller(poller.FileMove)
		p.Config.Host, p.Config.Port = proxy.Host, proxy.Port
		first, cutErr := p.Poll(ctx)
		if cutErr == nil || proxy.Cuts() != 1 {
			t.Fatalf("the cut did not surface: %+v, %v, %d cuts", first, cutErr, proxy.Cuts())
		}
		// The message being read when the cut came is not taken, cut
		// short, for mail that is not phieu's (passed over for good) or
		// for a reply without answers (sent to review, never counted).
		if first.Ignored != 0 || first.Review != 0 || !strings.Contains(cutErr.Error(), "cut short") {
			t.Errorf("the cut poll: %+v, %v", first, cutErr)
		}
		proxy.SetFaults(smtptest.ProxyFaults{})
		second, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(e.list(t, "INBOX")); got != 0 {
			t.Errorf("%d replies left in INBOX", got)
		}
		missed, doubled := e.countResponses(t, replies)
		res.Observed = fmt.Sprintf("cut poll: %d stored (%v); next poll: %d fetched, %d stored, %d duplicates; %d answered once, %d missed, %d double-counted",
			first.Stored, shortErr(cutErr), second.Fetched, second.Stored, second.Duplicates, replies-missed, missed, doubled)
		res.Lost, res.Duplicates = missed, doubled
	})

	t.Run("server restart", func(t *testing.T) {
		res, e := faultCase(t, "server restart while phieu waits in IDLE (same port, same mailbox)",
			"the watch reconnects and reads the replies that came meanwhile, each once")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := e.poller(poller.FileMove)
		reconnects := 0
		p.Sleep = func(ctx context.Context, d time.Duration) error {
			reconnects++ // the reconnect back-off: no real waiting in a test
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
				return nil
			}
		}
		reports := make(chan poller.Stats, 20)
		done := make(chan error, 1)
		go func() { done <- p.Watch(ctx, func(st poller.Stats) { reports <- st }) }()
		wait := func(want int) {
			t.Helper()
			got := 0
			for got < want {
				select {
				case st := <-reports:
					got += st.Responses
				case <-time.After(10 * time.Second):
					t.Fatalf("%d of %d replies reported", got, want)
				}
			}
		}
		e.answerAll(1, 3)
		wait(3)
		if err := e.srv.Restart(); err != nil {
			t.Fatal(err)
		}
		e.answerAll(4, replies)
		wait(3)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch: %v", err)
		}
		missed, doubled := e.countResponses(t, replies)
		if reconnects == 0 {
			t.Error("the watch never reconnected")
		}
		res.Observed = fmt.Sprintf("%d reconnects; %d answered once, %d missed, %d double-counted", reconnects, replies-missed, missed, doubled)
		res.Lost, res.Duplicates = missed, doubled
	})

	t.Run("UIDVALIDITY change", func(t *testing.T) {
		res, e := faultCase(t, "UIDVALIDITY change (mailbox recreated with its mail, file_mode flag)",
			"the mailbox is read again from the start; what was read is recognised (Message-ID, hash), not counted again")
		ctx := context.Background()
		e.answerAll(1, 4)
		p := e.poller(poller.FileFlag) // the replies stay in INBOX
		if _, err := p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.Recreate("INBOX"); err != nil {
			t.Fatal(err)
		}
		e.answerAll(5, replies)
		st, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Fetched != replies || st.Stored != 2 || st.Duplicates != 4 {
			t.Errorf("the rescan: %+v", st)
		}
		missed, doubled := e.countResponses(t, replies)
		res.Observed = fmt.Sprintf("rescan: %d fetched, %d stored, %d recognised as read; %d answered once, %d missed, %d double-counted",
			st.Fetched, st.Stored, st.Duplicates, replies-missed, missed, doubled)
		res.Lost, res.Duplicates = missed, doubled
	})

	t.Run("messages that fail to parse", func(t *testing.T) {
		res, e := faultCase(t, "messages that fail to parse (a reply with broken MIME; bytes that are no message) before other replies",
			"the ones after are read; both go to review (the bytes that are no message left in place); nothing blocks")
		ctx := context.Background()
		e.answerAll(1, 1)
		// cb002's reply: its headers name the invitation, its body is a
		// multipart cut off before any part, in base64 that is not.
		to := cb(2)
		broken := "From: " + to + "\r\nTo: " + survey + "\r\nSubject: Re: " + e.subject(to) + "\r\nIn-Reply-To: " + e.sent[to].MessageID +
			"\r\nMessage-ID: <broken.2@stp.binhson.gov.test>\r\nDate: Mon, 20 Feb 2023 09:00:00 +0700\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"cut\"\r\n\r\n--cut\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@ not base64 \x00\x01"
		e.append([]byte(broken), nil)
		e.append([]byte("\x00\x01\x02 not a message at all \xff\xfe\r\n\r\n"), nil)
		e.answerAll(3, replies)
		st, err := e.poller(poller.FileMove).Poll(ctx)
		if err != nil {
			t.Fatalf("the broken messages blocked the poll: %v", err)
		}
		review, _, err := e.inbound.FindInbound(ctx, store.InboundFilter{ReviewOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		// Both wait for a person: the broken reply as its member's, the
		// bytes that are no message as unreadable, left where they are.
		var brokenReply, unreadable *store.InboundMessage
		for _, m := range review {
			switch {
			case m.RespondentID == e.sent[to].RespondentID:
				brokenReply = m
			case m.Kind == store.InboundOther && strings.HasPrefix(m.Review, "thư không đọc được"):
				unreadable = m
			}
		}
		if len(review) != 2 || brokenReply == nil || unreadable == nil {
			t.Errorf("review queue: %+v", review)
		}
		left := e.list(t, "INBOX")
		if len(left) != 1 {
			t.Errorf("%d messages left in INBOX, want the unreadable one", len(left))
		}
		missed, doubled := 0, 0
		for n := 1; n <= replies; n++ {
			if n == 2 {
				continue
			}
			rs, _ := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(n)].RespondentID)
			if len(rs) != 1 {
				t.Errorf("%s: %d responses, want 1", cb(n), len(rs))
				missed += max(0, 1-len(rs))
				doubled += max(0, len(rs)-1)
			}
		}
		var reasons []string
		for _, m := range []*store.InboundMessage{brokenReply, unreadable} {
			if m != nil {
				reasons = append(reasons, fmt.Sprintf("%q", m.Review))
			}
		}
		res.Observed = fmt.Sprintf("one poll: %d fetched, %d stored, %d to review (%s), %d left in INBOX untouched; the %d other replies: %d missed, %d double-counted",
			st.Fetched, st.Stored, st.Review, strings.Join(reasons, "; "), len(left), replies-1, missed, doubled)
		res.Lost, res.Duplicates = missed, doubled
	})
}

func shortErr(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
