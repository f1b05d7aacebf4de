package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const pollHelp = `Reads the survey mailbox over IMAP once (--once, the default) or keeps
watching it (--watch: IDLE where the server offers it, else every
imap.poll_interval). Bounces, delay notices, auto-replies, complaints and
replies are stored and filed into phieu's folders (imap.folders); answers
are read out of replies and a receipt or a correction request is queued
for the next "phieu send". Mail that is not phieu's is left untouched and
unread. Nothing is ever deleted.`

// PollCommand is "phieu poll".
type PollCommand struct {
	noArgs
	m      *Main
	config configFlag
	once   bool
	watch  bool
	loc    *time.Location
}

func (c *PollCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.BoolVar(&c.once, "once", false, "read what is new, then exit (the default)")
	fs.BoolVar(&c.watch, "watch", false, "keep watching the mailbox until interrupted")
}

// pollerConfig is the IMAP part of the config, password included.
func pollerConfig(cfg *Config) (poller.Config, error) {
	pw, err := cfg.IMAPPassword()
	if err != nil {
		return poller.Config{}, err
	}
	s := cfg.IMAP
	pc := poller.Config{
		Host: s.Host, Port: s.Port, TLS: s.TLS, CAFile: cfg.Resolve(s.CAFile), ServerName: s.ServerName,
		Username: s.Username, Password: pw, Auth: s.Auth, Mailbox: s.Mailbox, FileMode: s.FileMode,
		Folders: poller.Folders{Bounces: s.Folders.Bounces, Replies: s.Folders.Replies,
			AutoReplies: s.Folders.AutoReplies, Unmatched: s.Folders.Unmatched},
	}
	return pc, pc.Validate()
}

// newPoller wires a poller to the store, holding the poll lock: two
// pollers on one mailbox would file the same messages twice over.
func (m *Main) newPoller(db *sqlite.DB, cfg *Config, outbox *sqlite.OutboxService) (*poller.Poller, error) {
	pc, err := pollerConfig(cfg)
	if err != nil {
		return nil, err
	}
	lock, err := lockFile(db.Path()+".poll-lock", "is reading the mailbox for", db.Path())
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, lock)
	interval, _ := time.ParseDuration(cfg.IMAP.PollInterval)
	resendAfter, _ := time.ParseDuration(cfg.IMAP.ResendAfter)
	cluster, _ := cfg.Integrity.policy() // checked by Validate
	resends := cfg.IMAP.Resends
	if resends == 0 {
		resends = -1
	}
	return &poller.Poller{
		Config: pc, Store: pollStore{sqlite.NewInboundService(db, outbox), outbox}, Campaigns: sqlite.NewCampaignService(db),
		Logger: m.Logger, Now: m.Now, PollInterval: interval, ResendAfter: resendAfter, ResendMax: resends,
		Integrity: cluster,
	}, nil
}

// pollStore is the inbound service with the outbox's listing.
type pollStore struct {
	*sqlite.InboundService
	outbox *sqlite.OutboxService
}

func (s pollStore) FindOutbox(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxMessage, int, error) {
	return s.outbox.FindOutbox(ctx, f)
}

