package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/phieu/phieu/cmd/phieu/demo"
	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/poller/reply"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
	"github.com/phieu/phieu/templates"
)

const demoHelp = `
Shows phieu at work in one command, with nothing to configure: it starts a
mail server (SMTP) and a survey mailbox (IMAP) inside the process on
127.0.0.1, generates a fictional province (units three levels deep, about
200 officials, .test addresses that reach no one), and runs a three-week
PAR Index campaign (09/02/2026 to 03/03/2026, around Tết) on an accelerated
clock: the real daemon jobs every simulated hour from 07:00 to 20:00, while
simulated members answer the mail they receive — at once, after a reminder,
after their unit head is told, in the quoted form, partly then completely,
late, from a colleague's mailbox, or never; some addresses bounce (unknown,
full), one account is locked, one person is on leave.

A status line follows the campaign; at the end the summary counts what the
database and the mail server recorded. Then the dashboard is served until
Ctrl-C; --exit prints the summary and exits 0 instead (for tests and CI).
The same --seed gives the same campaign and the same summary. The working
directory (config, database, rosters) is temporary unless --dir names one.`

// DemoCommand is "phieu demo".
type DemoCommand struct {
	m         *Main
	seed      uint64
	members   int
	exit      bool
	jsonOut   bool
	dir       string
	tickDelay time.Duration
	delaySet  bool

	last *demoRun // the finished simulation, for tests
}

func (c *DemoCommand) flags(fs *flag.FlagSet) {
	fs.Uint64Var(&c.seed, "seed", 1, "`seed` of the province and of the members' behaviour")
	fs.IntVar(&c.members, "members", 200, "`number` of members in the generated province")
	fs.BoolVar(&c.exit, "exit", false, "print the summary and exit instead of serving the dashboard; no pacing")
	fs.BoolVar(&c.jsonOut, "json", false, "print the summary as JSON")
	fs.StringVar(&c.dir, "dir", "", "working `directory` to keep (config, database, rosters); default a temporary one, removed at exit")
	fs.Func("tick-delay", "wall-clock pause after each simulated hour, to watch it (default 70ms, 0 with --exit)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration such as 50ms", s)
		}
		c.tickDelay, c.delaySet = d, true
		return nil
	})
}

func (c *DemoCommand) args(rest []string) error {
	if err := (noArgs{}).args(rest); err != nil {
		return err
	}
	if c.members < 30 {
		return usageErrorf("--members: at least 30, for every kind of member to have a part")
	}
	return nil
}

// demoDelivery is one message the mail server accepted, at a simulated time.
type demoDelivery struct {
	At    time.Time
	Kind  store.MessageKind
	Round int
	To    string
}

// demoRun is one simulated campaign.
type demoRun struct {
	m      *Main
	dir    string
	config string
	dbPath string
	loc    *time.Location
	camp   *store.Campaign

	vnow atomic.Int64 // the simulated clock, Unix nanoseconds: read by the servers' goroutines

	smtp *smtptest.Server
	imap *imaptest.Server
	db   *sqlite.DB
	sim  *demo.Sim

	deliveries []demoDelivery
	seen       int // SMTP messages already handed to the simulator
	ticks      int
	summary    demoSummary
}

func (r *demoRun) now() time.Time { return time.Unix(0, r.vnow.Load()).In(r.loc) }

func (r *demoRun) setNow(t time.Time) { r.vnow.Store(t.UnixNano()) }

