package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
)

// TestCrashLoop kills the daemon (phieu run, the real binary as a child
// process) with SIGKILL at random moments, 20 times, while it sends 5,000
// invitations to an in-process SMTP server and reads 1,000 replies that
// this test appends to an in-process IMAP server as invitations arrive;
// then lets it finish and counts: every member invited, the ones who
// replied answered exactly once, invitations lost 0, duplicates at most one
// per connection per kill. Run it with scripts/faults or
// scripts/crashtest-send (PHIEU_CRASHTEST=1).
func TestCrashLoop(t *testing.T) {
	if os.Getenv("PHIEU_CRASHTEST") == "" {
		t.Skip("set PHIEU_CRASHTEST=1 (scripts/faults) to run the kill -9 loop")
	}
	kills := envInt("PHIEU_CRASHTEST_ROUNDS", 20)
	members := envInt("PHIEU_CRASHTEST_MEMBERS", 5000)
	replies := min(members/5, 1000)
	const connections = 4
	res := &smtptest.FaultResult{Suite: "crash", Case: fmt.Sprintf("phieu run killed with SIGKILL %d times at random moments", kills),
		Expected:   "invitations lost 0; duplicates ≤ connections per kill; every reply counted exactly once; each member's status what its messages justify",
		Items:      members,
		Observed:   "did not finish",
		Lost:       -1,
		Duplicates: -1}
	smtptest.Report(t, res)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildPhieu(t, dir)
	// A little time per message, so that the kills land while it works.
	srv := smtptest.Start(t, smtptest.Options{DSN: true, Script: func(s smtptest.Step) smtptest.Reply {
		if s.Stage == smtptest.StageData {
			return smtptest.Reply{Stall: 2 * time.Millisecond}
		}
		return smtptest.Reply{}
	}})
	imap, err := imaptest.Start(imaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imap.Close() })
	if err := os.WriteFile(filepath.Join(dir, "imap.password"), []byte(imap.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "phieu.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`store:
  path: phieu.db
smtp:
  host: 127.0.0.1
  port: %d
  tls: none
  connections: %d
  per_minute: 0
  per_hour: 0
imap:
  host: 127.0.0.1
  port: %d
  tls: none
  username: %s
  password_file: imap.password
  mailbox: INBOX
http:
  listen: ""
daemon:
  send: "@every 1s"
  poll: "@every 1s"
  plan: "@every 1s"
log:
  level: error
`, srv.Port, connections, imap.Port, imap.Username)), 0o644); err != nil {
		t.Fatal(err)
	}

	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	p := synth.Generate(11, 200, members)
	if err := storeProvince(ctx, db, p); err != nil {
		t.Fatal(err)
	}
	campaigns := sqlite.NewCampaignService(db)
	c := syntheticCampaign("CRASHLOOP", time.Now(), p.Groups())
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	n, err := campaigns.AddMembers(ctx, c.Code, store.MemberSelector{})
	if err != nil {
		t.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, c.Code, store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	db.Close()
	members = n

	// The first `replies` members to get an invitation answer it, once.
	var (
		mu      sync.Mutex
		replied = map[string]bool{}
	)
	answer := func() {
		for _, m := range srv.Received() {
			if m.Header == nil || m.Header.Get("Auto-Submitted") != "" {
				continue // a receipt, not an invitation
			}
			to := m.To[0]
			mu.Lock()
			done := replied[to] || len(replied) >= replies
			if !done {
				replied[to] = true
			}
			mu.Unlock()
			if done {
				continue
			}
			raw, err := imaptest.Reply{From: to, To: c.ReplyTo, Subject: m.Header.Get("Subject"), InReplyTo: m.Header.Get("Message-Id"),
				Text: "C1: 8\nC2: A\nC3: Không có ý kiến"}.Bytes()
			if err == nil {
				err = imap.Append("INBOX", raw)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}
	stopAnswering := make(chan struct{})
	answering := make(chan struct{})
	go func() {
		defer close(answering)
		for {
			select {
			case <-stopAnswering:
				return
			case <-time.After(50 * time.Millisecond):
				answer()
			}
		}
	}()

	daemon := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", config)
		cmd.Env = append(os.Environ(), "PHIEU_SECRET=crash loop secret, long enough to use", "PHIEU_CONFIG=")
		cmd.Dir = dir
		return cmd
	}
	// connsBy[i] is the number of SMTP connections opened up to the i-th
	// kill: a message's connection tells which run sent it.
	connsBy := make([]int, kills+1)
	start := time.Now()
	killedWorking := 0
	for i := 1; i <= kills; i++ {
		before := len(srv.Received())
		cmd := daemon()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		connsBy[i] = srv.Conns()
		if len(srv.Received()) > before {
			killedWorking++
		}
	}
	// The last start runs to the end: every invitation out, every reply
	// read (and its receipt sent), then a stop as systemd does (SIGTERM).
	// The test's own handle on the store, opened (migrations checked)
	// before the daemon holds it.
	db = sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	campaigns = sqlite.NewCampaignService(db)
	fail := func(format string, args ...any) {
		t.Helper()
		res.Observed = "stopped: " + fmt.Sprintf(format, args...)
		t.Fatalf(format, args...)
	}
	cmd := daemon()
	stderr := &startedWriter{started: make(chan struct{})}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stderr.started: // listening for SIGTERM
	case <-time.After(30 * time.Second):
		fail("the daemon did not start:\n%s", stderr)
	}
	deadline := time.Now().Add(3 * time.Minute)
	var stats *store.CampaignStats
	for {
		answer()
		// An error (the store busy) is tried again until the deadline.
		stats, err = campaigns.CampaignStats(ctx, c.Code)
		if err == nil && stats.Total[store.StatusNotInvited] == 0 && stats.Total[store.StatusAnswered] >= replies {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			fail("the daemon did not finish: %v (%v)\n%s", stats, err, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopAnswering)
	<-answering
	cmd.Process.Signal(syscall.SIGTERM)
	lastRun := "stopped cleanly"
	if err := cmd.Wait(); err != nil {
		lastRun = "the last run: " + err.Error()
		t.Errorf("the last run: %v\n%s", err, stderr)
	}
	elapsed := time.Since(start)

	// Every copy of an invitation but the last went out unrecorded, on a
	// run that was then killed: each kill's share of the duplicates.
	invitations := map[string]int{}
	var copies []smtptest.Message
	for _, m := range srv.Received() {
		if m.Header != nil && m.Header.Get("Auto-Submitted") == "" {
			invitations[m.To[0]]++
			copies = append(copies, m)
		}
	}
	dups, perKill, seen := 0, make([]int, kills+2), map[string]int{}
	for _, m := range copies {
		if seen[m.To[0]]++; seen[m.To[0]] == invitations[m.To[0]] {
			continue // the recorded copy
		}
		dups++
		run := 1
		for run <= kills && m.Conn > connsBy[run] {
			run++
		}
		perKill[run]++ // kills+1: the last run, never killed
	}
	maxPerKill := slices.Max(perKill)
	lost := members - len(invitations)
	responses, err := sqlite.NewInboundService(db, sqlite.NewOutboxService(db, nil)).FindResponses(ctx, c.Code, 0)
	if err != nil {
		fail("responses: %v", err)
	}
	doubled := len(responses) - len(replied)
	if stats, err = campaigns.CampaignStats(ctx, c.Code); err != nil {
		fail("stats: %v", err)
	}
	answered, invited := stats.Total[store.StatusAnswered], stats.Total[store.StatusInvited]
	if lost != 0 {
		t.Errorf("%d members never got an invitation", lost)
	}
	if maxPerKill > connections {
		t.Errorf("a kill cost %d duplicates with %d connections", maxPerKill, connections)
	}
	if doubled != 0 || answered != len(replied) || invited != members-len(replied) {
		t.Errorf("%d replies: %d responses stored, %d members answered, %d invited (of %d)", len(replied), len(responses), answered, invited, members)
	}
	res.Observed = fmt.Sprintf("%d kills (%d while messages were going out) over %.0f s; %d members: %d invitations lost, %d duplicates, at most %d per kill (limit %d); %d replies: %d responses stored, %d double-counted; statuses: %d answered, %d invited; %s",
		kills, killedWorking, elapsed.Seconds(), members, lost, dups, maxPerKill, connections, len(replied), len(responses), doubled, answered, invited, lastRun)
	res.Lost, res.Duplicates = lost, dups
	t.Log("crash loop: " + res.Observed)
}

// startedWriter collects a daemon's stderr and closes started at its
// "phieu run: store ..." line, printed once it handles SIGTERM.
type startedWriter struct {
	mu      sync.Mutex
	buf     strings.Builder
	started chan struct{}
	seen    bool
}

func (w *startedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), "phieu run: store") {
		w.seen = true
		close(w.started)
	}
	return len(p), nil
}

func (w *startedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
