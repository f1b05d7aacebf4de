package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
)

func TestCheckMailbox(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string // substring; "" means valid
	}{
		{"snv@binhson.gov.test", ""},
		{"nguyen.van.an+ks@binhson.gov.test", ""},
		{"an@sở-nội-vụ.test", ""}, // IDN domain
		{"", "is empty"},
		{"snv.binhson.gov.test", "no @"},
		{"@binhson.gov.test", "nothing before"},
		{"an@", "no domain"},
		{"an@localhost", "without a dot"},
		{"an..b@x.test", "misplaced dot"},
		{".an@x.test", "misplaced dot"},
		{"an b@x.test", "contains a space"},
		{"ấn@x.test", "non-ASCII"},
		{"an@x..test", "empty part"},
		{"an@-x.test", "hyphen"},
		{"an@x.123", "numeric top-level"},
		{"an@x.test\r\nBcc: victim@x.test", "line break"},
		{`"an"@x.test`, "quoted"},
		{"Nguyễn Văn An <an@x.test>", "without a name"},
		{strings.Repeat("a", 65) + "@x.test", "longer than 64"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := store.CheckMailbox(tc.in)
			if tc.wantErr == "" && got != "" {
				t.Fatalf("CheckMailbox(%q) = %q, want valid", tc.in, got)
			}
			if tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Fatalf("CheckMailbox(%q) = %q, want it to mention %q", tc.in, got, tc.wantErr)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]store.Date{
		"03/03/2023": {2023, time.March, 3},
		"3/3/2023":   {2023, time.March, 3},
		"2023-03-03": {2023, time.March, 3},
		"03-03-2023": {2023, time.March, 3},
		"29/02/2024": {2024, time.February, 29},
	} {
		got, err := store.ParseDate(in)
		if err != nil || got != want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "31/02/2023", "29/02/2023", "2023/13/01", "hôm nay", "03/03/23"} {
		if _, err := store.ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) succeeded, want an error", in)
		}
	}
	if got, want := (store.Date{2023, time.March, 3}).String(), "03/03/2023"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ full, family, middle, given string }{
		{"Nguyễn Thị Ánh", "Nguyễn", "Thị", "Ánh"},
		{"Tôn Nữ Thị Ngọc Hà", "Tôn", "Nữ Thị Ngọc", "Hà"},
		{"Lê Lợi", "Lê", "", "Lợi"},
		{"Hà", "", "", "Hà"},
	} {
		f, m, g := store.SplitName(tc.full)
		if f != tc.family || m != tc.middle || g != tc.given {
			t.Errorf("SplitName(%q) = %q %q %q", tc.full, f, m, g)
		}
	}
}