// Run simulates the campaign, prints the summary and serves the dashboard.
func (c *DemoCommand) Run(ctx context.Context) error {
	wallStart := time.Now()
	if !c.delaySet && !c.exit {
		c.tickDelay = 70 * time.Millisecond
	}
	dir := c.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "phieu-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "phieu.db")); err == nil {
			return store.Errorf(store.ECONFLICT, "demo: %s already holds a database (phieu.db); name an empty directory", dir)
		}
	}
	r, err := c.setUp(ctx, dir)
	if r != nil {
		defer r.close()
	}
	if err != nil {
		return err
	}
	if err := c.simulate(ctx, r); err != nil {
		var stopped errDemoStopped
		if errors.As(err, &stopped) || ctx.Err() != nil {
			// Ctrl-C: the person has seen enough; that is no failure.
			fmt.Fprintf(c.m.Stderr, "Đã dừng mô phỏng lúc %s.\n", r.now().Format("02/01/2006 15:04"))
			return nil
		}
		return err
	}
	if err := r.summarize(ctx, c.seed); err != nil {
		return err
	}
	r.summary.WallSeconds = time.Since(wallStart).Seconds()
	r.summary.KeptDir = c.dir != ""
	c.last = r
	out := c.m.Stdout
	if c.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r.summary); err != nil {
			return err
		}
		out = c.m.Stderr // the stream stays JSON only
	} else {
		r.summary.write(out)
	}
	if c.exit {
		return nil
	}
	dm := r.main(c.m.Stderr) // the demo's secret, for the link key
	dm.Logger = c.m.Logger
	url, token, stop, err := dm.demoDashboard(ctx, r.config, r.dbPath, r.now)
	if err != nil {
		fmt.Fprintf(out, "Ghi chú: chưa mở được bảng điều khiển (%v).\n", err)
	} else {
		defer stop()
		fmt.Fprintf(out, "Bảng điều khiển: %s\n", url)
		fmt.Fprintf(out, "Mã truy cập (dán vào ô \"Mã truy cập\" khi đăng nhập): %s\n", token)
	}
	fmt.Fprintln(out, "Nhấn Ctrl-C để dừng.")
	<-ctx.Done()
	return nil
}

// setUp starts the servers, writes the province, the config and the
// campaign and runs the commands an operator would.
func (c *DemoCommand) setUp(ctx context.Context, dir string) (*demoRun, error) {
	loc, err := time.LoadLocation(store.DefaultLocation)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	camp, err := campaignfile.Parse("campaign.yaml", []byte(demo.CampaignFile))
	if err != nil {
		return nil, fmt.Errorf("demo: campaign: %w", err)
	}
	p := synth.Generate(c.seed, max(8, c.members/7), c.members)
	var people []demo.Person
	for _, res := range p.Respondents {
		people = append(people, demo.Person{Mailbox: res.Mailbox, Name: res.FullName, UnitCode: res.UnitCode})
	}
	heads := map[string]string{}
	for _, u := range p.Units {
		if u.Head.Mailbox != "" {
			heads[u.Head.Mailbox] = u.Code
		}
	}
	sim, err := demo.New(c.seed, camp, people, heads, demo.DefaultCast(c.members))
	if err != nil {
		return nil, err
	}
	r := &demoRun{m: c.m, dir: dir, config: filepath.Join(dir, "phieu.yaml"), dbPath: filepath.Join(dir, "phieu.db"),
		loc: loc, camp: camp, sim: sim}
	r.setNow(demo.Start(loc))

	// The province's mail server refuses the locked account at RCPT, as
	// Zimbra and Exchange do; everything else is accepted.
	r.smtp, err = smtptest.New(smtptest.Options{DSN: true, Script: func(st smtptest.Step) smtptest.Reply {
		if st.Stage == smtptest.StageRcpt {
			if code, enhanced, text, refused := sim.Refuse(st.To); refused {
				return smtptest.Reply{Code: code, Enhanced: enhanced, Text: text}
			}
		}
		return smtptest.Reply{}
	}})
	if err != nil {
		return r, fmt.Errorf("demo: %w", err)
	}
	if r.imap, err = imaptest.Start(imaptest.Options{}); err != nil {
		return r, fmt.Errorf("demo: %w", err)
	}

	var units, respondents bytes.Buffer
	if err := p.WriteUnitsCSV(&units); err != nil {
		return r, err
	}
	if err := p.WriteRespondentsCSV(&respondents); err != nil {
		return r, err
	}
	config := fmt.Sprintf(`# Written by phieu demo: servers inside the process, nothing leaves this machine.
store:
  path: phieu.db
secret_file: phieu.secret
timezone: %s
smtp:
  host: 127.0.0.1
  port: %d
  tls: none
  per_minute: 0
  per_hour: 0
imap:
  host: 127.0.0.1
  port: %d
  tls: none
  username: %s
  password_file: imap.password
http:
  listen: "127.0.0.1:0"
log:
  level: warn
liaison:
  name: "Cán bộ đầu mối kỹ thuật, Sở Khoa học và Công nghệ"
  mailbox: cntt.skhcn@binhson.gov.test
`, store.DefaultLocation, r.smtp.Port, r.imap.Port, r.imap.Username)
	for name, body := range map[string][]byte{
		"phieu.yaml": []byte(config), "imap.password": []byte(r.imap.Password + "\n"), "campaign.yaml": []byte(demo.CampaignFile),
		"units.csv": units.Bytes(), "respondents.csv": respondents.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			return r, fmt.Errorf("demo: %w", err)
		}
	}
	for _, args := range [][]string{
		{"import", "units", filepath.Join(dir, "units.csv")},
		{"import", "respondents", filepath.Join(dir, "respondents.csv")},
		{"campaign", "create", "-f", filepath.Join(dir, "campaign.yaml")},
		{"campaign", "add-members", demo.CampaignCode},
	} {
		if err := r.phieu(ctx, args...); err != nil {
			return r, err
		}
	}
	r.db = sqlite.NewDB(r.dbPath)
	r.db.Now = r.now
	cfg, err := ReadConfigFile(r.config)
	if err != nil {
		return r, fmt.Errorf("demo: %w", err)
	}
	secret, err := r.main(io.Discard).loadSecret(&cfg)
	if err != nil {
		return r, fmt.Errorf("demo: %w", err)
	}
	r.db.LinkKey = linkKey(secret)
	if err := r.db.Open(); err != nil {
		return r, fmt.Errorf("demo: %w", err)
	}
	return r, nil
}

