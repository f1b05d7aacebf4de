package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
)

// t0 is the clock tests start at: 08:02 on 01/07/2025 in Vietnam.
var t0 = time.Date(2025, 7, 1, 1, 2, 3, 456789123, time.UTC)

// Clock is the tests' injectable clock.
type Clock = storetest.Clock

// MustOpenDB opens a new database file in a temporary directory with its
// clock at t0, and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*sqlite.DB, *Clock) {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "phieu.db"))
}

// testLinkKey ties responses to members in tests; a real one is derived
// from the installation secret.
var testLinkKey = []byte("test link key, never a real one!")

// MustOpenDBAt opens the database file at path with testLinkKey.
func MustOpenDBAt(tb testing.TB, path string) (*sqlite.DB, *Clock) {
	tb.Helper()
	clock := storetest.NewClock(t0)
	db := sqlite.NewDB(path)
	db.Now = clock.Now
	db.LinkKey = testLinkKey
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db, clock
}

// queryStrings runs a query in a read transaction and returns every row
// with its columns joined by "|".
func queryStrings(tb testing.TB, db *sqlite.DB, query string, args ...any) []string {
	tb.Helper()
	tx, err := db.BeginTx(context.Background(), false)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = fmt.Sprintf("%x", b)
			}
			cells[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(cells, "|"))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// dump returns the content of every table, for comparing a store before and
// after an operation that must change nothing.
func dump(tb testing.TB, db *sqlite.DB) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, table := range queryStrings(tb, db, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`) {
		out[table] = queryStrings(tb, db, `SELECT * FROM `+table+` ORDER BY 1, 2`)
	}
	return out
}

func mustEqualDump(tb testing.TB, got, want map[string][]string) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		for table := range want {
			if !reflect.DeepEqual(got[table], want[table]) {
				tb.Errorf("table %s changed:\n got %q\nwant %q", table, got[table], want[table])
			}
		}
		tb.Fatal("store changed")
	}
}

func TestDB_Open(t *testing.T) {
	ctx := context.Background()

	t.Run("MigrationsRecorded", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		got := queryStrings(t, db, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if len(got) == 0 || got[0] != "1|0001_initial.sql|2025-07-01T01:02:03.456789000Z" {
			t.Fatalf("schema_migrations = %q", got)
		}
	})

	t.Run("ReopenIsNoOp", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "dir", "phieu.db")
		db, _ := MustOpenDBAt(t, path)
		want := queryStrings(t, db, `SELECT * FROM schema_migrations ORDER BY version`)
		if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{{Code: "A", Name: "A"}}, store.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			db2, clock := MustOpenDBAt(t, path)
			clock.Set(t0.Add(time.Hour))
			if got := queryStrings(t, db2, `SELECT * FROM schema_migrations ORDER BY version`); !reflect.DeepEqual(got, want) {
				t.Fatalf("after reopen: %q, want %q", got, want)
			}
			if _, err := sqlite.NewUnitService(db2).FindUnitByCode(ctx, "A"); err != nil {
				t.Fatal(err)
			}
			if err := db2.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := db.Path(), path; got != want {
			t.Fatalf("Path() = %q, want %q", got, want)
		}
	})

	t.Run("RefuseNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "phieu.db")
		db, _ := MustOpenDBAt(t, path)
		tx, err := db.BeginTx(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '')`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db2 := sqlite.NewDB(path)
		err = db2.Open()
		if err == nil {
			db2.Close()
			t.Fatal("opened a database with a newer schema")
		}
		if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer phieu") {
			t.Fatalf("error %q does not explain the version", err)
		}
		if err := db2.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Pragmas", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		for _, writable := range []bool{false, true} {
			tx, err := db.BeginTx(ctx, writable)
			if err != nil {
				t.Fatal(err)
			}
			for pragma, want := range map[string]string{
				"journal_mode": "wal",
				"foreign_keys": "1",
				"busy_timeout": "5000",
				"synchronous":  "1", // NORMAL
			} {
				var got string
				if err := tx.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("writable=%v: PRAGMA %s = %q, want %q", writable, pragma, got, want)
				}
			}
			tx.Rollback()
		}
	})

	t.Run("ReadTxCannotWrite", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		tx, err := db.BeginTx(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`INSERT INTO units (code, name, created_at, updated_at) VALUES ('A', 'A', '', '')`); err == nil {
			t.Fatal("a read transaction wrote")
		}
	})

	t.Run("TxNow", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		clock.Set(time.Date(2025, 7, 1, 8, 0, 0, 123456789, time.FixedZone("ICT", 7*3600)))
		tx, err := db.BeginTx(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if got, want := tx.Now(), time.Date(2025, 7, 1, 1, 0, 0, 123456000, time.UTC); got != want {
			t.Fatalf("Now() = %v, want %v (UTC, microseconds)", got, want)
		}
	})

	t.Run("ErrOpenTwice", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		if err := db.Open(); err == nil {
			t.Fatal("second Open succeeded")
		}
		if _, err := sqlite.NewUnitService(db).FindUnits(ctx, store.UnitFilter{}); err != nil {
			t.Fatalf("the failed second Open closed the database: %v", err)
		}
	})

	t.Run("NoPath", func(t *testing.T) {
		for _, dsn := range []string{"", ":memory:"} {
			if err := sqlite.NewDB(dsn).Open(); err == nil {
				t.Errorf("Open(%q) succeeded", dsn)
			}
		}
	})

	t.Run("PathWithURISyntax", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a?b#c%d.db")
		db, _ := MustOpenDBAt(t, path)
		if got := queryStrings(t, db, `SELECT file FROM pragma_database_list WHERE name = 'main'`); len(got) != 1 || got[0] != path {
			t.Fatalf("database file = %q, want %q", got, path)
		}
	})
}

