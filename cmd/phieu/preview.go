package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/templates"
)

const previewHelp = `
Prints a message exactly as phieu would send it now: the headers and the
text part as the recipient reads them (--html for the HTML part), or the raw
MIME with --raw. Nothing is sent or stored.

Respondent kinds (invitation, reminder, receipt, correction) need
--respondent (an id or a mailbox). head_digest uses --unit (default: the
respondent's unit); operator_digest and liaison_digest use the campaign's
current figures. Receipts and correction requests are shown with sample
answers.`

// PreviewCommand renders one message.
type PreviewCommand struct {
	noArgs
	m          *Main
	config     configFlag
	campaign   string
	respondent string
	unit       string
	kind       string
	round      int
	raw, html  bool
}

func (c *PreviewCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "campaign `code`")
	fs.StringVar(&c.respondent, "respondent", "", "respondent `id or mailbox`")
	fs.StringVar(&c.unit, "unit", "", "unit `code` for head_digest")
	fs.StringVar(&c.kind, "kind", "invitation", "message `kind`: "+kindNames())
	fs.IntVar(&c.round, "round", 1, "reminder or digest `round`")
	fs.BoolVar(&c.raw, "raw", false, "print the raw MIME message")
	fs.BoolVar(&c.html, "html", false, "print the HTML part instead of the text part")
}

func kindNames() string {
	var names []string
	for _, k := range templates.Kinds {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// Run renders and prints.
func (c *PreviewCommand) Run(ctx context.Context) error {
	if c.campaign == "" {
		return usageErrorf("preview needs --campaign CODE")
	}
	kind, err := templates.ParseKind(c.kind)
	if err != nil {
		return usageErrorf("--kind: %s", store.ErrorMessage(err))
	}
	cs, err := c.m.openCampaign(ctx, c.config, c.campaign)
	if err != nil {
		return err
	}
	db, outbox, campaigns, camp := cs.db, cs.outbox, cs.campaigns, cs.campaign
	now := c.m.Now()
	msg := &store.OutboxMessage{CampaignCode: camp.Code, Kind: store.MessageKind(kind), Round: c.round,
		MessageID: "<preview@" + store.MailboxDomain(camp.SenderAddress) + ">", Ref: "PREVIEW000"}
	if kind == templates.Invitation {
		msg.Round = 0
	}
	var payload templates.Data
	switch kind {
	case templates.Invitation, templates.Reminder, templates.Receipt, templates.Correction:
		if err := c.loadRespondent(ctx, db, msg); err != nil {
			return err
		}
		if kind == templates.Receipt {
			payload.Answers = sampleAnswers(camp)
		}
		if kind == templates.Correction {
			payload.Problems = sampleProblems(camp)
		}
	case templates.HeadDigest:
		if err := c.loadHeadDigest(ctx, db, camp, msg, &payload); err != nil {
			return err
		}
	case templates.OperatorDigest:
		stats, err := campaigns.CampaignStats(ctx, camp.Code)
		if err != nil {
			return err
		}
		payload.Digest = &templates.Digest{Counts: stats.Total, Stats: stats}
		msg.To, msg.ToName = camp.OperatorMailbox, "Văn thư"
		if msg.To == "" {
			msg.To = camp.ReplyTo
		}
	case templates.LiaisonDigest:
		since := now.Add(-7 * 24 * time.Hour)
		failures, err := outbox.FindDeliveryFailures(ctx, camp.Code, since)
		if err != nil {
			return err
		}
		payload.Digest = &templates.Digest{Failures: digestFailures(failures), Since: since}
		msg.To, msg.ToName = camp.ReplyTo, "Cán bộ đầu mối kỹ thuật"
	}
	// Use the stored reference and Message-ID when the message is queued.
	if stored, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{CampaignCode: camp.Code, Kind: msg.Kind, RespondentID: msg.RespondentID}); err == nil {
		for _, s := range stored {
			if s.Round == msg.Round && s.UnitCode == msg.UnitCode {
				msg.Ref, msg.MessageID = s.Ref, s.MessageID
				break
			}
		}
	}
	if msg.Payload, err = json.Marshal(payload); err != nil {
		return err
	}
	composer := mailer.NewComposer()
	rendered, err := composer.Render(msg, camp, now)
	if err != nil {
		return err
	}
	if c.raw {
		data, err := mailer.Compose(msg, camp, rendered, now)
		if err != nil {
			return err
		}
		_, err = c.m.Stdout.Write(data)
		return err
	}
	w := c.m.Stdout
	fmt.Fprintf(w, "From: %s <%s>\n", camp.SenderName, camp.SenderAddress)
	fmt.Fprintf(w, "To: %s <%s>\n", msg.ToName, msg.To)
	fmt.Fprintf(w, "Reply-To: %s <%s>\n", camp.SenderName, mailer.EnvelopeSender(msg, camp))
	fmt.Fprintf(w, "Date: %s\n", now.In(camp.Loc()).Format("02/01/2006 15:04"))
	fmt.Fprintf(w, "Subject: %s\n\n", rendered.Subject)
	if c.html {
		fmt.Fprint(w, rendered.HTML)
	} else {
		fmt.Fprint(w, rendered.Text)
	}
	return nil
}

func (c *PreviewCommand) loadRespondent(ctx context.Context, db *sqlite.DB, msg *store.OutboxMessage) error {
	if c.respondent == "" {
		return usageErrorf("preview --kind %s needs --respondent ID or MAILBOX", c.kind)
	}
	f := store.RespondentFilter{IncludeInactive: true}
	if id, err := strconv.ParseInt(c.respondent, 10, 64); err == nil {
		f.ID = id
	} else {
		f.Mailbox = store.NormalizeMailbox(c.respondent)
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(ctx, f)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return store.Errorf(store.ENOTFOUND, "respondent %s not found", c.respondent)
	}
	r := rs[0]
	msg.Respondent, msg.RespondentID, msg.To, msg.ToName = r, r.ID, r.Mailbox, r.FullName
	u, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, r.UnitCode)
	if err != nil {
		return err
	}
	msg.Unit = u
	return nil
}

