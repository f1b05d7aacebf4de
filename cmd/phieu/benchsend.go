package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
)

const benchSendHelp = `
Measures delivery against Postfix's own load tools, on 127.0.0.1, in one run:

  baseline: smtp-source sends --messages messages of the same size as a
            rendered invitation over --connections sessions to smtp-sink;
  phieu:    a fictional province with one member per message, a campaign,
            invitations queued in a fresh store, then delivered to the same
            smtp-sink over the same number of connections: each message
            claimed, rendered, composed, sent and recorded durably in SQLite.

With --smtp HOST:PORT, both send to that running server instead of
smtp-sink: a real Postfix, such as scripts/mailstack's on 127.0.0.1:2525.
Every generated member's mailbox, and smtp-source's recipient, is rewritten
to --rcpt-domain (default sink.test), a domain the server must accept and
throw away: scripts/mailstack's Postfix writes each message to its queue
(queue file written and fsynced) before answering DATA, then its discard
transport drops it. Both sides thus pay for a real MTA's queueing, which
smtp-sink does not do. The port must be plain SMTP with no TLS required:
smtp-source cannot do TLS, and phieu is told not to either, so that both
do the same work. The server must be on this machine, and the domain must be
a reserved one (.test, .invalid, .example or .localhost), so that no
generated address can reach a real mailbox. Let the server's queue drain
between runs (postqueue -c /tmp/phieu-mailstack/postfix/etc -p).

  scripts/mailstack up
  phieu bench send --smtp 127.0.0.1:2525 --messages 5000 --connections 10

smtp-source and smtp-sink come with Debian's postfix package (apt-get install
postfix). The last line is: send: phieu X msg/s, smtp-source Y msg/s, ratio R.
The "phieu:" line gives phieu's peak resident memory while sending.`

// BenchSendCommand measures sending.
type BenchSendCommand struct {
	noArgs
	m           *Main
	messages    int
	connections int
	units       int
	seed        uint64
	dir         string
	cpuProfile  string
	smtpAddr    string // a running server instead of smtp-sink
	rcptDomain  string // with smtpAddr: where every recipient is rewritten
}

func (c *BenchSendCommand) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.messages, "messages", 20000, "messages (and campaign members) to send")
	fs.IntVar(&c.connections, "connections", 10, "parallel SMTP connections, for both")
	fs.IntVar(&c.units, "units", 300, "units of the generated province")
	fs.Uint64Var(&c.seed, "seed", 1, "generator seed")
	fs.StringVar(&c.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of phieu's sending to `file`")
	fs.StringVar(&c.smtpAddr, "smtp", "", "a running SMTP server's loopback `host:port`, plain SMTP without TLS (default: smtp-sink on a free port)")
	fs.StringVar(&c.rcptDomain, "rcpt-domain", "", "with --smtp, the `domain` every recipient is rewritten to, which the server must discard (default sink.test)")
}

// benchSinkDomain is the domain scripts/mailstack's Postfix discards.
const benchSinkDomain = "sink.test"

// reservedDomain reports whether domain is under a top-level domain that
// never resolves (RFC 2606, RFC 6761): the bench rewrites thousands of
// realistic local parts to it, and a server that relays must not be able
// to deliver them anywhere.
func reservedDomain(domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, tld := range []string{".test", ".invalid", ".example", ".localhost"} {
		if strings.HasSuffix(d, tld) && len(d) > len(tld) {
			return true
		}
	}
	return false
}

// checkSMTPFlags validates --smtp and --rcpt-domain and fills the default.
func (c *BenchSendCommand) checkSMTPFlags() (host string, port int, err error) {
	if c.smtpAddr == "" {
		if c.rcptDomain != "" {
			return "", 0, usageErrorf("--rcpt-domain needs --smtp")
		}
		return "", 0, nil
	}
	host, port, err = splitHostPort(c.smtpAddr)
	if err != nil {
		return "", 0, usageErrorf("--smtp: %v", err)
	}
	if !endpoint.IsLoopback(host) {
		return "", 0, usageErrorf("--smtp must be a server on this machine, not %s", host)
	}
	if c.rcptDomain == "" {
		c.rcptDomain = benchSinkDomain
	}
	if msg := store.CheckMailbox("bench@" + c.rcptDomain); msg != "" {
		return "", 0, usageErrorf("--rcpt-domain %q: %s", c.rcptDomain, msg)
	}
	if !reservedDomain(c.rcptDomain) {
		return "", 0, usageErrorf("--rcpt-domain %s is not under .test, .invalid, .example or .localhost", c.rcptDomain)
	}
	return host, port, nil
}

