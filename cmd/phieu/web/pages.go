package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
)

// countdown is the time left to a campaign's deadline.
type countdown struct {
	Passed      bool
	Days, Hours int
	Deadline    string // "23 giờ 59 ngày 31/07/2025", in the campaign's zone
	Zone        string
}

func newCountdown(c *store.Campaign, now time.Time) countdown {
	cd := countdown{Deadline: templates.DeadlineText(c), Zone: c.Loc().String()}
	left := c.Deadline.Sub(now)
	if left <= 0 {
		cd.Passed = true
		return cd
	}
	cd.Days, cd.Hours = int(left/(24*time.Hour)), int(left%(24*time.Hour)/time.Hour)
	return cd
}

// statusRow is a count with its label.
type statusRow struct {
	Label string
	N     int
	Pct   string
}

func statusRows(c store.StatusCounts) []statusRow {
	var rows []statusRow
	for _, st := range store.MemberStatuses {
		if c[st] > 0 {
			rows = append(rows, statusRow{Label: st.Label(), N: c[st], Pct: templates.Percent(c[st], c.Total())})
		}
	}
	return rows
}

// outboxRows lists the outbox counts in life-cycle order.
func outboxRows(counts map[store.OutboxState]int) []statusRow {
	total := 0
	for _, n := range counts {
		total += n
	}
	var rows []statusRow
	for _, st := range store.OutboxStates {
		rows = append(rows, statusRow{Label: outboxStateLabel(st), N: counts[st], Pct: templates.Percent(counts[st], total)})
	}
	return rows
}

type groupRow struct {
	Group string
	Rate  rate
}

type overviewData struct {
	Countdown   countdown
	Rate        rate
	Statuses    []statusRow
	Groups      []groupRow
	UnitChart   *barChart
	Trend       *trendChart
	Failures    int
	ReviewQueue int
	Queued      int
	Deferred    int
	Failed      int
}

func (s *Server) overview(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Tổng quan", "overview"
	if v.Campaign == nil {
		return "overview", nil
	}
	ctx, code := r.Context(), v.Campaign.Code
	stats, err := s.campaigns.CampaignStats(ctx, code)
	if err != nil {
		return "", err
	}
	v.Campaign = stats.Campaign
	counts, err := s.dash.DashboardCounts(ctx, code)
	if err != nil {
		return "", err
	}
	queue, err := s.inbound.FindReviewQueue(ctx, code)
	if err != nil {
		return "", err
	}
	trend, err := s.campaigns.AnswerTrend(ctx, code, s.cfg.Now())
	if err != nil {
		return "", err
	}
	d := &overviewData{
		Countdown: newCountdown(stats.Campaign, s.cfg.Now()),
		Rate:      newRate(stats.Total), Statuses: statusRows(stats.Total),
		UnitChart: unitChart(stats.ByUnit), Trend: newTrendChart(trend, stats.Total.Total()),
		ReviewQueue: len(queue),
		Queued:      counts.Outbox[store.OutboxQueued], Deferred: counts.Outbox[store.OutboxDeferred], Failed: counts.Outbox[store.OutboxFailed],
	}
	for _, n := range counts.Failures {
		d.Failures += n
	}
	for _, g := range stats.ByGroup {
		d.Groups = append(d.Groups, groupRow{Group: g.Group, Rate: newRate(g.Counts)})
	}
	v.Data = d
	return "overview", nil
}

// unitRow is one unit of the tree with its own and its subtree's rates.
type unitRow struct {
	Code, Name string
	Depth      int
	Own        rate
	Subtree    rate
}

func unitRowOf(u store.UnitStats) unitRow {
	return unitRow{Code: u.UnitCode, Name: u.UnitName, Depth: u.Depth, Own: newRate(u.Own), Subtree: newRate(u.Subtree)}
}

func (s *Server) unitsPage(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Đơn vị", "units"
	if v.Campaign == nil {
		return "units", nil
	}
	stats, err := s.campaigns.CampaignStats(r.Context(), v.Campaign.Code)
	if err != nil {
		return "", err
	}
	var rows []unitRow
	for _, u := range stats.ByUnit {
		rows = append(rows, unitRowOf(u))
	}
	v.Data = rows
	return "units", nil
}

