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
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
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
	prev, count, err := p.Store.FindOutbox(ctx, store.OutboxFilter{CampaignCode: c.Code, Kind: store.KindLiaisonDigest, Limit: 1})
	if err != nil {
		return 0, err
	}
	var since time.Time
	if len(prev) > 0 {
		since = prev[0].CreatedAt
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
