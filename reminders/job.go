package reminders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// Store is what the planner reads and writes.
type Store interface {
	store.FollowUpService
	FindCampaigns(ctx context.Context) ([]*store.Campaign, error)
	FindUnits(ctx context.Context, filter store.UnitFilter) ([]*store.Unit, error)
	EnqueueOutbox(ctx context.Context, msgs []*store.OutboxMessage) (int, error)
	EnqueueInvitations(ctx context.Context, campaignCode string, limit int) (int, error)
	FindOutbox(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxMessage, int, error)
	FindDeliveryFailures(ctx context.Context, campaignCode string, since time.Time) ([]*store.DeliveryFailure, error)
	CampaignStats(ctx context.Context, code string) (*store.CampaignStats, error)
	FindInbound(ctx context.Context, f store.InboundFilter) ([]*store.InboundMessage, int, error)
}

// Planner queues what is due: invitations to members added to a running
// campaign, reminders to members who have not answered and digests to unit
// heads. Running it again queues nothing twice (each
// message has its key: kind, round, recipient), so the daemon runs it
// often and after downtime; the plan decides.
type Planner struct {
	Store  Store
	Now    func() time.Time
	Logger *slog.Logger
}

// PlanStats counts what one planning run queued.
type PlanStats struct {
	Campaigns   int
	Invitations int // for members added since the campaign started
	Reminders   int
	Digests     int // head digests
	Operator    int // operator digests
}

func (p *Planner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Plan queues what is due now for every active campaign.
func (p *Planner) Plan(ctx context.Context) (PlanStats, error) {
	var st PlanStats
	now := p.now()
	cs, err := p.Store.FindCampaigns(ctx)
	if err != nil {
		return st, fmt.Errorf("plan: %w", err)
	}
	var units []Unit
	for _, c := range cs {
		if c.State != store.CampaignActive || !now.Before(c.Deadline) {
			continue
		}
		if units == nil {
			us, err := p.Store.FindUnits(ctx, store.UnitFilter{})
			if err != nil {
				return st, fmt.Errorf("plan: %w", err)
			}
			units = make([]Unit, 0, len(us))
			for _, u := range us {
				units = append(units, Unit{Code: u.Code, ParentCode: u.ParentCode, HasHead: u.Head.Mailbox != ""})
			}
		}
		// Members added to a running campaign are invited like the first.
		n, err := p.Store.EnqueueInvitations(ctx, c.Code, 0)
		if err != nil {
			return st, fmt.Errorf("plan %s: %w", c.Code, err)
		}
		st.Invitations += n
		r, d, err := p.planCampaign(ctx, c, units, now)
		if err != nil {
			return st, fmt.Errorf("plan %s: %w", c.Code, err)
		}
		o, err := p.planOperatorDigest(ctx, c, now)
		if err != nil {
			return st, fmt.Errorf("plan %s: operator digest: %w", c.Code, err)
		}
		st.Operator += o
		st.Campaigns++
		st.Reminders += r
		st.Digests += d
	}
	return st, nil
}

func (p *Planner) planCampaign(ctx context.Context, c *store.Campaign, units []Unit, now time.Time) (int, int, error) {
	fus, err := p.Store.FindFollowUps(ctx, c.Code)
	if err != nil {
		return 0, 0, err
	}
	members := make([]Member, len(fus))
	standings := make([]Standing, len(fus))
	byID := make(map[int64]*store.FollowUp, len(fus))
	for i, f := range fus {
		members[i] = Member{RespondentID: f.RespondentID, Status: f.Status, InvitedAt: f.InvitedAt, LastSentAt: f.LastSentAt,
			Queued: f.RemindersPlanned, RetryPending: f.ResendPending}
		standings[i] = Standing{RespondentID: f.RespondentID, UnitCode: f.UnitCode, Group: f.Group, Status: f.Status}
		byID[f.RespondentID] = f
	}
	var msgs []*store.OutboxMessage
	due := NewSchedule(c).Due(members, now)
	for _, r := range due {
		msgs = append(msgs, &store.OutboxMessage{CampaignCode: c.Code, Kind: store.KindReminder, Round: r.Round,
			RespondentID: r.RespondentID, NotBefore: r.At, SendBy: r.SendBy})
	}
	planned, err := p.Store.FindDigestsPlanned(ctx, c.Code)
	if err != nil {
		return 0, 0, err
	}
	digests := Escalations(c, units, standings, planned, now)
	var reasons map[int64]string
	if len(digests) > 0 {
		if reasons, err = p.failureReasons(ctx, c.Code, byID); err != nil {
			return 0, 0, err
		}
	}
	for _, d := range digests {
		payload, err := json.Marshal(templates.Data{Digest: digestPayload(d, byID, reasons)})
		if err != nil {
			return 0, 0, err
		}
		msgs = append(msgs, &store.OutboxMessage{CampaignCode: c.Code, Kind: store.KindHeadDigest, Round: d.Round,
			UnitCode: d.UnitCode, Payload: payload, NotBefore: d.At, SendBy: d.SendBy})
	}
	if len(msgs) == 0 {
		return 0, 0, nil
	}
	if _, err := p.Store.EnqueueOutbox(ctx, msgs); err != nil {
		return 0, 0, err
	}
	if p.Logger != nil {
		p.Logger.Info("planned", "campaign", c.Code, "reminders", len(due), "head_digests", len(digests))
	}
	return len(due), len(digests), nil
}

// digestPayload is what a head's digest shows: counts by status and by
// group, and the members who have not answered or whose address failed
// (with why, so the head can give a correct address), never anyone's
// answers.
func digestPayload(d Digest, byID map[int64]*store.FollowUp, reasons map[int64]string) *templates.Digest {
	out := &templates.Digest{Counts: d.Counts, Stats: &store.CampaignStats{Total: d.Counts}}
	groups := make([]string, 0, len(d.Groups))
	for g := range d.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		out.Stats.ByGroup = append(out.Stats.ByGroup, store.GroupStats{Group: g, Counts: d.Groups[g]})
	}
	for _, ids := range [][]int64{d.Pending, d.Failed} {
		for _, id := range ids {
			f := byID[id]
			out.Pending = append(out.Pending, templates.DigestMember{Name: f.Name, Title: f.Title, UnitName: f.UnitName,
				Mailbox: f.Mailbox, Status: f.Status, Reason: reasons[id]})
		}
	}
	return out
}

