package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// smtpFault is one case of the SMTP fault suite: a fault on the server (or
// between phieu and it), what phieu must do about it, and how the fault is
// healed.
type smtpFault struct {
	name, expected string
	opts           smtptest.Options
	script         smtptest.Script
	// setup points the config at the fault (a closed port, a TLS mode, a
	// wrong password) and returns the edit that heals it; nil: the
	// server's script is the whole fault.
	setup func(t *testing.T, f *faultRun) (heal func())
	// class, when set, is the failure recorded for the members the fault
	// refused for good, who end with status (address_failed when the
	// address is at fault; not_invited, with the failure for a person to
	// see, when the content was refused).
	class  store.FailureClass
	status store.MemberStatus
	// alert: the fault stops the run and raises the smtp_down alert,
	// resolved once the server answers again.
	alert bool
	// dups is how many duplicates the fault may cost: messages the server
	// took while phieu could not know it.
	dups int
}

// faultRun is the sample province sending through a test server.
type faultRun struct {
	dir     string
	srv     *smtptest.Server
	servers []*smtptest.Server // every server that may have received mail
}

// some picks about one recipient in n, the same ones on every attempt.
func some(to string, n uint32) bool { return crc32.ChecksumIEEE([]byte(to))%n == 0 }

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// setSMTP replaces the value of key in the config's smtp section (adding
// the key when it is not there).
func setSMTP(t *testing.T, dir, key, value string) {
	t.Helper()
	editConfig(t, dir, func(s string) string {
		re := regexp.MustCompile(`(?m)^  ` + key + `: .*$`)
		smtp := strings.Index(s, "\nsmtp:\n")
		imap := strings.Index(s, "\nimap:\n")
		section := s[smtp:imap]
		if re.MatchString(section) {
			section = re.ReplaceAllLiteralString(section, "  "+key+": "+value)
		} else {
			section = strings.Replace(section, "\nsmtp:\n", "\nsmtp:\n  "+key+": "+value+"\n", 1)
		}
		return s[:smtp] + section + s[imap:]
	})
}