type unitData struct {
	Unit        *store.Unit
	Parent      *store.Unit
	Row         unitRow
	Statuses    []statusRow // the unit's own members by status
	Children    []unitRow
	ShowMembers bool // operators only: the liaison sees counts
	Members     []*store.UnitMember
}

func (s *Server) unitPage(r *http.Request, v *view) (string, error) {
	ctx, code := r.Context(), r.PathValue("code")
	u, err := s.units.FindUnitByCode(ctx, code)
	if err != nil {
		return "", err
	}
	v.Title, v.Nav = u.Name, "units"
	d := &unitData{Unit: u, Row: unitRow{Code: u.Code, Name: u.Name}, ShowMembers: v.User.Role == RoleOperator}
	v.Data = d
	if u.ParentCode != "" {
		if d.Parent, err = s.units.FindUnitByCode(ctx, u.ParentCode); err != nil {
			return "", err
		}
	}
	if v.Campaign == nil {
		return "unit", nil
	}
	stats, err := s.campaigns.CampaignStats(ctx, v.Campaign.Code)
	if err != nil {
		return "", err
	}
	for _, us := range stats.ByUnit {
		switch {
		case us.UnitCode == u.Code:
			d.Row, d.Statuses = unitRowOf(us), statusRows(us.Own)
		case us.ParentCode == u.Code:
			d.Children = append(d.Children, unitRowOf(us))
		}
	}
	if d.ShowMembers {
		if d.Members, err = s.dash.FindUnitMembers(ctx, v.Campaign.Code, u.Code); err != nil {
			return "", err
		}
	}
	return "unit", nil
}

// classGroup is the failures of one class, with what it means and what to do.
type classGroup struct {
	Class          store.FailureClass
	Label          string
	Meaning        string
	Action         string
	Count          int
	Permanent      int
	Domains        []string
	domainsSeen    map[string]bool
	FilterSelected bool
}

// domainGroup is the failures at one receiving domain, by class.
type domainGroup struct {
	Domain  string
	Count   int
	Classes []classCount
}

type classCount struct {
	Class store.FailureClass
	Label string
	N     int
}

type failureRow struct {
	*store.DeliveryFailure
	Label string
}

type failuresData struct {
	Total    int
	ByClass  []*classGroup
	ByDomain []*domainGroup
	Rows     []failureRow
	Shown    int
	Class    string // the filter, "" for all
	Domain   string
	Alerts   []*store.Alert
}

// maxFailureRows bounds the list; the groups above it count everything.
const maxFailureRows = 300

