// Package campaignfile reads campaign definitions from YAML files and reports
// every problem as FILE:LINE:COL: message. The format is documented in
// docs/files.md; cmd/phieu/samples/campaign.yaml is a complete example.
package campaignfile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
	"github.com/phieu/phieu/store/yamlfile"
	"github.com/phieu/phieu/templates"
)

// file mirrors the YAML. Dates, rounds and durations are read as text and
// converted afterwards so that each bad value is reported at its own line.
type file struct {
	Code       string     `yaml:"code"`
	Title      string     `yaml:"title"`
	LegalRef   string     `yaml:"legal_ref"`
	Timezone   string     `yaml:"timezone"`
	OpensAt    string     `yaml:"opens_at"`
	Deadline   string     `yaml:"deadline"`
	Sender     sender     `yaml:"sender"`
	Groups     []string   `yaml:"groups"`
	Units      []string   `yaml:"units"`
	Questions  questions  `yaml:"questionnaire"`
	Reminders  *reminders `yaml:"reminders"`
	Escalation *struct {
		Rounds []string `yaml:"rounds"`
	} `yaml:"escalation"`
	Calendar *calendar `yaml:"calendar"`
	// Templates is a directory of files overriding the default messages,
	// relative to the campaign file.
	Templates string `yaml:"templates"`
	Rates     struct {
		PerMinute int `yaml:"per_minute"`
		PerHour   int `yaml:"per_hour"`
	} `yaml:"rate_limits"`
}

type sender struct {
	Name     string `yaml:"name"`
	Address  string `yaml:"address"`
	ReplyTo  string `yaml:"reply_to"`
	Operator string `yaml:"operator"`
	Office   string `yaml:"office"`
	// Subaddressing: Reply-To carries the message reference as a plus address.
	Subaddressing bool `yaml:"subaddressing"`
}

type questions struct {
	Title     string     `yaml:"title"`
	Intro     string     `yaml:"intro"`
	Questions []question `yaml:"questions"`
}

type question struct {
	Code     string        `yaml:"code"`
	Text     string        `yaml:"text"`
	Type     string        `yaml:"type"`
	Min      *int          `yaml:"min"`
	Max      *int          `yaml:"max"`
	Choices  yaml.MapSlice `yaml:"choices"`
	Required bool          `yaml:"required"`
}

type reminders struct {
	Rounds               []string `yaml:"rounds"`
	MaxRounds            int      `yaml:"max_rounds"`
	MinSpacing           string   `yaml:"min_spacing"`
	QuietHours           string   `yaml:"quiet_hours"`
	SendOnNonWorkingDays bool     `yaml:"send_on_non_working_days"`
	LateWindow           string   `yaml:"late_window"`
}

type calendar struct {
	Weekend     []string `yaml:"weekend"`
	Holidays    []string `yaml:"holidays"`
	WorkingDays []string `yaml:"working_days"`
}