func (c *PreviewCommand) loadHeadDigest(ctx context.Context, db *sqlite.DB, camp *store.Campaign, msg *store.OutboxMessage, payload *templates.Data) error {
	code := c.unit
	if code == "" && c.respondent != "" {
		if err := c.loadRespondent(ctx, db, msg); err != nil {
			return err
		}
		code = msg.Respondent.UnitCode
		msg.Respondent, msg.RespondentID = nil, 0
	}
	if code == "" {
		return usageErrorf("preview --kind head_digest needs --unit CODE")
	}
	units := sqlite.NewUnitService(db)
	u, err := units.FindUnitByCode(ctx, code)
	if err != nil {
		return err
	}
	msg.Unit, msg.UnitCode, msg.To, msg.ToName = u, u.Code, u.Head.Mailbox, u.Head.Name
	if msg.To == "" {
		return store.Errorf(store.EINVALID, "unit %s has no head mailbox in the roster; its digest could not be sent", u.Code)
	}
	members, err := sqlite.NewCampaignService(db).FindMembers(ctx, camp.Code, "")
	if err != nil {
		return err
	}
	status := map[int64]store.MemberStatus{}
	for _, m := range members {
		status[m.RespondentID] = m.Status
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{Subtree: u.Code, Campaign: camp.Code})
	if err != nil {
		return err
	}
	inTree, err := units.FindUnits(ctx, store.UnitFilter{Subtree: u.Code})
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, x := range inTree {
		names[x.Code] = x.Name
	}
	d := &templates.Digest{Counts: store.StatusCounts{}}
	for _, r := range rs {
		st := status[r.ID]
		d.Counts[st]++
		if st == store.StatusAnswered || st == store.StatusAnsweredNeedsReview || st == store.StatusExcluded {
			continue
		}
		d.Pending = append(d.Pending, templates.DigestMember{Name: r.FullName, Title: r.Title, UnitName: names[r.UnitCode], Mailbox: r.Mailbox, Status: st})
	}
	payload.Digest = d
	return nil
}

// sampleAnswers fills a receipt preview: the top of each scale, the first
// choice, a short text.
func sampleAnswers(c *store.Campaign) []templates.Answer {
	var out []templates.Answer
	for _, q := range c.Questionnaire.Questions {
		a := templates.Answer{Code: q.Code, Text: q.Text}
		switch q.Type {
		case store.AnswerScale:
			a.Value = strconv.Itoa(q.Max)
		case store.AnswerChoice:
			if len(q.Choices) > 0 {
				a.Value = q.Choices[0].Letter + " – " + q.Choices[0].Text
			}
		default:
			a.Value = "(ý kiến mẫu)"
		}
		out = append(out, a)
	}
	return out
}

// sampleProblems fills a correction preview: every required question
// unanswered.
func sampleProblems(c *store.Campaign) []templates.AnswerProblem {
	var out []templates.AnswerProblem
	for _, q := range c.Questionnaire.Questions {
		if q.Required {
			out = append(out, templates.AnswerProblem{Code: q.Code, Text: q.Text, Problem: "chưa trả lời"})
		}
	}
	return out
}

func digestFailures(fs []*store.DeliveryFailure) []templates.DigestFailure {
	out := make([]templates.DigestFailure, len(fs))
	for i, f := range fs {
		out[i] = templates.DigestFailure{At: f.At, Mailbox: f.Mailbox, Domain: f.Domain, Stage: string(f.Stage), Code: f.Code,
			Status: f.Status, Class: string(f.Class), Text: f.Text}
	}
	return out
}
