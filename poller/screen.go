package poller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/phieu/phieu/poller/answers"
	"github.com/phieu/phieu/poller/integrity"
	"github.com/phieu/phieu/store"
)

// screenReply looks for signs that someone other than the member answered:
// another mailbox, a mailbox shared between members or belonging to their
// head, the invitation forwarded to someone else, answers too alike to
// other answers of the unit. A sign raises a flag and sends the response
// to review before it is ever counted. own says whether the reply came
// from the member's mailbox or an alias; arrived is when it reached the
// survey mailbox.
func (p *Poller) screenReply(ctx context.Context, d *Decision, a *Analysis, c *store.Campaign, r *store.Response,
	res answers.Result, own bool, arrived time.Time) error {
	when := arrived.In(c.Loc()).Format("15:04 02/01/2006")
	if !own && a.From != "" {
		d.flag(r, store.FlagOtherMailbox, "trả lời gửi từ hộp thư "+a.From+
			", không phải hộp thư hay bí danh của thành viên, lúc "+when)
	}
	headers := integrity.QuotedHeaders(a.Text)
	if len(headers) > 0 {
		known := map[string]bool{}
		for _, mb := range []string{a.From, c.SenderAddress, c.ReplyTo, c.OperatorMailbox} {
			known[baseMailbox(mb)] = true
		}
		var lookupErr error
		elsewhere := integrity.ForwardedElsewhere(headers, func(mb string) bool {
			if known[baseMailbox(mb)] || lookupErr != nil {
				return true
			}
			ok, err := p.ownMailbox(ctx, mb, c.Code, r.RespondentID)
			if err != nil {
				lookupErr = err
			}
			return ok
		})
		if lookupErr != nil {
			return lookupErr
		}
		if len(elsewhere) > 0 {
			d.flag(r, store.FlagForwardedInvitation, integrity.ForwardReason(elsewhere[0]))
		}
	}
	d.holdForReview(r)
	// The checks below read what earlier messages stored: they run in
	// mailbox order, before the reply is laid over the standing response
	// (a flag found there stops it being counted).
	d.later = append(d.later, func(ctx context.Context) error {
		if !own && a.From != "" {
			if err := p.screenMailbox(ctx, d, c, r, a.From); err != nil {
				return fmt.Errorf("integrity: %w", err)
			}
		}
		if res.Complete {
			if err := p.screenCluster(ctx, d, c, r, res, arrived); err != nil {
				return fmt.Errorf("integrity: %w", err)
			}
		}
		d.holdForReview(r)
		return nil
	})
	d.after = append(d.after, func(ctx context.Context) error {
		if r.ID == 0 {
			return nil
		}
		if d.unit != "" {
			pol := p.Integrity.WithDefaults()
			if err := p.Store.RecordArrival(ctx, &store.Arrival{ResponseID: r.ID, UnitCode: d.unit, At: arrived}, c.Code, pol.Window); err != nil {
				return err
			}
			v := d.vector
			v.ResponseID = r.ID
			p.bases.add(c.Code, d.unit, v)
		}
		for _, f := range d.flags {
			f.ResponseID = r.ID
		}
		_, err := p.Store.RecordFlags(ctx, d.flags)
		return err
	})
	return nil
}

// holdForReview sends a reply that would have counted to review once it
// carries a flag; a late one or one from another mailbox already waits.
//
// The flags' full reasons (mailboxes, times) go to the inbound message's
// review note, which sits with the sender's identity and holds no answers;
// the response and the flag rows keep only what kind of doubt it is, so
// that they never tie answers to a mailbox (see store/sqlite's link).
func (d *Decision) holdForReview(r *store.Response) {
	if len(d.flags) == 0 {
		return
	}
	if r.Status == "" {
		r.Status, r.Reason = store.ResponseNeedsReview, d.flags[0].Kind.Label()
	}
	const suspicion = "nghi có người trả lời thay thành viên: "
	note := d.Message.Review
	if note == "" {
		note = suspicion + "chưa tính cho đến khi được xác minh"
	}
	for _, f := range d.flags {
		if !strings.Contains(note, f.Reason) {
			note += "; " + f.Reason
		}
	}
	d.Message.Review = note
}

// flag notes a flag for the reply being decided: it is stored once the
// response has its id.
func (d *Decision) flag(r *store.Response, kind store.IntegrityKind, reason string) {
	d.flags = append(d.flags, &store.IntegrityFlag{Campaign: r.CampaignCode, Kind: kind, Reason: reason})
}

// screenMailbox flags a mailbox that answered for a member it does not
// belong to when it is another member's, answered for others before, or
// is the head's of the member's unit or a unit above.
func (p *Poller) screenMailbox(ctx context.Context, d *Decision, c *store.Campaign, r *store.Response, from string) error {
	use, err := p.Store.FindMailboxUse(ctx, c.Code, from, r.RespondentID)
	if err != nil {
		return err
	}
	var why []string
	if len(use.HeadOf) > 0 {
		why = append(why, "là hộp thư của thủ trưởng đơn vị "+strings.Join(use.HeadOf, ", ")+" của thành viên")
	}
	if len(use.Owners) > 0 {
		why = append(why, fmt.Sprintf("là hộp thư của %d thành viên khác trong đợt khảo sát", len(use.Owners)))
	}
	if len(use.AnsweredFor) > 0 {
		why = append(why, fmt.Sprintf("đã trả lời cho %d thành viên khác trước đó (lần này là thành viên thứ %d)",
			len(use.AnsweredFor), len(use.AnsweredFor)+1))
	}
	if len(why) == 0 {
		return nil
	}
	d.flag(r, store.FlagSharedMailbox, "hộp thư "+use.Mailbox+" "+strings.Join(why, "; "))
	return nil
}

