package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// loadSecret returns the installation secret: $PHIEU_SECRET, else the
// secret file, created with 32 random bytes (mode 0600) if missing.
func (m *Main) loadSecret(cfg *Config) ([]byte, error) {
	if v := m.Getenv("PHIEU_SECRET"); v != "" {
		if len(v) < 32 {
			return nil, store.Errorf(store.EINVALID, "PHIEU_SECRET must be at least 32 characters")
		}
		return []byte(v), nil
	}
	path := cfg.Resolve(cfg.SecretFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		rand.Read(b[:])
		data = []byte(hex.EncodeToString(b[:]) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create secret file: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, fmt.Errorf("create secret file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("create secret file: %w", err)
		}
		m.Logger.Info("created secret file", "path", path)
	} else if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 32 {
		return nil, store.Errorf(store.EINVALID, "secret file %s: the secret must be at least 32 characters", path)
	}
	return []byte(secret), nil
}

// openOutbox opens the store and the outbox with the installation's
// reference secret.
func (m *Main) openOutbox(c configFlag) (*sqlite.DB, *Config, *sqlite.OutboxService, error) {
	db, cfg, err := m.openStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	secret, err := m.loadSecret(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	refs, err := store.NewRefs(secret)
	if err != nil {
		return nil, nil, nil, err
	}
	db.LinkKey = linkKey(secret) // the secret may have been created just now
	return db, cfg, sqlite.NewOutboxService(db, refs), nil
}

// linkKey derives the key that ties responses to members (see
// sqlite.DB.LinkKey) from the installation secret. It lives in memory
// only: a copy of the database without the secret cannot tell who
// answered what.
func linkKey(secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("phieu response link key v1"))
	return mac.Sum(nil)
}

// existingLinkKey is the link key when the installation secret exists, nil
// when it does not: a command that only reads must not create the secret,
// and without it simply cannot tell whose a response is.
func (m *Main) existingLinkKey(cfg *Config) ([]byte, error) {
	if m.Getenv("PHIEU_SECRET") == "" {
		if _, err := os.Stat(cfg.Resolve(cfg.SecretFile)); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	secret, err := m.loadSecret(cfg)
	if err != nil {
		return nil, err
	}
	return linkKey(secret), nil
}

// campaignStore is what send and preview work on: the store, the outbox
// and one campaign.
type campaignStore struct {
	db        *sqlite.DB
	cfg       *Config
	outbox    *sqlite.OutboxService
	campaigns *sqlite.CampaignService
	campaign  *store.Campaign
}

// openCampaign opens the outbox and finds the campaign code.
func (m *Main) openCampaign(ctx context.Context, c configFlag, code string) (*campaignStore, error) {
	db, cfg, outbox, err := m.openOutbox(c)
	if err != nil {
		return nil, err
	}
	cs := &campaignStore{db: db, cfg: cfg, outbox: outbox, campaigns: sqlite.NewCampaignService(db)}
	if cs.campaign, err = cs.campaigns.FindCampaignByCode(ctx, code); err != nil {
		return nil, err
	}
	return cs, nil
}

// fileLock is an exclusive flock on a file next to the database, holding
// the owner's pid for the message a second process prints.
type fileLock struct{ f *os.File }

// lockFile takes the lock at path or says, with the holder's pid, that
// another phieu holds it (busy is "is sending from", "runs on"...).
func lockFile(path, busy, dbPath string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, store.Errorf(store.ECONFLICT, "another phieu (pid %s) %s %s; wait for it or stop it", strings.TrimSpace(string(pid)), busy, dbPath)
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &fileLock{f: f}, nil
}

func (l *fileLock) Close() error {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}

// lockSender is held by whoever sends from a database: with it held, any
// message left "sending" belongs to a process that died and is reclaimed at
// once instead of after its lease.
func lockSender(dbPath string) (*fileLock, error) {
	return lockFile(dbPath+".send-lock", "is sending from", dbPath)
}

// mailerConfig turns the config's smtp section into the mailer's.
func mailerConfig(cfg *Config) (mailer.Config, error) {
	pw, err := cfg.SMTPPassword()
	if err != nil {
		return mailer.Config{}, err
	}
	s := cfg.SMTP
	return mailer.Config{
		Host: s.Host, Port: s.Port, TLS: s.TLS, CAFile: cfg.Resolve(s.CAFile), ServerName: s.ServerName,
		Username: s.Username, Password: pw, Auth: s.Auth, HeloName: s.HeloName,
		Connections: s.Connections, PerMinute: s.PerMinute, PerHour: s.PerHour,
	}, nil
}

// newSender wires a mailer.Sender to the store, holding the sender lock and
// reclaiming what a dead sender left behind.
func (m *Main) newSender(ctx context.Context, db *sqlite.DB, cfg *Config, outbox *sqlite.OutboxService) (*mailer.Sender, error) {
	mc, err := mailerConfig(cfg)
	if err != nil {
		return nil, err
	}
	transport, err := mailer.NewTransport(mc)
	if err != nil {
		return nil, err
	}
	lock, err := lockSender(db.Path())
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, lock)
	n, err := outbox.ReclaimOutbox(ctx, true)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		fmt.Fprintf(m.Stderr, "phieu: %d messages were being sent when a previous run stopped; they go out again\n", n)
	}
	host, _ := os.Hostname()
	return &mailer.Sender{
		Outbox:    outbox,
		Campaigns: sqlite.NewCampaignService(db),
		Transport: transport,
		Composer:  mailer.NewComposer(),
		Retry:     cfg.RetryPolicy(),
		Logger:    m.Logger,
		Now:       m.Now,
		Owner:     fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano()),
	}, nil
}

