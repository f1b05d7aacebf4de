package bounce

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phieu/phieu/store"
)

// Targets are the accuracy the analyser must reach on a labelled corpus.
var Targets = struct{ Detection, Recipient, Class, Status float64 }{0.99, 0.97, 0.90, 0.90}

// Scorecard is how well Analyze reads a labelled bounce corpus (the
// Sisimai set-of-emails layout: eml/*.eml and labels.tsv).
type Scorecard struct {
	Overall  Tally
	Engines  map[string]*Tally // by the label's engine
	Kinds    Tally             // vacation, feedback and delivered rows: only Kind counts
	Misses   []Miss            // rows that failed a measure
	Messages int
	Errors   int // messages Analyze refused
}

// Tally counts rows that passed each measure.
type Tally struct {
	Rows                       int // failure rows
	Detected, Recipient, Class int
	StatusRows, Status         int // rows with a status label, and those right
}

// Miss is one row that failed, for debugging the rules.
type Miss struct {
	File, Engine, Measure, Want, Got string
}

func (t Tally) rate(n, d int) float64 {
	if d == 0 {
		return 1
	}
	return float64(n) / float64(d)
}

// Detection is the share of failure rows reported as bounce or delay.
func (t Tally) Detection() float64 { return t.rate(t.Detected, t.Rows) }

// RecipientRate is the share of failure rows whose recipient is among Failures.
func (t Tally) RecipientRate() float64 { return t.rate(t.Recipient, t.Rows) }

// ClassRate is the share of failure rows whose recipient got the expected class.
func (t Tally) ClassRate() float64 { return t.rate(t.Class, t.Rows) }

// StatusRate is the share of rows with a status label whose status matches.
func (t Tally) StatusRate() float64 { return t.rate(t.Status, t.StatusRows) }

// KindRate is the share of kind-only rows (vacation, feedback, delivered) right.
func (s *Scorecard) KindRate() float64 { return s.Kinds.rate(s.Kinds.Detected, s.Kinds.Rows) }

// Failed lists the targets missed, empty when all are met.
func (s *Scorecard) Failed() []string {
	var out []string
	o := s.Overall
	check := func(name string, got, want float64) {
		if got < want {
			out = append(out, fmt.Sprintf("%s %.1f%% < %.0f%%", name, 100*got, 100*want))
		}
	}
	check("detection", o.Detection(), Targets.Detection)
	check("recipient", o.RecipientRate(), Targets.Recipient)
	check("class", o.ClassRate(), Targets.Class)
	check("status", o.StatusRate(), Targets.Status)
	check("kind", s.KindRate(), 1)
	return out
}

// reasonClass maps Sisimai's reasons to phieu's classes; "" for the reasons
// that are kinds rather than failures.
var reasonClass = map[string]store.FailureClass{
	"userunknown": store.ClassUserUnknown, "hasmoved": store.ClassUserUnknown,
	"mailboxfull": store.ClassMailboxFull, "suspend": store.ClassMailboxDisabled,
	"hostunknown": store.ClassHostUnknown, "notaccept": store.ClassHostUnknown,
	"mesgtoobig": store.ClassMessageTooLarge, "exceedlimit": store.ClassMessageTooLarge, "emailtoolarge": store.ClassMessageTooLarge,
	"authfailure": store.ClassSenderRejected, "requireptr": store.ClassSenderRejected, "badreputation": store.ClassSenderRejected,
	"blocked": store.ClassSenderRejected, "rejected": store.ClassSenderRejected, "norelaying": store.ClassSenderRejected,
	"securityerror": store.ClassSenderRejected, "failedstarttls": store.ClassSenderRejected,
	"filtered": store.ClassContentRejected, "policyviolation": store.ClassContentRejected, "spamdetected": store.ClassContentRejected,
	"virusdetected": store.ClassContentRejected, "contenterror": store.ClassContentRejected, "notcompliantrfc": store.ClassContentRejected,
	"speeding": store.ClassThrottled, "toomanyconn": store.ClassThrottled, "ratelimited": store.ClassThrottled,
	"expired":      store.ClassExpired,
	"networkerror": store.ClassRemoteError, "systemerror": store.ClassRemoteError, "systemfull": store.ClassRemoteError, "mailererror": store.ClassRemoteError,
}

var reasonKind = map[string]store.InboundKind{
	"vacation": store.InboundAutoReply, "feedback": store.InboundComplaint, "delivered": store.InboundDelivered,
}