// postfixTool finds smtp-source or smtp-sink.
func postfixTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postfix/sbin", "/usr/libexec/postfix"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", store.Errorf(store.ENOTFOUND, "%s not found: it comes with Postfix (apt-get install postfix)", name)
}

// Run sets up, measures and prints.
func (c *BenchSendCommand) Run(ctx context.Context) error {
	if c.messages < 1 || c.connections < 1 || c.units < 3 {
		return usageErrorf("need --messages ≥ 1, --connections ≥ 1 and --units ≥ 3")
	}
	smtpHost, smtpPort, err := c.checkSMTPFlags()
	if err != nil {
		return err
	}
	source, err := postfixTool("smtp-source")
	if err != nil {
		return err
	}
	dir, cleanup, err := workDir(c.dir, "phieu-bench-send-")
	if err != nil {
		return err
	}
	defer cleanup()
	out := c.m.Stdout

	// The server: the one named, or a sink on a free loopback port.
	rcpt := "bench@binhson.gov.test"
	var sinkPid int // 0 with --smtp: no sink to measure
	if c.smtpAddr != "" {
		rcpt = "bench@" + c.rcptDomain
		if err := waitListening(ctx, net.JoinHostPort(smtpHost, strconv.Itoa(smtpPort)), time.Second); err != nil {
			return fmt.Errorf("bench: --smtp %s: %w", c.smtpAddr, err)
		}
	} else {
		sink, err := postfixTool("smtp-sink")
		if err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		smtpHost, smtpPort = "127.0.0.1", port
		addr := net.JoinHostPort(smtpHost, strconv.Itoa(port))
		args := []string{addr, "1024"}
		if os.Geteuid() == 0 {
			args = append([]string{"-u", "nobody"}, args...) // smtp-sink refuses to run as root
		}
		sinkCmd := exec.CommandContext(ctx, sink, args...)
		sinkCmd.Stdout, sinkCmd.Stderr = nil, nil
		if err := sinkCmd.Start(); err != nil {
			return fmt.Errorf("bench: start smtp-sink: %w", err)
		}
		defer func() { sinkCmd.Process.Kill(); sinkCmd.Wait() }()
		if err := waitListening(ctx, addr, 5*time.Second); err != nil {
			return fmt.Errorf("bench: smtp-sink did not start: %w", err)
		}
		sinkPid = sinkCmd.Process.Pid
	}
	addr := net.JoinHostPort(smtpHost, strconv.Itoa(smtpPort))

	// phieu's store: a province with one member per message, invitations queued.
	prep := time.Now()
	db, outbox, campaigns, err := openBenchStore(dir, c.m.Now)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := c.prepare(ctx, db, campaigns, outbox); err != nil {
		return err
	}
	size, err := c.messageSize(ctx, db, campaigns, outbox)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "prepared %d members and invitations in %s; a rendered invitation is %d bytes\n", c.messages, time.Since(prep).Round(time.Millisecond), size)

	// Baseline: smtp-source with the same sessions and message size. Its
	// own headers add about 250 bytes to the payload. Like phieu it keeps
	// each session for many messages (-d) and writes to a different
	// recipient each time (-N).
	payload := max(size-250, 100)
	sinkCPU0 := processCPU(sinkPid)
	start := time.Now()
	src := exec.CommandContext(ctx, source, "-d", "-N", "-s", strconv.Itoa(c.connections), "-m", strconv.Itoa(c.messages), "-l", strconv.Itoa(payload),
		"-f", "khaosat.snv@binhson.gov.test", "-t", rcpt, "-M", "phieu-bench.binhson.gov.test", addr)
	if msg, err := src.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: smtp-source: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	baseTime := time.Since(start)
	sinkCPU1 := processCPU(sinkPid)

	// phieu, from a clean memory high-water mark.
	mc := mailer.Config{Host: smtpHost, Port: smtpPort, TLS: mailer.TLSNone, HeloName: "phieu-bench.binhson.gov.test", Connections: c.connections}
	tr, err := mailer.NewTransport(mc)
	if err != nil {
		return err
	}
	sender := &mailer.Sender{Outbox: outbox, Campaigns: campaigns, Transport: tr, Composer: mailer.NewComposer(), Logger: c.m.Logger, Now: c.m.Now, Owner: "bench"}
	debug.FreeOSMemory()
	resetPeakRSS()
	stopProfile, err := startCPUProfile(c.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	start = time.Now()
	stats, err := sender.Deliver(ctx, mailer.DeliverOptions{})
	if err != nil {
		return fmt.Errorf("bench: phieu send: %w", err)
	}
	phieuTime := time.Since(start)
	peak := peakRSS()
	sinkCPU2 := processCPU(sinkPid)
	if stats.Sent != c.messages {
		return fmt.Errorf("bench: phieu sent %d of %d (%+v)", stats.Sent, c.messages, stats)
	}
	counts, err := outbox.OutboxCounts(ctx, "BENCH")
	if err != nil {
		return err
	}
	if counts[store.OutboxSent] != c.messages {
		return fmt.Errorf("bench: the store records %d of %d as sent", counts[store.OutboxSent], c.messages)
	}
	phieuRate := float64(c.messages) / phieuTime.Seconds()
	baseRate := float64(c.messages) / baseTime.Seconds()
	fmt.Fprintf(out, "smtp-source: %d messages of %d bytes over %d sessions in %s\n", c.messages, payload, c.connections, baseTime.Round(time.Millisecond))
	peakText := "unknown"
	if peak > 0 {
		peakText = fmt.Sprintf("%.0f MB", float64(peak)/(1<<20))
	}
	fmt.Fprintf(out, "phieu: %d messages over %d connections in %s, every result committed to SQLite; peak RSS %s\n",
		stats.Sent, c.connections, phieuTime.Round(time.Millisecond), peakText)
	if sinkPid != 0 {
		fmt.Fprintf(out, "smtp-sink CPU: %s while smtp-source sent, %s while phieu sent (the machine has %d CPUs)\n",
			(sinkCPU1 - sinkCPU0).Round(time.Millisecond), (sinkCPU2 - sinkCPU1).Round(time.Millisecond), runtime.NumCPU())
	}
	fmt.Fprintf(out, "send: phieu %.0f msg/s, smtp-source %.0f msg/s, ratio %.2f\n", phieuRate, baseRate, phieuRate/baseRate)
	return nil
}

