package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestConfigChangesAudited: the daemon records the configuration it starts
// with; a later start with a changed config writes exactly what changed to
// the audit log, and a password hash only as a fingerprint.
func TestConfigChangesAudited(t *testing.T) {
	dir, _, _ := sampleWithServers(t)
	config := filepath.Join(dir, "phieu.yaml")
	hash, err := bcrypt.GenerateFromPassword([]byte("mật khẩu dài đủ"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	runOnce := func() { mustRunAt(t, "", testNow, "run", "--once", "--jobs", "housekeeping", "--config", config) }
	audit := func() string {
		return mustRunAt(t, "", testNow, "audit", "list", "--action", "config_change", "--format", "csv", "--config", config)
	}
	runOnce()
	if got := audit(); strings.Count(got, "config_change") != 1 || !strings.Contains(got, "first run with this configuration") ||
		!strings.Contains(got, "smtp.host: ∅ → 127.0.0.1") {
		t.Fatalf("first start:\n%s", got)
	}
	runOnce() // unchanged: nothing new
	if got := audit(); strings.Count(got, "config_change") != 1 {
		t.Fatalf("an unchanged config was recorded again:\n%s", got)
	}
	editConfig(t, dir, func(s string) string {
		s = strings.Replace(s, "listen: 127.0.0.1:8470", "listen: 127.0.0.1:8471\n  operators:\n    - {name: vanthu.snv, password_hash: '"+string(hash)+"'}", 1)
		return strings.Replace(s, "  mailbox: INBOX", "  mailbox: INBOX\n  resends: 2", 1)
	})
	runOnce()
	got := audit()
	for _, want := range []string{"http.listen: 127.0.0.1:8470 → 127.0.0.1:8471", "imap.resends: 3 → 2",
		"http.operators.0.name: ∅ → vanthu.snv", "http.operators.0.password_hash: ∅ → sha256:"} {
		if !strings.Contains(got, want) {
			t.Errorf("the change is not audited as %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, string(hash)) || strings.Contains(got, "smtp.host: ∅") && strings.Count(got, "smtp.host") > 1 {
		t.Errorf("the audit log holds the password hash or repeats unchanged keys:\n%s", got)
	}
}