func (r *demoRun) close() {
	if r.db != nil {
		r.db.Close()
	}
	if r.imap != nil {
		r.imap.Close()
	}
	if r.smtp != nil {
		r.smtp.Close()
	}
}

// main is the demo's own phieu at the simulated time.
func (r *demoRun) main(stderr io.Writer) *Main {
	return &Main{
		Stdout: io.Discard, Stderr: stderr, Now: r.now,
		// The demo keeps its own secret file: a $PHIEU_SECRET meant for a
		// real installation stays out of it.
		Getenv: func(k string) string {
			if k == "PHIEU_SECRET" || k == "PHIEU_CONFIG" {
				return ""
			}
			return r.m.Getenv(k)
		},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// phieu runs one phieu command in-process at the simulated time, as an
// operator or a cron would run it: the daemon's own code path.
func (r *demoRun) phieu(ctx context.Context, args ...string) error {
	var errs bytes.Buffer
	m := r.main(&errs)
	args = append(args, "--config", r.config)
	if code := m.Main(ctx, args); code != exitOK {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("demo: phieu %s at %s: exit %d: %s", strings.Join(args[:len(args)-2], " "),
			r.now().Format("02/01/2006 15:04"), code, strings.TrimSpace(errs.String()))
	}
	return nil
}

// simulate runs the campaign hour by hour: the members' mail lands in the
// survey mailbox, the daemon's jobs run, what the mail server accepted goes
// to the members it was for.
func (c *DemoCommand) simulate(ctx context.Context, r *demoRun) error {
	start, end := demo.Start(r.loc), demo.End(r.loc)
	progress := newDemoProgress(c.m.Stderr, r)
	for day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, r.loc); !day.After(end); day = day.AddDate(0, 0, 1) {
		for hour := 7; hour <= 20; hour++ {
			now := time.Date(day.Year(), day.Month(), day.Day(), hour, 0, 0, 0, r.loc)
			if now.Before(start) || now.After(end) {
				continue
			}
			if ctx.Err() != nil {
				progress.stop()
				return errDemoStopped{now}
			}
			r.setNow(now)
			if err := r.tick(ctx, now); err != nil {
				progress.stop()
				return err
			}
			if err := progress.tick(ctx, now); err != nil {
				return err
			}
			if c.tickDelay > 0 {
				select {
				case <-time.After(c.tickDelay):
				case <-ctx.Done():
				}
			}
		}
	}
	progress.stop()
	return nil
}

// errDemoStopped is Ctrl-C during the simulation.
type errDemoStopped struct{ at time.Time }

func (e errDemoStopped) Error() string {
	return "demo: stopped at " + e.at.Format("02/01/2006 15:04")
}

// tick is one simulated hour.
func (r *demoRun) tick(ctx context.Context, now time.Time) error {
	r.ticks++
	for _, a := range r.sim.Due(now) {
		raw, err := a.Bytes()
		if err != nil {
			return fmt.Errorf("demo: %s from %s: %w", a.Kind, a.From, err)
		}
		if err := r.imap.AppendAt("INBOX", raw, a.At); err != nil {
			return fmt.Errorf("demo: survey mailbox: %w", err)
		}
	}
	if now.Equal(r.camp.OpensAt) { // the operator starts the campaign
		if err := r.phieu(ctx, "send", "--campaign", demo.CampaignCode, "--wait", "0", "--progress=false"); err != nil {
			return err
		}
	}
	jobs := "plan,send,poll"
	if now.Hour() == 17 {
		jobs = "plan,liaison_digest,send,poll"
	}
	if err := r.phieu(ctx, "run", "--once", "--jobs", jobs); err != nil {
		return err
	}
	return r.deliver(ctx, now)
}

// deliver hands what the mail server accepted since the last hour to the
// members (and unit heads) it was for.
func (r *demoRun) deliver(ctx context.Context, now time.Time) error {
	received := r.smtp.Received()
	fresh := received[r.seen:]
	r.seen = len(received)
	outbox := sqlite.NewOutboxService(r.db, nil)
	var mails []demo.Mail
	for _, msg := range fresh {
		mm, err := r.readDelivered(ctx, outbox, msg, now)
		if err != nil {
			return err
		}
		r.deliveries = append(r.deliveries, demoDelivery{At: now, Kind: mm.Kind, Round: mm.Round, To: mm.To})
		mails = append(mails, mm)
	}
	// Two connections deliver side by side: the order they finish in is
	// not the simulation's.
	sort.SliceStable(mails, func(i, j int) bool {
		a, b := mails[i], mails[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.To != b.To {
			return a.To < b.To
		}
		return a.Round < b.Round
	})
	for _, mm := range mails {
		r.sim.Receive(mm)
	}
	return nil
}

// readDelivered reads a delivered message the way its recipient would, and
// what phieu's outbox says it is.
func (r *demoRun) readDelivered(ctx context.Context, outbox *sqlite.OutboxService, msg smtptest.Message, now time.Time) (demo.Mail, error) {
	mm := demo.Mail{At: now, EnvelopeFrom: msg.From, EnvelopeID: msg.EnvelopeID}
	if len(msg.To) > 0 {
		mm.To = strings.ToLower(msg.To[0])
	}
	h := msg.Header
	if h == nil {
		return mm, fmt.Errorf("demo: a message to %s does not parse", mm.To)
	}
	mm.MessageID, mm.Ref = h.Get("Message-Id"), h.Get("X-Phieu-Ref")
	var dec mime.WordDecoder
	if s, err := dec.DecodeHeader(h.Get("Subject")); err == nil {
		mm.Subject = s
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		mm.From = from[0].Address
	}
	if rt, err := h.AddressList("Reply-To"); err == nil && len(rt) > 0 {
		mm.ReplyTo = rt[0].Address
	}
	auto := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	mm.AutoSubmitted = auto != "" && auto != "no"
	if text, err := reply.BodyText(msg.Data); err == nil || text != "" {
		mm.Text = strings.ReplaceAll(text, "\r\n", "\n")
	}
	if mm.Ref != "" {
		msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{Ref: mm.Ref, Limit: 1})
		if err != nil {
			return mm, fmt.Errorf("demo: outbox: %w", err)
		}
		if len(msgs) == 1 {
			mm.Kind, mm.Round = msgs[0].Kind, msgs[0].Round
		}
	}
	return mm, nil
}

// demoProgress shows where the campaign stands: a status line redrawn
// every simulated hour on a terminal, one line per simulated day otherwise.
type demoProgress struct {
	w     io.Writer
	tty   *os.File // nil when w is not a terminal
	r     *demoRun
	drawn bool
}

func newDemoProgress(w io.Writer, r *demoRun) *demoProgress {
	p := &demoProgress{w: w, r: r}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.tty = f
	}
	return p
}

