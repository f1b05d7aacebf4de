package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// auditEntries parses `phieu audit list --format json`: one object a line.
func auditEntries(t *testing.T, out string) []map[string]string {
	t.Helper()
	var es []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		es = append(es, e)
	}
	return es
}

// summary is an audit entry's actor, action, subject and detail.
func summary(e map[string]string) string {
	return strings.Join([]string{e["at"], e["actor"], e["action"], e["campaign"], e["subject"], e["detail"]}, " | ")
}

// Decisions made at the command line are audited under the CLI user, in
// the database, and audit list shows them with its filters.
func TestAuditWorkflow(t *testing.T) {
	dir := exportFixture(t)
	me := NewMain().cliActor()
	later := exportDuring.Add(time.Hour) // 10:00 in Vietnam
	at := func(h int) time.Time { return later.Add(time.Duration(h) * time.Hour) }

	var review, counted string
	for _, r := range auditEntries(t, mustRunAt(t, dir, later, "responses", "list", "--campaign", "PAR2025", "--format", "json")) {
		switch r["status"] {
		case "needs_review":
			review = r["id"]
		case "counted":
			counted = r["id"]
		}
	}
	if review == "" || counted == "" {
		t.Fatal("the fixture has no needs-review or no counted response")
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr
	}{
		{"NoID", []string{"responses", "reject"}, exitUsage, "needs one response ID"},
		{"NotAnID", []string{"responses", "reject", "abc"}, exitUsage, `"abc" is not a response ID`},
		{"Counted", []string{"responses", "reject", counted}, exitFailure, "only late or needs-review"},
		{"Missing", []string{"responses", "reject", "9999"}, exitFailure, "not found"},
		{"Reject", []string{"responses", "reject", review}, exitOK, "is rejected: not counted (member invited)"},
		{"RejectTwice", []string{"responses", "reject", review}, exitFailure, "is rejected: only late or needs-review"},
		{"AcceptRejected", []string{"responses", "accept", review}, exitFailure, "is rejected: only late or needs-review"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runAt(t, dir, later, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d), want %q in:\n%s%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
	mustRunAt(t, dir, at(1), "campaign", "pause", "PAR2025")
	mustRunAt(t, dir, at(2), "campaign", "resume", "PAR2025")

	all := auditEntries(t, mustRunAt(t, dir, at(2), "audit", "list", "--format", "json"))
	var got []string
	for _, e := range all {
		got = append(got, summary(e))
	}
	want := []string{
		"02/12/2026 12:00 | " + me + " | campaign_state | PAR2025 | campaign PAR2025 | state=paused→active",
		"02/12/2026 11:00 | " + me + " | campaign_state | PAR2025 | campaign PAR2025 | state=active→paused",
		// The entry names the member, never the response id: the audit log
		// must not link people to their answers.
		"02/12/2026 10:00 | " + me + " | review_reject | PAR2025 | respondent ",
	}
	if len(got) < 4 {
		t.Fatalf("audit log:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("entry %d:\n got %s\nwant %s...", i, got[i], w)
		}
	}
	if d := all[2]["detail"]; !strings.Contains(d, "mailbox="+mbS001P3) || !strings.HasSuffix(d, "response=needs_review member=answered_needs_review→invited") {
		t.Errorf("reject detail %q", d)
	}
	// phieu send started the draft campaign: the person who ran it did.
	if last := all[len(all)-1]; last["actor"] != me || last["detail"] != "state=draft→active" {
		t.Errorf("oldest entry %s, want send's activation by %s", summary(last), me)
	}

	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want int
		}{
			{"Action", []string{"--action", "review_reject"}, 1},
			{"Campaign", []string{"--campaign", "PAR2025"}, len(all)},
			{"OtherCampaign", []string{"--campaign", "SIPAS2026"}, 0},
			{"SinceDuration", []string{"--since", "2h"}, 3}, // the reject at exactly 2h ago counts
			{"SinceDate", []string{"--since", "03/12/2026"}, 0},
			{"Limit", []string{"--limit", "2"}, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				es := auditEntries(t, mustRunAt(t, dir, at(2), append([]string{"audit", "list", "--format", "json"}, tc.args...)...))
				if len(es) != tc.want {
					t.Errorf("%d entries, want %d", len(es), tc.want)
				}
			})
		}
	})

	t.Run("TableAndCSV", func(t *testing.T) {
		out := mustRunAt(t, dir, at(2), "audit", "list", "--limit", "1")
		if !strings.HasPrefix(out, "AT ") || !strings.Contains(out, "02/12/2026 12:00") || !strings.Contains(out, "(the newest 1; --limit 0 for all)") {
			t.Errorf("table:\n%s", out)
		}
		records := readCSV(t, mustRunAt(t, dir, at(2), "audit", "list", "--action", "campaign_state", "--format", "csv"))
		// The third is phieu send starting the campaign: the CLI user too.
		if got := column(t, records, "ACTOR"); len(got) != 3 || got[0] != me || got[2] != me {
			t.Errorf("CSV actors %q", got)
		}
	})

	t.Run("ThroughSudo", func(t *testing.T) {
		m := NewMain()
		m.Getenv = func(k string) string { return map[string]string{"USER": "phieu", "SUDO_USER": "lan.nt"}[k] }
		if got := m.cliActor(); !strings.HasPrefix(got, "cli:lan.nt via ") {
			t.Errorf("actor through sudo: %q", got)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"audit", "list", "--action", "delete_everything"},
			{"audit", "list", "--since", "yesterday"},
			{"audit", "list", "--limit", "-1"},
			{"audit", "list", "extra"},
		} {
			if code, _, errs := runAt(t, dir, at(2), args...); code != exitUsage {
				t.Errorf("%s: exit %d: %s", strings.Join(args, " "), code, errs)
			}
		}
	})
}