func (s *Server) failuresPage(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Lỗi gửi thư", "failures"
	if v.Campaign == nil {
		return "failures", nil
	}
	ctx := r.Context()
	fs, err := s.outbox.FindDeliveryFailures(ctx, v.Campaign.Code, time.Time{})
	if err != nil {
		return "", err
	}
	alerts, err := s.outbox.FindAlerts(ctx, true)
	if err != nil {
		return "", err
	}
	d := &failuresData{Class: r.URL.Query().Get("class"), Domain: strings.ToLower(r.URL.Query().Get("domain"))}
	for _, a := range alerts {
		if a.CampaignCode == "" || a.CampaignCode == v.Campaign.Code {
			d.Alerts = append(d.Alerts, a)
		}
	}
	byClass := map[store.FailureClass]*classGroup{}
	byDomain := map[string]*domainGroup{}
	for _, f := range fs {
		d.Total++
		g := byClass[f.Class]
		if g == nil {
			meaning, action := f.Class.Explain()
			g = &classGroup{Class: f.Class, Label: f.Class.Label(), Meaning: meaning, Action: action, domainsSeen: map[string]bool{}}
			byClass[f.Class] = g
		}
		g.Count++
		if f.Permanent {
			g.Permanent++
		}
		if !g.domainsSeen[f.Domain] {
			g.domainsSeen[f.Domain] = true
			g.Domains = append(g.Domains, f.Domain)
		}
		dg := byDomain[f.Domain]
		if dg == nil {
			dg = &domainGroup{Domain: f.Domain}
			byDomain[f.Domain] = dg
		}
		dg.Count++
		found := false
		for i := range dg.Classes {
			if dg.Classes[i].Class == f.Class {
				dg.Classes[i].N++
				found = true
			}
		}
		if !found {
			dg.Classes = append(dg.Classes, classCount{Class: f.Class, Label: f.Class.Label(), N: 1})
		}
		if (d.Class == "" || string(f.Class) == d.Class) && (d.Domain == "" || strings.EqualFold(f.Domain, d.Domain)) {
			d.Shown++
			if len(d.Rows) < maxFailureRows {
				d.Rows = append(d.Rows, failureRow{DeliveryFailure: f, Label: f.Class.Label()})
			}
		}
	}
	// Classes in the digests' order; domains by how many failed there.
	for _, c := range store.FailureClasses {
		if g := byClass[c]; g != nil {
			sort.Strings(g.Domains)
			g.FilterSelected = string(c) == d.Class
			d.ByClass = append(d.ByClass, g)
			delete(byClass, c)
		}
	}
	for _, g := range byClass { // classes this version does not know
		d.ByClass = append(d.ByClass, g)
	}
	for _, g := range byDomain {
		d.ByDomain = append(d.ByDomain, g)
	}
	sort.Slice(d.ByDomain, func(i, j int) bool {
		if d.ByDomain[i].Count != d.ByDomain[j].Count {
			return d.ByDomain[i].Count > d.ByDomain[j].Count
		}
		return d.ByDomain[i].Domain < d.ByDomain[j].Domain
	})
	v.Data = d
	return "failures", nil
}

// failureDetail is one failure of a message, explained.
type failureDetail struct {
	*store.DeliveryFailure
	Label   string
	Meaning string
	Action  string
}

type failureData struct {
	Message  *store.OutboxMessage
	Attempts []*store.Attempt
	Failures []failureDetail
}

func (s *Server) failurePage(r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return "", err
	}
	m, attempts, err := s.outbox.FindOutboxMessage(ctx, id)
	if err != nil {
		return "", err
	}
	// The message's campaign is the one the page is about.
	if err := s.selectCampaign(r, v, m.CampaignCode); err != nil {
		return "", err
	}
	fs, err := s.outbox.FindDeliveryFailures(ctx, m.CampaignCode, time.Time{})
	if err != nil {
		return "", err
	}
	d := &failureData{Message: m, Attempts: attempts}
	for _, f := range fs {
		if f.OutboxID != m.ID {
			continue
		}
		meaning, action := f.Class.Explain()
		d.Failures = append(d.Failures, failureDetail{DeliveryFailure: f, Label: f.Class.Label(), Meaning: meaning, Action: action})
	}
	v.Title, v.Nav, v.Data, v.Path = "Thư gửi "+m.To, "failures", d, "/failures"
	return "failure", nil
}

// reviewItem is a response waiting for the operator, without its answers.
type reviewItem struct {
	ID          int64
	At          time.Time
	From        string
	Status      store.ResponseStatus
	Reason      string
	Complete    bool
	Problems    int
	Context     *store.ResponseContext
	OtherSender bool // the reply came from a mailbox other than the member's own
}

func (s *Server) reviewPage(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Phiếu cần xem xét", "review"
	if v.Campaign == nil {
		return "review", nil
	}
	ctx := r.Context()
	queue, err := s.inbound.FindReviewQueue(ctx, v.Campaign.Code)
	if err != nil {
		return "", err
	}
	ids := make([]int64, len(queue))
	for i, resp := range queue {
		ids[i] = resp.ID
	}
	contexts, err := s.dash.FindResponseContexts(ctx, ids)
	if err != nil {
		return "", err
	}
	items := make([]reviewItem, 0, len(queue))
	for _, resp := range queue {
		it := reviewItem{ID: resp.ID, At: resp.At, From: resp.From, Status: resp.Status, Reason: resp.Reason,
			Complete: resp.Complete, Problems: len(resp.Problems), Context: contexts[resp.ID]}
		if it.Context == nil {
			it.Context = &store.ResponseContext{}
		}
		it.OtherSender = !strings.EqualFold(resp.From, it.Context.Mailbox)
		items = append(items, it)
	}
	v.Data = items
	return "review", nil
}