// fit cuts the line to the terminal's width: a line that wraps cannot be
// redrawn in place.
func (p *demoProgress) fit(line string) string {
	width := 80
	if w, _, err := term.GetSize(int(p.tty.Fd())); err == nil && w > 20 {
		width = w
	}
	if utf8.RuneCountInString(line) < width {
		return line
	}
	return string([]rune(line)[:width-2]) + "…"
}

var vnWeekdays = [...]string{"CN", "T2", "T3", "T4", "T5", "T6", "T7"}

func (p *demoProgress) tick(ctx context.Context, now time.Time) error {
	if p.tty == nil && now.Hour() != 20 && !now.Equal(demo.End(p.r.loc)) {
		return nil
	}
	line, err := p.r.status(ctx, now)
	if err != nil {
		return err
	}
	if p.tty != nil {
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.fit(line))
		p.drawn = true
		return nil
	}
	fmt.Fprintln(p.w, line)
	return nil
}

func (p *demoProgress) stop() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// status is one line of progress, from the database and the mail server.
func (r *demoRun) status(ctx context.Context, now time.Time) (string, error) {
	stats, err := sqlite.NewCampaignService(r.db).CampaignStats(ctx, demo.CampaignCode)
	if err != nil {
		return "", err
	}
	failures, err := sqlite.NewOutboxService(r.db, nil).FindDeliveryFailures(ctx, demo.CampaignCode, time.Time{})
	if err != nil {
		return "", err
	}
	failed := map[string]bool{}
	for _, f := range failures {
		failed[strings.ToLower(f.Mailbox)] = true
	}
	sent := map[store.MessageKind]int{}
	for _, d := range r.deliveries {
		sent[d.Kind]++
	}
	total := stats.Total.Total()
	answered := stats.Total[store.StatusAnswered]
	left := "đã hết hạn"
	if n := templates.DaysLeft(r.camp, now); n > 0 {
		left = fmt.Sprintf("còn %d ngày", n)
	} else if n == 0 {
		left = "hôm nay hết hạn"
	}
	return fmt.Sprintf("%s %s %s · %s · thư mời %d · trả lời %d/%d (%s) · lỗi %d · nhắc %d · báo thủ trưởng %d",
		vnWeekdays[now.Weekday()], now.Format("02/01/2006"), now.Format("15:04"), left, sent[store.KindInvitation],
		answered, total, templates.Percent(answered, total), len(failed), sent[store.KindReminder], sent[store.KindHeadDigest]), nil
}

