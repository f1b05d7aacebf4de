package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// integrityCheck runs PRAGMA integrity_check on the database at path.
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&result); err != nil {
		t.Fatal(err)
	}
	if result != "ok" {
		t.Errorf("integrity_check of %s: %s", path, result)
	}
	return result
}

// TestHelperHoldWriteLock is the other process of the "database locked"
// fault: it takes the write lock of $PHIEU_HOLD_LOCK_DB, says "locked" on
// stdout, and holds it for $PHIEU_HOLD_LOCK_FOR.
func TestHelperHoldWriteLock(t *testing.T) {
	path := os.Getenv("PHIEU_HOLD_LOCK_DB")
	if path == "" {
		t.Skip("the helper process of TestFaultsStorage, run by it")
	}
	hold, err := time.ParseDuration(os.Getenv("PHIEU_HOLD_LOCK_FOR"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	time.Sleep(hold)
	if _, err := conn.ExecContext(context.Background(), `COMMIT`); err != nil {
		t.Fatal(err)
	}
}

// holdWriteLock starts another process holding the database's write lock
// for hold, and returns once it holds it.
func holdWriteLock(t *testing.T, path string, hold time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldWriteLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PHIEU_HOLD_LOCK_DB="+path, "PHIEU_HOLD_LOCK_FOR="+hold.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("the lock holder: %q, %v", line, err)
	}
	return cmd
}

// TestFaultsStorage are the storage faults of the fault suite
// (scripts/faults): the database locked by another process, the disk full
// during a send, a corrupted config; PRAGMA integrity_check after each.
func TestFaultsStorage(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

	t.Run("database locked", func(t *testing.T) {
		res := &smtptest.FaultResult{Suite: "storage", Case: "database locked by another process (BEGIN IMMEDIATE held 1 s, then 8 s)",
			Expected: "a write waits up to the 5 s busy timeout: succeeds when the lock goes within it, else a clear error and nothing half-done; integrity_check ok"}
		smtptest.Report(t, res)
		dir := filepath.Join(t.TempDir(), "province")
		mustRun(t, "", "init", "--sample", dir)
		dbPath := filepath.Join(dir, "phieu.db")
		db := sqlite.NewDB(dbPath)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		err := sqlite.NewCampaignService(db).SetCampaignState(context.Background(), "PAR2025", store.CampaignActive)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}

		holder := holdWriteLock(t, dbPath, time.Second)
		start := time.Now()
		mustRunAt(t, dir, during, "campaign", "pause", "PAR2025")
		waited := time.Since(start)
		holder.Wait()
		if waited < 500*time.Millisecond {
			t.Errorf("the pause did not wait for the lock: %v", waited)
		}

		holdWriteLock(t, dbPath, 8*time.Second)
		start = time.Now()
		code, _, errs := runAt(t, dir, during, "campaign", "resume", "PAR2025")
		failedAfter := time.Since(start)
		if code != exitFailure || !strings.Contains(errs, "locked") || !strings.Contains(errs, "another process holds the database's write lock") {
			t.Errorf("resume under a held lock: exit %d: %s", code, errs)
		}
		if out := mustRunAt(t, dir, during, "campaign", "list"); !strings.Contains(out, "paused") {
			t.Errorf("the failed resume changed the campaign:\n%s", out)
		}
		// The other process finishes (or dies): the write goes through.
		deadline := time.Now().Add(15 * time.Second)
		for {
			if code, _, _ := runAt(t, dir, during, "campaign", "resume", "PAR2025"); code == exitOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("resume never succeeded after the lock was released")
			}
		}
		check := integrityCheck(t, dbPath)
		res.Observed = fmt.Sprintf("1 s lock: the pause waited %.1f s and succeeded; 8 s lock: the resume failed after %.1f s with %q; the campaign unchanged; resumed once the lock went; integrity_check %s",
			waited.Seconds(), failedAfter.Seconds(), firstLine(errs), check)
	})

	t.Run("disk full", func(t *testing.T) {
		res := &smtptest.FaultResult{Suite: "storage", Case: "disk full during a send (4 MB tmpfs filled up)", Items: 120,
			Expected: "the send stops with a clear error; nothing recorded half-way; after space is freed every member is invited, duplicates at most one per connection; integrity_check ok"}
		smtptest.Report(t, res)
		if os.Geteuid() != 0 {
			t.Skip("mounting a size-limited tmpfs needs root; no failing-writer stand-in: SQLite writes through its own VFS, which the store gives no way to replace")
		}
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v: %s): the disk-full case needs one", err, strings.TrimSpace(string(out)))
		}
		t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
		dir := filepath.Join(mnt, "province")
		mustRun(t, "", "init", "--sample", dir)
		srv := smtptest.Start(t, smtptest.Options{DSN: true})
		pointAt(t, dir, srv)
		// The disk fills up in the middle of the send, while the server
		// takes the 30th message.
		filler := filepath.Join(mnt, "filler")
		srv.SetScript(func(s smtptest.Step) smtptest.Reply {
			if s.Stage == smtptest.StageData && s.N == 30 {
				fillDisk(t, filler)
			}
			return smtptest.Reply{}
		})

		code, out, errs := runAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0", "--progress=false")
		if code == exitOK {
			t.Errorf("send on a full disk succeeded:\n%s", out)
		}
		if !strings.Contains(errs, "full") && !strings.Contains(errs, "no space left") {
			t.Errorf("the error does not say the disk is full: %s", errs)
		}
		sentFull := len(srv.Received())
		srv.SetScript(nil)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0", "--progress=false")

		db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		members, err := sqlite.NewCampaignService(db).FindMembers(context.Background(), "PAR2025", "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range srv.Received() {
			got[m.To[0]]++
		}
		dups, lost := 0, 0
		for _, n := range got {
			dups += n - 1
		}
		invited := 0
		for _, m := range members {
			if m.Status == store.StatusInvited {
				invited++
			}
		}
		lost = len(members) - len(got)
		if lost != 0 || invited != len(members) {
			t.Errorf("%d members not invited, %d of %d marked invited", lost, invited, len(members))
		}
		if dups > 2 {
			t.Errorf("%d duplicates with 2 connections", dups)
		}
		check := integrityCheck(t, filepath.Join(dir, "phieu.db"))
		res.Observed = fmt.Sprintf("on the full disk: exit %d, %d messages out, %q; space freed: %d of %d invited, %d lost, %d duplicates; integrity_check %s",
			code, sentFull, firstLine(errs), len(got), len(members), lost, dups, check)
		res.Lost, res.Duplicates = lost, dups
	})

	t.Run("corrupted config", func(t *testing.T) {
		res := &smtptest.FaultResult{Suite: "storage", Case: "corrupted config (the file cut short inside a quoted value; a port that is not a number)",
			Expected: "a clear error naming file:line:col; nothing opened or changed; integrity_check ok"}
		smtptest.Report(t, res)
		dir := filepath.Join(t.TempDir(), "province")
		mustRun(t, "", "init", "--sample", dir)
		config := filepath.Join(dir, "phieu.yaml")
		data, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		var observed []string
		for _, tc := range []struct {
			name, edit, want string
		}{
			// A write cut short: the parser names where it gave up.
			{"cut", string(data[:strings.Index(string(data), "  tls: none")+len("  tls: \"no")]), `phieu\.yaml:\d+:\d+: `},
			{"port", strings.Replace(string(data), "  port: 2525", "  port: hai nghìn", 1),
				fmt.Sprintf(`phieu\.yaml:%d:\d+: `, lineOf(string(data), "  port: 2525"))},
		} {
			if err := os.WriteFile(config, []byte(tc.edit), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runAt(t, dir, during, "send", "--campaign", "PAR2025", "--wait", "0")
			if code == exitOK || !regexp.MustCompile(tc.want).MatchString(errs) {
				t.Errorf("%s: exit %d, error %q does not name the place (%s)", tc.name, code, errs, tc.want)
			}
			observed = append(observed, fmt.Sprintf("%s: exit %d, %q", tc.name, code, firstLine(errs)))
		}
		check := integrityCheck(t, filepath.Join(dir, "phieu.db"))
		res.Observed = strings.Join(observed, "; ") + "; integrity_check " + check
	})
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// lineOf is the 1-based line of text where sub starts.
func lineOf(text, sub string) int {
	return strings.Count(text[:strings.Index(text, sub)], "\n") + 1
}
