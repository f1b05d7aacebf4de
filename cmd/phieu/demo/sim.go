// Package demo simulates the members of a fictional province answering a
// survey by email, for `phieu demo`. Each member reacts only to the mail the
// SMTP server actually delivered to them (an invitation, a reminder, a
// correction request, a receipt, their unit head's digest) and answers the
// way people do: at once or days later, after a reminder or after their
// head's word, in the quoted form, partly and then completely, after the
// deadline, from a colleague's mailbox, or never; some mailboxes do not
// exist, are full, or are locked; one person is on leave. Everything follows
// from a seed: the same seed, the same campaign.
//
// The package decides; it does no I/O. The demo command renders the actions
// as messages in the survey mailbox and feeds back what was delivered.
package demo

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/phieu/phieu/store"
)

// Person is one member of the roster, as the simulator knows them.
type Person struct {
	Mailbox  string
	Name     string
	UnitCode string
}

// Persona is how a simulated member behaves.
type Persona string

const (
	Prompt        Persona = "prompt"         // answers the invitation, within minutes or days
	AfterReminder Persona = "after_reminder" // waits for reminder round Member.Round
	AfterDigest   Persona = "after_digest"   // waits until their unit head is sent a digest
	Partial       Persona = "partial"        // answers part, completes after the correction request
	Late          Persona = "late"           // answers after the deadline
	Colleague     Persona = "colleague"      // has a colleague answer from the colleague's mailbox
	OutOfOffice   Persona = "out_of_office"  // on leave: an auto-reply, then answers on return
	Silent        Persona = "silent"         // never answers
	UserUnknown   Persona = "user_unknown"   // the address does not exist: a 5.1.1 bounce
	MailboxFull   Persona = "mailbox_full"   // a 5.2.2 bounce, then answers the invitation sent again
	StaysFull     Persona = "stays_full"     // every message bounces 5.2.2
	Disabled      Persona = "disabled"       // a locked account: the server refuses it at RCPT, 5.2.1
)

// Style is how a member writes their answers.
type Style string

const (
	StyleVisible  Style = "visible"  // "C1: 8" lines above the quoted message
	StyleQuoted   Style = "quoted"   // typed into the quoted form: "> C1 [1-10]: 8"
	StyleNumbered Style = "numbered" // "Câu 1: 8"
)

// Cast is how many members play each persona; everyone else is Prompt.
// QuotedPercent and NumberedPercent of the members who answer write in
// those styles, the rest above the quote.
type Cast struct {
	UserUnknown, MailboxFull, StaysFull, Disabled int
	OutOfOffice, Colleague, Partial, Late, Silent int
	AfterDigest                                   int
	AfterReminder                                 [3]int // moved by reminder round 1, 2, 3
	QuotedPercent, NumberedPercent                int
}

// DefaultCast is the cast for a roster of n (about 200): one member out of
// office, one answering from a colleague's mailbox, one locked account, a
// few bounces, a tenth who never answer, the rest spread over the ways
// people answer.
func DefaultCast(n int) Cast {
	return Cast{
		UserUnknown: max(1, n/70), MailboxFull: 1, StaysFull: 1, Disabled: 1,
		OutOfOffice: 1, Colleague: 1,
		Partial: max(1, n/40), Late: max(1, n/50), Silent: max(1, n/10),
		AfterDigest:   max(1, n/10),
		AfterReminder: [3]int{max(1, n/10), max(1, n/16), max(1, n/25)},
		QuotedPercent: 20, NumberedPercent: 10,
	}
}

func (c Cast) scripted() int {
	return c.UserUnknown + c.MailboxFull + c.StaysFull + c.Disabled + c.OutOfOffice + c.Colleague +
		c.Partial + c.Late + c.Silent + c.AfterDigest + c.AfterReminder[0] + c.AfterReminder[1] + c.AfterReminder[2]
}

