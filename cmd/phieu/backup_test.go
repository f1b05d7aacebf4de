package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupAndRestore backs up the sample store, refuses to overwrite,
// names the copy inside a directory, and restores: the copy, put in place
// of phieu.db, is the same campaign.
func TestBackupAndRestore(t *testing.T) {
	t.Setenv("PHIEU_CONFIG", "")
	dir := t.TempDir()
	mustRun(t, "", "init", "--sample", dir)
	before := mustRun(t, dir, "campaign", "show", "PAR2025")

	out := mustRun(t, dir, "backup", "backups/first.db")
	if !strings.Contains(out, "integrity ok") {
		t.Errorf("backup: %s", out)
	}
	if code, _, errs := run(t, dir, "backup", "backups/first.db"); code != exitFailure || !strings.Contains(errs, "exists") {
		t.Errorf("a backup over an existing file: exit %d: %s", code, errs)
	}
	mustRun(t, dir, "backup", "backups")
	names, _ := filepath.Glob(filepath.Join(dir, "backups", "phieu-*.db"))
	if len(names) != 1 {
		t.Errorf("backup into a directory made %v", names)
	}
	mustRun(t, dir, "backup", "daily"+string(os.PathSeparator)) // a new directory
	if names, _ := filepath.Glob(filepath.Join(dir, "daily", "phieu-*.db")); len(names) != 1 {
		t.Errorf("backup into a new directory made %v", names)
	}

	// Restore: the daemon stopped, the database and its WAL moved aside.
	for _, f := range []string{"phieu.db", "phieu.db-wal", "phieu.db-shm"} {
		os.Rename(filepath.Join(dir, f), filepath.Join(dir, f+".old"))
	}
	data, err := os.ReadFile(filepath.Join(dir, "backups", "first.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "phieu.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if after := mustRun(t, dir, "campaign", "show", "PAR2025"); after != before {
		t.Errorf("restored campaign differs:\n%s\nwant:\n%s", after, before)
	}
}
