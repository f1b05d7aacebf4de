package campaignfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/yamlfile"
)

// The bad input table for campaign files (docs/BAD-INPUT.md). Each is the
// minimal campaign with one thing broken; the problems must be exactly
// these, at these lines and columns, found in bounded time.

// yamlBomb is "billion laughs": nine anchors, each nine aliases of the
// previous, standing for 9^9 strings in a few hundred bytes.
func yamlBomb() string {
	var b strings.Builder
	b.WriteString(`a0: &a0 ["ha","ha","ha","ha","ha","ha","ha","ha","ha"]` + "\n")
	for i := 1; i <= 8; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+",", 8) + prev + "]\n")
	}
	b.WriteString("title: *a8\n")
	return b.String()
}

// withTemplates writes a template directory beside the campaign file.
func withTemplates(files map[string]string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(filepath.Join(dir, "mau"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, "mau", name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestBadCampaignFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		setup func(t *testing.T, dir string) // files beside c.yaml
		want  []string                       // every problem, as printed, without the directory; nil: accepted
	}{
		{name: "DeadlineBeforeOpensAt", body: strings.Replace(minimal, `deadline: "03/03/2023"`, `deadline: "01/02/2023"`, 1),
			want: []string{`c.yaml:5:11: deadline: (01/02/2023 23:59) is not after opens_at (08/02/2023 08:00)`}},
		{name: "ImpossibleDate", body: strings.Replace(minimal, `opens_at: "08/02/2023 08:00"`, `opens_at: "31/02/2026 08:00"`, 1),
			want: []string{`c.yaml:4:11: "31/02/2026" is not a real date (write dd/mm/yyyy)`}},
		{name: "ImpossibleTime", body: strings.Replace(minimal, `opens_at: "08/02/2023 08:00"`, `opens_at: "08/02/2023 24:30"`, 1),
			want: []string{`c.yaml:4:11: "24:30" is not a time of day (write hh:mm)`}},
		{name: "ImpossibleHoliday", body: minimal + "calendar:\n  holidays: [\"01/01/2023\", \"30/02/2023\"]\n",
			want: []string{`c.yaml:19:28: "30/02/2023" is not a real date (write dd/mm/yyyy)`}},
		{name: "YAMLBomb", body: yamlBomb() + strings.Replace(minimal, `title: "Khảo sát PAR Index 2022"`+"\n", "", 1),
			want: []string{`c.yaml:7:10: aliases (*name) expand this file to more than 100000 values: write the values out instead of repeating anchors`}},
		{name: "DuplicateKey", body: strings.Replace(minimal, "title:", "title: \"Bản nháp\"\ntitle:", 1),
			want: []string{`c.yaml:3:1: mapping key "title" already defined at [2:1]`}},
		{name: "DuplicateChoice", body: strings.Replace(minimal, `choices: {B: "Không", A: "Có"}`, `choices: {A: "Không", A: "Có"}`, 1),
			want: []string{`c.yaml:17:29: mapping key "A" already defined at [17:17]`}},
		{name: "TabIndentation", body: strings.Replace(minimal, "  address:", "\taddress:", 1),
			want: []string{"c.yaml:8:1: tab used for indentation; YAML indents with spaces"}},
		{name: "NULByte", body: strings.Replace(minimal, "Khảo sát", "Khảo\x00sát", 1),
			want: []string{"c.yaml:2:13: contains a NUL byte: the file is damaged or not text"}},
		{name: "InvalidUTF8", body: strings.Replace(minimal, "Sở Nội vụ", "S\xf5 N\xf4i v\xf9", 1),
			want: []string{"c.yaml:7:11: not valid UTF-8: save the file as UTF-8 (in Notepad: Save As, Encoding UTF-8)"}},
		{name: "ControlCharacter", body: strings.Replace(minimal, "Khảo sát", "Khảo\x1bsát", 1),
			want: []string{"c.yaml:2:13: contains the control character U+001B, which YAML does not allow"}},
		{name: "BOMAtStart", body: "\ufeff" + minimal},
		{name: "BOMInTheMiddle", body: strings.Replace(minimal, "groups:", "\ufeffgroups:", 1),
			want: []string{`c.yaml:10:1: unknown key "groups" (check its spelling and indentation): it starts with an invisible byte-order mark (U+FEFF); delete the key and type it again`}},
		{name: "CRLFLineEndings", body: strings.ReplaceAll(strings.Replace(minimal, `deadline: "03/03/2023"`, `deadline: "32/03/2023"`, 1), "\n", "\r\n"),
			want: []string{`c.yaml:5:11: "32/03/2023" is not a real date (write dd/mm/yyyy)`}},
		{name: "MixedLineEndings", body: strings.Replace(strings.Replace(minimal, "\n", "\r\n", 3), `deadline: "03/03/2023"`, `deadline: "32/03/2023"`, 1),
			want: []string{`c.yaml:5:11: "32/03/2023" is not a real date (write dd/mm/yyyy)`}},
		{name: "Title100KB", body: strings.Replace(minimal, `title: "Khảo sát PAR Index 2022"`, `title: "`+strings.Repeat("Khảo sát ", 100<<10/10)+`"`, 1),
			want: []string{`c.yaml:2:8: title: is longer than 300 characters`}},
		{name: "NestedTooDeep", body: minimal + "units: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
			want: []string{`c.yaml: values are nested too deep ([[[... or {{{...): the file is damaged or not a phieu file`}},
		{name: "TemplatesMissing", body: minimal + "templates: mau\n",
			want: []string{`c.yaml:18:12: mau is not a directory of templates`}},
		{name: "TemplateSyntax", body: minimal + "templates: mau\n",
			setup: withTemplates(map[string]string{"invitation.txt.tmpl": "Kính gửi {{.Respondent.FullName}\n"}),
			want:  []string{`c.yaml:18:12: templates: template: mau/invitation.txt.tmpl:1: bad character U+007D '}'`}},
		{name: "TemplateUnknownFile", body: minimal + "templates: mau\n",
			setup: withTemplates(map[string]string{"invitaton.txt.tmpl": "Kính gửi\n"}),
			want:  []string{`c.yaml:18:12: templates: mau: unknown template files invitaton.txt.tmpl (expected KIND.subject.tmpl, KIND.txt.tmpl, KIND.html.tmpl for kinds [invitation reminder receipt correction head_digest operator_digest liaison_digest], or common.txt.tmpl, common.html.tmpl)`}},
		{name: "TemplateNotUTF8", body: minimal + "templates: mau\n",
			setup: withTemplates(map[string]string{"reminder.subject.tmpl": "Nh\xe6c l\xb5i"}),
			want:  []string{`c.yaml:18:12: templates: mau/reminder.subject.tmpl is not UTF-8`}},
		// Overriding only some files is allowed: the others stay the defaults.
		{name: "TemplatesPartial", body: minimal + "templates: mau\n",
			setup: withTemplates(map[string]string{"invitation.subject.tmpl": "Phiếu khảo sát {{.Campaign.Code}}"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c, err := campaignfile.ReadFile(path)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Code != "PAR2022" {
					t.Errorf("code %q", c.Code)
				}
				return
			}
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want *yamlfile.Errors", err)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