// Mail is one message the SMTP server accepted for a member or a unit head,
// as the simulator reads it.
type Mail struct {
	At            time.Time // when the server accepted it
	To            string
	Kind          store.MessageKind
	Round         int
	From          string // the From header's address
	ReplyTo       string // where answers go
	EnvelopeFrom  string // MAIL FROM: where bounces and auto-replies go
	EnvelopeID    string // DSN ENVID
	MessageID     string // with <>
	Ref           string // X-Phieu-Ref
	Subject       string // decoded
	AutoSubmitted bool   // an Auto-Submitted header other than "no": no auto-reply to it
	Text          string // the text/plain part
}

// ActionKind is what a simulated party puts in the survey mailbox.
type ActionKind string

const (
	ActReply     ActionKind = "reply"      // a person's answer
	ActBounce    ActionKind = "bounce"     // a delivery status notification
	ActAutoReply ActionKind = "auto_reply" // an out-of-office answer
)

// Effect is what an answer is meant to do.
type Effect string

const (
	EffectAnswer   Effect = "answer"    // a complete answer from the member's own mailbox
	EffectPartial  Effect = "partial"   // part of the answers: phieu should ask for the rest
	EffectComplete Effect = "complete"  // the rest, after the correction request
	EffectOther    Effect = "colleague" // a complete answer from a colleague's mailbox
)

// Action is one message to put in the survey mailbox at At.
type Action struct {
	At     time.Time
	Kind   ActionKind
	Member string // the member it is about (their mailbox)
	Effect Effect // replies
	Style  Style  // replies

	From, To  string
	Subject   string // of the message answered, undecorated
	InReplyTo string
	Text      string // what the person wrote
	Quoted    string // the message answered, as quoted (answers typed in for StyleQuoted)

	// Bounces: the message that failed.
	Status, Diagnostic, EnvelopeID string
	Original                       Mail

	index, seq int // order among actions due at the same moment
}

// Member is a simulated member: who, how they behave, and what happened.
type Member struct {
	Person
	Index     int
	Persona   Persona
	Round     int    // AfterReminder: the reminder round that moves them
	Style     Style  // how they write answers
	Colleague string // Colleague: the mailbox their answer comes from
	// Received lists the kinds of message delivered to them, in order.
	Received []store.MessageKind
	// Actions lists what they did, in order.
	Actions []Action

	rng      *rand.Rand
	answers  map[string]string // their answer to each question
	missing  []string          // Partial: the codes their first answer gets wrong or leaves out
	moved    bool              // their answer is planned (or they did what their persona does)
	replied  bool              // Partial: the first answer is planned
	away     bool              // OutOfOffice: the auto-reply was sent
	lastForm *Mail             // the latest message with the questionnaire's form
}

// Sim is the simulation: the members, their plans, what they did.
type Sim struct {
	c       *store.Campaign
	members []*Member
	byBox   map[string]*Member
	byUnit  map[string][]*Member // AfterDigest members by unit
	heads   map[string]string    // unit head mailbox -> unit code
	queue   []Action
	seq     int
	back    time.Time // OutOfOffice: back at work

	mu      sync.Mutex
	refused map[string]int // Disabled: RCPT refusals by mailbox
}