// prepare stores a generated province, a campaign over all of it, its
// members and their invitations.
func (c *BenchSendCommand) prepare(ctx context.Context, db *sqlite.DB, campaigns *sqlite.CampaignService, outbox *sqlite.OutboxService) error {
	p := synth.Generate(c.seed, c.units, c.messages)
	if c.rcptDomain != "" {
		// The generated local parts are unique, so they stay unique here.
		for _, r := range p.Respondents {
			local, _, _ := strings.Cut(r.Mailbox, "@")
			r.Mailbox = local + "@" + c.rcptDomain
		}
	}
	if err := storeProvince(ctx, db, p); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	camp := syntheticCampaign("BENCH", c.m.Now(), p.Groups())
	if err := campaigns.CreateCampaign(ctx, camp); err != nil {
		return fmt.Errorf("bench: campaign: %w", err)
	}
	if n, err := campaigns.AddMembers(ctx, camp.Code, store.MemberSelector{}); err != nil || n != c.messages {
		return fmt.Errorf("bench: added %d of %d members: %v", n, c.messages, err)
	}
	if err := campaigns.SetCampaignState(ctx, camp.Code, store.CampaignActive); err != nil {
		return err
	}
	if n, err := outbox.EnqueueInvitations(ctx, camp.Code, 0); err != nil || n != c.messages {
		return fmt.Errorf("bench: queued %d of %d invitations: %v", n, c.messages, err)
	}
	return nil
}