// demoSummary is what the simulated campaign came to, counted from the
// database and the mail server. The JSON keys are stable.
type demoSummary struct {
	Seed            uint64         `json:"seed"`
	Campaign        string         `json:"campaign"`
	Start           string         `json:"start"`
	Deadline        string         `json:"deadline"`
	End             string         `json:"end"`
	Members         int            `json:"members"`
	Units           int            `json:"units"`
	UnitLevels      int            `json:"unit_levels"`
	Invitations     int            `json:"invitations_sent"`
	Resent          int            `json:"invitations_resent"`
	Answered        int            `json:"answered_on_time"`
	Quoted          int            `json:"answered_in_quoted_form"`
	Corrected       int            `json:"partial_then_corrected"`
	Late            int            `json:"answered_late"`
	NeedsReview     int            `json:"needs_review"`
	FailedMembers   int            `json:"address_failures"`
	Failures        map[string]int `json:"address_failures_by_class"`
	OutOfOffice     int            `json:"out_of_office"`
	Reminders       int            `json:"reminders_sent"`
	Corrections     int            `json:"corrections_sent"`
	Receipts        int            `json:"receipts_sent"`
	HeadDigests     int            `json:"head_digests_sent"`
	OperatorDigests int            `json:"operator_digests_sent"`
	LiaisonDigests  int            `json:"liaison_digests_sent"`
	Never           int            `json:"never_answered"`
	Database        string         `json:"database"`
	KeptDir         bool           `json:"database_kept"`
	Hours           int            `json:"simulated_hours"`
	WallSeconds     float64        `json:"wall_seconds"`
}