// TestDB_OneWriter runs write transactions from two handles on one file (two
// processes, in effect) and many goroutines at once: none may fail with
// "database is locked".
func TestDB_OneWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "phieu.db")
	db1, _ := MustOpenDBAt(t, path)
	db2, _ := MustOpenDBAt(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		db := db1
		if i%2 == 1 {
			db = db2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			us := sqlite.NewUnitService(db)
			// Each import reads the tree, then writes: with deferred
			// transactions two of these would deadlock on the upgrade.
			_, err := us.ImportUnits(ctx, []*store.Unit{{Code: fmt.Sprintf("U%02d", i), Name: "Đơn vị"}}, store.ImportOptions{})
			if err == nil {
				_, err = us.FindUnits(ctx, store.UnitFilter{})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	units, err := sqlite.NewUnitService(db1).FindUnits(ctx, store.UnitFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(units), 40; got != want {
		t.Fatalf("%d units, want %d", got, want)
	}
}

// mustCode fails unless err has the code.
func mustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := store.ErrorCode(err); got != code {
		tb.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

// mustImportError returns the import error's issues.
func mustImportError(tb testing.TB, err error) []store.ImportIssue {
	tb.Helper()
	var ie *store.ImportError
	if !errors.As(err, &ie) {
		tb.Fatalf("error %v is not an *ImportError", err)
	}
	return ie.Issues
}

// hasIssue reports whether an issue at index on field contains text.
func hasIssue(issues []store.ImportIssue, index int, field, text string, other int) bool {
	for _, is := range issues {
		if is.Index == index && is.Field == field && strings.Contains(is.Message, text) && is.Other == other {
			return true
		}
	}
	return false
}

func mustHaveIssue(tb testing.TB, issues []store.ImportIssue, index int, field, text string, other int) {
	tb.Helper()
	if !hasIssue(issues, index, field, text, other) {
		tb.Fatalf("no issue at row %d on %s containing %q (other %d) among %+v", index, field, text, other, issues)
	}
}

// A backup taken while a writer keeps importing is a consistent snapshot
// that opens as a phieu database; it never overwrites a file.
func TestDB_BackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, _ := MustOpenDBAt(t, filepath.Join(dir, "phieu.db"))
	us := sqlite.NewUnitService(db)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := us.ImportUnits(ctx, []*store.Unit{{Code: fmt.Sprintf("W%05d", i), Name: "Đơn vị ghi"}}, store.ImportOptions{}); err != nil {
				done <- err
				return
			}
		}
	}()
	backup := filepath.Join(dir, "backups", "phieu-1.db")
	err := db.Backup(ctx, backup)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("the writer failed during the backup: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup to the same file: %v", err)
	}
	// Restored: the copy opens (migrations current) and holds whole rows.
	restored, _ := MustOpenDBAt(t, backup)
	units, err := sqlite.NewUnitService(restored).FindUnits(ctx, store.UnitFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if u.Name != "Đơn vị ghi" {
			t.Fatalf("unit %s in the backup: %+v", u.Code, u)
		}
	}
	t.Logf("%d units in the backup taken while writing", len(units))
}
