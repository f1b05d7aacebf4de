package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phieu/phieu/poller/answers"
	"github.com/phieu/phieu/poller/integrity"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// Decision is what phieu concluded about one message: the record to store
// (nil for mail that is not phieu's, left untouched) and where to file it.
type Decision struct {
	Message *store.InboundMessage
	Ignore  bool // not phieu's: not stored, not filed, not flagged

	// later are the steps that read what earlier messages changed (the
	// member's standing response, the resends so far): Finish runs them
	// in mailbox order, just before the message is stored.
	later []func(ctx context.Context) error
	// after are the steps that need the stored response's id: the
	// integrity flags and the arrival the cluster check remembers.
	after  []func(ctx context.Context) error
	flags  []*store.IntegrityFlag // raised on the reply, stored by after
	unit   string                 // the member's unit, once the cluster check read it
	vector integrity.Vector       // the reply's answers as the cluster check compares them
}

// Finish runs the steps that must see every earlier message stored.
func (d *Decision) Finish(ctx context.Context) error {
	for _, f := range d.later {
		if err := f(ctx); err != nil {
			return err
		}
	}
	d.later = nil
	return nil
}

// Decide turns an analysed message into the record to store, with its
// effects: failures, a response, a receipt or correction, a resend. It only
// reads what earlier messages cannot change, so several messages can be
// decided at once; Finish completes the decision in order.
func (p *Poller) Decide(ctx context.Context, a *Analysis, f *Fetched, cp *store.Checkpoint) (*Decision, error) {
	m := &store.InboundMessage{
		Account: cp.Account, Mailbox: cp.Mailbox, UIDValidity: cp.UIDValidity, UID: f.UID,
		MessageID: a.MessageID, ContentHash: a.Hash, Size: a.Size,
		Kind: a.Kind, Engine: a.Engine, From: a.From, Subject: a.Subject, Date: a.Date,
		AuthResults: a.AuthResult,
	}
	for _, fl := range a.Failures {
		m.Failures = append(m.Failures, &store.InboundFailure{Recipient: fl.Recipient, Status: fl.Status, Code: fl.SMTPCode,
			Class: fl.Class, Hard: fl.Hard, Diagnostic: fl.Diagnostic, RemoteMTA: fl.RemoteMTA})
	}
	match, reason, err := p.matcher().Match(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	folders := p.Config.withDefaults().Folders
	if match.CampaignCode == "" {
		switch {
		case isReport(a.Kind), looksLikePhieus(a, p.senderDomains):
			// Reports reach the survey mailbox because phieu's mail went
			// out from it; a person must see the ones it cannot place.
			m.Review, m.Folder = reason, folders.Unmatched
			return &Decision{Message: m}, nil
		}
		return &Decision{Ignore: true}, nil
	}
	m.CampaignCode, m.RespondentID, m.Match = match.CampaignCode, match.RespondentID, match.Method
	if match.Outbox != nil {
		m.OutboxID = match.Outbox.ID
	}
	c, err := p.campaign(ctx, match.CampaignCode)
	if err != nil {
		return nil, err
	}
	d := &Decision{Message: m}
	switch a.Kind {
	case store.InboundBounce, store.InboundDelay, store.InboundDelivered:
		m.Folder = folders.Bounces
		if err := p.decideReport(ctx, d, match, c); err != nil {
			return nil, err
		}
	case store.InboundComplaint:
		m.Folder = folders.Bounces
		m.Note = "feedback-type: " + a.FeedbackType
		m.Review = "người nhận báo thư là thư rác (" + a.FeedbackType + ")"
	case store.InboundAutoReply:
		m.Folder = folders.AutoReplies
		m.Note = a.AutoReplyReason
	case store.InboundReply:
		m.Folder = folders.Replies
		if err := p.decideReply(ctx, d, a, f, match, c); err != nil {
			return nil, err
		}
	default:
		m.Folder = folders.AutoReplies
		m.Note = "thư tự động khác"
	}
	return d, nil
}

// decideReport ties each failed recipient to a member and decides the
// follow-up: a hard failure marks the address failed (the store does that
// for hard bounces), a full mailbox queues the invitation again later.
func (p *Poller) decideReport(ctx context.Context, d *Decision, match Match, c *store.Campaign) error {
	m := d.Message
	if len(m.Failures) == 0 && m.Kind == store.InboundBounce && match.Outbox != nil {
		// A bounce phieu could place but not read: keep the evidence.
		m.Failures = []*store.InboundFailure{{Recipient: match.Outbox.To, Class: store.ClassOther,
			Diagnostic: "thư báo lỗi không ghi rõ người nhận bị lỗi"}}
	}
	for _, f := range m.Failures {
		switch {
		case match.Outbox != nil && f.Recipient == match.Outbox.To:
			f.RespondentID = match.Outbox.RespondentID
		case match.Method == store.MatchAddress && len(m.Failures) == 1:
			f.RespondentID = match.RespondentID
		default:
			ms, err := p.Store.FindMemberships(ctx, f.Recipient)
			if err != nil {
				return err
			}
			for _, ms := range ms {
				if ms.CampaignCode == c.Code {
					f.RespondentID = ms.RespondentID
					break
				}
			}
		}
		if m.Kind != store.InboundBounce || f.RespondentID == 0 || f.Class != store.ClassMailboxFull || f.Hard {
			continue
		}
		respondentID := f.RespondentID
		d.later = append(d.later, func(ctx context.Context) error { return p.queueResend(ctx, m, c, respondentID) })
	}
	return nil
}

// queueResend queues the invitation again after a "mailbox full" bounce,
// ResendAfter later, at most ResendMax times per member. The sender still
// skips it if the member answers in the meantime.
func (p *Poller) queueResend(ctx context.Context, m *store.InboundMessage, c *store.Campaign, respondentID int64) error {
	_, n, err := p.Store.FindOutbox(ctx, store.OutboxFilter{CampaignCode: c.Code, Kind: store.KindInvitation, RespondentID: respondentID, Limit: 1})
	if err != nil {
		return err
	}
	if n == 0 || n > p.resendMax() {
		return nil // never invited through phieu, or resent enough
	}
	m.Enqueue = append(m.Enqueue, &store.OutboxMessage{CampaignCode: c.Code, Kind: store.KindInvitation, Round: n,
		RespondentID: respondentID, NotBefore: p.now().Add(p.resendAfter())})
	return nil
}

// decideReply reads the answers, checks the sender and the deadline, and
// queues a receipt or a correction request.
func (p *Poller) decideReply(ctx context.Context, d *Decision, a *Analysis, f *Fetched, match Match, c *store.Campaign) error {
	m := d.Message
	if match.RespondentID == 0 {
		m.Review = "trả lời thư gửi đơn vị (không phải phiếu khảo sát): cần người đọc"
		return nil
	}
	if a.Text == "" {
		a.readText(f.Raw)
	}
	res := answers.Read(a.Visible, a.Quoted, c.Questionnaire)
	if len(res.Answers) == 0 && onlyMissing(res.Problems) {
		m.Review = "thư trả lời không có câu trả lời nào đọc được: cần người đọc"
		return nil
	}
	r := &store.Response{CampaignCode: c.Code, RespondentID: match.RespondentID, From: a.From}
	m.Response = r
	arrived := f.InternalDate
	if arrived.IsZero() {
		arrived = p.now()
	}
	// Most replies come from the very mailbox the invitation went to.
	own := match.Outbox != nil && a.From != "" && a.From == store.NormalizeMailbox(match.Outbox.To)
	if !own {
		var err error
		if own, err = p.ownMailbox(ctx, a.From, c.Code, match.RespondentID); err != nil {
			return err
		}
	}
	switch {
	case arrived.After(c.Deadline):
		r.Status, r.Reason = store.ResponseLate, "nhận lúc "+arrived.In(c.Loc()).Format("15:04 02/01/2006")+", sau hạn"
		m.Review = "trả lời sau hạn: chỉ được tính khi người điều hành chấp nhận"
	case !own:
		r.Status, r.Reason = store.ResponseNeedsReview, "trả lời từ hộp thư khác: "+a.From
		m.Review = "trả lời từ hộp thư không phải của thành viên (" + a.From + "): chưa tính cho đến khi được xác minh"
	}
	if err := p.screenReply(ctx, d, a, c, r, res, own, arrived); err != nil {
		return err
	}
	d.later = append(d.later, func(ctx context.Context) error { return p.completeReply(ctx, m, r, res, c) })
	return nil
}

// completeReply lays the reply over the member's standing response and
// queues the receipt or the correction request. It runs in mailbox order:
// the standing response may come from the message just before.
func (p *Poller) completeReply(ctx context.Context, m *store.InboundMessage, r *store.Response, res answers.Result, c *store.Campaign) error {
	if r.Status == "" {
		prev, err := p.currentResponse(ctx, c.Code, r.RespondentID)
		if err != nil {
			return err
		}
		res = mergeAnswers(prev, res, c.Questionnaire)
	}
	r.Complete = res.Complete
	for _, an := range res.Answers {
		r.Answers = append(r.Answers, store.ResponseAnswer{Code: an.Code, Value: an.Value, Source: string(an.Source)})
	}
	for _, pr := range res.Problems {
		r.Problems = append(r.Problems, store.ResponseProblem{Code: pr.Code, Kind: string(pr.Kind), Got: pr.Got, Message: pr.Message})
	}
	if r.Status != "" {
		return nil // late or from another mailbox: the operator decides, nothing is sent
	}
	data := templates.Data{}
	kind := store.KindReceipt
	if res.Complete {
		r.Status = store.ResponseCounted
		data.Answers = res.ForReceipt(c.Questionnaire)
	} else {
		r.Status = store.ResponsePartial
		kind = store.KindCorrection
		data.Problems = res.ForCorrection(c.Questionnaire)
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return err
	}
	m.Enqueue = append(m.Enqueue, &store.OutboxMessage{CampaignCode: c.Code, Kind: kind, RespondentID: r.RespondentID,
		Payload: payload, NotBefore: p.now()})
	return nil
}

// onlyMissing reports whether every problem is an unanswered question:
// then the reply holds no attempt at an answer at all.
func onlyMissing(ps []answers.Problem) bool {
	for _, p := range ps {
		if p.Kind != answers.ProblemMissing {
			return false
		}
	}
	return true
}

// ownMailbox reports whether from is the member's mailbox or an alias.
func (p *Poller) ownMailbox(ctx context.Context, from, campaign string, respondentID int64) (bool, error) {
	if from == "" {
		return false, nil
	}
	ms, err := p.Store.FindMemberships(ctx, from)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.CampaignCode == campaign && m.RespondentID == respondentID {
			return true, nil
		}
	}
	return false, nil
}