func (s *Server) acceptResponse(r *http.Request, se *session) (string, flash, error) {
	return s.decideResponse(r, se, true)
}

func (s *Server) rejectResponse(r *http.Request, se *session) (string, flash, error) {
	return s.decideResponse(r, se, false)
}

// decideResponse accepts or rejects a response as the signed-in operator:
// the store audits the decision under their name in the same transaction.
func (s *Server) decideResponse(r *http.Request, se *session, accept bool) (string, flash, error) {
	back := withCampaign("/review", r.PostFormValue("c"))
	id, err := pathID(r)
	if err != nil {
		return back, flash{}, err
	}
	ctx := store.NewContextWithActor(r.Context(), se.Actor())
	name := ""
	if cs, err := s.dash.FindResponseContexts(ctx, []int64{id}); err == nil && cs[id] != nil {
		name = " của " + cs[id].Name
	}
	if accept {
		if _, err := s.inbound.AcceptResponse(ctx, id); err != nil {
			return back, flash{}, err
		}
		return back, flash{Message: "Đã chấp nhận phiếu trả lời" + name + ": phiếu được tính."}, nil
	}
	if _, err := s.inbound.RejectResponse(ctx, id); err != nil {
		return back, flash{}, err
	}
	return back, flash{Message: "Đã từ chối phiếu trả lời" + name + ": phiếu không được tính."}, nil
}

type outboxData struct {
	Counts        []statusRow
	Deferred      []*store.DeferredMessage
	DeferredTotal int
	Alerts        []*store.Alert
	CanPause      bool
	CanResume     bool
}

// maxDeferredRows bounds the list of next attempts.
const maxDeferredRows = 100

func (s *Server) outboxPage(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Hàng đợi thư", "outbox"
	if v.Campaign == nil {
		return "outbox", nil
	}
	ctx, code := r.Context(), v.Campaign.Code
	counts, err := s.dash.DashboardCounts(ctx, code)
	if err != nil {
		return "", err
	}
	deferred, total, err := s.dash.FindDeferred(ctx, code, maxDeferredRows)
	if err != nil {
		return "", err
	}
	alerts, err := s.outbox.FindAlerts(ctx, true)
	if err != nil {
		return "", err
	}
	d := &outboxData{Counts: outboxRows(counts.Outbox), Deferred: deferred, DeferredTotal: total,
		CanPause: v.Campaign.State == store.CampaignActive, CanResume: v.Campaign.State == store.CampaignPaused}
	for _, a := range alerts {
		if a.CampaignCode == "" || a.CampaignCode == code {
			d.Alerts = append(d.Alerts, a)
		}
	}
	v.Data = d
	return "outbox", nil
}

func (s *Server) pauseCampaign(r *http.Request, se *session) (string, flash, error) {
	return s.setCampaignState(r, se, store.CampaignPaused, "Đã tạm dừng gửi thư của đợt khảo sát %s.")
}

func (s *Server) resumeCampaign(r *http.Request, se *session) (string, flash, error) {
	return s.setCampaignState(r, se, store.CampaignActive, "Đã tiếp tục gửi thư của đợt khảo sát %s.")
}

// setCampaignState pauses or resumes the campaign named in the form, as
// the signed-in operator (audited by the store).
func (s *Server) setCampaignState(r *http.Request, se *session, state store.CampaignState, done string) (string, flash, error) {
	code := r.PostFormValue("c")
	back := withCampaign("/outbox", code)
	if code == "" {
		return back, flash{}, store.Errorf(store.EINVALID, "no campaign given")
	}
	ctx := store.NewContextWithActor(r.Context(), se.Actor())
	if err := s.campaigns.SetCampaignState(ctx, code, state); err != nil {
		return back, flash{}, err
	}
	return back, flash{Message: fmt.Sprintf(done, code)}, nil
}
