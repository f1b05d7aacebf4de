package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const backupHelp = `
Writes a consistent copy of the database to FILE while the daemon keeps
running (SQLite's VACUUM INTO reads one snapshot and never blocks the
daemon's writes), checks the copy's integrity and prints its size. FILE
must not exist; with a directory, the copy is named phieu-YYYYMMDD-HHMMSS.db
inside it. The copy holds answers: keep it as safe as the database.

To restore: stop the daemon, move phieu.db and any phieu.db-wal and
phieu.db-shm aside, copy the backup to phieu.db, start the daemon. Keep the
secret_file with it: message references are checked against it.`

// BackupCommand is "phieu backup FILE".
type BackupCommand struct {
	m      *Main
	config configFlag
	target string
}

func (c *BackupCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

func (c *BackupCommand) args(rest []string) error {
	return oneArg(rest, "backup file or directory", &c.target)
}

// Run backs up.
func (c *BackupCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	target := c.target
	if strings.HasSuffix(target, string(os.PathSeparator)) {
		if err := os.MkdirAll(target, 0o750); err != nil {
			return err
		}
	}
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		target = filepath.Join(target, "phieu-"+c.m.Now().Format("20060102-150405")+".db")
	}
	start := time.Now()
	if err := db.Backup(ctx, target); err != nil {
		return err
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "backup: %s (%.1f MB, integrity ok) in %s\n", target, float64(st.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
	return nil
}
