package demo_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/phieu/phieu/cmd/phieu/demo"
	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/answers"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/synth"
	"github.com/phieu/phieu/templates"
)

func campaign(t *testing.T) *store.Campaign {
	t.Helper()
	c, err := campaignfile.Parse("campaign.yaml", []byte(demo.CampaignFile))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func province(seed uint64, n int) (people []demo.Person, heads map[string]string) {
	p := synth.Generate(seed, 30, n)
	heads = map[string]string{}
	for _, u := range p.Units {
		heads[u.Head.Mailbox] = u.Code
	}
	for _, r := range p.Respondents {
		people = append(people, demo.Person{Mailbox: r.Mailbox, Name: r.FullName, UnitCode: r.UnitCode})
	}
	return people, heads
}

func newSim(t *testing.T, seed uint64, n int) *demo.Sim {
	t.Helper()
	people, heads := province(seed, n)
	s, err := demo.New(seed, campaign(t), people, heads, demo.DefaultCast(n))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCampaignFile(t *testing.T) {
	c := campaign(t)
	loc := c.Loc()
	if got, want := c.OpensAt, time.Date(2026, 2, 9, 8, 0, 0, 0, loc); !got.Equal(want) || got.Weekday() != time.Monday {
		t.Errorf("opens %s, want Monday %s", got, want)
	}
	if got, want := c.Deadline, time.Date(2026, 3, 3, 23, 59, 59, 0, loc); !got.Equal(want) {
		t.Errorf("deadline %s, want %s", got, want)
	}
	if loc.String() != "Asia/Ho_Chi_Minh" {
		t.Errorf("zone %s", loc)
	}
	if n := len(c.Questionnaire.Questions); n < 3 || n > 5 {
		t.Errorf("%d questions, want 3 to 5", n)
	}
	if !demo.Start(loc).Before(c.OpensAt) || !demo.End(loc).After(c.Deadline) {
		t.Errorf("the simulation %s–%s does not span the campaign", demo.Start(loc), demo.End(loc))
	}
}

func TestCast(t *testing.T) {
	s := newSim(t, 1, 200)
	cast := demo.DefaultCast(200)
	got := map[demo.Persona]int{}
	rounds := [3]int{}
	for _, m := range s.Members() {
		got[m.Persona]++
		if m.Persona == demo.AfterReminder {
			rounds[m.Round-1]++
		}
	}
	want := map[demo.Persona]int{
		demo.UserUnknown: cast.UserUnknown, demo.MailboxFull: cast.MailboxFull, demo.StaysFull: cast.StaysFull,
		demo.Disabled: cast.Disabled, demo.OutOfOffice: 1, demo.Colleague: 1, demo.Partial: cast.Partial,
		demo.Late: cast.Late, demo.Silent: cast.Silent, demo.AfterDigest: cast.AfterDigest,
		demo.AfterReminder: cast.AfterReminder[0] + cast.AfterReminder[1] + cast.AfterReminder[2],
	}
	want[demo.Prompt] = 200
	for p, n := range want {
		if p != demo.Prompt {
			want[demo.Prompt] -= n
		}
	}
	if !reflect.DeepEqual(got, want) || rounds != cast.AfterReminder {
		t.Errorf("cast %v rounds %v, want %v %v", got, rounds, want, cast.AfterReminder)
	}
	if silent := got[demo.Silent]; silent < 16 || silent > 24 {
		t.Errorf("%d of 200 never answer, want 8–12%%", silent)
	}
	for _, m := range s.Members() {
		if m.Persona == demo.Colleague {
			c := s.Member(m.Colleague)
			if c == nil || c.Persona != demo.Prompt || c.Mailbox == m.Mailbox {
				t.Errorf("%s answers from %s (%v)", m.Mailbox, m.Colleague, c)
			}
		}
	}

	personas := func(s *demo.Sim) []string {
		var out []string
		for _, m := range s.Members() {
			out = append(out, fmt.Sprintf("%s %s %d %s", m.Mailbox, m.Persona, m.Round, m.Style))
		}
		return out
	}
	if a, b := personas(s), personas(newSim(t, 1, 200)); !slices.Equal(a, b) {
		t.Error("the same seed cast the members differently")
	}
	if a, b := personas(s), personas(newSim(t, 2, 200)); slices.Equal(a, b) {
		t.Error("seeds 1 and 2 cast the same")
	}
}

// render is the message phieu would send a member, as the simulator reads it.
func render(t *testing.T, c *store.Campaign, kind templates.Kind, to demo.Person, at time.Time, n int, d templates.Data) demo.Mail {
	t.Helper()
	d.Campaign, d.Now, d.Ref = c, at, fmt.Sprintf("KS-7F3A9CQ%03d", n)
	d.Respondent = &store.Respondent{FullName: to.Name, Salutation: store.SalutationOng, Title: "Phó Giám đốc", Mailbox: to.Mailbox}
	d.Unit = &store.Unit{Code: to.UnitCode, Name: "Sở Tư pháp"}
	msg, err := templates.Default().Render(kind, &d)
	if err != nil {
		t.Fatal(err)
	}
	return demo.Mail{At: at, To: to.Mailbox, Kind: store.MessageKind(kind), Round: d.Round, From: c.SenderAddress, ReplyTo: c.ReplyTo,
		EnvelopeFrom: c.ReplyTo, EnvelopeID: d.Ref[3:], MessageID: fmt.Sprintf("<%d.%s@binhson.gov.test>", n, kind), Ref: d.Ref[3:],
		Subject: msg.Subject, Text: msg.Text}
}

// read is what phieu's poller reads out of an action.
func read(t *testing.T, c *store.Campaign, a demo.Action) (*poller.Analysis, answers.Result) {
	t.Helper()
	raw, err := a.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	an, err := poller.Analyze(raw)
	if err != nil {
		t.Fatal(err)
	}
	return an, answers.Read(an.Visible, an.Quoted, c.Questionnaire)
}

// TestMembersReactToTheirMail sends every member an invitation, then the
// correction requests and reminders phieu would, and reads what they do the
// way phieu's poller does: every answer parses as the simulator meant it.
func TestMembersReactToTheirMail(t *testing.T) {
	c := campaign(t)
	s := newSim(t, 1, 200)
	loc := c.Loc()
	opens := c.OpensAt
	for i, m := range s.Members() {
		if m.Persona == demo.Disabled {
			if _, _, _, refused := s.Refuse(m.Mailbox); !refused {
				t.Errorf("the locked account %s was not refused", m.Mailbox)
			}
			continue
		}
		if _, _, _, refused := s.Refuse(m.Mailbox); refused {
			t.Errorf("%s (%s) refused at RCPT", m.Mailbox, m.Persona)
		}
		s.Receive(render(t, c, templates.Invitation, m.Person, opens, i, templates.Data{}))
	}
	// Up to the first reminder: the prompt ones, bounces, the auto-reply, partial answers.
	firstReminder := time.Date(2026, 2, 24, 8, 0, 0, 0, loc)
	seen := map[demo.Style]int{}
	corrections := 0
	for _, a := range s.Due(firstReminder) {
		m := s.Member(a.Member)
		an, res := read(t, c, a)
		if !an.Date.Equal(a.At.Truncate(time.Second)) {
			t.Errorf("%s %s dated %s, sent %s", a.Member, a.Kind, an.Date, a.At)
		}
		switch a.Kind {
		case demo.ActBounce:
			if an.Kind != store.InboundBounce || len(an.Failures) != 1 || an.EnvelopeID == "" {
				t.Fatalf("%s: bounce read as %s %+v", a.Member, an.Kind, an.Failures)
			}
			want := map[demo.Persona]store.FailureClass{demo.UserUnknown: store.ClassUserUnknown,
				demo.MailboxFull: store.ClassMailboxFull, demo.StaysFull: store.ClassMailboxFull}[m.Persona]
			if got := an.Failures[0].Class; got != want {
				t.Errorf("%s (%s): bounce class %s, want %s", a.Member, m.Persona, got, want)
			}
			continue
		case demo.ActAutoReply:
			if an.Kind != store.InboundAutoReply || m.Persona != demo.OutOfOffice {
				t.Errorf("%s (%s): auto-reply read as %s", a.Member, m.Persona, an.Kind)
			}
			continue
		}
		if an.Kind != store.InboundReply {
			t.Fatalf("%s: reply read as %s", a.Member, an.Kind)
		}
		if !a.At.After(opens) || a.At.In(loc).Hour() < 7 || a.At.In(loc).Hour() >= 20 {
			t.Errorf("%s answered at %s", a.Member, a.At)
		}
		switch a.Effect {
		case demo.EffectAnswer, demo.EffectOther:
			seen[a.Style]++
			if !res.Complete {
				t.Errorf("%s (%s, %s): answer incomplete: %+v\n%s\n---\n%s", a.Member, m.Persona, a.Style, res.Problems, an.Visible, an.Quoted)
			}
			if a.Style == demo.StyleQuoted && res.Answers[0].Source != answers.SourceQuoted {
				t.Errorf("%s: quoted answers read from %s", a.Member, res.Answers[0].Source)
			}
			wantFrom := m.Mailbox
			if a.Effect == demo.EffectOther {
				wantFrom = m.Colleague
			}
			if an.From != wantFrom {
				t.Errorf("%s: from %s, want %s", a.Member, an.From, wantFrom)
			}
		case demo.EffectPartial:
			if res.Complete || len(res.Problems) != 1 {
				t.Fatalf("%s: partial answer read as complete %v, problems %+v", a.Member, res.Complete, res.Problems)
			}
			// phieu asks for the rest.
			corrections++
			s.Receive(render(t, c, templates.Correction, m.Person, a.At.Add(time.Hour), 1000+corrections,
				templates.Data{Problems: res.ForCorrection(c.Questionnaire)}))
		}
	}
	if seen[demo.StyleVisible] == 0 || seen[demo.StyleQuoted] == 0 || seen[demo.StyleNumbered] == 0 {
		t.Errorf("answers by style: %v, want every style", seen)
	}
	if corrections != demo.DefaultCast(200).Partial {
		t.Errorf("%d partial answers, want %d", corrections, demo.DefaultCast(200).Partial)
	}
	// The full mailbox is sent its invitation again.
	for i, m := range s.Members() {
		if m.Persona == demo.MailboxFull || m.Persona == demo.StaysFull {
			inv := render(t, c, templates.Invitation, m.Person, opens.Add(25*time.Hour), 3000+i, templates.Data{})
			inv.Round = 1
			s.Receive(inv)
		}
	}

	// Reminders to whoever has not answered, rounds 1–3; a digest to every head.
	remind := func(round int, at time.Time) {
		for i, m := range s.Members() {
			answered := slices.ContainsFunc(m.Actions, func(a demo.Action) bool { return a.Kind == demo.ActReply })
			if !answered && m.Persona != demo.Disabled && m.Persona != demo.UserUnknown {
				s.Receive(render(t, c, templates.Reminder, m.Person, at, 10000*round+i, templates.Data{Round: round}))
			}
		}
	}
	remind(1, firstReminder)
	_, heads := province(1, 200)
	digestAt := time.Date(2026, 2, 26, 8, 0, 0, 0, loc)
	var boxes []string
	for box := range heads {
		boxes = append(boxes, box)
	}
	sort.Strings(boxes)
	for _, box := range boxes {
		s.Receive(demo.Mail{At: digestAt, To: box, Kind: store.KindHeadDigest, AutoSubmitted: true})
	}
	remind(2, time.Date(2026, 2, 27, 8, 0, 0, 0, loc))
	remind(3, time.Date(2026, 3, 2, 8, 0, 0, 0, loc))
	for _, a := range s.Due(demo.End(loc)) {
		m := s.Member(a.Member)
		if a.Kind != demo.ActReply {
			continue
		}
		an, res := read(t, c, a)
		if a.Effect == demo.EffectComplete {
			onlyMissing := !slices.ContainsFunc(res.Problems, func(p answers.Problem) bool { return p.Kind != answers.ProblemMissing })
			if !onlyMissing || len(res.Answers) != 1 {
				t.Errorf("%s: the completion reads %+v, problems %+v\n%s", a.Member, res.Answers, res.Problems, an.Visible)
			}
			continue
		}
		if !res.Complete {
			t.Errorf("%s (%s): answer incomplete: %+v", a.Member, m.Persona, res.Problems)
		}
	}

	tally := s.Tally()
	cast := demo.DefaultCast(200)
	if tally.Late != cast.Late || tally.NeedsReview != 1 || tally.OutOfOffice != 1 || tally.Corrected != cast.Partial {
		t.Errorf("tally %+v", tally)
	}
	wantFailed := map[store.FailureClass]int{store.ClassUserUnknown: cast.UserUnknown,
		store.ClassMailboxFull: cast.MailboxFull + cast.StaysFull, store.ClassMailboxDisabled: cast.Disabled}
	if !reflect.DeepEqual(tally.Failed, wantFailed) {
		t.Errorf("failed %v, want %v", tally.Failed, wantFailed)
	}
	// Who never answered: the silent, the addresses that do not work.
	if want := cast.Silent + cast.UserUnknown + cast.StaysFull + cast.Disabled; tally.Never != want {
		t.Errorf("%d never answered, want %d", tally.Never, want)
		for _, m := range s.Members() {
			if !slices.ContainsFunc(m.Actions, func(a demo.Action) bool { return a.Kind == demo.ActReply }) {
				t.Logf("%s %s %d received %v", m.Mailbox, m.Persona, m.Round, m.Received)
			}
		}
	}
	if got, want := tally.Answered+tally.Late+tally.NeedsReview+tally.Never, 200; got != want {
		t.Errorf("answered %d + late %d + review %d + never %d = %d, want every member", tally.Answered, tally.Late, tally.NeedsReview, tally.Never, got)
	}
	if s.Pending() != 0 {
		t.Errorf("%d actions still planned after the end", s.Pending())
	}
}