const sendHelp = `
Queues an invitation for every member of the campaign who has none yet and
delivers what is due through the configured SMTP server. Safe to run again:
each member gets one invitation, whatever happened before (a crash, a pause).
A draft campaign becomes active; a paused or closed one is refused.

Messages the server defers (throttling, a full mailbox) are retried later;
with --wait, send stays to retry those due within that time. Stop it with
Ctrl-C at any moment: what was sent is recorded, the rest goes out next time.`

// SendCommand queues invitations and delivers the outbox.
type SendCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	dryRun   bool
	limit    int
	wait     time.Duration
	progress bool
}

func (c *SendCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "campaign `code`")
	fs.BoolVar(&c.dryRun, "dry-run", false, "say what would be queued and sent; change nothing")
	fs.IntVar(&c.limit, "limit", 0, "invite at most `N` more members in this run (0: all)")
	fs.DurationVar(&c.wait, "wait", 15*time.Minute, "keep retrying deferred messages due within this `duration`")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "show a progress line on stderr")
}

// Run sends.
func (c *SendCommand) Run(ctx context.Context) error {
	if c.campaign == "" {
		return usageErrorf("send needs --campaign CODE")
	}
	cs, err := c.m.openCampaign(ctx, c.config, c.campaign)
	if err != nil {
		return err
	}
	db, cfg, outbox, campaigns, camp := cs.db, cs.cfg, cs.outbox, cs.campaigns, cs.campaign
	switch camp.State {
	case store.CampaignPaused:
		return store.Errorf(store.ECONFLICT, "campaign %s is paused; resume it first: phieu campaign resume %s", camp.Code, camp.Code)
	case store.CampaignClosed:
		return store.Errorf(store.ECONFLICT, "campaign %s is closed", camp.Code)
	}
	if now := c.m.Now(); !camp.InTime(now) {
		return store.Errorf(store.ECONFLICT, "campaign %s: the deadline (%s) has passed; nothing is sent after it", camp.Code, deadlineText(camp.Deadline.In(camp.Loc())))
	}
	notInvited, err := campaigns.FindMembers(ctx, camp.Code, store.StatusNotInvited)
	if err != nil {
		return err
	}
	if len(notInvited) == 0 {
		stats, err := campaigns.CampaignStats(ctx, camp.Code)
		if err != nil {
			return err
		}
		if stats.Total.Total() == 0 {
			return store.Errorf(store.ECONFLICT, "campaign %s has no members; add them first: phieu campaign add-members %s", camp.Code, camp.Code)
		}
	}
	if c.dryRun {
		counts, err := outbox.OutboxCounts(ctx, camp.Code)
		if err != nil {
			return err
		}
		n := len(notInvited)
		if c.limit > 0 {
			n = min(n, c.limit)
		}
		fmt.Fprintf(c.m.Stdout, "dry run: would queue up to %d invitations (members not invited yet: %d); outbox: %s\n",
			n, len(notInvited), outboxCountsText(counts))
		if camp.State == store.CampaignDraft {
			fmt.Fprintf(c.m.Stdout, "dry run: campaign %s would become active\n", camp.Code)
		}
		fmt.Fprintf(c.m.Stdout, "dry run: through %s:%d (tls %s, %d connections, at most %d/min and %d/h); nothing sent\n",
			cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS, cfg.SMTP.Connections, cfg.SMTP.PerMinute, cfg.SMTP.PerHour)
		return nil
	}
	sender, err := c.m.newSender(ctx, db, cfg, outbox)
	if err != nil {
		return err
	}
	if camp.State == store.CampaignDraft {
		if err := campaigns.SetCampaignState(ctx, camp.Code, store.CampaignActive); err != nil {
			return err
		}
		fmt.Fprintf(c.m.Stdout, "campaign %s is now active\n", camp.Code)
	}
	queued, err := outbox.EnqueueInvitations(ctx, camp.Code, c.limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "queued %d invitations\n", queued)
	var bar *progressLine
	if c.progress {
		counts, err := outbox.OutboxCounts(ctx, "")
		if err != nil {
			return err
		}
		bar = newProgressLine(c.m.Stderr, counts[store.OutboxQueued]+counts[store.OutboxDeferred])
		sender.Progress = bar.update
	}
	stats, err := sender.Deliver(ctx, mailer.DeliverOptions{Wait: c.wait})
	if bar != nil {
		bar.done()
	}
	fmt.Fprintf(c.m.Stdout, "sent %d, deferred %d (throttled %d), failed %d, suppressed %d, held %d\n",
		stats.Sent, stats.Deferred, stats.Throttled, stats.Failed, stats.Suppressed, stats.Held)
	counts, cerr := outbox.OutboxCounts(ctx, camp.Code)
	if cerr == nil {
		fmt.Fprintf(c.m.Stdout, "outbox %s: %s\n", camp.Code, outboxCountsText(counts))
	}
	if at, ok, _ := outbox.NextOutboxDue(context.WithoutCancel(ctx)); ok {
		fmt.Fprintf(c.m.Stdout, "next attempt: %s (phieu run retries automatically, or run send again)\n",
			at.In(camp.Loc()).Format("02/01/2006 15:04"))
	}
	if err != nil {
		var down *mailer.DownError
		if errors.As(err, &down) {
			return fmt.Errorf("sending stopped, an alert was raised for the IT liaison: %w", err)
		}
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintln(c.m.Stdout, "interrupted: what was sent is recorded; run send again to continue")
	}
	return nil
}

