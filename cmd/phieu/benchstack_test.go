package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The benchmarks' last lines, which scripts and the README quote.
var (
	benchSendLine = regexp.MustCompile(`^send: phieu (\d+) msg/s, smtp-source (\d+) msg/s, ratio (\d+\.\d\d)$`)
	benchPollLine = regexp.MustCompile(`^poll: phieu (\d+) msg/s, fetch-only (\d+) msg/s, ratio (\d+\.\d\d)$`)
)

// benchRatio checks that out ends with a line re matches and returns its ratio.
func benchRatio(t *testing.T, re *regexp.Regexp, out string) float64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	m := re.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q does not match %s\n%s", lines[len(lines)-1], re, out)
	}
	ratio, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		t.Fatal(err)
	}
	return ratio
}

// mailstackScript is scripts/mailstack, from cmd/phieu where tests run.
func mailstackScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "mailstack"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mailstackEnv returns the running stack's PHIEU_MAILSTACK_* facts. The
// caller asked for the end-to-end suite, so a stack that is not up fails
// the test rather than skipping it: a skip would pass CI unnoticed.
func mailstackEnv(t *testing.T) map[string]string {
	t.Helper()
	script := mailstackScript(t)
	if out, err := exec.Command(script, "status").CombinedOutput(); err != nil {
		t.Fatalf("PHIEU_E2E=1 but the mail stack is not up (scripts/mailstack up, as root): %v\n%s", err, out)
	}
	out, err := exec.Command(script, "env").Output()
	if err != nil {
		t.Fatalf("scripts/mailstack env: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"PHIEU_MAILSTACK_HOST", "PHIEU_MAILSTACK_SMTP_PORT", "PHIEU_MAILSTACK_IMAPS_PORT",
		"PHIEU_MAILSTACK_CA_FILE", "PHIEU_MAILSTACK_DOMAIN", "PHIEU_MAILSTACK_SINK_DOMAIN", "PHIEU_MAILSTACK_PASSWORD"} {
		if env[k] == "" {
			t.Fatalf("scripts/mailstack env does not give %s:\n%s", k, out)
		}
	}
	return env
}

// TestBenchAgainstMailstack runs both benchmarks, small, against the real
// Postfix and Dovecot of scripts/mailstack.
func TestBenchAgainstMailstack(t *testing.T) {
	if os.Getenv("PHIEU_E2E") != "1" {
		t.Skip("end-to-end: needs the Postfix and Dovecot of scripts/mailstack; as root run " +
			"scripts/mailstack install && scripts/mailstack up, then PHIEU_E2E=1 go test ./cmd/phieu -run Bench")
	}
	t.Setenv("PHIEU_CONFIG", "")
	env := mailstackEnv(t)
	host := env["PHIEU_MAILSTACK_HOST"]

	t.Run("Send", func(t *testing.T) {
		out := mustRun(t, "", "bench", "send", "--smtp", host+":"+env["PHIEU_MAILSTACK_SMTP_PORT"],
			"--rcpt-domain", env["PHIEU_MAILSTACK_SINK_DOMAIN"], "--messages", "200", "--connections", "4", "--units", "10")
		if strings.Contains(out, "smtp-sink CPU") {
			t.Errorf("a line about smtp-sink, which --smtp does not start:\n%s", out)
		}
		if r := benchRatio(t, benchSendLine, out); r <= 0 {
			t.Errorf("ratio %v\n%s", r, out)
		}
	})

	t.Run("Poll", func(t *testing.T) {
		user := "bench.e2e@" + env["PHIEU_MAILSTACK_DOMAIN"]
		if out, err := exec.Command(mailstackScript(t), "adduser", user).CombinedOutput(); err != nil {
			t.Fatalf("scripts/mailstack adduser %s: %v\n%s", user, err, out)
		}
		args := []string{"bench", "poll", "--imap", host + ":" + env["PHIEU_MAILSTACK_IMAPS_PORT"], "--tls", "tls",
			"--ca-file", env["PHIEU_MAILSTACK_CA_FILE"], "--user", user, "--password", env["PHIEU_MAILSTACK_PASSWORD"], "--messages", "200"}
		// Twice: the bench's own mailbox means a second run needs no cleanup.
		for range 2 {
			out := mustRun(t, "", args...)
			if !strings.Contains(out, "phieu: 200 messages") {
				t.Errorf("phieu did not read the 200 messages:\n%s", out)
			}
			if r := benchRatio(t, benchPollLine, out); r <= 0 {
				t.Errorf("ratio %v\n%s", r, out)
			}
		}
	})
}

// TestBenchPollInMemory runs the poll benchmark against go-imap's in-memory
// server: the same mailbox creation, fill and cleanup as against Dovecot.
func TestBenchPollInMemory(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	out := mustRun(t, "", "bench", "poll", "--messages", "50")
	if r := benchRatio(t, benchPollLine, out); r <= 0 {
		t.Errorf("ratio %v\n%s", r, out)
	}
}

func TestBenchFlagErrors(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"SendRemoteSMTP", []string{"bench", "send", "--smtp", "192.0.2.1:25"}, "on this machine"},
		{"SendBadSMTP", []string{"bench", "send", "--smtp", "127.0.0.1"}, "--smtp"},
		{"SendDomainWithoutSMTP", []string{"bench", "send", "--rcpt-domain", "sink.test"}, "needs --smtp"},
		{"SendRealDomain", []string{"bench", "send", "--smtp", "127.0.0.1:2525", "--rcpt-domain", "gmail.com"}, "not under .test"},
		{"SendBareTLD", []string{"bench", "send", "--smtp", "127.0.0.1:2525", "--rcpt-domain", "test"}, "--rcpt-domain"},
		{"PollBadTLS", []string{"bench", "poll", "--imap", "127.0.0.1:1993", "--tls", "ssl"}, "not none, starttls or tls"},
		{"PollTLSWithoutIMAP", []string{"bench", "poll", "--tls", "tls"}, "give --imap"},
		{"PollCAWithoutIMAP", []string{"bench", "poll", "--ca-file", "ca.pem"}, "give --imap"},
		{"PollRemoteIMAP", []string{"bench", "poll", "--imap", "192.0.2.1:993", "--tls", "tls"}, "on this machine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, "", tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, errs)
			}
			if !strings.Contains(errs, tc.msg) {
				t.Errorf("stderr %q does not mention %q", errs, tc.msg)
			}
		})
	}
}