// New casts the members of c from people (in roster order), with heads
// mapping each unit head's mailbox to the unit code. The same seed gives
// the same cast and the same behaviour.
func New(seed uint64, c *store.Campaign, people []Person, heads map[string]string, cast Cast) (*Sim, error) {
	if cast.scripted()+1 > len(people) {
		return nil, fmt.Errorf("demo: a cast of %d needs more than %d members", cast.scripted(), len(people))
	}
	s := &Sim{c: c, byBox: map[string]*Member{}, byUnit: map[string][]*Member{}, heads: map[string]string{}, refused: map[string]int{}}
	for box, unit := range heads {
		s.heads[strings.ToLower(box)] = unit
	}
	// Back from leave four days before the deadline, in the morning.
	dl := c.Deadline.In(c.Loc())
	s.back = time.Date(dl.Year(), dl.Month(), dl.Day()-4, 0, 0, 0, 0, c.Loc()).Add(24 * time.Hour)

	r := rand.New(rand.NewPCG(seed, 0x64656d6f)) // "demo"
	order := r.Perm(len(people))
	next := 0
	take := func(n int, p Persona, round int) {
		for range n {
			i := order[next]
			next++
			s.members = append(s.members, &Member{Person: people[i], Index: i, Persona: p, Round: round})
		}
	}
	take(cast.UserUnknown, UserUnknown, 0)
	take(cast.MailboxFull, MailboxFull, 0)
	take(cast.StaysFull, StaysFull, 0)
	take(cast.Disabled, Disabled, 0)
	take(cast.OutOfOffice, OutOfOffice, 0)
	take(cast.Colleague, Colleague, 0)
	take(cast.Partial, Partial, 0)
	take(cast.Late, Late, 0)
	take(cast.Silent, Silent, 0)
	take(cast.AfterDigest, AfterDigest, 0)
	for round, n := range cast.AfterReminder {
		take(n, AfterReminder, round+1)
	}
	take(len(people)-next, Prompt, 0)
	sort.Slice(s.members, func(i, j int) bool { return s.members[i].Index < s.members[j].Index })

	for _, m := range s.members {
		m.Mailbox = strings.ToLower(m.Mailbox)
		s.byBox[m.Mailbox] = m
		if m.Persona == AfterDigest {
			s.byUnit[m.UnitCode] = append(s.byUnit[m.UnitCode], m)
		}
		m.rng = rand.New(rand.NewPCG(seed, uint64(m.Index+1)*0x9e3779b97f4a7c15))
		m.Style = StyleVisible
		if m.Persona != Partial && m.Persona != Colleague { // their texts are written by hand
			switch x := m.rng.IntN(100); {
			case x < cast.QuotedPercent:
				m.Style = StyleQuoted
			case x < cast.QuotedPercent+cast.NumberedPercent:
				m.Style = StyleNumbered
			}
		}
		m.answers = chooseAnswers(m.rng, c.Questionnaire)
		if m.Persona == Partial {
			m.missing = chooseMissing(m.rng, c.Questionnaire)
		}
	}
	// The colleague who answers for someone is a prompt one of their unit
	// (of anywhere, failing that): someone whose own answer is in order.
	for _, m := range s.members {
		if m.Persona != Colleague {
			continue
		}
		var anywhere, same *Member
		for _, o := range s.members {
			if o.Persona != Prompt {
				continue
			}
			if anywhere == nil {
				anywhere = o
			}
			if same == nil && o.UnitCode == m.UnitCode {
				same = o
			}
		}
		if same == nil {
			same = anywhere
		}
		m.Colleague = same.Mailbox
	}
	return s, nil
}

// Members returns the members in roster order.
func (s *Sim) Members() []*Member { return s.members }

// Member returns the member with the mailbox, or nil.
func (s *Sim) Member(mailbox string) *Member { return s.byBox[strings.ToLower(mailbox)] }

// Refuse is the mail server's answer to RCPT TO: a locked account is refused
// with 550 5.2.1, everything else accepted (ok false). It is safe to call
// from the server's connections.
func (s *Sim) Refuse(rcpt string) (code int, enhanced, text string, ok bool) {
	m := s.byBox[strings.ToLower(rcpt)]
	if m == nil || m.Persona != Disabled {
		return 0, "", "", false
	}
	s.mu.Lock()
	s.refused[m.Mailbox]++
	s.mu.Unlock()
	return 550, "5.2.1", "<" + rcpt + ">: Recipient address rejected: Account is disabled", true
}