// screenCluster judges the reply's answers against the unit's answers that
// arrived within the window before it (see package integrity). A cluster
// beyond chance flags the reply and the stored answers in it.
func (p *Poller) screenCluster(ctx context.Context, d *Decision, c *store.Campaign, r *store.Response, res answers.Result, arrived time.Time) error {
	unit, err := p.Store.MemberUnit(ctx, r.RespondentID)
	if err != nil {
		return err
	}
	d.unit = unit
	pol := p.Integrity.WithDefaults()
	recent, err := p.Store.FindArrivals(ctx, c.Code, unit, arrived.Add(-pol.Window))
	if err != nil {
		return err
	}
	q := c.Questionnaire
	values := map[string]string{}
	for _, an := range res.Answers {
		values[an.Code] = an.Value
	}
	newest := integrity.NewVector(q, 0, arrived, values)
	d.vector = newest
	window := make([]integrity.Vector, len(recent))
	for i, a := range recent {
		window[i] = integrity.NewVector(q, a.ResponseID, a.At, a.Answers)
	}
	if !integrity.Candidate(pol, window, newest) {
		return nil
	}
	dist, err := p.bases.get(ctx, p, c)
	if err != nil {
		return err
	}
	cl := integrity.Detect(pol, dist.Model(unit, newest), window, newest)
	if cl == nil {
		return nil
	}
	reason := cl.Reason(pol, unit, c.Loc())
	var earlier []*store.IntegrityFlag
	for _, v := range cl.Members {
		if v.ResponseID != 0 {
			earlier = append(earlier, &store.IntegrityFlag{ResponseID: v.ResponseID, Campaign: c.Code, Kind: store.FlagAnswerCluster, Reason: reason})
		}
	}
	if _, err := p.Store.RecordFlags(ctx, earlier); err != nil {
		return err
	}
	d.flag(r, store.FlagAnswerCluster, reason)
	p.logger().Warn("answer cluster", "campaign", c.Code, "unit", unit, "size", len(cl.Members), "window", cl.N,
		"probability", cl.Probability)
	return nil
}

// baseMailbox drops a plus tag: replies quote khaosat+REF@..., phieu's own.
func baseMailbox(mb string) string {
	mb = store.NormalizeMailbox(mb)
	at := strings.LastIndexByte(mb, '@')
	if at < 0 {
		return mb
	}
	if plus := strings.IndexByte(mb[:at], '+'); plus >= 0 {
		return mb[:plus] + mb[at:]
	}
	return mb
}

// Stored runs the steps that need the stored response's id. Call it once
// the message is recorded (not for a duplicate).
func (d *Decision) Stored(ctx context.Context) error {
	for _, f := range d.after {
		if err := f(ctx); err != nil {
			return err
		}
	}
	d.after = nil
	return nil
}

// baseTTL is how long a campaign's answers, read once, serve the cluster
// check before they are read again: meanwhile each response the poller
// stores is added, and superseded or rejected ones linger a little, which
// barely moves a distribution.
const baseTTL = 10 * time.Minute

// answerBases caches each campaign's answer distribution for the cluster
// check: reading every answer for every reply would make a campaign's
// intake quadratic.
type answerBases struct {
	mu         sync.Mutex
	byCampaign map[string]*answerBase
}

type answerBase struct {
	loaded time.Time
	dist   *integrity.Distribution
}

// get returns the campaign's distribution, read again when older than
// baseTTL.
func (b *answerBases) get(ctx context.Context, p *Poller, c *store.Campaign) (*integrity.Distribution, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := p.now()
	if ab := b.byCampaign[c.Code]; ab != nil && now.Sub(ab.loaded) < baseTTL && !now.Before(ab.loaded) {
		return ab.dist, nil
	}
	stored, err := p.Store.FindAnswerBase(ctx, c.Code)
	if err != nil {
		return nil, err
	}
	ab := &answerBase{loaded: now, dist: integrity.NewDistribution(c.Questionnaire)}
	for _, a := range stored {
		ab.dist.Add(a.UnitCode, integrity.NewVector(c.Questionnaire, a.ResponseID, time.Time{}, a.Answers))
	}
	if b.byCampaign == nil {
		b.byCampaign = map[string]*answerBase{}
	}
	b.byCampaign[c.Code] = ab
	return ab.dist, nil
}

// add counts a response just stored, if the campaign's answers are held.
func (b *answerBases) add(campaign, unit string, v integrity.Vector) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ab := b.byCampaign[campaign]; ab != nil {
		ab.dist.Add(unit, v)
	}
}
