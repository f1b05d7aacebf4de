package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
)

// editConfig rewrites the config file in dir.
func editConfig(t *testing.T, dir string, edit func(string) string) {
	t.Helper()
	path := filepath.Join(dir, "phieu.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pointAt rewrites the sample config in dir to send through srv without caps.
func pointAt(t *testing.T, dir string, srv *smtptest.Server) {
	t.Helper()
	editConfig(t, dir, func(s string) string {
		s = strings.Replace(s, "  port: 2525", "  port: "+strconv.Itoa(srv.Port), 1)
		s = strings.Replace(s, "per_minute: 60", "per_minute: 0", 1)
		return strings.Replace(s, "per_hour: 1000", "per_hour: 0", 1)
	})
}

func TestSendWorkflow(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	dir := filepath.Join(t.TempDir(), "province")
	mustRun(t, "", "init", "--sample", dir)
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	pointAt(t, dir, srv)
	// The sample campaign opens on 01/12/2026 at 08:00 and ends on 15/01/2027.
	before := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC) // 09:00 in Vietnam

	out := mustRunAt(t, dir, during, "preview", "--campaign", "PAR2025", "--respondent", "1")
	for _, want := range []string{"Subject: [KS-PREVIEW000] Đề nghị trả lời phiếu khảo sát", "Kính gửi: ", "C1 [1-10]:", "(còn 44 ngày)"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	if raw := mustRunAt(t, dir, during, "preview", "--campaign", "PAR2025", "--respondent", "1", "--raw"); !strings.Contains(raw, "Content-Transfer-Encoding: quoted-printable") || !strings.Contains(raw, "=?UTF-8?q?") {
		t.Errorf("raw preview is not encoded MIME:\n%s", raw)
	}
	for _, kind := range []string{"reminder", "receipt", "correction", "operator_digest", "liaison_digest"} {
		mustRunAt(t, dir, during, "preview", "--campaign", "PAR2025", "--respondent", "1", "--kind", kind)
	}
	if code, _, errs := runAt(t, dir, during, "preview", "--campaign", "PAR2025", "--kind", "invitation"); code != exitUsage || !strings.Contains(errs, "--respondent") {
		t.Errorf("preview without a respondent: exit %d: %s", code, errs)
	}
	info, err := os.Stat(filepath.Join(dir, "phieu.secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}

	out = mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--dry-run")
	if !strings.Contains(out, "would queue up to 120 invitations") || len(srv.Received()) != 0 {
		t.Fatalf("dry run: %s (%d sent)", out, len(srv.Received()))
	}

	// Before the campaign opens: queued and held, nothing sent.
	out = mustRunAt(t, dir, before, "send", "--campaign", "PAR2025", "--limit", "10", "--wait", "0")
	if !strings.Contains(out, "campaign PAR2025 is now active") || !strings.Contains(out, "queued 10 invitations") || !strings.Contains(out, "sent 0,") || len(srv.Received()) != 0 {
		t.Fatalf("send before opening: %s", out)
	}

	out = mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0")
	if !strings.Contains(out, "queued 110 invitations") || !strings.Contains(out, "sent 120,") {
		t.Fatalf("send: %s", out)
	}
	if n := len(srv.Received()); n != 120 {
		t.Fatalf("server received %d messages, want 120", n)
	}
	out = mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0")
	if !strings.Contains(out, "queued 0 invitations") || len(srv.Received()) != 120 {
		t.Fatalf("second send: %s (%d received)", out, len(srv.Received()))
	}

	out = mustRunAt(t, dir, during, "outbox", "list", "--state", "sent", "--limit", "3")
	if !strings.Contains(out, "invitation") || !strings.Contains(out, "(3 of 120") {
		t.Errorf("outbox list:\n%s", out)
	}
	if out := mustRunAt(t, dir, during, "outbox", "list", "--state", "sent", "--limit", "1", "--format", "json"); !strings.HasPrefix(out, `{"id":`) ||
		!strings.Contains(out, `"kind":"invitation"`) || !strings.Contains(out, `"state":"sent"`) {
		t.Errorf("outbox list --format json:\n%s", out)
	}
	id := regexp.MustCompile(`(?m)^(\d+)\s`).FindStringSubmatch(strings.SplitN(out, "\n", 2)[1])
	if id == nil {
		t.Fatalf("no id in %q", out)
	}
	out = mustRunAt(t, dir, during, "outbox", "show", id[1])
	for _, want := range []string{"state:        sent", "message-id:   <", "data", "250", "accepted"} {
		if !strings.Contains(out, want) {
			t.Errorf("outbox show lacks %q:\n%s", want, out)
		}
	}
	out = mustRunAt(t, dir, during, "campaign", "show", "PAR2025")
	if !strings.Contains(out, "Đã gửi, chưa trả lời") {
		t.Errorf("members not marked invited:\n%s", out)
	}

	mustRunAt(t, dir, during, "campaign", "pause", "PAR2025")
	if code, _, errs := runAt(t, dir, during, "send", "--campaign", "PAR2025"); code != exitFailure || !strings.Contains(errs, "paused") {
		t.Errorf("send while paused: exit %d %s", code, errs)
	}
	mustRunAt(t, dir, during, "campaign", "resume", "PAR2025")
	after := time.Date(2027, 1, 16, 2, 0, 0, 0, time.UTC)
	if code, _, errs := runAt(t, dir, after, "send", "--campaign", "PAR2025"); code != exitFailure || !strings.Contains(errs, "deadline") {
		t.Errorf("send after the deadline: exit %d %s", code, errs)
	}
}

func mustRunAt(t *testing.T, dir string, now time.Time, args ...string) string {
	t.Helper()
	code, out, errs := runAt(t, dir, now, args...)
	if code != exitOK {
		t.Fatalf("phieu %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}