// currentResponse is the member's standing response, which a new reply
// completes or corrects: people answer a correction request with only the
// lines asked for.
func (p *Poller) currentResponse(ctx context.Context, campaign string, respondentID int64) (*store.Response, error) {
	rs, err := p.Store.FindResponses(ctx, campaign, respondentID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Status == store.ResponseCounted || r.Status == store.ResponsePartial {
			return r, nil
		}
	}
	return nil, nil
}

// mergeAnswers lays the new answers over the standing response: a later
// answer to a question replaces the earlier one, questions the new reply
// leaves out keep their answer.
func mergeAnswers(prev *store.Response, res answers.Result, q store.Questionnaire) answers.Result {
	if prev == nil {
		return res
	}
	have := map[string]bool{}
	for _, a := range res.Answers {
		have[a.Code] = true
	}
	kept := map[string]answers.Answer{}
	for _, a := range prev.Answers {
		if !have[a.Code] {
			kept[a.Code] = answers.Answer{Code: a.Code, Value: a.Value, Source: answers.Source(a.Source)}
		}
	}
	if len(kept) == 0 {
		return res
	}
	var merged answers.Result
	byCode := map[string]answers.Answer{}
	for _, a := range res.Answers {
		byCode[a.Code] = a
	}
	for code, a := range kept {
		byCode[code] = a
	}
	for _, qu := range q.Questions {
		if a, ok := byCode[qu.Code]; ok {
			merged.Answers = append(merged.Answers, a)
		}
	}
	for _, pr := range res.Problems {
		if _, ok := kept[pr.Code]; ok && pr.Kind == answers.ProblemMissing {
			continue
		}
		merged.Problems = append(merged.Problems, pr)
	}
	merged.Complete = len(merged.Problems) == 0
	return merged
}

func (p *Poller) campaign(ctx context.Context, code string) (*store.Campaign, error) {
	p.mu.Lock()
	c, ok := p.campaigns[code]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := p.Campaigns.FindCampaignByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.campaigns == nil {
		p.campaigns = map[string]*store.Campaign{}
	}
	p.campaigns[code] = c
	p.mu.Unlock()
	return c, nil
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) resendAfter() time.Duration {
	if p.ResendAfter > 0 {
		return p.ResendAfter
	}
	return 24 * time.Hour
}

func (p *Poller) resendMax() int {
	switch {
	case p.ResendMax > 0:
		return p.ResendMax
	case p.ResendMax < 0:
		return 0
	}
	return 3
}