// Receive takes one delivered message: the member it was for reacts to it,
// a unit head's digest moves the members of that unit who wait for it.
func (s *Sim) Receive(mail Mail) {
	to := strings.ToLower(mail.To)
	m := s.byBox[to]
	if m == nil {
		if unit, ok := s.heads[to]; ok && mail.Kind == store.KindHeadDigest {
			// They answer the latest survey mail they have, prompted by
			// their head.
			for _, w := range s.byUnit[unit] {
				if !w.moved && w.lastForm != nil {
					w.moved = true
					s.plan(w, s.workTime(w, mail.At.Add(hours(w.rng, 1, 6))), ActReply, EffectAnswer, *w.lastForm)
				}
			}
		}
		return
	}
	m.Received = append(m.Received, mail.Kind)
	if hasForm(mail.Text) {
		cp := mail
		m.lastForm = &cp
	}
	first := mail.Kind == store.KindInvitation && !m.moved
	switch m.Persona {
	case UserUnknown:
		s.bounce(m, mail, "5.1.1", "smtp; 550 5.1.1 <"+mail.To+">: Recipient address rejected: User unknown in virtual mailbox table")
	case StaysFull:
		s.bounce(m, mail, "5.2.2", "smtp; 552 5.2.2 <"+mail.To+">: Mailbox full: quota exceeded (500 MB)")
	case MailboxFull:
		if len(m.Received) == 1 {
			s.bounce(m, mail, "5.2.2", "smtp; 552 5.2.2 <"+mail.To+">: Mailbox full: quota exceeded (500 MB)")
			return // then they clear it: the invitation sent again gets through
		}
		if first {
			m.moved = true
			s.plan(m, s.promptTime(m, mail.At), ActReply, EffectAnswer, mail)
		}
	case Prompt:
		if first {
			m.moved = true
			s.plan(m, s.promptTime(m, mail.At), ActReply, EffectAnswer, mail)
		}
	case Colleague:
		if first {
			m.moved = true
			s.plan(m, s.promptTime(m, mail.At), ActReply, EffectOther, mail)
		}
	case Late:
		if first {
			m.moved = true
			dl := s.c.Deadline.In(s.c.Loc())
			day := time.Date(dl.Year(), dl.Month(), dl.Day()+1+m.rng.IntN(2), 8, 0, 0, 0, s.c.Loc())
			s.plan(m, day.Add(minutes(m.rng, 0, 4*60)), ActReply, EffectAnswer, mail)
		}
	case Partial:
		switch {
		case first:
			m.moved = true
			s.plan(m, s.promptTime(m, mail.At), ActReply, EffectPartial, mail)
		case mail.Kind == store.KindCorrection && !m.replied:
			m.replied = true
			s.plan(m, s.workTime(m, mail.At.Add(hours(m.rng, 1, 5))), ActReply, EffectComplete, mail)
		}
	case AfterReminder:
		if mail.Kind == store.KindReminder && mail.Round >= m.Round && !m.moved {
			m.moved = true
			s.plan(m, s.workTime(m, mail.At.Add(hours(m.rng, 1, 6))), ActReply, EffectAnswer, mail)
		}
	case OutOfOffice:
		switch {
		case mail.At.Before(s.back):
			if !m.away && !mail.AutoSubmitted {
				m.away = true
				s.plan(m, mail.At.Add(time.Minute), ActAutoReply, "", mail)
			}
		case !m.moved && (mail.Kind == store.KindInvitation || mail.Kind == store.KindReminder):
			m.moved = true
			s.plan(m, s.workTime(m, mail.At.Add(hours(m.rng, 1, 4))), ActReply, EffectAnswer, mail)
		}
	}
}

func (s *Sim) bounce(m *Member, mail Mail, status, diagnostic string) {
	a := Action{At: mail.At.Add(minutes(m.rng, 1, 10)), Kind: ActBounce, Member: m.Mailbox, From: "MAILER-DAEMON@mail." + domainOf(m.Mailbox),
		To: mail.EnvelopeFrom, Subject: mail.Subject, Status: status, Diagnostic: diagnostic, EnvelopeID: mail.EnvelopeID, Original: mail}
	s.push(m, a)
}

