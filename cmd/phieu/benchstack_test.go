package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/phieu/phieu/cmd/phieu/e2e"
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

// TestBenchAgainstMailstack runs both benchmarks, small, against the real
// Postfix and Dovecot of scripts/mailstack.
func TestBenchAgainstMailstack(t *testing.T) {
	s := e2e.Require(t)
	t.Setenv("PHIEU_CONFIG", "")

	t.Run("Send", func(t *testing.T) {
		out := mustRun(t, "", "bench", "send", "--smtp", fmt.Sprintf("127.0.0.1:%d", s.SMTP),
			"--rcpt-domain", s.SinkDomain, "--messages", "200", "--connections", "4", "--units", "10")
		if strings.Contains(out, "smtp-sink CPU") {
			t.Errorf("a line about smtp-sink, which --smtp does not start:\n%s", out)
		}
		if r := benchRatio(t, benchSendLine, out); r <= 0 {
			t.Errorf("ratio %v\n%s", r, out)
		}
	})

	t.Run("Poll", func(t *testing.T) {
		user := "bench.e2e@" + s.Domain
		s.AddUsers(t, "", user)
		args := []string{"bench", "poll", "--imap", fmt.Sprintf("127.0.0.1:%d", s.IMAPS), "--tls", "tls",
			"--ca-file", s.CAFile, "--user", user, "--password", s.Password, "--messages", "200"}
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