func outboxCountsText(counts map[store.OutboxState]int) string {
	var parts []string
	for _, s := range store.OutboxStates {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine redraws one status line on a terminal, at most 10 times a
// second.
type progressLine struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgressLine(w io.Writer, total int) *progressLine {
	return &progressLine{w: w, total: total, start: time.Now()}
}

func (p *progressLine) update(st mailer.Stats) {
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	done := st.Sent + st.Failed + st.Suppressed
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = min(width, done*width/p.total)
	}
	rate := float64(st.Sent) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d sent %d deferred %d failed %d  %.0f msg/s ",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, p.total, st.Sent, st.Deferred, st.Failed, rate)
}

func (p *progressLine) done() { fmt.Fprintln(p.w) }

const outboxListHelp = `
Lists outbox messages, newest first: recipient, kind, state, attempts, and
why a message is deferred, failed or suppressed.`

// OutboxListCommand lists the outbox.
type OutboxListCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	state    string
	kind     string
	limit    int
	format   formatFlag
}

func (c *OutboxListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "only this campaign `code`")
	fs.StringVar(&c.state, "state", "", "only this `state`: queued, sending, deferred, sent, failed, suppressed")
	fs.StringVar(&c.kind, "kind", "", "only this `kind`: invitation, reminder, receipt, ...")
	fs.IntVar(&c.limit, "limit", 50, "at most `N` messages (0: all)")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run lists.
func (c *OutboxListCommand) Run(ctx context.Context) error {
	if c.state != "" && !store.OutboxState(c.state).Valid() {
		return usageErrorf("--state %q is not one of queued, sending, deferred, sent, failed, suppressed", c.state)
	}
	_, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	msgs, total, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: c.campaign, State: store.OutboxState(c.state),
		Kind: store.MessageKind(c.kind), Limit: c.limit})
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	t := &table{header: []string{"ID", "CAMPAIGN", "KIND", "ROUND", "TO", "STATE", "ATTEMPTS", "WHEN", "REASON"},
		jsonKeys: []string{"id", "campaign", "kind", "round", "to", "state", "attempts", "when", "reason"}}
	for _, m := range msgs {
		when := m.NextAttemptAt
		if m.State == store.OutboxSent {
			when = m.SentAt
		}
		t.rows = append(t.rows, []string{strconv.FormatInt(m.ID, 10), m.CampaignCode, string(m.Kind), strconv.Itoa(m.Round),
			m.To, string(m.State), strconv.Itoa(m.Attempts), when.In(loc).Format("02/01/2006 15:04"), m.Reason})
	}
	if err := t.write(c.m.Stdout, c.format); err != nil {
		return err
	}
	if c.format == "table" && total > len(msgs) {
		fmt.Fprintf(c.m.Stdout, "(%d of %d; --limit 0 for all)\n", len(msgs), total)
	}
	return nil
}

