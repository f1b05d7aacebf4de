package e2e

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The suite needs root and apt; without PHIEU_E2E it says how to run it.
const skipWhy = `end-to-end suite against a real Postfix and Dovecot: skipped without PHIEU_E2E=1.
To run it (needs root and apt, as CI does):
    scripts/mailstack install   # postfix, dovecot-imapd, dovecot-lmtpd, openssl
    scripts/mailstack up
    PHIEU_E2E=1 go test ./cmd/phieu/e2e
    scripts/mailstack down`

// RepoRoot is the module root, wherever the calling test runs from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Mailstack is a running scripts/mailstack: ports, TLS trust, password.
type Mailstack struct {
	script     string
	Dir        string
	Domain     string
	SinkDomain string
	DeadDomain string
	CAFile     string
	ServerName string
	Password   string
	SMTP       int // plain, relaying for loopback
	Submission int // STARTTLS and AUTH required
	IMAPS      int
	pool       *x509.CertPool
}

// Require returns the running stack, skips without PHIEU_E2E, and fails
// when PHIEU_E2E is set but the stack is down: CI must not pass by
// skipping.
func Require(t testing.TB) *Mailstack {
	t.Helper()
	if os.Getenv("PHIEU_E2E") == "" {
		t.Skip(skipWhy)
	}
	script := filepath.Join(RepoRoot(), "scripts", "mailstack")
	out, err := exec.Command(script, "env").CombinedOutput()
	if err != nil {
		t.Fatalf("PHIEU_E2E=1 but the mail stack is not up (%v: %s); start it with: scripts/mailstack up", err, bytes.TrimSpace(out))
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[strings.TrimPrefix(k, "PHIEU_MAILSTACK_")] = v
		}
	}
	port := func(k string) int {
		n, err := strconv.Atoi(env[k])
		if err != nil {
			t.Fatalf("mailstack env: %s=%q is not a port", k, env[k])
		}
		return n
	}
	s := &Mailstack{script: script, Dir: env["DIR"], Domain: env["DOMAIN"], SinkDomain: env["SINK_DOMAIN"],
		DeadDomain: env["DEFERRED_DOMAIN"], CAFile: env["CA_FILE"], ServerName: env["SERVER_NAME"], Password: env["PASSWORD"],
		SMTP: port("SMTP_PORT"), Submission: port("SUBMISSION_PORT"), IMAPS: port("IMAPS_PORT")}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatalf("mailstack CA: %v", err)
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(pem) {
		t.Fatalf("mailstack CA %s: no certificate", s.CAFile)
	}
	return s
}

func (s *Mailstack) run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(s.script, args...).CombinedOutput(); err != nil {
		t.Fatalf("mailstack %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// AddUsers creates Dovecot mailboxes; quota "" for none.
func (s *Mailstack) AddUsers(t testing.TB, quota string, addrs ...string) {
	t.Helper()
	args := []string{"adduser"}
	if quota != "" {
		args = append(args, "--quota", quota)
	}
	s.run(t, append(args, addrs...)...)
}

// Access sets what Postfix answers at RCPT TO for addr ("OK" clears).
func (s *Mailstack) Access(t testing.TB, addr, result string) {
	t.Helper()
	s.run(t, "access", addr, result)
}