// messageSize renders and composes one queued invitation.
func (c *BenchSendCommand) messageSize(ctx context.Context, db *sqlite.DB, campaigns *sqlite.CampaignService, outbox *sqlite.OutboxService) (int, error) {
	msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "BENCH", Limit: 1})
	if err != nil || len(msgs) == 0 {
		return 0, fmt.Errorf("bench: no queued invitation: %v", err)
	}
	m := msgs[0]
	camp, err := campaigns.FindCampaignByCode(ctx, "BENCH")
	if err != nil {
		return 0, err
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{ID: m.RespondentID})
	if err != nil || len(rs) == 0 {
		return 0, fmt.Errorf("bench: respondent %d: %v", m.RespondentID, err)
	}
	m.Respondent = rs[0]
	if m.Unit, err = sqlite.NewUnitService(db).FindUnitByCode(ctx, m.Respondent.UnitCode); err != nil {
		return 0, err
	}
	r, err := mailer.NewComposer().Render(m, camp, c.m.Now())
	if err != nil {
		return 0, err
	}
	data, err := mailer.Compose(m, camp, r, c.m.Now())
	return len(data), err
}

// storeProvince stores a generated province's units and respondents.
func storeProvince(ctx context.Context, db *sqlite.DB, p *synth.Province) error {
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, p.StoreUnits(), store.ImportOptions{}); err != nil {
		return fmt.Errorf("units: %w", err)
	}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, p.Respondents, store.ImportOptions{}); err != nil {
		return fmt.Errorf("respondents: %w", err)
	}
	return nil
}

// syntheticCampaign is a campaign open since an hour before now, with 30
// days to go, over groups, for benchmarks and crash tests.
func syntheticCampaign(code string, now time.Time, groups []string) *store.Campaign {
	loc, _ := time.LoadLocation(store.DefaultLocation)
	return &store.Campaign{
		Code: code, Title: "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2025",
		LegalRef: "Số: 1234/UBND-NC ngày 10/11/2026", SenderName: "Sở Nội vụ tỉnh Bình Sơn",
		SenderAddress: "snv@binhson.gov.test", ReplyTo: "khaosat.snv@binhson.gov.test",
		Office:  "Sở Nội vụ tỉnh Bình Sơn, số 1 đường Trần Hưng Đạo, phường Phú Thủy. Điện thoại: 0252 3 000 000",
		OpensAt: now.Add(-time.Hour), Deadline: store.DeadlineEndOfDay(store.DateOf(now.In(loc).AddDate(0, 0, 30)), loc),
		Groups: groups, Questionnaire: benchQuestionnaire(),
		Reminders: store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar(),
	}
}

// benchQuestionnaire has three questions (a scale, a choice, a text), which
// makes a rendered invitation of about 8 KB: 4 KB of Vietnamese text, twice
// (plain and HTML), quoted-printable.
func benchQuestionnaire() store.Questionnaire {
	return store.Questionnaire{Title: "Phiếu khảo sát Chỉ số cải cách hành chính",
		Intro: "Ý kiến của Ông/Bà được giữ bí mật.",
		Questions: []store.Question{
			{Code: "C1", Text: "Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh được thực hiện quyết liệt, hiệu quả", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính", Type: store.AnswerChoice, Required: true,
				Choices: []store.Choice{{Letter: "A", Text: "Hợp lý"}, {Letter: "B", Text: "Chưa hợp lý"}}},
			{Code: "C3", Text: "Ý kiến khác", Type: store.AnswerText},
		}}
}

// processCPU returns the CPU time (user and system) process pid has used,
// from /proc; 0 where that is not available.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// startCPUProfile writes a CPU profile to path ("" for none) until stop.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// workDir returns dir, or a new temporary directory that cleanup removes.
func workDir(dir, prefix string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// openBenchStore opens a fresh database in dir with a fixed test secret.
func openBenchStore(dir string, now func() time.Time) (*sqlite.DB, *sqlite.OutboxService, *sqlite.CampaignService, error) {
	const secret = "bench secret, not for real use!!"
	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	db.Now = now
	db.LinkKey = linkKey([]byte(secret))
	if err := db.Open(); err != nil {
		return nil, nil, nil, err
	}
	refs, err := store.NewRefs([]byte(secret))
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, sqlite.NewOutboxService(db, refs), sqlite.NewCampaignService(db), nil
}
