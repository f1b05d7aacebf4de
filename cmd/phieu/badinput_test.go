package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store/yamlfile"
)

// The bad input tables for configs, templates and `phieu inspect`
// (docs/BAD-INPUT.md), and the test that keeps that document true.

func TestBadConfig(t *testing.T) {
	t.Setenv("PHIEU_TEST_UNSET", "")
	bomb := `a0: &a0 ["ha","ha","ha","ha","ha","ha","ha","ha","ha"]` + "\n"
	for i := 1; i <= 8; i++ {
		prev := "*a" + string(rune('0'+i-1))
		bomb += "a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+",", 8) + prev + "]\n"
	}
	for _, tc := range []struct {
		name, body string
		want       []string // every problem, as printed; nil: valid
	}{
		{"Empty", "", []string{"phieu.yaml: file is empty"}},
		{"YAMLBomb", bomb + "timezone: *a8\n",
			[]string{"phieu.yaml:7:10: aliases (*name) expand this file to more than 100000 values: write the values out instead of repeating anchors"}},
		{"DuplicateKey", "smtp:\n  host: 127.0.0.1\n  port: 2525\n  host: mail.binhson.gov.test\n",
			[]string{`phieu.yaml:4:3: mapping key "host" already defined at [2:3]`}},
		{"TabIndentation", "smtp:\n  host: 127.0.0.1\n\tport: 2525\n",
			[]string{"phieu.yaml:3:1: tab used for indentation; YAML indents with spaces"}},
		{"NULByte", "smtp:\n  host: 127.0.0.1\x00\n", []string{"phieu.yaml:2:18: contains a NUL byte: the file is damaged or not text"}},
		{"BinaryFile", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", []string{"phieu.yaml:1:1: not valid UTF-8: save the file as UTF-8 (in Notepad: Save As, Encoding UTF-8)"}},
		{"InvalidUTF8", "liaison:\n  name: \"Tr\xe1\xba n\"\n", []string{"phieu.yaml:2:12: not valid UTF-8: save the file as UTF-8 (in Notepad: Save As, Encoding UTF-8)"}},
		{"BOMFromNotepad", "\ufeffstore:\n  path: phieu.db\n", nil},
		{"CRLFLineEndings", "store:\r\n  path: phieu.db\r\nsmtp:\r\n  port: 70000\r\n", []string{"phieu.yaml:4:9: smtp.port: 70000 is not a port (1–65535)"}},
		{"PortOverflow", "smtp:\n  port: 99999999999999999999\n",
			[]string{"phieu.yaml:2:9: cannot unmarshal 99999999999999999999 into Go value of type int ( overflow )"}},
		{"Line100KB", "smtp:\n  host: " + strings.Repeat("a", 100<<10) + "\n",
			[]string{"phieu.yaml:2:9: smtp.host: is longer than 253 characters, the longest a host name can be"}},
		{"CronGarbage", "daemon:\n  send: \"every now and then\"\n",
			[]string{`phieu.yaml:2:9: daemon.send: "every now and then" is not a cron schedule (write "*/15 * * * *" or "@every 2m"): expected exactly 5 fields, found 4: [every now and then]`}},
		{"NestedTooDeep", "smtp: " + strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000) + "\n",
			[]string{"phieu.yaml: values are nested too deep ([[[... or {{{...): the file is damaged or not a phieu file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			start := time.Now()
			cfg, err := ReadConfigFile(path)
			if err == nil {
				err = cfg.Validate()
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want *yamlfile.Errors", err)
			}
			got := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestBadTemplates overrides a campaign's templates through the CLI: a
// template that does not parse is refused when the campaign is created,
// naming the campaign file's line and the template's; a template naming a
// field that does not exist parses, and `phieu preview` names the field
// and its place before anything is sent.
func TestBadTemplates(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	dir := filepath.Join(t.TempDir(), "province")
	mustRun(t, "", "init", "--sample", dir)
	sample, err := os.ReadFile(filepath.Join(dir, "campaign.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	campaign := func(code, templates string, files map[string]string) string {
		if err := os.Mkdir(filepath.Join(dir, templates), 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, templates, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		body := strings.Replace(string(sample), "code: PAR2025", "code: "+code, 1) + "\ntemplates: " + templates + "\n"
		name := strings.ToLower(code) + ".yaml"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	line := strings.Count(string(sample), "\n") + 2 // where "templates:" lands

	t.Run("Syntax", func(t *testing.T) {
		file := campaign("SYNTAX", "mau-loi", map[string]string{"reminder.txt.tmpl": "Nhắc lại {{if .Respondent}}chưa đóng\n"})
		code, _, stderr := run(t, dir, "campaign", "create", "-f", file)
		if code == exitOK {
			t.Fatal("a campaign with a template that does not parse was created")
		}
		for _, want := range []string{file + ":" + strconv.Itoa(line) + ":12: templates: template: ", "mau-loi/reminder.txt.tmpl:2: unexpected EOF"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("UnknownField", func(t *testing.T) {
		file := campaign("FIELD", "mau-truong", map[string]string{"invitation.txt.tmpl": "Kính gửi {{.Campaign.Nope}}\n"})
		mustRun(t, dir, "campaign", "create", "-f", file)
		code, _, stderr := run(t, dir, "preview", "--campaign", "FIELD", "--respondent", "1")
		if code == exitOK {
			t.Fatal("preview rendered a template naming a field that does not exist")
		}
		for _, want := range []string{"mau-truong/invitation.txt.tmpl:1:23:", "can't evaluate field Nope"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("MissingFileKeepsTheDefault", func(t *testing.T) {
		file := campaign("PARTIAL", "mau-mot-tep", map[string]string{"invitation.subject.tmpl": "Phiếu khảo sát riêng {{.Campaign.Code}} [{{.Ref}}]"})
		mustRun(t, dir, "campaign", "create", "-f", file)
		out := mustRun(t, dir, "preview", "--campaign", "PARTIAL", "--respondent", "1")
		for _, want := range []string{"Subject: Phiếu khảo sát riêng PARTIAL", "Kính gửi: "} {
			if !strings.Contains(out, want) {
				t.Errorf("preview lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestBadInspect runs `phieu inspect` over damaged files: each is reported
// on its own, and one that cannot be read does not stop the others.
func TestBadInspect(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := t.TempDir()
	files := map[string]string{
		"truncated.eml": "From: cb001@stp.binhson.gov.test\r\nSubject: Re: [KS-0123456789]\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nC1: 8\r\n--X\r\nContent-Type: text/h",
		"nul.eml":       "From: cb001@stp.binhson.gov.test\r\nSubject: Re\x00\r\n\r\nC1: 8\x00\r\n",
		"binary.eml":    "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
		"empty.eml":     "",
	}
	var args []string
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	args = append(args, "missing.eml")
	code, stdout, stderr := run(t, dir, append([]string{"inspect", "--json"}, args...)...)
	if code == exitOK || !strings.Contains(stderr, "3 of 5 files could not be read") {
		t.Errorf("exit %d, stderr %q: want the missing, binary and empty files reported", code, stderr)
	}
	results := map[string]inspectResult{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r inspectResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		results[r.File] = r
	}
	if len(results) != 5 {
		t.Fatalf("%d results, want 5:\n%s", len(results), stdout)
	}
	if r := results["truncated.eml"]; r.Kind != "reply" || r.ReplyText == nil || !strings.Contains(*r.ReplyText, "C1: 8") {
		t.Errorf("truncated: %+v", r)
	}
	if r := results["nul.eml"]; r.Kind != "reply" || r.Error != "" {
		t.Errorf("nul: %+v", r)
	}
	for _, name := range []string{"binary.eml", "empty.eml"} {
		if r := results[name]; r.Error != name+": bounce: not an RFC 5322 message" || r.Kind != "" {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if r := results["missing.eml"]; !strings.Contains(r.Error, "no such file") {
		t.Errorf("missing: %+v", r)
	}
}

// TestBadInputDoc keeps docs/BAD-INPUT.md true: every test it names exists,
// with the case as a subtest name in its table, and the document counts
// at least 30 cases.
func TestBadInputDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/BAD-INPUT.md")
	if err != nil {
		t.Fatal(err)
	}
	// | Case | Input | Expected | `pkg TestName/Case` |
	row := regexp.MustCompile("(?m)^\\|[^|]+\\|[^|]+\\|[^|]+\\| `([a-z/]+) (Test\\w+)(?:/(\\w+))?` \\|$")
	rows := row.FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 30 {
		t.Fatalf("docs/BAD-INPUT.md lists %d cases, want at least 30", len(rows))
	}
	sources := map[string]string{}
	for _, m := range rows {
		pkg, test, name := m[1], m[2], m[3]
		src, ok := sources[pkg]
		if !ok {
			paths, _ := filepath.Glob(filepath.Join("../..", pkg, "*_test.go"))
			var b strings.Builder
			for _, p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(data)
			}
			src = b.String()
			sources[pkg] = src
		}
		if !strings.Contains(src, "func "+test+"(t *testing.T)") {
			t.Errorf("docs/BAD-INPUT.md names %s %s, which does not exist", pkg, test)
			continue
		}
		if name != "" && !regexp.MustCompile(`(\{|name: |t\.Run\()"`+name+`"`).MatchString(src) {
			t.Errorf("docs/BAD-INPUT.md names case %s of %s %s, which its table does not hold", name, pkg, test)
		}
	}
}