// Run polls.
func (c *PollCommand) Run(ctx context.Context) error {
	if c.once && c.watch {
		return usageErrorf("give --once or --watch, not both")
	}
	db, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	p, err := c.m.newPoller(db, cfg, outbox)
	if err != nil {
		return err
	}
	c.loc = configLocation(cfg)
	if !c.watch {
		st, err := p.Poll(ctx)
		if err != nil && st.Fetched == 0 {
			return fmt.Errorf("%w (the imap section of %s names the server)", err, configName(cfg))
		}
		c.report(st)
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(c.m.Stderr, "watching %s on %s:%d (Ctrl-C to stop)\n", cfg.IMAP.Mailbox, cfg.IMAP.Host, cfg.IMAP.Port)
	return p.Watch(ctx, c.report)
}

func configName(cfg *Config) string {
	if cfg.Path == "" {
		return "the built-in defaults"
	}
	return cfg.Path
}

func (c *PollCommand) report(st poller.Stats) {
	var kinds []string
	for _, k := range []store.InboundKind{store.InboundReply, store.InboundBounce, store.InboundDelay, store.InboundDelivered,
		store.InboundAutoReply, store.InboundComplaint, store.InboundOther} {
		if n := st.Kinds[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
	}
	line := fmt.Sprintf("poll: %d new, %d stored", st.Fetched, st.Stored)
	if len(kinds) > 0 {
		line += " (" + strings.Join(kinds, ", ") + ")"
	}
	line += fmt.Sprintf(", %d responses, %d already seen, %d not phieu's (left untouched), %d filed", st.Responses, st.Duplicates, st.Ignored, st.Filed)
	if st.Queued > 0 {
		line += fmt.Sprintf("; %d receipts, corrections or resends queued: phieu send delivers them", st.Queued)
	}
	if st.Review > 0 {
		line += fmt.Sprintf("; %d need review: phieu inbox list --review", st.Review)
	}
	fmt.Fprintf(c.m.Stdout, "%s %s\n", c.m.Now().In(c.loc).Format("02/01/2006 15:04:05"), line)
}

const inboxListHelp = `Lists the messages phieu read from the survey mailbox: their kind, what
they matched, where they were filed, and why any needs a person (--review).`

// InboxListCommand is "phieu inbox list".
type InboxListCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	kind     string
	review   bool
	limit    int
	format   formatFlag
}

func (c *InboxListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "only this campaign `code`")
	fs.StringVar(&c.kind, "kind", "", "only this `kind`: reply, bounce, delay, delivered, auto_reply, complaint, other")
	fs.BoolVar(&c.review, "review", false, "only messages a person must look at")
	fs.IntVar(&c.limit, "limit", 50, "at most `N` messages (0: all)")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run lists.
func (c *InboxListCommand) Run(ctx context.Context) error {
	db, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	in := sqlite.NewInboundService(db, outbox)
	msgs, total, err := in.FindInbound(ctx, store.InboundFilter{CampaignCode: c.campaign, Kind: store.InboundKind(c.kind),
		ReviewOnly: c.review, Limit: c.limit})
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	t := &table{header: []string{"ID", "AT", "KIND", "CAMPAIGN", "FROM", "SUBJECT", "MATCH", "FOLDER", "FAILURES", "NOTE", "REVIEW"},
		jsonKeys: []string{"id", "at", "kind", "campaign", "from", "subject", "match", "folder", "failures", "note", "review"}}
	for _, m := range msgs {
		var fails []string
		for _, f := range m.Failures {
			fails = append(fails, fmt.Sprintf("%s %s %s", f.Recipient, f.Status, f.Class))
		}
		t.add(strconv.FormatInt(m.ID, 10), m.At.In(loc).Format("02/01/2006 15:04"), string(m.Kind), m.CampaignCode, m.From,
			m.Subject, string(m.Match), m.Folder, strings.Join(fails, "; "), m.Note, m.Review)
	}
	if err := t.write(c.m.Stdout, c.format); err != nil {
		return err
	}
	if c.format == "table" && total > len(msgs) {
		fmt.Fprintf(c.m.Stdout, "(%d of %d; --limit 0 for all)\n", len(msgs), total)
	}
	return nil
}

const responsesListHelp = `Lists the responses read from replies, newest first, with their status:
counted, partial (a correction was requested), late, needs_review (from
another mailbox), superseded (a later reply replaced it) or rejected (the
operator decided it does not count), and the day each came (phieu keeps
no finer time with answers). Responses are tied to members through the
installation secret: without it RESPONDENT is 0 and FROM empty, and
--respondent is refused.`

// ResponsesListCommand is "phieu responses list".
type ResponsesListCommand struct {
	noArgs
	m          *Main
	config     configFlag
	campaign   string
	respondent int64
	format     formatFlag
}

func (c *ResponsesListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "campaign `code` (required)")
	fs.Int64Var(&c.respondent, "respondent", 0, "only this respondent `id`")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run lists.
func (c *ResponsesListCommand) Run(ctx context.Context) error {
	if c.campaign == "" {
		return usageErrorf("responses list needs --campaign CODE")
	}
	db, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	rs, err := sqlite.NewInboundService(db, outbox).FindResponses(ctx, c.campaign, c.respondent)
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	t := &table{header: []string{"ID", "RESPONDENT", "SEQ", "AT", "FROM", "STATUS", "ANSWERS", "PROBLEMS", "REASON"},
		jsonKeys: []string{"id", "respondent", "seq", "at", "from", "status", "answers", "problems", "reason"}}
	for _, r := range rs {
		var ans, probs []string
		for _, a := range r.Answers {
			ans = append(ans, a.Code+"="+a.Value)
		}
		for _, p := range r.Problems {
			probs = append(probs, p.Code+": "+p.Message)
		}
		t.add(strconv.FormatInt(r.ID, 10), strconv.FormatInt(r.RespondentID, 10), strconv.Itoa(r.Seq), r.At.In(loc).Format("02/01/2006"),
			r.From, string(r.Status), strings.Join(ans, " "), strings.Join(probs, "; "), r.Reason)
	}
	return t.write(c.m.Stdout, c.format)
}

const responsesAcceptHelp = `Counts a late response, or one sent from another mailbox, after the
operator has checked it: it becomes the member's counted response. The
decision is recorded in the audit log under your user name (phieu audit
list).`

// ResponsesAcceptCommand is "phieu responses accept ID".
type ResponsesAcceptCommand struct {
	m      *Main
	config configFlag
	id     int64
}

func (c *ResponsesAcceptCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

func (c *ResponsesAcceptCommand) args(rest []string) (err error) {
	c.id, err = responseIDArg(rest, "accept")
	return err
}

// responseIDArg reads the one response ID of responses accept or reject.
func responseIDArg(rest []string, verb string) (int64, error) {
	if len(rest) != 1 {
		return 0, usageErrorf("responses %s needs one response ID", verb)
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErrorf("%q is not a response ID", rest[0])
	}
	return id, nil
}

// Run accepts.
func (c *ResponsesAcceptCommand) Run(ctx context.Context) error {
	db, _, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	ctx = store.NewContextWithActor(ctx, c.m.cliActor())
	r, err := sqlite.NewInboundService(db, outbox).AcceptResponse(ctx, c.id)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "response %d of respondent %d in %s is now counted\n", r.ID, r.RespondentID, r.CampaignCode)
	return nil
}

const responsesRejectHelp = `Decides that a late response, or one sent from another mailbox, does not
count. The member's status follows from their other responses: answered if
one counts, else still waiting for an answer (and for reminders). The
decision is recorded in the audit log under your user name (phieu audit
list). Only late and needs-review responses can be rejected.`

// ResponsesRejectCommand is "phieu responses reject ID".
type ResponsesRejectCommand struct {
	m      *Main
	config configFlag
	id     int64
}

func (c *ResponsesRejectCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

func (c *ResponsesRejectCommand) args(rest []string) (err error) {
	c.id, err = responseIDArg(rest, "reject")
	return err
}

// Run rejects.
func (c *ResponsesRejectCommand) Run(ctx context.Context) error {
	db, _, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	ctx = store.NewContextWithActor(ctx, c.m.cliActor())
	r, err := sqlite.NewInboundService(db, outbox).RejectResponse(ctx, c.id)
	if err != nil {
		return err
	}
	m, err := sqlite.NewCampaignService(db).FindMember(ctx, r.CampaignCode, r.RespondentID)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "response %d of respondent %d in %s is rejected: not counted (member %s)\n", r.ID, r.RespondentID,
		r.CampaignCode, m.Status)
	return nil
}
