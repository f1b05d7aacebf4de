package campaignfile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/yamlfile"
)

const minimal = `code: PAR2022
title: "Khảo sát PAR Index 2022"
legal_ref: "Số: 296/UBND-NCKSTTHC ngày 07/02/2023"
opens_at: "08/02/2023 08:00"
deadline: "03/03/2023"
sender:
  name: "Sở Nội vụ"
  address: snv@binhson.gov.test
  reply_to: khaosat@binhson.gov.test
groups: [LDS]
questionnaire:
  questions:
    - {code: C1, text: "Đánh giá", type: scale, min: 1, max: 10, required: true}
    - code: C2
      text: "Lựa chọn"
      type: choice
      choices: {B: "Không", A: "Có"}
`

func TestSample(t *testing.T) {
	c, err := campaignfile.ReadFile("../../cmd/phieu/samples/campaign.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Code, "PAR2025"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got, want := len(c.Questionnaire.Questions), 8; got != want {
		t.Errorf("questions = %d, want %d", got, want)
	}
	if !c.Calendar.IsWorkingDay(store.Date{Year: 2027, Month: time.January, Day: 4}) || c.Calendar.IsWorkingDay(store.Date{Year: 2027, Month: time.February, Day: 5}) {
		t.Error("calendar holidays not read")
	}
}

func TestParseMinimal(t *testing.T) {
	c, err := campaignfile.Parse("c.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Deadline.Format(time.RFC3339), "2023-03-03T23:59:59+07:00"; got != want {
		t.Errorf("deadline = %s, want %s", got, want)
	}
	if got, want := c.OpensAt.Format(time.RFC3339), "2023-02-08T08:00:00+07:00"; got != want {
		t.Errorf("opens_at = %s, want %s", got, want)
	}
	if got := c.Questionnaire.Questions[1].Choices; len(got) != 2 || got[0].Letter != "B" || got[1].Text != "Có" {
		t.Errorf("choices lost their order: %+v", got)
	}
	if got, want := len(c.Reminders.Rounds), 3; got != want {
		t.Errorf("default reminder rounds = %d, want %d", got, want)
	}
	if c.State != store.CampaignDraft || c.Location != store.DefaultLocation {
		t.Errorf("state %q, location %q", c.State, c.Location)
	}
}