func smtpFaults() []smtpFault {
	const password = "mật khẩu đúng"
	moveTo := func(t *testing.T, f *faultRun, srv *smtptest.Server) {
		setSMTP(t, f.dir, "port", strconv.Itoa(srv.Port))
	}
	return []smtpFault{
		{name: "connection refused", expected: "deferred; run stops after 5 failures with the smtp_down alert; all sent once the server is back",
			alert: true, setup: func(t *testing.T, f *faultRun) func() {
				setSMTP(t, f.dir, "port", strconv.Itoa(closedPort(t)))
				return func() { moveTo(t, f, f.srv) }
			}},
		{name: "banner stall (3 s, under the command timeout)", expected: "waits for the greeting; all sent in the first run",
			script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageConnect {
					return smtptest.Reply{Stall: 3 * time.Second}
				}
				return smtptest.Reply{}
			}},
		{name: "421 at greeting", expected: "deferred; run stops after 5 failures with the smtp_down alert; all sent later",
			alert: true, script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageConnect {
					return smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "Service not available, closing channel"}
				}
				return smtptest.Reply{}
			}},
		{name: "550 5.7.1 at MAIL (sender refused)", expected: "stops at once (needs a person) with the smtp_down alert; nothing failed; all sent once fixed",
			alert: true, script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageMail {
					return smtptest.Reply{Code: 550, Enhanced: "5.7.1", Text: "Sender address rejected: not authorized"}
				}
				return smtptest.Reply{}
			}},
		{name: "450 4.2.1 at RCPT (1 in 4)", expected: "those deferred and retried later, the rest sent; every member invited once",
			script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageRcpt && some(s.To, 4) {
					return smtptest.Reply{Code: 450, Enhanced: "4.2.1", Text: "Mailbox temporarily unavailable"}
				}
				return smtptest.Reply{}
			}},
		{name: "550 5.1.1 at RCPT (1 in 10)", expected: "those failed as user_unknown (address_failed), never resent; the rest sent",
			class: store.ClassUserUnknown, status: store.StatusAddressFailed, script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageRcpt && some(s.To, 10) {
					return smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "User unknown in virtual mailbox table"}
				}
				return smtptest.Reply{}
			}},
		{name: "554 5.7.1 at DATA (1 in 10)", expected: "those failed as content_rejected (shown in failures, member left not invited), never resent; the rest sent",
			class: store.ClassContentRejected, status: store.StatusNotInvited, script: func(s smtptest.Step) smtptest.Reply {
				if s.Stage == smtptest.StageData && some(s.To, 10) {
					return smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "Message rejected as spam by content filter"}
				}
				return smtptest.Reply{}
			}},
		{name: "connection reset mid-DATA (1 in 8)", expected: "the cut message deferred and sent again on a new connection; no duplicate",
			script: func(s smtptest.Step) smtptest.Reply {
				return smtptest.Reply{Drop: s.Stage == smtptest.StageBody && some(s.To, 8)}
			}},
		{name: "connection lost after the final dot, message queued (1 in 8)", expected: "unknown outcome: sent again; at most one duplicate per cut",
			dups: -1, script: func(s smtptest.Step) smtptest.Reply {
				return smtptest.Reply{Drop: s.Stage == smtptest.StageData && some(s.To, 8), Queued: true}
			}},
		{name: "TLS handshake failure (tls: tls against a plain server)", expected: "deferred; stops after 5 failures with the alert; nothing sent in clear",
			alert: true, setup: func(t *testing.T, f *faultRun) func() {
				setSMTP(t, f.dir, "tls", "tls")
				return func() { setSMTP(t, f.dir, "tls", "none") }
			}},
		{name: "bad certificate (signed by another CA)", expected: "stops at once (needs a person) with the alert; nothing sent, no fallback to plain text",
			alert: true, setup: func(t *testing.T, f *faultRun) func() {
				bad := smtptest.Start(t, smtptest.Options{DSN: true, TLS: smtptest.TLSStartTLS, UntrustedCert: true})
				good := smtptest.Start(t, smtptest.Options{DSN: true, TLS: smtptest.TLSStartTLS})
				f.servers = append(f.servers, bad, good)
				moveTo(t, f, bad)
				setSMTP(t, f.dir, "tls", "starttls")
				setSMTP(t, f.dir, "ca_file", bad.CAFile)
				return func() {
					moveTo(t, f, good)
					setSMTP(t, f.dir, "ca_file", good.CAFile)
				}
			}},
		{name: "AUTH failure (535 5.7.8)", expected: "stops at once, one login attempt, with the alert (no account lock-out); all sent once the password is fixed",
			alert: true, opts: smtptest.Options{Auth: map[string]string{"khaosat.snv@binhson.gov.test": password}},
			setup: func(t *testing.T, f *faultRun) func() {
				t.Setenv("PHIEU_FAULT_SMTP_PASSWORD", "mật khẩu cũ")
				setSMTP(t, f.dir, "username", "khaosat.snv@binhson.gov.test")
				setSMTP(t, f.dir, "password_env", "PHIEU_FAULT_SMTP_PASSWORD")
				return func() { t.Setenv("PHIEU_FAULT_SMTP_PASSWORD", password) }
			}},
	}
}

// TestFaultsSMTP sends the sample campaign (120 members) through each fault
// with the real phieu send, heals the server, sends again as the operator
// would (later, on the injected clock) and counts: every member invited
// exactly once or their failure recorded with the right class, duplicates
// within what the fault allows. Faults bound by timeouts (a greeting that
// never comes, one byte per second) or by the pacer's pauses (4xx push-back
// at MAIL and DATA) are in mailer's TestFaults, where the test sets the
// timeouts and the sender's clock.
func TestFaultsSMTP(t *testing.T) {
	for _, fc := range smtpFaults() {
		t.Run(strings.NewReplacer(" ", "_", "(", "", ")", "", ",", "").Replace(fc.name), func(t *testing.T) {
			testSMTPFault(t, fc)
		})
	}
}

