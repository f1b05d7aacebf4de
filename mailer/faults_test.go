package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// TestFaults are the SMTP faults of the fault suite (scripts/faults) that
// need the sender's clock and timeouts in the test's hands: a greeting that
// never comes and a server answering one byte per second (a short command
// timeout), and server push-back (the pacer's pauses run on the test's
// clock, where phieu send would wait them out in real time). cmd/phieu's
// TestFaultsSMTP has the others, through phieu send. Each case sends to 20
// members under the fault, heals, sends again later and counts every
// member invited exactly once.
func TestFaults(t *testing.T) {
	const members = 20
	for _, tc := range []struct {
		name, expected string
		// fault starts the fault in front of srv and returns the address to
		// send to and the function that heals it.
		fault   func(t *testing.T, srv *smtptest.Server) (host string, port int, heal func())
		down    bool          // the fault stops the run with a DownError
		all     bool          // every member is sent in the first run
		timeout time.Duration // each command's, and dialing's
	}{
		{name: "banner stall (no greeting; command timeout 1 s)", down: true, timeout: time.Second,
			expected: "each connection times out; deferred; run stops after 5 failures with the alert; all sent once the server greets again",
			fault: func(t *testing.T, srv *smtptest.Server) (string, int, func()) {
				srv.SetScript(func(s smtptest.Step) smtptest.Reply {
					if s.Stage == smtptest.StageConnect {
						return smtptest.Reply{Stall: time.Minute}
					}
					return smtptest.Reply{}
				})
				return srv.Host, srv.Port, func() { srv.SetScript(nil) }
			}},
		{name: "slow server, one byte per second (proxy; command timeout 2 s)", down: true, timeout: 2 * time.Second,
			expected: "the greeting takes longer than the command timeout: deferred, run stops with the alert; all sent at normal speed",
			fault: func(t *testing.T, srv *smtptest.Server) (string, int, func()) {
				p := smtptest.StartProxy(t, srv.Addr, smtptest.ProxyFaults{ByteDelay: time.Second})
				return p.Host, p.Port, func() { p.SetFaults(smtptest.ProxyFaults{}) }
			}},
		{name: "slow server, one byte per 2 ms (proxy; command timeout 5 s)", all: true, timeout: 5 * time.Second,
			expected: "slow but complete: all sent in the first run, none twice",
			fault: func(t *testing.T, srv *smtptest.Server) (string, int, func()) {
				p := smtptest.StartProxy(t, srv.Addr, smtptest.ProxyFaults{ByteDelay: 2 * time.Millisecond})
				return p.Host, p.Port, func() {}
			}},
		{name: "451 4.3.0 at MAIL (the first 8)", timeout: 5 * time.Second,
			expected: "server push-back: deferred as throttled, the pacer pauses (30 s, doubling) and slows down; nothing failed; all sent",
			fault: func(t *testing.T, srv *smtptest.Server) (string, int, func()) {
				// Refused for good, the run would pause on until the
				// deadline: a push-back ends.
				srv.SetScript(func(s smtptest.Step) smtptest.Reply {
					if s.Stage == smtptest.StageMail && s.N <= 8 {
						return smtptest.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem"}
					}
					return smtptest.Reply{}
				})
				return srv.Host, srv.Port, func() { srv.SetScript(nil) }
			}},
		{name: "452 4.3.1 at DATA (1 in 4)", timeout: 5 * time.Second,
			expected: "server push-back: those deferred as throttled, the rest sent more slowly; all sent later, none twice",
			fault: func(t *testing.T, srv *smtptest.Server) (string, int, func()) {
				n := 0
				srv.SetScript(func(s smtptest.Step) smtptest.Reply {
					if s.Stage == smtptest.StageData {
						if n++; n%4 == 1 {
							return smtptest.Reply{Code: 452, Enhanced: "4.3.1", Text: "Insufficient system storage"}
						}
					}
					return smtptest.Reply{}
				})
				return srv.Host, srv.Port, func() { srv.SetScript(nil) }
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &smtptest.FaultResult{Suite: "smtp", Case: tc.name, Expected: tc.expected, Items: members}
			smtptest.Report(t, res)
			ctx := context.Background()
			e := newEnv(t, members)
			srv := smtptest.Start(t, smtptest.Options{DSN: true})
			host, port, heal := tc.fault(t, srv)
			configure := func(c *mailer.Config) {
				c.Host, c.Port, c.Connections = host, port, 2
				c.CommandTimeout, c.DialTimeout = tc.timeout, tc.timeout
			}
			start := time.Now()
			stats, err := e.sender(t, srv, configure).Deliver(ctx, mailer.DeliverOptions{})
			var down *mailer.DownError
			observed := fmt.Sprintf("under the fault: sent %d, deferred %d in %.1f s", stats.Sent, stats.Deferred, time.Since(start).Seconds())
			if tc.down {
				if !errors.As(err, &down) {
					t.Fatalf("Deliver = %+v, %v; want a DownError", stats, err)
				}
				observed += fmt.Sprintf(", stopped: %s at %s", down.Last.Text, down.Last.Stage)
				if alerts, _ := e.outbox.FindAlerts(ctx, true); len(alerts) != 1 {
					t.Errorf("open alerts: %+v", alerts)
				}
			} else if err != nil || tc.all && stats.Sent != members || !tc.all && stats.Deferred == 0 {
				t.Fatalf("Deliver = %+v, %v", stats, err)
			}
			if stats.Throttled > 0 {
				observed += fmt.Sprintf(" (%d throttled)", stats.Throttled)
			}
			heal()
			e.clock.Add(2 * time.Minute)
			if _, err := e.sender(t, srv, configure).Deliver(ctx, mailer.DeliverOptions{Wait: 3 * time.Hour}); err != nil {
				t.Fatalf("after healing: %v", err)
			}
			got := map[string]int{}
			for _, m := range srv.Received() {
				got[m.To[0]]++
			}
			lost, dups := 0, 0
			for _, r := range e.members {
				if got[r.Mailbox] == 0 || e.status(t, r.Mailbox) != store.StatusInvited {
					lost++
					t.Errorf("%s: received %d, status %s", r.Mailbox, got[r.Mailbox], e.status(t, r.Mailbox))
				}
				dups += max(0, got[r.Mailbox]-1)
			}
			if dups != 0 {
				t.Errorf("%d duplicates", dups)
			}
			if alerts, _ := e.outbox.FindAlerts(ctx, true); len(alerts) != 0 {
				t.Errorf("alert still open after healing: %+v", alerts)
			}
			res.Observed = observed + fmt.Sprintf("; healed: %d of %d invited, %d lost, %d duplicates", members-lost, members, lost, dups)
			res.Lost, res.Duplicates = lost, dups
		})
	}
}