// failureReasons says in a few Vietnamese words why each member's mail
// failed, from their latest failure, and what their unit head can do. A
// failure older than the member's latest accepted message is history (the
// server took the retry) and gives no reason.
func (p *Planner) failureReasons(ctx context.Context, campaign string, byID map[int64]*store.FollowUp) (map[int64]string, error) {
	fs, err := p.Store.FindDeliveryFailures(ctx, campaign, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	seen := map[int64]bool{}
	for _, f := range fs { // newest first
		if seen[f.RespondentID] || f.RespondentID == 0 {
			continue
		}
		seen[f.RespondentID] = true
		if m := byID[f.RespondentID]; m != nil && m.LastAcceptedAt.After(f.At) {
			continue
		}
		r := f.Class.Label()
		if f.Status != "" {
			r += " (" + f.Status + ")"
		}
		out[f.RespondentID] = r + ". " + f.Class.HeadAdvice()
	}
	return out, nil
}

// AtRiskUnits is how many units the operator digest names as furthest
// behind.
const AtRiskUnits = 5

// planOperatorDigest queues, at each escalation round, the operator's view
// of the whole campaign: counts by status, group and unit, the units
// furthest behind, failed addresses and messages waiting for review.
func (p *Planner) planOperatorDigest(ctx context.Context, c *store.Campaign, now time.Time) (int, error) {
	round, at := EscalationDue(c, now)
	if round == 0 || c.OperatorMailbox == "" {
		return 0, nil
	}
	stats, err := p.Store.CampaignStats(ctx, c.Code)
	if err != nil {
		return 0, err
	}
	_, review, err := p.Store.FindInbound(ctx, store.InboundFilter{CampaignCode: c.Code, ReviewOnly: true, Limit: 1})
	if err != nil {
		return 0, err
	}
	d := &templates.Digest{Counts: stats.Total, Stats: stats, FailedAddresses: stats.Total[store.StatusAddressFailed], Review: review}
	var units []store.UnitStats
	for _, u := range stats.ByUnit {
		if u.Subtree.Total() > 0 && answeredOf(u.Subtree) < u.Subtree.Total() {
			units = append(units, u)
		}
	}
	sort.SliceStable(units, func(a, b int) bool {
		ra := float64(answeredOf(units[a].Subtree)) / float64(units[a].Subtree.Total())
		rb := float64(answeredOf(units[b].Subtree)) / float64(units[b].Subtree.Total())
		return ra < rb
	})
	d.AtRisk = units[:min(len(units), AtRiskUnits)]
	payload, err := json.Marshal(templates.Data{Digest: d})
	if err != nil {
		return 0, err
	}
	return p.Store.EnqueueOutbox(ctx, []*store.OutboxMessage{{CampaignCode: c.Code, Kind: store.KindOperatorDigest, Round: round,
		To: c.OperatorMailbox, ToName: c.SenderName, Payload: payload, NotBefore: at, SendBy: sendBy(c, at)}})
}

func answeredOf(c store.StatusCounts) int {
	return c[store.StatusAnswered] + c[store.StatusAnsweredNeedsReview]
}
