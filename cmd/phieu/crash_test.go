package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
)

// TestCrashSend kills phieu send with SIGKILL at random moments and checks
// that no member is left without an invitation and that each kill costs at
// most one duplicate per connection (the message in flight). It builds the
// real binary and runs it as a separate process against an in-process SMTP
// server. Run it with scripts/crashtest-send (PHIEU_CRASHTEST=1).
func TestCrashSend(t *testing.T) {
	if os.Getenv("PHIEU_CRASHTEST") == "" {
		t.Skip("set PHIEU_CRASHTEST=1 (scripts/crashtest-send) to run the kill -9 suite")
	}
	rounds := envInt("PHIEU_CRASHTEST_ROUNDS", 20)
	members := envInt("PHIEU_CRASHTEST_MEMBERS", 5000)
	const connections = 4
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildPhieu(t, dir)
	srv := smtptest.Start(t, smtptest.Options{DSN: true})
	config := filepath.Join(dir, "phieu.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`store:
  path: phieu.db
smtp:
  host: 127.0.0.1
  port: %d
  tls: none
  connections: %d
  per_minute: 0
  per_hour: 0
`, srv.Port, connections)), 0o644); err != nil {
		t.Fatal(err)
	}

	// The province, once.
	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	p := synth.Generate(7, 200, members)
	if err := storeProvince(ctx, db, p); err != nil {
		t.Fatal(err)
	}
	campaigns := sqlite.NewCampaignService(db)
	for i := 1; i <= rounds; i++ {
		c := syntheticCampaign(fmt.Sprintf("CRASH%02d", i), time.Now(), p.Groups())
		if err := campaigns.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := campaigns.AddMembers(ctx, c.Code, store.MemberSelector{}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	send := func(code string) *exec.Cmd {
		cmd := exec.Command(bin, "send", "--config", config, "--campaign", code, "--wait", "0", "--progress=false")
		cmd.Env = append(os.Environ(), "PHIEU_SECRET=crash test secret, long enough to use")
		return cmd
	}
	totalDups, totalKills, maxDups, missed := 0, 0, 0, 0
	for i := 1; i <= rounds; i++ {
		code := fmt.Sprintf("CRASH%02d", i)
		before := len(srv.Received())
		cmd := send(code)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill somewhere between start-up and the end of a ~2 s send.
		time.Sleep(time.Duration(100+rand.IntN(1500)) * time.Millisecond)
		killed := cmd.Process.Signal(syscall.SIGKILL) == nil
		cmd.Wait()
		sentBeforeKill := len(srv.Received()) - before
		if out, err := send(code).CombinedOutput(); err != nil {
			t.Fatalf("%s: restart: %v\n%s", code, err, out)
		}
		got := map[string]int{}
		for _, m := range srv.Received()[before:] {
			got[m.Header.Get("Message-Id")]++
		}
		dups := 0
		for _, n := range got {
			dups += n - 1
		}
		if len(got) != members {
			t.Errorf("%s: %d of %d members got an invitation", code, len(got), members)
		}
		if dups > connections {
			t.Errorf("%s: %d duplicates after one kill with %d connections", code, dups, connections)
		}
		if killed && sentBeforeKill < members {
			totalKills++ // killed mid-send, not after it finished
		}
		totalDups += dups
		missed += members - len(got)
		maxDups = max(maxDups, dups)
		t.Logf("%s: killed after %d messages; every member invited: %v; duplicates %d", code, sentBeforeKill, len(got) == members, dups)
	}
	t.Logf("crash test: %d rounds, %d kills during %d-member sends over %d connections; members missed %d; duplicates %d in total, at most %d per kill (limit %d)",
		rounds, totalKills, members, connections, missed, totalDups, maxDups, connections)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