// summarize counts the campaign's outcome from the database and the mail
// server's deliveries.
func (r *demoRun) summarize(ctx context.Context, seed uint64) error {
	loc := r.loc
	s := demoSummary{Seed: seed, Campaign: demo.CampaignCode, Start: demo.Start(loc).Format("02/01/2006 15:04"),
		Deadline: r.camp.Deadline.In(loc).Format("02/01/2006 15:04"), End: demo.End(loc).Format("02/01/2006 15:04"),
		Failures: map[string]int{}, Database: r.dbPath, Hours: r.ticks}
	stats, err := sqlite.NewCampaignService(r.db).CampaignStats(ctx, demo.CampaignCode)
	if err != nil {
		return err
	}
	s.Members = stats.Total.Total()
	s.Answered = stats.Total[store.StatusAnswered]
	s.NeedsReview = stats.Total[store.StatusAnsweredNeedsReview]
	s.Units = len(stats.ByUnit)
	for _, u := range stats.ByUnit {
		s.UnitLevels = max(s.UnitLevels, u.Depth+1)
	}
	members, err := sqlite.NewCampaignService(r.db).FindMembers(ctx, demo.CampaignCode, "")
	if err != nil {
		return err
	}
	status := map[int64]store.MemberStatus{}
	for _, m := range members {
		status[m.RespondentID] = m.Status
	}

	outbox := sqlite.NewOutboxService(r.db, nil)
	responses, err := sqlite.NewInboundService(r.db, outbox).FindResponses(ctx, demo.CampaignCode, 0)
	if err != nil {
		return err
	}
	wrote, late, partial, quoted := map[int64]bool{}, map[int64]bool{}, map[int64]bool{}, map[int64]bool{}
	for _, res := range responses {
		wrote[res.RespondentID] = true
		switch {
		case res.Status == store.ResponseLate:
			late[res.RespondentID] = true
		case !res.Complete && (res.Status == store.ResponsePartial || res.Status == store.ResponseSuperseded):
			partial[res.RespondentID] = true
		case res.Status == store.ResponseCounted:
			for _, a := range res.Answers {
				if a.Source == "quoted" {
					quoted[res.RespondentID] = true
				}
			}
		}
	}
	for id := range partial {
		if status[id] == store.StatusAnswered {
			s.Corrected++
		}
	}
	for id := range late {
		if status[id] != store.StatusAnswered && status[id] != store.StatusAnsweredNeedsReview {
			s.Late++
		}
	}
	s.Quoted = len(quoted)
	s.Never = s.Members - len(wrote)

	failures, err := outbox.FindDeliveryFailures(ctx, demo.CampaignCode, time.Time{})
	if err != nil {
		return err
	}
	byClass := map[store.FailureClass]map[string]bool{}
	failed := map[string]bool{}
	for _, f := range failures {
		if byClass[f.Class] == nil {
			byClass[f.Class] = map[string]bool{}
		}
		byClass[f.Class][strings.ToLower(f.Mailbox)] = true
		failed[strings.ToLower(f.Mailbox)] = true
	}
	for c, boxes := range byClass {
		s.Failures[string(c)] = len(boxes)
	}
	s.FailedMembers = len(failed)

	away := map[int64]bool{}
	autos, _, err := sqlite.NewInboundService(r.db, outbox).FindInbound(ctx, store.InboundFilter{CampaignCode: demo.CampaignCode, Kind: store.InboundAutoReply})
	if err != nil {
		return err
	}
	for _, a := range autos {
		if a.RespondentID != 0 {
			away[a.RespondentID] = true
		}
	}
	s.OutOfOffice = len(away)

	for _, d := range r.deliveries {
		switch d.Kind {
		case store.KindInvitation:
			s.Invitations++
			if d.Round > 0 {
				s.Resent++
			}
		case store.KindReminder:
			s.Reminders++
		case store.KindCorrection:
			s.Corrections++
		case store.KindReceipt:
			s.Receipts++
		case store.KindHeadDigest:
			s.HeadDigests++
		case store.KindOperatorDigest:
			s.OperatorDigests++
		case store.KindLiaisonDigest:
			s.LiaisonDigests++
		}
	}
	r.summary = s
	return nil
}

