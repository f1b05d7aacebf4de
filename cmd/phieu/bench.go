package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/roster"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"

	_ "github.com/mattn/go-sqlite3" // the baseline loader talks to SQLite directly
)

const benchImportHelp = `
Generates a fictional province (--units units, --respondents respondents,
Vietnamese names, .test mailboxes) as CSV files, then measures in one run:

  baseline: encoding/csv reading the respondents file and inserting every
            row as plain text into one SQLite table (same pragmas, one
            transaction, one prepared statement) — what a bare loader does;
  phieu:    phieu import respondents of the same file into a fresh store
            (header recognition, validation of every row, unit resolution,
            duplicate checks, matching, collation keys, aliases).

The last line is: import: phieu X rows/s, baseline Y rows/s, ratio R, peak RSS M MB
(peak resident memory of the phieu import, from /proc/self/status).`

// BenchImportCommand measures roster import.
type BenchImportCommand struct {
	noArgs
	m           *Main
	respondents int
	units       int
	seed        uint64
	dir         string
}

func (c *BenchImportCommand) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.respondents, "respondents", 100000, "respondents to generate")
	fs.IntVar(&c.units, "units", 2000, "units to generate")
	fs.Uint64Var(&c.seed, "seed", 1, "generator seed")
	fs.StringVar(&c.dir, "dir", "", "work directory (default: a temporary one, removed after)")
}

// Run generates, measures and prints.
func (c *BenchImportCommand) Run(ctx context.Context) error {
	if c.respondents < 1 || c.units < 3 {
		return usageErrorf("need --respondents ≥ 1 and --units ≥ 3")
	}
	dir, cleanup, err := workDir(c.dir, "phieu-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	unitsCSV, respCSV := filepath.Join(dir, "units.csv"), filepath.Join(dir, "respondents.csv")
	if err := c.generate(unitsCSV, respCSV); err != nil {
		return err
	}
	out := c.m.Stdout
	fmt.Fprintf(out, "generated %d units, %d respondents in %s\n", c.units, c.respondents, dir)

	// phieu first, from a clean memory high-water mark.
	debug.FreeOSMemory()
	resetPeakRSS()
	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	if _, err := roster.ImportUnits(ctx, sqlite.NewUnitService(db), unitsCSV, roster.Options{}, store.ImportOptions{}); err != nil {
		return fmt.Errorf("bench: import units: %w", err)
	}
	start := time.Now()
	sum, err := roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), respCSV, roster.Options{}, store.ImportOptions{})
	if err != nil {
		return fmt.Errorf("bench: import respondents: %w", err)
	}
	phieuTime := time.Since(start)
	peak := peakRSS()
	if sum.Added != c.respondents {
		return fmt.Errorf("bench: phieu added %d of %d respondents", sum.Added, c.respondents)
	}
	start = time.Now()
	again, err := roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), respCSV, roster.Options{}, store.ImportOptions{})
	if err != nil {
		return fmt.Errorf("bench: re-import: %w", err)
	}
	reimportTime := time.Since(start)
	if again.Unchanged != c.respondents {
		return fmt.Errorf("bench: re-import left %d of %d unchanged", again.Unchanged, c.respondents)
	}

	start = time.Now()
	n, err := bareLoad(ctx, filepath.Join(dir, "baseline.db"), respCSV)
	if err != nil {
		return fmt.Errorf("bench: baseline: %w", err)
	}
	baseTime := time.Since(start)

	phieuRate := float64(c.respondents) / phieuTime.Seconds()
	baseRate := float64(n) / baseTime.Seconds()
	fmt.Fprintf(out, "phieu import:    %d rows in %s\n", c.respondents, phieuTime.Round(time.Millisecond))
	fmt.Fprintf(out, "phieu re-import: %d rows unchanged in %s (%.0f rows/s)\n", again.Unchanged, reimportTime.Round(time.Millisecond), float64(c.respondents)/reimportTime.Seconds())
	fmt.Fprintf(out, "baseline load:   %d rows in %s\n", n, baseTime.Round(time.Millisecond))
	peakText := "unknown"
	if peak > 0 {
		peakText = fmt.Sprintf("%.0f MB", float64(peak)/(1<<20))
	}
	fmt.Fprintf(out, "import: phieu %.0f rows/s, baseline %.0f rows/s, ratio %.2f, peak RSS %s\n", phieuRate, baseRate, phieuRate/baseRate, peakText)
	return nil
}

func (c *BenchImportCommand) generate(unitsPath, respPath string) error {
	p := synth.Generate(c.seed, c.units, c.respondents)
	for path, write := range map[string]func(io.Writer) error{unitsPath: p.WriteUnitsCSV, respPath: p.WriteRespondentsCSV} {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		if err := write(w); err != nil {
			f.Close()
			return err
		}
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			return err
		}
	}
	return nil
}

// bareLoad is the baseline: read the CSV and insert its cells as they are.
func bareLoad(ctx context.Context, dbPath, csvPath string) (int, error) {
	db, err := sql.Open("sqlite3", dbPath+"?_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (stt TEXT, code TEXT, name TEXT, gender TEXT, title TEXT, unit TEXT, grp TEXT, mailbox TEXT)`); err != nil {
		return 0, err
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil { // header
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		args := make([]any, len(rec))
		for i, v := range rec {
			args[i] = v
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, tx.Commit()
}

// resetPeakRSS resets the kernel's high-water mark of resident memory so the
// next reading covers only what follows (Linux ≥ 4.0; ignored elsewhere).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes, or 0 if unknown.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
