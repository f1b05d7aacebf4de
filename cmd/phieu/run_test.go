package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/poller/imaptest"
)

// TestRunDaemon runs the daemon as a newcomer would: start it, watch it
// work (/healthz), stop it with Ctrl-C, start it again: nothing is sent
// twice, and a second daemon on the same store refuses.
func TestRunDaemon(t *testing.T) {
	dir, smtp, imap := sampleWithServers(t)
	health := freeLoopbackAddr(t)
	editConfig(t, dir, func(s string) string { return strings.Replace(s, "listen: 127.0.0.1:8470", "listen: "+health, 1) })
	config := filepath.Join(dir, "phieu.yaml")
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	// The operator starts the campaign with a first batch.
	mustRunAt(t, "", during, "send", "--config", config, "--campaign", "PAR2025", "--limit", "10", "--wait", "0")

	start := func() (stop func() (int, string)) { return startDaemon(t, config, during) }
	stop := start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := smtp.WaitReceived(ctx, 120); err != nil {
		code, errs := stop()
		t.Fatalf("the daemon did not invite the other 110 members: %v (exit %d)\n%s", err, code, errs)
	}
	h := waitCaughtUp(t, health)
	if h.Status != "ok" || h.Jobs["send"].Runs == 0 || h.Jobs["plan"].Runs == 0 || !strings.Contains(h.Jobs["plan"].Result, "110 invitations") {
		t.Errorf("healthz: %+v", h)
	}
	// The dashboard is served beside /healthz: sign-in first, while the
	// metrics (counts, no names) need none and show the jobs' runs.
	resp, err := http.Get("http://" + health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`phieu_job_runs_total{job="send",result="ok"}`, `phieu_outbox_messages{state="sent"} 120`, `phieu_members{status="invited"} 120`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get("http://" + health + "/"); err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the dashboard without signing in: %v %v", resp, err)
	}
	// A second daemon on the same store refuses.
	if code, _, errs := runAt(t, "", during, "run", "--config", config); code != exitFailure || !strings.Contains(errs, "another phieu") {
		t.Errorf("second daemon: exit %d: %s", code, errs)
	}
	if code, errs := stop(); code != exitOK || !strings.Contains(errs, "stopping") {
		t.Fatalf("Ctrl-C: exit %d\n%s", code, errs)
	}
	// Started again, reading mail as it arrives: catches up, sends nothing
	// twice, and a reply is read without waiting for the poll schedule.
	editConfig(t, dir, func(s string) string {
		return strings.Replace(s, "  mailbox: INBOX", "  mailbox: INBOX\n  idle: true", 1)
	})
	stop = start()
	if h := waitCaughtUp(t, health); !strings.Contains(h.Jobs["send"].Result, "0 sent") {
		t.Errorf("after a restart: %+v", h.Jobs["send"])
	}
	inv := smtp.Received()[0]
	raw, err := imaptest.Reply{From: inv.To[0], To: "khaosat.snv@binhson.gov.test", Subject: inv.Header.Get("Subject"),
		InReplyTo: inv.Header.Get("Message-Id"), Text: "C1: 8\nC2: 7\nC3: 9\nC4: B\nC5: 8\nC6: A\nC7: 6"}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := imap.AppendAt("INBOX", raw, during); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var h healthz
		if resp, err := http.Get("http://" + health + "/healthz"); err == nil {
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
		}
		if strings.Contains(h.Jobs["poll"].Result, "1 responses") && strings.Contains(h.Jobs["poll"].Result, "IDLE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reply was not read through IDLE: %+v", h.Jobs["poll"])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, errs := stop(); code != exitOK {
		t.Fatalf("second start: exit %d\n%s", code, errs)
	}
	if n := len(smtp.Received()); n != 120 {
		t.Errorf("%d messages received after a restart, want 120", n)
	}
	// --once: every job once, for a system cron; fails when a job fails.
	mustRunAt(t, "", during, "run", "--once", "--config", config)
	imap.Close()
	if code, _, errs := runAt(t, "", during, "run", "--once", "--config", config); code != exitFailure || !strings.Contains(errs, "poll: imap") {
		t.Errorf("run --once with the mailbox down: exit %d %s", code, errs)
	}
}

type healthz struct {
	Status string
	Jobs   map[string]jobState
}

// waitCaughtUp waits until the daemon at addr has run its start-up
// catch-up (send and poll go side by side, after plan) and returns its
// /healthz.
func waitCaughtUp(t *testing.T, addr string) healthz {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var h healthz
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
		}
		if h.Jobs["poll"].Runs > 0 && h.Jobs["send"].Runs > 0 {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon at %s did not catch up: %+v, %v", addr, h, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