func configLocation(cfg *Config) *time.Location {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return time.FixedZone("ICT", 7*3600)
	}
	return loc
}

const outboxShowHelp = `
Shows one outbox message and every SMTP attempt made for it: when, at which
stage (dial, tls, auth, mail, rcpt, data), the reply code, enhanced status
and the server's text — what the IT liaison needs to diagnose a failure.`

// OutboxShowCommand shows one message.
type OutboxShowCommand struct {
	m      *Main
	config configFlag
	id     int64
}

func (c *OutboxShowCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

func (c *OutboxShowCommand) args(rest []string) error {
	var s string
	if err := oneArg(rest, "message ID", &s); err != nil {
		return err
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return usageErrorf("%q is not a message ID (see phieu outbox list)", s)
	}
	c.id = id
	return nil
}

// Run shows.
func (c *OutboxShowCommand) Run(ctx context.Context) error {
	_, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	m, attempts, err := outbox.FindOutboxMessage(ctx, c.id)
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("02/01/2006 15:04:05")
	}
	w := c.m.Stdout
	fmt.Fprintf(w, "message %d: %s round %d of campaign %s\n", m.ID, m.Kind, m.Round, m.CampaignCode)
	fmt.Fprintf(w, "  to:           %s <%s>\n", m.ToName, m.To)
	if m.RespondentID != 0 {
		fmt.Fprintf(w, "  respondent:   %d\n", m.RespondentID)
	}
	if m.UnitCode != "" {
		fmt.Fprintf(w, "  unit:         %s\n", m.UnitCode)
	}
	fmt.Fprintf(w, "  state:        %s\n", m.State)
	if m.Reason != "" {
		fmt.Fprintf(w, "  reason:       %s\n", m.Reason)
	}
	fmt.Fprintf(w, "  message-id:   %s\n  reference:    %s (subject code [%s])\n", m.MessageID, m.Ref, store.SubjectCode(m.Ref))
	fmt.Fprintf(w, "  queued:       %s\n  not before:   %s\n", at(m.CreatedAt), at(m.NotBefore))
	if !m.SendBy.IsZero() {
		fmt.Fprintf(w, "  send by:      %s\n", at(m.SendBy))
	}
	fmt.Fprintf(w, "  next attempt: %s\n  sent:         %s\n", at(m.NextAttemptAt), at(m.SentAt))
	fmt.Fprintf(w, "  attempts:     %d\n", len(attempts))
	if len(attempts) > 0 {
		t := &table{header: []string{"WHEN", "STAGE", "CODE", "STATUS", "DURATION", "OUTCOME", "SERVER SAID"}}
		for _, a := range attempts {
			code := ""
			if a.Code != 0 {
				code = strconv.Itoa(a.Code)
			}
			t.rows = append(t.rows, []string{at(a.At), string(a.Stage), code, a.Status, a.Duration.Round(time.Millisecond).String(), string(a.Outcome), a.Text})
		}
		fmt.Fprintln(w)
		return t.write(w, formatFlag("table"))
	}
	return nil
}

const campaignPauseHelp = `
Pauses a campaign: nothing more is sent for it (messages being sent finish;
the rest stay queued). Resume sends each queued message once, never again
what was already sent.`

// CampaignStateCommand pauses or resumes a campaign.
type CampaignStateCommand struct {
	m      *Main
	config configFlag
	code   string
	state  store.CampaignState
}

func (c *CampaignStateCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }
func (c *CampaignStateCommand) args(rest []string) error {
	return oneArg(rest, "campaign code", &c.code)
}

// Run changes the state.
func (c *CampaignStateCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	svc := sqlite.NewCampaignService(db)
	camp, err := svc.FindCampaignByCode(ctx, c.code)
	if err != nil {
		return err
	}
	if c.state == store.CampaignActive && camp.State == store.CampaignDraft {
		return store.Errorf(store.ECONFLICT, "campaign %s is a draft, not paused; phieu send --campaign %s starts it", c.code, c.code)
	}
	if err := svc.SetCampaignState(ctx, c.code, c.state); err != nil {
		return err
	}
	verb := map[store.CampaignState]string{store.CampaignPaused: "paused", store.CampaignActive: "resumed"}[c.state]
	fmt.Fprintf(c.m.Stdout, "campaign %s %s\n", c.code, verb)
	return nil
}