// ReadFile reads and parses the campaign file at path.
func ReadFile(path string) (*store.Campaign, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("campaign file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a campaign file's contents; path names it in errors.
func Parse(path string, data []byte) (*store.Campaign, error) {
	var f file
	doc, err := yamlfile.Parse(path, data, &f)
	if err != nil {
		return nil, err
	}
	c := &store.Campaign{
		Code:            strings.TrimSpace(f.Code),
		Title:           store.CleanText(f.Title),
		LegalRef:        store.CleanText(f.LegalRef),
		SenderName:      store.CleanText(f.Sender.Name),
		SenderAddress:   store.NormalizeMailbox(f.Sender.Address),
		ReplyTo:         store.NormalizeMailbox(f.Sender.ReplyTo),
		OperatorMailbox: store.NormalizeMailbox(f.Sender.Operator),
		Office:          strings.TrimSpace(f.Sender.Office),
		Subaddressing:   f.Sender.Subaddressing,
		Location:        strings.TrimSpace(f.Timezone),
		Groups:          f.Groups,
		Units:           f.Units,
		Rates:           store.RateLimits{PerMinute: f.Rates.PerMinute, PerHour: f.Rates.PerHour},
		State:           store.CampaignDraft,
	}
	if c.Location == "" {
		c.Location = store.DefaultLocation
	}
	loc, err := time.LoadLocation(c.Location)
	if err != nil {
		doc.Errorf("timezone", "%q is not a known time zone (write Asia/Ho_Chi_Minh)", c.Location)
		loc = time.FixedZone("ICT", 7*3600)
	}
	c.OpensAt = parseInstant(doc, "opens_at", f.OpensAt, loc, store.Clock{})
	c.Deadline = parseInstant(doc, "deadline", f.Deadline, loc, store.Clock{Hour: 23, Minute: 59})
	if f.Deadline != "" && !strings.Contains(strings.TrimSpace(f.Deadline), " ") && !c.Deadline.IsZero() {
		c.Deadline = c.Deadline.Add(59 * time.Second) // a bare date counts until 23:59:59
	}
	c.Questionnaire = parseQuestionnaire(doc, f.Questions)
	c.Reminders = parseReminders(doc, f.Reminders)
	c.Escalation = store.DefaultEscalationPolicy()
	if f.Escalation != nil {
		c.Escalation.Rounds = parseRounds(doc, "escalation.rounds", f.Escalation.Rounds)
	}
	c.Calendar = parseCalendar(doc, f.Calendar)
	if t := strings.TrimSpace(f.Templates); t != "" {
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(path), t)
		}
		if st, err := os.Stat(t); err != nil || !st.IsDir() {
			doc.Errorf("templates", "%s is not a directory of templates", t)
		} else if abs, err := filepath.Abs(t); err == nil {
			c.TemplateDir = abs
			// A template that does not parse would otherwise be found by
			// the first send, with every message of the campaign failing.
			if _, err := templates.Load(abs); err != nil {
				doc.Errorf("templates", "%v", err)
			}
		}
	}

	if err := doc.Err(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		if v, ok := err.(store.ValidationError); ok {
			for _, fe := range v {
				doc.Errorf(keyOf(fe), "%s: %s", fe.Field, fe.Message)
			}
			return nil, doc.Err()
		}
		return nil, err
	}
	return c, nil
}

var questionMsgRE = regexp.MustCompile(`^question (\d+) `)

// keyOf returns where in the file a validation error belongs: the field's
// key, or the very question a questionnaire error names.
func keyOf(fe store.FieldError) string {
	if m := questionMsgRE.FindStringSubmatch(fe.Message); m != nil && fe.Field == store.FieldQuestions {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("questionnaire.questions[%d]", n-1)
	}
	return fe.Field
}

// parseInstant reads "dd/mm/yyyy" or "dd/mm/yyyy hh:mm" in loc; a bare date
// takes the clock def.
func parseInstant(doc *yamlfile.Doc, key, s string, loc *time.Location, def store.Clock) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{} // Validate reports the missing key
	}
	datePart, clockPart, hasClock := strings.Cut(s, " ")
	d, err := store.ParseDate(datePart)
	if err != nil {
		doc.Errorf(key, "%v", err)
		return time.Time{}
	}
	clock := def
	if hasClock {
		if clock, err = store.ParseClock(clockPart); err != nil {
			doc.Errorf(key, "%v", err)
			return time.Time{}
		}
	}
	return time.Date(d.Year, d.Month, d.Day, clock.Hour, clock.Minute, 0, 0, loc)
}

func parseQuestionnaire(doc *yamlfile.Doc, f questions) store.Questionnaire {
	q := store.Questionnaire{Title: store.CleanText(f.Title), Intro: strings.TrimSpace(f.Intro)}
	for i, fq := range f.Questions {
		at := fmt.Sprintf("questionnaire.questions[%d]", i)
		qu := store.Question{
			Code:     strings.TrimSpace(fq.Code),
			Text:     store.CleanText(fq.Text),
			Type:     store.AnswerType(strings.ToLower(strings.TrimSpace(fq.Type))),
			Required: fq.Required,
		}
		switch qu.Type {
		case store.AnswerScale:
			if fq.Min == nil || fq.Max == nil {
				doc.Errorf(at, "question %s: a scale question needs min and max", qu.Code)
			} else {
				qu.Min, qu.Max = *fq.Min, *fq.Max
			}
		case store.AnswerChoice:
			for _, item := range fq.Choices {
				qu.Choices = append(qu.Choices, store.Choice{Letter: strings.ToUpper(fmt.Sprint(item.Key)), Text: store.CleanText(fmt.Sprint(item.Value))})
			}
		}
		if qu.Type != store.AnswerChoice && len(fq.Choices) > 0 {
			doc.Errorf(at+".choices", "question %s: choices are only for type: choice", qu.Code)
		}
		if qu.Type != store.AnswerScale && (fq.Min != nil || fq.Max != nil) {
			doc.Errorf(at, "question %s: min and max are only for type: scale", qu.Code)
		}
		q.Questions = append(q.Questions, qu)
	}
	return q
}