// plan writes the member's message answering mail, to go at at.
func (s *Sim) plan(m *Member, at time.Time, kind ActionKind, effect Effect, mail Mail) {
	a := Action{At: at, Kind: kind, Member: m.Mailbox, Effect: effect, Style: m.Style, From: m.Mailbox}
	if kind == ActAutoReply {
		a.To, a.Subject, a.InReplyTo = mail.EnvelopeFrom, mail.Subject, mail.MessageID
		a.Text = "Tôi đang nghỉ phép đến hết ngày " + s.back.Add(-time.Minute).Format("02/01/2006") +
			" và sẽ trả lời thư khi trở lại cơ quan. Việc gấp xin liên hệ Văn phòng đơn vị."
		s.push(m, a)
		return
	}
	q := s.c.Questionnaire
	codes := q.Questions
	var wrong []string
	switch effect {
	case EffectPartial:
		a.Style, wrong = StyleVisible, m.missing
	case EffectComplete:
		a.Style, codes = StyleVisible, nil
		for _, qu := range q.Questions {
			for _, code := range m.missing {
				if qu.Code == code {
					codes = append(codes, qu)
				}
			}
		}
	case EffectOther:
		a.Style, a.From = StyleVisible, m.Colleague
	}
	values := m.values(codes, wrong)
	// Typing into the form needs a message that has it.
	if a.Style == StyleQuoted && !hasForm(mail.Text) {
		if m.lastForm == nil {
			a.Style = StyleVisible
		} else {
			mail = *m.lastForm
		}
	}
	a.To, a.Subject, a.InReplyTo, a.Quoted = mail.ReplyTo, mail.Subject, mail.MessageID, mail.Text
	if a.To == "" {
		a.To = mail.From
	}
	var filled int
	if a.Style == StyleQuoted {
		a.Quoted, filled = fillForm(mail.Text, values)
	}
	switch {
	case a.Style == StyleQuoted && filled == len(values):
		a.Text = "Kính gửi Sở Nội vụ,\nTôi gửi lại phiếu đã điền ở dưới.\n\nTrân trọng,\n" + m.Name
	case effect == EffectComplete:
		a.Text = "Kính gửi Sở Nội vụ,\nTôi xin bổ sung phiếu như sau.\n\n" + answerLines(q, values, a.Style) + "\nTrân trọng,\n" + m.Name
	case effect == EffectOther:
		a.Text = "Kính gửi Sở Nội vụ,\n\n" + answerLines(q, values, a.Style) +
			"\nTôi trả lời thay cho đồng chí " + m.Name + " đang đi công tác.\n\nTrân trọng,\n" + s.byBox[m.Colleague].Name
	default:
		if a.Style == StyleQuoted { // the form could not take every answer
			a.Style = StyleVisible
		}
		a.Quoted = mail.Text
		a.Text = "Kính gửi Sở Nội vụ,\n\n" + answerLines(q, values, a.Style) + "\nTrân trọng,\n" + m.Name
	}
	s.push(m, a)
}

func (s *Sim) push(m *Member, a Action) {
	s.seq++
	a.index, a.seq = m.Index, s.seq
	s.queue = append(s.queue, a)
}

// Due returns the actions due at or before now, oldest first (members in
// roster order at the same moment), and records them as done.
func (s *Sim) Due(now time.Time) []Action {
	var due, rest []Action
	for _, a := range s.queue {
		if a.At.After(now) {
			rest = append(rest, a)
		} else {
			due = append(due, a)
		}
	}
	s.queue = rest
	sort.Slice(due, func(i, j int) bool {
		if !due[i].At.Equal(due[j].At) {
			return due[i].At.Before(due[j].At)
		}
		if due[i].index != due[j].index {
			return due[i].index < due[j].index
		}
		return due[i].seq < due[j].seq
	})
	for _, a := range due {
		m := s.byBox[a.Member]
		m.Actions = append(m.Actions, a)
	}
	return due
}

// Pending is how many actions are planned and not yet due.
func (s *Sim) Pending() int { return len(s.queue) }

