package reminders

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// LiaisonKeep is how long after its deadline a campaign's failures are
// still reported to the IT liaison: late bounces keep arriving.
const LiaisonKeep = 7 * 24 * time.Hour

// PlanLiaisonDigest queues, for each campaign that is running (or ended
// less than LiaisonKeep ago), the IT liaison's digest of the delivery
// failures recorded since the previous one: grouped by receiving domain
// and class in the message, each with the Vietnamese explanation and what
// to do. Nothing new, a day off, or no liaison mailbox: nothing is queued.
func (p *Planner) PlanLiaisonDigest(ctx context.Context, mailbox, name string) (int, error) {
	if mailbox == "" {
		return 0, nil
	}
	now := p.now()
	cs, err := p.Store.FindCampaigns(ctx)
	if err != nil {
		return 0, fmt.Errorf("liaison digest: %w", err)
	}
	queued := 0
	for _, c := range cs {
		if c.State == store.CampaignDraft || now.After(c.Deadline.Add(LiaisonKeep)) ||
			!c.Calendar.IsWorkingDay(store.DateOf(now.In(c.Loc()))) {
			continue
		}
		n, err := p.liaisonDigest(ctx, c, mailbox, name)
		if err != nil {
			return queued, fmt.Errorf("liaison digest %s: %w", c.Code, err)
		}
		queued += n
	}
	return queued, nil
}

func (p *Planner) liaisonDigest(ctx context.Context, c *store.Campaign, mailbox, name string) (int, error) {
	prev, _, err := p.Store.FindOutbox(ctx, store.OutboxFilter{CampaignCode: c.Code, Kind: store.KindLiaisonDigest})
	if err != nil {
		return 0, err
	}
	// The last daily digest, not an hourly warning (their rounds are hours).
	var since time.Time
	count := 0
	for _, m := range prev {
		if m.Round < alertRoundBase {
			count++
			if m.CreatedAt.After(since) {
				since = m.CreatedAt
			}
		}
	}
	failures, err := p.Store.FindDeliveryFailures(ctx, c.Code, since)
	if err != nil {
		return 0, err
	}
	var fresh []*store.DeliveryFailure
	for _, f := range failures {
		if f.At.After(since) || since.IsZero() {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	fus, err := p.Store.FindFollowUps(ctx, c.Code)
	if err != nil {
		return 0, err
	}
	who := make(map[int64]*store.FollowUp, len(fus))
	for _, f := range fus {
		who[f.RespondentID] = f
	}
	d := &templates.Digest{Since: since}
	for _, f := range fresh {
		df := templates.DigestFailure{At: f.At, Mailbox: f.Mailbox, Domain: f.Domain, Stage: string(f.Stage), Code: f.Code,
			Status: f.Status, Class: string(f.Class), Text: f.Text}
		if m := who[f.RespondentID]; m != nil {
			df.Name, df.UnitName = m.Name, m.UnitName
		}
		d.Failures = append(d.Failures, df)
	}
	payload, err := json.Marshal(templates.Data{Digest: d})
	if err != nil {
		return 0, err
	}
	// One digest per run: its round is its number, so a second digest on
	// another day is a new message, and a repeated run is not.
	n, err := p.Store.EnqueueOutbox(ctx, []*store.OutboxMessage{{CampaignCode: c.Code, Kind: store.KindLiaisonDigest,
		Round: count + 1, To: mailbox, ToName: name, Payload: payload}})
	if err != nil {
		return 0, err
	}
	if p.Logger != nil && n > 0 {
		p.Logger.Info("liaison digest queued", "campaign", c.Code, "failures", len(fresh))
	}
	return n, nil
}

// Sending looks blocked when at least BlockedFailures of the last
// BlockedWindow SMTP attempts were refused because of phieu's server or
// domain, or by rate limits; or when the server refuses connections (the
// sender's open smtp_down alert).
const (
	BlockedWindow   = 50
	BlockedFailures = 10
)

// CheckSending sends the IT liaison an immediate warning when sending looks
// blocked, at most one per campaign and hour (the hour is the message's
// round, so a second warning in the same hour is the same message).
func (p *Planner) CheckSending(ctx context.Context, mailbox, name string, openAlerts []*store.Alert) (int, error) {
	if mailbox == "" {
		return 0, nil
	}
	now := p.now()
	cs, err := p.Store.FindCampaigns(ctx)
	if err != nil {
		return 0, fmt.Errorf("check sending: %w", err)
	}
	down := ""
	for _, a := range openAlerts {
		if a.Kind == "smtp_down" && a.ResolvedAt.IsZero() {
			down = "máy chủ thư công vụ từ chối kết nối hoặc đăng nhập (" + a.Text + ")."
		}
	}
	sent := 0
	for _, c := range cs {
		if c.State != store.CampaignActive || !now.Before(c.Deadline) {
			continue
		}
		attempts, err := p.Store.FindRecentAttempts(ctx, c.Code, BlockedWindow)
		if err != nil {
			return sent, fmt.Errorf("check sending %s: %w", c.Code, err)
		}
		d := &templates.Digest{}
		blocked := 0
		for _, a := range attempts {
			if a.Outcome == store.OutboxSent {
				continue
			}
			class := store.ClassifyFailure(a.Code, a.Status, a.Text)
			if class != store.ClassSenderRejected && class != store.ClassThrottled {
				continue
			}
			blocked++
			d.Failures = append(d.Failures, templates.DigestFailure{At: a.At, Mailbox: a.Mailbox, Domain: store.MailboxDomain(a.Mailbox),
				Stage: string(a.Stage), Code: a.Code, Status: a.Status, Class: string(class), Text: a.Text})
		}
		switch {
		case blocked >= BlockedFailures:
			d.Alert = fmt.Sprintf("%d trong %d lần gửi gần nhất bị từ chối vì máy chủ, tên miền gửi (sender_rejected) hoặc giới hạn tốc độ (throttled).",
				blocked, len(attempts))
		case down != "":
			d.Alert = down
		default:
			continue
		}
		payload, err := json.Marshal(templates.Data{Digest: d})
		if err != nil {
			return sent, err
		}
		n, err := p.Store.EnqueueOutbox(ctx, []*store.OutboxMessage{{CampaignCode: c.Code, Kind: store.KindLiaisonDigest,
			Round: alertRound(now), To: mailbox, ToName: name, Payload: payload}})
		if err != nil {
			return sent, fmt.Errorf("check sending %s: %w", c.Code, err)
		}
		if n > 0 && p.Logger != nil {
			p.Logger.Warn("sending looks blocked; the IT liaison is warned", "campaign", c.Code, "why", d.Alert)
		}
		sent += n
	}
	return sent, nil
}

// alertRound numbers a warning by its hour, far above the daily digests'
// rounds: one warning per hour, however often the check runs.
func alertRound(t time.Time) int { return alertRoundBase + int(t.Unix()/3600) }

const alertRoundBase = 1 << 30