// Score runs Analyze on every labelled message under dir and compares its
// public output with the labels.
func Score(dir string) (*Scorecard, error) {
	f, err := os.Open(filepath.Join(dir, "labels.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Scorecard{Engines: map[string]*Tally{}}
	reports := map[string]*Report{}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if first {
			first = false
			if len(cols) > 0 && cols[0] == "file" {
				continue
			}
		}
		if len(cols) < 9 {
			continue
		}
		file, engine, status, reason, rcpt := cols[0], cols[2], cols[3], cols[5], strings.ToLower(cols[8])
		rep, seen := reports[file]
		if !seen {
			raw, err := os.ReadFile(filepath.Join(dir, "eml", file))
			if err != nil {
				return nil, err
			}
			s.Messages++
			if rep, err = Analyze(raw); err != nil {
				s.Errors++
				rep = nil
			}
			reports[file] = rep
		}
		miss := func(measure, want, got string) {
			s.Misses = append(s.Misses, Miss{file, engine, measure, want, got})
		}
		if k, ok := reasonKind[reason]; ok {
			s.Kinds.Rows++
			if rep != nil && rep.Kind == k {
				s.Kinds.Detected++
			} else {
				miss("kind", string(k), kindOf(rep))
			}
			continue
		}
		t := s.Engines[engine]
		if t == nil {
			t = &Tally{}
			s.Engines[engine] = t
		}
		for _, t := range []*Tally{&s.Overall, t} {
			t.Rows++
			if status != "" {
				t.StatusRows++
			}
		}
		if rep == nil || rep.Kind != store.InboundBounce && rep.Kind != store.InboundDelay {
			miss("detection", "bounce", kindOf(rep))
			continue
		}
		inc := func(field func(*Tally) *int) {
			*field(&s.Overall)++
			*field(t)++
		}
		inc(func(t *Tally) *int { return &t.Detected })
		var got *Failure
		for i := range rep.Failures {
			if rep.Failures[i].Recipient == rcpt {
				got = &rep.Failures[i]
				break
			}
		}
		if got == nil {
			var all []string
			for _, f := range rep.Failures {
				all = append(all, f.Recipient)
			}
			miss("recipient", rcpt, strings.Join(all, ","))
			if len(rep.Failures) == 1 {
				got = &rep.Failures[0] // judge the class and status anyway
			} else {
				continue
			}
		} else {
			inc(func(t *Tally) *int { return &t.Recipient })
		}
		want := reasonClass[reason]
		if want == "" {
			want = store.ClassOther
		}
		if got.Class == want {
			inc(func(t *Tally) *int { return &t.Class })
		} else {
			miss("class", string(want)+" ("+reason+")", string(got.Class)+" | "+got.Status+" | "+got.Diagnostic)
		}
		if status != "" {
			if statusMatches(status, got.Status) {
				inc(func(t *Tally) *int { return &t.Status })
			} else {
				miss("status", status, got.Status+" | "+got.Diagnostic)
			}
		}
	}
	return s, sc.Err()
}

// statusMatches compares statuses; for Sisimai's pseudo-codes (x.0.9xx)
// only the class digit counts.
func statusMatches(want, got string) bool {
	if len(want) >= 7 && strings.HasPrefix(want[1:], ".0.9") {
		return got != "" && got[0] == want[0]
	}
	return want == got
}

func kindOf(r *Report) string {
	if r == nil {
		return "error"
	}
	return string(r.Kind)
}

// WriteTable prints the measures overall and per engine, weakest first.
func (s *Scorecard) WriteTable(w io.Writer) {
	pct := func(f float64) string { return fmt.Sprintf("%5.1f%%", 100*f) }
	fmt.Fprintf(w, "%-18s %5s %8s %8s %8s %8s\n", "engine", "rows", "detect", "rcpt", "class", "status")
	names := make([]string, 0, len(s.Engines))
	for n := range s.Engines {
		names = append(names, n)
	}
	score := func(t *Tally) float64 {
		return t.Detection() + t.RecipientRate() + t.ClassRate() + t.StatusRate()
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := score(s.Engines[names[i]]), score(s.Engines[names[j]])
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		t := s.Engines[n]
		fmt.Fprintf(w, "%-18s %5d %8s %8s %8s %8s\n", n, t.Rows, pct(t.Detection()), pct(t.RecipientRate()), pct(t.ClassRate()), pct(t.StatusRate()))
	}
	o := s.Overall
	fmt.Fprintf(w, "%-18s %5d %8s %8s %8s %8s\n", "OVERALL", o.Rows, pct(o.Detection()), pct(o.RecipientRate()), pct(o.ClassRate()), pct(o.StatusRate()))
	fmt.Fprintf(w, "kinds (vacation/feedback/delivered): %d/%d; messages %d, refused %d\n", s.Kinds.Detected, s.Kinds.Rows, s.Messages, s.Errors)
}