// values are the member's answers to qs; wrong holds codes to leave out
// or answer out of range.
func (m *Member) values(qs []store.Question, wrong []string) map[string]string {
	values := map[string]string{}
	for _, qu := range qs {
		v, ok := m.answers[qu.Code]
		for _, w := range wrong {
			if w == qu.Code {
				v, ok = wrongValue(m.rng, qu)
			}
		}
		if ok {
			values[qu.Code] = v
		}
	}
	return values
}

// answerLines writes the values one per line, in questionnaire order: "C1:
// 8", or "Câu 1: 8" for those who number them.
func answerLines(q store.Questionnaire, values map[string]string, style Style) string {
	var b strings.Builder
	for i, qu := range q.Questions {
		v, ok := values[qu.Code]
		if !ok {
			continue
		}
		if style == StyleNumbered {
			fmt.Fprintf(&b, "Câu %d: %s\n", i+1, v)
		} else {
			fmt.Fprintf(&b, "%s: %s\n", qu.Code, v)
		}
	}
	return b.String()
}

// formLineRE is an answer line of the form, not indented (the instructions'
// example is).
var formLineRE = regexp.MustCompile(`^([A-Za-z]{1,3}[0-9]{1,3}[a-z]?) \[[^\]]*\]:\s*$`)

// hasForm reports whether a message carries the questionnaire's form.
func hasForm(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if formLineRE.MatchString(strings.TrimRight(l, "\r")) {
			return true
		}
	}
	return false
}

// fillForm types the values into the form's answer lines and returns the
// text and how many it filled.
func fillForm(text string, values map[string]string) (string, int) {
	lines := strings.Split(text, "\n")
	n := 0
	for i, l := range lines {
		sm := formLineRE.FindStringSubmatch(strings.TrimRight(l, "\r"))
		if sm == nil {
			continue
		}
		if v, ok := values[sm[1]]; ok {
			lines[i] = strings.TrimRight(l, " \r") + " " + v
			n++
		}
	}
	return strings.Join(lines, "\n"), n
}

var comments = []string{
	"Đề nghị đẩy mạnh số hóa hồ sơ thủ tục hành chính",
	"Cần tăng cường tập huấn cho cán bộ bộ phận một cửa",
	"Nên rút ngắn thời gian giải quyết hồ sơ đất đai",
	"Đề nghị công khai tiến độ giải quyết hồ sơ trên cổng dịch vụ công",
	"Không có ý kiến thêm",
	"Cần bố trí đủ biên chế sau sắp xếp đơn vị hành chính",
}

// chooseAnswers draws a member's answers: scales lean to the upper half,
// as in real PAR surveys; a third write a comment.
func chooseAnswers(r *rand.Rand, q store.Questionnaire) map[string]string {
	out := map[string]string{}
	for _, qu := range q.Questions {
		switch qu.Type {
		case store.AnswerScale:
			span := qu.Max - qu.Min
			out[qu.Code] = fmt.Sprint(qu.Min + span/2 + r.IntN(span-span/2+1))
		case store.AnswerChoice:
			if len(qu.Choices) > 0 {
				out[qu.Code] = qu.Choices[r.IntN(len(qu.Choices))].Letter
			}
		case store.AnswerText:
			if qu.Required || r.IntN(3) == 0 {
				out[qu.Code] = comments[r.IntN(len(comments))]
			}
		}
	}
	return out
}

// chooseMissing picks one required question a partial answer gets wrong.
func chooseMissing(r *rand.Rand, q store.Questionnaire) []string {
	var req []string
	for _, qu := range q.Questions {
		if qu.Required {
			req = append(req, qu.Code)
		}
	}
	if len(req) == 0 {
		return nil
	}
	return []string{req[r.IntN(len(req))]}
}

// wrongValue is a wrong answer: left out, or a scale answered out of range.
func wrongValue(r *rand.Rand, qu store.Question) (string, bool) {
	if qu.Type == store.AnswerScale && r.IntN(2) == 0 {
		return fmt.Sprint(qu.Max + 2), true
	}
	return "", false
}