func testSMTPFault(t *testing.T, fc smtpFault) {
	res := &smtptest.FaultResult{Suite: "smtp", Case: fc.name, Expected: fc.expected}
	smtptest.Report(t, res)
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "province")
	mustRun(t, "", "init", "--sample", dir)
	opts := fc.opts
	opts.DSN = true
	f := &faultRun{dir: dir, srv: smtptest.Start(t, opts)}
	f.servers = append(f.servers, f.srv)
	pointAt(t, dir, f.srv)
	heal := func() {}
	if fc.setup != nil {
		heal = fc.setup(t, f)
	}
	f.srv.SetScript(fc.script)
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

	start := time.Now()
	code, out, errs := runAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0", "--progress=false")
	first := summaryLine(out)
	observed := fmt.Sprintf("under the fault: exit %d, %s", code, first)
	if code != exitOK {
		observed += " (" + firstLine(errs) + ")"
	}
	// Messages the server took on a connection it then cut: each may go
	// twice.
	unknownOutcomes := 0
	for _, s := range f.srv.Steps() {
		if s.Stage == smtptest.StageData && some(s.To, 8) {
			unknownOutcomes++
		}
	}
	received := 0
	for _, s := range f.servers {
		received += len(s.Received())
	}
	if fc.alert && code != exitFailure {
		t.Errorf("the run did not stop: exit %d\n%s%s", code, out, errs)
	}
	if !fc.alert && code != exitOK {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refs, _ := store.NewRefs([]byte("unused: only counts are read"))
	outbox := sqlite.NewOutboxService(db, refs)
	if fc.alert {
		alerts, err := outbox.FindAlerts(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0].Kind != mailer.AlertSMTPDown {
			t.Errorf("open alerts under the fault: %+v", alerts)
		}
		observed += "; alert raised"
	}
	if fc.name == "AUTH failure (535 5.7.8)" {
		auths := 0
		for _, s := range f.srv.Steps() {
			if s.Stage == smtptest.StageAuth {
				auths++
			}
		}
		if auths > 2 { // one per connection at most
			t.Errorf("%d login attempts with a wrong password", auths)
		}
		observed += fmt.Sprintf("; %d login attempts", auths)
	}
	if strings.HasPrefix(fc.name, "bad certificate") || strings.HasPrefix(fc.name, "TLS handshake") {
		if received != 0 {
			t.Errorf("%d messages went out under a failed TLS handshake", received)
		}
	}

	// Healed; the operator (or phieu run) sends again later, until nothing
	// is left to retry.
	f.srv.SetScript(nil)
	heal()
	runs := 0
	for _, later := range []time.Duration{2 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 30 * time.Hour} {
		counts, err := outbox.OutboxCounts(ctx, "PAR2025")
		if err != nil {
			t.Fatal(err)
		}
		if counts[store.OutboxQueued]+counts[store.OutboxDeferred]+counts[store.OutboxSending] == 0 {
			break
		}
		runs++
		if code, out, errs := runAt(t, dir, during.Add(later), "send", "--campaign", "PAR2025", "--wait", "0", "--progress=false"); code != exitOK {
			t.Fatalf("after healing: exit %d\n%s%s", code, out, errs)
		}
	}

	// The count: each member invited exactly once, or refused for good
	// with the failure recorded.
	respondents, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	mailboxOf := map[int64]string{}
	for _, r := range respondents {
		mailboxOf[r.ID] = r.Mailbox
	}
	members, err := sqlite.NewCampaignService(db).FindMembers(ctx, "PAR2025", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range f.servers {
		for _, m := range s.Received() {
			got[m.To[0]]++
		}
	}
	failures, err := outbox.FindDeliveryFailures(ctx, "PAR2025", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[int64]*store.DeliveryFailure{}
	for _, d := range failures {
		if d.Permanent {
			failed[d.RespondentID] = d
		}
	}
	invited, refused, lost, dups := 0, 0, 0, 0
	for _, m := range members {
		n := got[mailboxOf[m.RespondentID]]
		dups += max(0, n-1)
		switch d := failed[m.RespondentID]; {
		case n > 0 && m.Status == store.StatusInvited:
			invited++
		case n == 0 && d != nil && m.Status == fc.status && fc.class != "":
			refused++
			if d.Class != fc.class {
				t.Errorf("%s: failure class %s, want %s (%s)", mailboxOf[m.RespondentID], d.Class, fc.class, d.Text)
			}
		default:
			lost++
			t.Errorf("%s: received %d, status %s, failure %+v", mailboxOf[m.RespondentID], n, m.Status, d)
		}
	}
	if fc.class != "" && refused == 0 {
		t.Errorf("no member was refused for good")
	}
	maxDups := max(fc.dups, 0)
	if fc.dups < 0 {
		maxDups = unknownOutcomes
	}
	if dups > maxDups {
		t.Errorf("%d duplicates, at most %d allowed", dups, maxDups)
	}
	if fc.alert {
		if alerts, _ := outbox.FindAlerts(ctx, true); len(alerts) != 0 {
			t.Errorf("alert still open after healing: %+v", alerts)
		}
	}
	observed += fmt.Sprintf("; healed, %d later runs: %d invited, %d refused (%s), %d lost, %d duplicates; %.1f s",
		runs, invited, refused, orNone(string(fc.class)), lost, dups, time.Since(start).Seconds())
	res.Observed, res.Items, res.Lost, res.Duplicates = observed, len(members), lost, dups
}

// summaryLine is send's "sent N, deferred N..." line.
func summaryLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "sent ") {
			return l
		}
	}
	return "no summary"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimPrefix(s, "phieu: ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
