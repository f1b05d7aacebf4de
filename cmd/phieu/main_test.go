package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of in-process runs: 16:00 on 25/11/2026 in Vietnam.
var testNow = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// run runs phieu in-process in dir and returns its exit code and output.
func run(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runAt(t, dir, testNow, args...)
}

// runAt runs phieu in-process in dir with its clock at now.
func runAt(t *testing.T, dir string, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, &errb
	m.Now = func() time.Time { return now }
	if dir != "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(wd)
	}
	code = m.Main(context.Background(), args)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, out, errs := run(t, dir, args...)
	if code != 0 {
		t.Fatalf("phieu %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestHelpOnEveryCommand(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	for _, c := range NewMain().commands() {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := run(t, "", append(strings.Fields(c.name), "--help")...)
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(out, "Usage: phieu "+c.name) {
				t.Errorf("help does not start with usage:\n%s", out)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"NoCommand", nil, exitUsage, "no command"},
		{"UnknownCommand", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"UnknownFlag", []string{"campaign", "list", "--nope"}, exitUsage, "flag provided but not defined"},
		{"MissingArg", []string{"campaign", "show"}, exitUsage, "missing CODE"},
		{"ExtraArg", []string{"campaign", "list", "x"}, exitUsage, "unexpected argument"},
		{"BadFormat", []string{"respondents", "list", "--format", "xml"}, exitUsage, "not table, csv or json"},
		{"NotFound", []string{"campaign", "show", "NOPE"}, exitFailure, "NOPE"},
		{"MissingFile", []string{"import", "units", "missing.csv"}, exitFailure, "missing.csv"},
		{"ExplicitConfigMissing", []string{"campaign", "list", "--config", "nope.yaml"}, exitFailure, "nope.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, dir, tc.args...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.want, errs)
			}
			if !strings.Contains(errs, tc.msg) {
				t.Errorf("stderr %q does not mention %q", errs, tc.msg)
			}
		})
	}
}

// TestNewcomerWorkflow follows the README's step-by-step section.
func TestNewcomerWorkflow(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := t.TempDir()
	out := mustRun(t, "", "init", dir)
	for _, f := range []string{"phieu.yaml", "campaign.yaml", "units.csv", "respondents.csv", "phieu.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not create %s: %v\n%s", f, err, out)
		}
	}

	out = mustRun(t, dir, "import", "units", "units.csv", "--dry-run")
	if !strings.Contains(out, "dry run") {
		t.Errorf("dry run output: %s", out)
	}
	if out := mustRun(t, dir, "units", "list", "--format", "json"); out != "" {
		t.Errorf("dry run wrote units:\n%s", out)
	}
	out = mustRun(t, dir, "import", "units", "units.csv")
	if !strings.Contains(out, "unchanged 0") || strings.Contains(out, "added 0,") {
		t.Errorf("units import: %s", out)
	}
	mustRun(t, dir, "import", "respondents", "respondents.csv")
	out = mustRun(t, dir, "import", "respondents", "respondents.csv")
	if !strings.Contains(out, "added 0, updated 0") {
		t.Errorf("re-import is not idempotent: %s", out)
	}

	mustRun(t, dir, "campaign", "create", "-f", "campaign.yaml")
	if code, _, errs := run(t, dir, "campaign", "create", "-f", "campaign.yaml"); code != exitFailure || !strings.Contains(errs, "PAR2025") {
		t.Errorf("second create: exit %d, %s", code, errs)
	}
	out = mustRun(t, dir, "campaign", "add-members", "PAR2025")
	if strings.Contains(out, "added 0 ") {
		t.Errorf("add-members added nobody: %s", out)
	}
	out = mustRun(t, dir, "campaign", "add-members", "PAR2025")
	if !strings.Contains(out, "added 0 ") {
		t.Errorf("second add-members added again: %s", out)
	}
	out = mustRun(t, dir, "campaign", "show", "PAR2025")
	for _, want := range []string{"PAR2025", "Hạn trả lời", "Theo nhóm", "LDS", "Theo đơn vị", "Chưa gửi phiếu"} {
		if !strings.Contains(out, want) {
			t.Errorf("campaign show lacks %q:\n%s", want, out)
		}
	}

	// Listing in JSON: one object per line, Vietnamese name order.
	out = mustRun(t, dir, "respondents", "list", "--campaign", "PAR2025", "--format", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 50 {
		t.Fatalf("only %d members listed", len(lines))
	}
	var first map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["status"] != "not_invited" || first["mailbox"] == "" {
		t.Errorf("first member: %v", first)
	}
	out = mustRun(t, dir, "respondents", "list", "--format", "csv", "--group", "LDS")
	if !strings.HasPrefix(out, "\ufeffID,Họ và tên") {
		t.Errorf("CSV listing starts %q", out[:min(40, len(out))])
	}
	mustRun(t, dir, "config", "check")
	mustRun(t, dir, "campaign", "list")
}

func TestInitSampleLoadsEverything(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := filepath.Join(t.TempDir(), "quickstart")
	out := mustRun(t, "", "init", "--sample", dir)
	for _, want := range []string{"units.csv: added", "respondents.csv: added", "created campaign PAR2025", "Theo đơn vị"} {
		if !strings.Contains(out, want) {
			t.Errorf("init --sample output lacks %q:\n%s", want, out)
		}
	}
	// Running it again keeps files and data.
	out = mustRun(t, "", "init", "--sample", dir)
	if !strings.Contains(out, "kept") || !strings.Contains(out, "exists already") || !strings.Contains(out, "added 0 members") {
		t.Errorf("second init --sample:\n%s", out)
	}
}

func TestImportErrorsArePositioned(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := t.TempDir()
	mustRun(t, "", "init", dir)
	mustRun(t, dir, "import", "units", "units.csv")
	bad := "STT,Họ và tên,Giới tính,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\n" +
		"1,Nguyễn Văn An,Nam,Giám đốc,KHONGCO,LDS,annv@binhson.gov.test\n" +
		"2,Trần Thị Bình,Nữ,Phó Giám đốc,UBND,LDS,annv@binhson.gov.test\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.csv"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, dir, "import", "respondents", "bad.csv")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1; %s", code, errs)
	}
	for _, want := range []string{"bad.csv:2:Mã đơn vị:", "bad.csv:3:Email:"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	if out := mustRun(t, dir, "respondents", "list", "--format", "json"); out != "" {
		t.Errorf("a failed import wrote respondents:\n%s", out)
	}
}