// promptTime is when someone who answers without being chased does: a
// third within hours, most within days, some a week or more later.
func (s *Sim) promptTime(m *Member, got time.Time) time.Time {
	var d time.Duration
	switch x := m.rng.IntN(100); {
	case x < 30:
		d = minutes(m.rng, 20, 4*60)
	case x < 75:
		d = hours(m.rng, 20, 72)
	default:
		d = hours(m.rng, 72, 240)
	}
	return s.workTime(m, got.Add(d))
}

// workTime moves t into working hours (07:30–20:00), and nine times out of
// ten off a weekend or holiday to the next working day.
func (s *Sim) workTime(m *Member, t time.Time) time.Time {
	loc := s.c.Loc()
	t = t.In(loc)
	morning := func(day time.Time) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), 7, 30, 0, 0, loc).Add(minutes(m.rng, 0, 150))
	}
	switch {
	case t.Hour() < 7 || t.Hour() == 7 && t.Minute() < 30:
		t = morning(t)
	case t.Hour() >= 20:
		t = morning(t.AddDate(0, 0, 1))
	}
	if !s.c.Calendar.IsWorkingDay(store.DateOf(t)) && m.rng.IntN(10) != 0 {
		for i := 0; i < 30 && !s.c.Calendar.IsWorkingDay(store.DateOf(t)); i++ {
			t = morning(t.AddDate(0, 0, 1))
		}
	}
	return t
}

func minutes(r *rand.Rand, lo, hi int) time.Duration {
	return time.Duration(lo+r.IntN(hi-lo+1)) * time.Minute
}

func hours(r *rand.Rand, lo, hi int) time.Duration { return minutes(r, lo*60, hi*60) }

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return addr
}

// Tally is what the simulated members did, counted the way phieu should
// count it: the numbers the demo's database must show.
type Tally struct {
	Members     int
	Answered    int // a complete answer from their own mailbox by the deadline, or completed by then
	Corrected   int // of Answered: partly first, completed after the correction request
	Quoted      int // of Answered: typed into the quoted form
	Late        int // answered only after the deadline
	NeedsReview int // answered, from a colleague's mailbox, by the deadline
	// Failed counts members by the class of failure their mail met.
	Failed      map[store.FailureClass]int
	OutOfOffice int // members who sent an auto-reply
	Never       int // members who never answered, in any way
	// Receipts counts receipts delivered to members who answered.
	Receipts int
}

// Tally counts what the members did so far.
func (s *Sim) Tally() Tally {
	t := Tally{Members: len(s.members), Failed: map[store.FailureClass]int{}}
	s.mu.Lock()
	refused := len(s.refused)
	s.mu.Unlock()
	if refused > 0 {
		t.Failed[store.ClassMailboxDisabled] = refused
	}
	for _, m := range s.members {
		var replied, onTime, late, other, partial, complete, quoted bool
		classes := map[store.FailureClass]bool{}
		for _, a := range m.Actions {
			switch a.Kind {
			case ActBounce:
				classes[store.ClassifyFailure(0, a.Status, a.Diagnostic)] = true
			case ActAutoReply:
				t.OutOfOffice++
			case ActReply:
				replied = true
				in := s.c.InTime(a.At)
				switch {
				case !in:
					late = true
				case a.Effect == EffectOther:
					other = true
				case a.Effect == EffectPartial:
					partial = true
				case a.Effect == EffectComplete:
					complete = true
				default:
					onTime = true
					quoted = quoted || a.Style == StyleQuoted
				}
			}
		}
		for c := range classes {
			t.Failed[c]++
		}
		switch {
		case onTime || partial && complete:
			t.Answered++
			if partial && complete && !onTime {
				t.Corrected++
			}
			if quoted {
				t.Quoted++
			}
			for _, k := range m.Received {
				if k == store.KindReceipt {
					t.Receipts++
				}
			}
		case other:
			t.NeedsReview++
		case late:
			t.Late++
		}
		if !replied {
			t.Never++
		}
	}
	return t
}