// failingOutbox is the outbox on a disk that fills up: from the failAt-th
// call on, recording results fails.
type failingOutbox struct {
	*sqlite.OutboxService
	mu     sync.Mutex
	calls  int
	failAt int
}

func (o *failingOutbox) CompleteOutbox(ctx context.Context, owner string, results []*store.OutboxResult) error {
	o.mu.Lock()
	o.calls++
	full := o.calls >= o.failAt
	o.mu.Unlock()
	if full {
		return errors.New("complete: commit: database or disk is full")
	}
	return o.OutboxService.CompleteOutbox(ctx, owner, results)
}

// TestSender_RecordFailureSendsNoMoreBodies: once results cannot be
// recorded, no connection sends another message body; what went out
// unrecorded (the group whose commit failed: at most one message per
// connection) is all a restart can send twice.
func TestSender_RecordFailureSendsNoMoreBodies(t *testing.T) {
	pipelining(t, func(t *testing.T, pipe func(*mailer.Config)) {
		const connections = 3
		ctx := context.Background()
		e := newEnv(t, 40)
		srv := smtptest.Start(t, smtptest.Options{DSN: true})
		s := e.sender(t, srv, func(c *mailer.Config) { pipe(c); c.Connections = connections })
		full := &failingOutbox{OutboxService: e.outbox, failAt: 4}
		s.Outbox = full
		if _, err := s.Deliver(ctx, mailer.DeliverOptions{}); err == nil || !strings.Contains(err.Error(), "record results") {
			t.Fatalf("Deliver on a full disk: %v", err)
		}
		sent, _, err := e.outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2022", State: store.OutboxSent})
		if err != nil {
			t.Fatal(err)
		}
		recorded := map[string]bool{}
		for _, m := range sent {
			recorded[m.To] = true
		}
		unrecorded := 0
		for _, m := range srv.Received() {
			if !recorded[m.To[0]] {
				unrecorded++
			}
		}
		if unrecorded > connections {
			t.Errorf("%d messages went out unrecorded with %d connections", unrecorded, connections)
		}
	})
}