func TestParseSalutation(t *testing.T) {
	for in, want := range map[string]store.Salutation{
		"Nam": store.SalutationOng, "NỮ": store.SalutationBa, "nu": store.SalutationBa, "Ông": store.SalutationOng,
		"Bà": store.SalutationBa, "Đồng chí": store.SalutationDongChi, "": store.SalutationUnknown, "F": store.SalutationBa,
	} {
		if got, ok := store.ParseSalutation(in); !ok || got != want {
			t.Errorf("ParseSalutation(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := store.ParseSalutation("khác"); ok {
		t.Error(`ParseSalutation("khác") accepted`)
	}
}

func TestRespondentValidate(t *testing.T) {
	valid := func() *store.Respondent {
		return &store.Respondent{FullName: "Nguyễn Văn An", UnitCode: "STP", Group: "LDS", Mailbox: "annv@binhson.gov.test"}
	}
	t.Run("OK", func(t *testing.T) {
		r := valid()
		r.Normalize()
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	for name, tc := range map[string]struct {
		mutate func(*store.Respondent)
		field  string
	}{
		"ErrNameRequired":   {func(r *store.Respondent) { r.FullName = "" }, store.FieldFullName},
		"ErrNameCRLF":       {func(r *store.Respondent) { r.FullName = "Nguyễn Văn An\r\nBcc: x@y.test" }, store.FieldFullName},
		"ErrNameIsAddress":  {func(r *store.Respondent) { r.FullName = "annv@binhson.gov.test" }, store.FieldFullName},
		"ErrMailbox":        {func(r *store.Respondent) { r.Mailbox = "annv" }, store.FieldMailbox},
		"ErrMailboxMissing": {func(r *store.Respondent) { r.Mailbox = "" }, store.FieldMailbox},
		"ErrUnitRequired":   {func(r *store.Respondent) { r.UnitCode = "" }, store.FieldUnit},
		"ErrGroupRequired":  {func(r *store.Respondent) { r.Group = "" }, store.FieldGroup},
		"ErrAlias":          {func(r *store.Respondent) { r.Aliases = []string{"x@"} }, store.FieldAliases},
		"ErrTitleControl":   {func(r *store.Respondent) { r.Title = "Giám\x07đốc" }, store.FieldTitle},
	} {
		t.Run(name, func(t *testing.T) {
			r := valid()
			tc.mutate(r)
			err := r.Validate()
			var v store.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("Validate() = %v, want a ValidationError", err)
			}
			if v[0].Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", v[0].Field, tc.field, err)
			}
			if got, want := store.ErrorCode(err), store.EINVALID; got != want {
				t.Errorf("ErrorCode = %q, want %q", got, want)
			}
		})
	}
	t.Run("NormalizeDropsRepeatedAliases", func(t *testing.T) {
		r := valid()
		r.Mailbox = " AnNV@BinhSon.gov.test "
		r.Aliases = []string{"annv@binhson.gov.test", "an2@binhson.gov.test", "AN2@binhson.gov.test"}
		r.Normalize()
		if got, want := strings.Join(r.Mailboxes(), ","), "annv@binhson.gov.test,an2@binhson.gov.test"; got != want {
			t.Errorf("mailboxes = %q, want %q", got, want)
		}
	})
}

func TestUnitValidate(t *testing.T) {
	u := &store.Unit{Code: "STP", Name: "Sở Tư pháp", ParentCode: "STP", Head: store.Head{Name: "Lê Văn Tám"}}
	err := u.Validate()
	var v store.ValidationError
	if !errors.As(err, &v) || len(v) != 2 {
		t.Fatalf("Validate() = %v, want 2 problems (own parent, head without mailbox)", err)
	}
}

func campaign() *store.Campaign {
	loc, _ := time.LoadLocation(store.DefaultLocation)
	return &store.Campaign{
		Code: "PAR2022", Title: "Khảo sát PAR Index 2022", SenderName: "Sở Nội vụ",
		SenderAddress: "snv@binhson.gov.test", ReplyTo: "khaosat@binhson.gov.test",
		OpensAt:  time.Date(2023, 2, 8, 8, 0, 0, 0, loc),
		Deadline: store.DeadlineEndOfDay(store.Date{2023, time.March, 3}, loc),
		Groups:   []string{"LDS"},
		Questionnaire: store.Questionnaire{Questions: []store.Question{
			{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Lựa chọn", Type: store.AnswerChoice, Choices: []store.Choice{{"A", "Có"}, {"B", "Không"}}},
		}},
		Reminders:  store.DefaultReminderPolicy(),
		Escalation: store.DefaultEscalationPolicy(),
		Calendar:   store.DefaultCalendar(),
	}
}

func TestCampaignValidate(t *testing.T) {
	if err := campaign().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mutate func(*store.Campaign)
		field  string
	}{
		"ErrCodeSpaces":         {func(c *store.Campaign) { c.Code = "PAR 2022" }, store.FieldCampaignCode},
		"ErrDeadlineBeforeOpen": {func(c *store.Campaign) { c.OpensAt = c.Deadline.Add(time.Hour) }, store.FieldDeadline},
		"ErrNoGroups":           {func(c *store.Campaign) { c.Groups = nil }, store.FieldGroups},
		"ErrNoQuestions":        {func(c *store.Campaign) { c.Questionnaire.Questions = nil }, store.FieldQuestions},
		"ErrDuplicateQuestion":  {func(c *store.Campaign) { c.Questionnaire.Questions[1].Code = "c1" }, store.FieldQuestions},
		"ErrScale":              {func(c *store.Campaign) { c.Questionnaire.Questions[0].Max = 1 }, store.FieldQuestions},
		"ErrOneChoice": {func(c *store.Campaign) {
			c.Questionnaire.Questions[1].Choices = c.Questionnaire.Questions[1].Choices[:1]
		}, store.FieldQuestions},
		"ErrReminderAfter": {func(c *store.Campaign) { c.Reminders.Rounds[0].Days = 2 }, store.FieldReminderRounds},
		"ErrReplyTo":       {func(c *store.Campaign) { c.ReplyTo = "khaosat" }, store.FieldReplyTo},
		"ErrTimezone":      {func(c *store.Campaign) { c.Location = "Asia/Saigon_" }, store.FieldLocation},
	} {
		t.Run(name, func(t *testing.T) {
			c := campaign()
			tc.mutate(c)
			var v store.ValidationError
			if err := c.Validate(); !errors.As(err, &v) || v[0].Field != tc.field {
				t.Fatalf("Validate() = %v, want a problem with %s", err, tc.field)
			}
		})
	}
}

func TestCampaignInTime(t *testing.T) {
	c := campaign()
	loc := c.Loc()
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2023, 3, 3, 23, 59, 59, 999_000_000, loc), true},
		{time.Date(2023, 3, 4, 0, 0, 0, 0, loc), false},
		{time.Date(2023, 3, 3, 16, 59, 59, 0, time.UTC), true}, // 23:59:59 in Hà Nội
		{time.Date(2023, 3, 3, 17, 0, 0, 0, time.UTC), false},
	} {
		if got := c.InTime(tc.at); got != tc.want {
			t.Errorf("InTime(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestCalendar(t *testing.T) {
	cal := store.DefaultCalendar()
	cal.Holidays = []store.Date{{2023, time.January, 20}}
	cal.WorkingDays = []store.Date{{2023, time.January, 14}} // a Saturday worked in exchange
	for d, want := range map[store.Date]bool{
		{2023, time.March, 3}:    true,  // Friday
		{2023, time.March, 4}:    false, // Saturday
		{2023, time.January, 20}: false, // holiday
		{2023, time.January, 14}: true,  // make-up working Saturday
	} {
		if got := cal.IsWorkingDay(d); got != want {
			t.Errorf("IsWorkingDay(%s) = %v, want %v", d, got, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"Nguyễn Văn An":           "Nguyễn Văn An",
		"  Nguyễn  Văn\tAn ":      "Nguyễn Văn An",
		"Sở\u00a0Tư pháp":         "Sở Tư pháp",
		"\ufeffMã đơn vị":         "Mã đơn vị",
		"":                        "",
		" ":                       "",
		"Giám đốc\u200b":          "Giám đốc",
		"Phó Giám đốc, phụ trách": "Phó Giám đốc, phụ trách",
	} {
		if got := store.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCheckMailbox(f *testing.F) {
	for _, s := range []string{"snv@binhson.gov.test", "a@sở.test", "\"x\"@y.test", "a@@b", "a\r\n@b.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if store.CheckMailbox(s) != "" {
			return
		}
		// Whatever is accepted must be safe in a header and have one @.
		if strings.ContainsAny(s, "\r\n\x00<> ,;") || strings.Count(s, "@") != 1 {
			t.Fatalf("accepted %q", s)
		}
	})
}