// write prints the summary for a person.
func (s demoSummary) write(w io.Writer) {
	fmt.Fprintf(w, "\nKết quả mô phỏng chiến dịch %s (hạt giống %d)\n", s.Campaign, s.Seed)
	fmt.Fprintf(w, "Thời gian mô phỏng: %s → %s, hạn trả lời %s\n\n", s.Start, s.End, s.Deadline)
	row := func(indent int, label string, value string) {
		pad := 54 - indent - utf8.RuneCountInString(label)
		fmt.Fprintf(w, "%s%s%s %s\n", strings.Repeat(" ", indent), label, strings.Repeat(" ", max(1, pad)), value)
	}
	n := strconv.Itoa
	row(2, "Thành viên", fmt.Sprintf("%d (%d đơn vị, %d cấp)", s.Members, s.Units, s.UnitLevels))
	row(2, "Thư mời đã gửi", fmt.Sprintf("%d (trong đó %d lần gửi lại vì hộp thư đầy)", s.Invitations, s.Resent))
	row(2, "Trả lời đúng hạn, được tính", fmt.Sprintf("%d (%s)", s.Answered, templates.Percent(s.Answered, s.Members)))
	row(4, "trong đó ghi vào phiếu trích dẫn trong thư", n(s.Quoted))
	row(4, "trong đó trả lời thiếu, bổ sung khi được đề nghị", n(s.Corrected))
	row(2, "Trả lời sau hạn (chờ người điều hành quyết định)", n(s.Late))
	row(2, "Cần xem xét (trả lời từ hộp thư khác)", n(s.NeedsReview))
	row(2, "Hộp thư gặp lỗi khi gửi (kể cả lỗi tạm thời)", n(s.FailedMembers))
	var classes []string
	for c := range s.Failures {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool { return classOrder(classes[i]) < classOrder(classes[j]) })
	for _, c := range classes {
		row(4, store.FailureClass(c).Label()+" ("+c+")", n(s.Failures[c]))
	}
	row(2, "Trả lời tự động: vắng mặt", n(s.OutOfOffice))
	row(2, "Thư nhắc đã gửi", n(s.Reminders))
	row(2, "Thư đề nghị bổ sung phiếu", n(s.Corrections))
	row(2, "Thư xác nhận đã nhận phiếu", n(s.Receipts))
	row(2, "Thư báo thủ trưởng đơn vị", n(s.HeadDigests))
	row(2, "Thư báo tiến độ cho văn thư Sở Nội vụ", n(s.OperatorDigests))
	row(2, "Thư báo lỗi cho cán bộ đầu mối kỹ thuật", n(s.LiaisonDigests))
	row(2, "Chưa trả lời lần nào", n(s.Never))
	db := s.Database
	if !s.KeptDir {
		db += " (xóa khi thoát; --dir để giữ lại)"
	}
	row(2, "Cơ sở dữ liệu", db)
	fmt.Fprintf(w, "\nThời gian chạy: %s giây cho %d giờ mô phỏng\n", strings.Replace(strconv.FormatFloat(s.WallSeconds, 'f', 1, 64), ".", ",", 1), s.Hours)
}

// classOrder sorts failure classes as digests show them.
func classOrder(c string) int {
	for i, k := range store.FailureClasses {
		if string(k) == c {
			return i
		}
	}
	return len(store.FailureClasses)
}