func parseReminders(doc *yamlfile.Doc, f *reminders) store.ReminderPolicy {
	p := store.DefaultReminderPolicy()
	if f == nil {
		return p
	}
	if f.Rounds != nil {
		p.Rounds = parseRounds(doc, "reminders.rounds", f.Rounds)
	}
	p.MaxRounds = f.MaxRounds
	p.SendOnNonWorkingDays = f.SendOnNonWorkingDays
	if f.MinSpacing != "" {
		p.MinSpacing = parseDuration(doc, "reminders.min_spacing", f.MinSpacing)
	}
	if f.LateWindow != "" {
		p.LateWindow = parseDuration(doc, "reminders.late_window", f.LateWindow)
	}
	if f.QuietHours != "" {
		start, end, ok := strings.Cut(f.QuietHours, "-")
		var err1, err2 error
		if ok {
			p.QuietStart, err1 = store.ParseClock(start)
			p.QuietEnd, err2 = store.ParseClock(end)
		}
		if !ok || err1 != nil || err2 != nil {
			doc.Errorf("reminders.quiet_hours", "%q is not a range of times (write 21:00-07:00)", f.QuietHours)
		}
	}
	return p
}

var roundRE = regexp.MustCompile(`^([DdIi])\s*([+-]\s*\d{1,3})?(?:\s+(\S+))?$`)

// parseRounds reads "D-3 08:00" (three days before the deadline) and
// "I+2 08:00" (two days after the invitation); the time defaults to 08:00.
func parseRounds(doc *yamlfile.Doc, key string, in []string) []store.Round {
	var out []store.Round
	for i, s := range in {
		m := roundRE.FindStringSubmatch(strings.TrimSpace(s))
		if m == nil {
			doc.Errorf(fmt.Sprintf("%s[%d]", key, i), "%q is not a round (write D-3 08:00 for three days before the deadline, I+2 08:00 for two days after the invitation)", s)
			continue
		}
		r := store.Round{Anchor: store.AnchorDeadline, At: store.Clock{Hour: 8}}
		if strings.EqualFold(m[1], "I") {
			r.Anchor = store.AnchorInvitation
		}
		if m[2] != "" {
			r.Days, _ = strconv.Atoi(strings.ReplaceAll(m[2], " ", ""))
		}
		if m[3] != "" {
			clock, err := store.ParseClock(m[3])
			if err != nil {
				doc.Errorf(fmt.Sprintf("%s[%d]", key, i), "%v", err)
				continue
			}
			r.At = clock
		}
		out = append(out, r)
	}
	return out
}

// parseDuration reads Go durations ("36h", "90m") and whole days ("2d").
func parseDuration(doc *yamlfile.Doc, key, s string) time.Duration {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		doc.Errorf(key, "%q is not a duration (write 24h, 90m or 2d)", s)
	}
	return d
}

var weekdays = map[string]time.Weekday{
	"monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday, "thursday": time.Thursday,
	"friday": time.Friday, "saturday": time.Saturday, "sunday": time.Sunday,
	"thu hai": time.Monday, "thu ba": time.Tuesday, "thu tu": time.Wednesday, "thu nam": time.Thursday,
	"thu sau": time.Friday, "thu bay": time.Saturday, "chu nhat": time.Sunday,
	"t2": time.Monday, "t3": time.Tuesday, "t4": time.Wednesday, "t5": time.Thursday, "t6": time.Friday, "t7": time.Saturday, "cn": time.Sunday,
}

func parseCalendar(doc *yamlfile.Doc, f *calendar) store.Calendar {
	c := store.DefaultCalendar()
	if f == nil {
		return c
	}
	if f.Weekend != nil {
		c.Weekend = nil
		for i, s := range f.Weekend {
			w, ok := weekdays[vn.Fold(s)]
			if !ok {
				doc.Errorf(fmt.Sprintf("calendar.weekend[%d]", i), "%q is not a day of the week (write saturday or thứ bảy)", s)
				continue
			}
			c.Weekend = append(c.Weekend, w)
		}
	}
	c.Holidays = parseDates(doc, "calendar.holidays", f.Holidays)
	c.WorkingDays = parseDates(doc, "calendar.working_days", f.WorkingDays)
	return c
}

func parseDates(doc *yamlfile.Doc, key string, in []string) []store.Date {
	var out []store.Date
	for i, s := range in {
		d, err := store.ParseDate(s)
		if err != nil {
			doc.Errorf(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			continue
		}
		out = append(out, d)
	}
	return out
}