func TestParseExplicitDeadlineTimeAndRounds(t *testing.T) {
	in := strings.Replace(minimal, `deadline: "03/03/2023"`, `deadline: "03/03/2023 17:00"`, 1) +
		"reminders:\n  rounds: [\"D-2 07:30\", \"I+1\"]\n  min_spacing: 2d\n  quiet_hours: \"22:00-06:00\"\n" +
		"calendar:\n  weekend: [chủ nhật]\n  holidays: [\"20/01/2023\"]\n"
	c, err := campaignfile.Parse("c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Deadline.Format("15:04:05"), "17:00:00"; got != want {
		t.Errorf("deadline time = %s, want %s", got, want)
	}
	want := []store.Round{{Anchor: store.AnchorDeadline, Days: -2, At: store.Clock{Hour: 7, Minute: 30}}, {Anchor: store.AnchorInvitation, Days: 1, At: store.Clock{Hour: 8}}}
	if len(c.Reminders.Rounds) != 2 || c.Reminders.Rounds[0] != want[0] || c.Reminders.Rounds[1] != want[1] {
		t.Errorf("rounds = %v, want %v", c.Reminders.Rounds, want)
	}
	if c.Reminders.MinSpacing != 48*time.Hour || c.Reminders.QuietStart != (store.Clock{Hour: 22}) {
		t.Errorf("reminders = %+v", c.Reminders)
	}
	if len(c.Calendar.Weekend) != 1 || c.Calendar.Weekend[0] != time.Sunday {
		t.Errorf("weekend = %v", c.Calendar.Weekend)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"UnknownKey", "groups: [LDS]", "groups: [LDS]\ndeadlin: x", []string{`c.yaml:11:1: unknown key "deadlin"`}},
		{"WrongType", "groups: [LDS]", "groups: LDS", []string{"c.yaml:10:9: groups: text where a list was expected"}},
		{"BadDate", `deadline: "03/03/2023"`, `deadline: "31/02/2023"`, []string{`c.yaml:5:11: "31/02/2023" is not a real date`}},
		{"BadTime", `opens_at: "08/02/2023 08:00"`, `opens_at: "08/02/2023 25:00"`, []string{"c.yaml:4:11:", "not a time of day"}},
		{"DeadlineBeforeOpen", `deadline: "03/03/2023"`, `deadline: "01/02/2023"`, []string{"c.yaml:5:11: deadline: (01/02/2023 23:59) is not after opens_at"}},
		{"BadRound", "groups: [LDS]", "groups: [LDS]\nreminders:\n  rounds: [\"D-3 08:00\", \"tuesday\"]", []string{`c.yaml:12:25: "tuesday" is not a round`}},
		{"RoundAfterDeadline", "groups: [LDS]", "groups: [LDS]\nescalation:\n  rounds: [\"D+2\"]", []string{"c.yaml:12:11: escalation.rounds: round 1 (D+2 08:00) falls after the deadline"}},
		{"DuplicateQuestion", "code: C2", "code: c1", []string{"c.yaml:14:11: questionnaire.questions: question 2 (c1): code is used twice"}},
		{"OneChoice", `choices: {B: "Không", A: "Có"}`, `choices: {A: "Có"}`, []string{"questionnaire.questions: question 2 (C2): a choice question needs at least two choices"}},
		{"ScaleBounds", "min: 1, max: 10", "min: 10, max: 1", []string{"question 1 (C1): scale min (10) must be below max (1)"}},
		{"ScaleWithoutBounds", ", min: 1, max: 10", "", []string{"c.yaml:13:7: question C1: a scale question needs min and max"}},
		{"BadEmail", "address: snv@binhson.gov.test", "address: snv.binhson", []string{`c.yaml:8:12: sender.address: "snv.binhson" is not an email address`}},
		{"UnknownTimezone", "groups: [LDS]", "groups: [LDS]\ntimezone: Asia/Hanoi", []string{`c.yaml:11:11: "Asia/Hanoi" is not a known time zone`}},
		{"MissingKeys", "code: PAR2022\ntitle: \"Khảo sát PAR Index 2022\"\n", "", []string{"c.yaml: code: is required", "c.yaml: title: is required"}},
		{"Tab", "  name: \"Sở Nội vụ\"", "\tname: x", []string{"c.yaml:7:1: tab used for indentation"}},
		{"BadWeekday", "groups: [LDS]", "groups: [LDS]\ncalendar:\n  weekend: [caturday]", []string{`c.yaml:12:13: "caturday" is not a day of the week`}},
		{"BadDuration", "groups: [LDS]", "groups: [LDS]\nreminders:\n  late_window: soon", []string{`c.yaml:12:16: "soon" is not a duration`}},
		{"Several", `deadline: "03/03/2023"`, "deadline: \"xx\"\ntimezone: Mars/Olympus", []string{"c.yaml:5:11:", "c.yaml:6:11:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := minimal
			if tc.old != "" {
				if !strings.Contains(in, tc.old) {
					t.Fatalf("bad test: %q not in input", tc.old)
				}
				in = strings.Replace(in, tc.old, tc.new, 1)
			}
			_, err := campaignfile.Parse("c.yaml", []byte(in))
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse = %v, want *yamlfile.Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%s\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("code: [\n"))
	f.Add([]byte("deadline: \"03/03/2023 25:61\"\nreminders: {rounds: [\"D-\"]}\n"))
	f.Add([]byte("questionnaire: {questions: [{code: C1, type: choice, choices: {A: 1}}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := campaignfile.Parse("f.yaml", data)
		if err != nil {
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("unpositioned error %T: %v", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a campaign that does not validate: %v", err)
		}
	})
}
