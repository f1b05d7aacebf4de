package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

var (
	benchFamily = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"}
	benchMiddle = []string{"Văn", "Thị", "Hữu", "Đức", "Minh", "Thị Thu", "Ngọc", "Quốc", "Thanh", "Xuân"}
	benchGiven  = []string{"An", "Anh", "Ánh", "Bảo", "Bích", "Cường", "Dũng", "Đức", "Giang", "Hà", "Hải", "Hằng", "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Việt", "Yến"}
)

// benchProvince generates units units in a three-level tree (a root, 40
// departments, divisions below them) and respondents respondents spread over
// them, with a tenth having an alias. Import normalizes in place, so each
// call returns fresh values.
func benchProvince(seed uint64, units, respondents int) ([]*store.Unit, []*store.Respondent) {
	rnd := rand.New(rand.NewPCG(seed, seed))
	us := []*store.Unit{{Code: "UBND", Name: "UBND tỉnh"}}
	for i := 1; i < units; i++ {
		parent := "UBND"
		if i > 40 {
			parent = fmt.Sprintf("U%04d", 1+rnd.IntN(40))
		}
		us = append(us, &store.Unit{Code: fmt.Sprintf("U%04d", i), ParentCode: parent, Name: fmt.Sprintf("Đơn vị số %d", i), Kind: "phòng",
			Head: store.Head{Name: "Nguyễn Văn Thủ", Title: "Trưởng phòng", Mailbox: fmt.Sprintf("tt%d@tinh.gov.test", i)}})
	}
	rs := make([]*store.Respondent, respondents)
	for i := range rs {
		name := benchFamily[rnd.IntN(len(benchFamily))] + " " + benchMiddle[rnd.IntN(len(benchMiddle))] + " " + benchGiven[rnd.IntN(len(benchGiven))]
		r := &store.Respondent{
			ExternalID: fmt.Sprintf("CB%06d", i+1),
			FullName:   name,
			Salutation: store.SalutationBa,
			Title:      "Chuyên viên",
			UnitCode:   us[rnd.IntN(len(us))].Code,
			Group:      []string{"CV", "LDS", "HDND"}[rnd.IntN(3)],
			Mailbox:    fmt.Sprintf("cb%06d@tinh.gov.test", i+1),
		}
		if i%10 == 0 {
			r.Aliases = []string{fmt.Sprintf("cb%06d@gmail.test", i+1)}
		}
		rs[i] = r
	}
	return us, rs
}

// BenchmarkImportRespondents imports 100,000 respondents over 2,000 units
// into a fresh file, then imports them again (all unchanged). As a baseline,
// the same run inserts the same rows as bare text into a table with no
// index, through the same driver, in one transaction.
func BenchmarkImportRespondents(b *testing.B) {
	const nUnits, nRespondents = 2000, 100_000
	ctx := context.Background()
	var importSecs, reimportSecs, baseSecs float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
		if err := db.Open(); err != nil {
			b.Fatal(err)
		}
		units, rs := benchProvince(uint64(i), nUnits, nRespondents)
		if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, units, store.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		svc := sqlite.NewRespondentService(db)

		b.StartTimer()
		start := time.Now()
		sum, err := svc.ImportRespondents(ctx, rs, store.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		importSecs += time.Since(start).Seconds()
		b.StopTimer()
		if sum.Added != nRespondents {
			b.Fatalf("added %d", sum.Added)
		}

		_, rs = benchProvince(uint64(i), nUnits, nRespondents)
		b.StartTimer()
		start = time.Now()
		sum, err = svc.ImportRespondents(ctx, rs, store.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		reimportSecs += time.Since(start).Seconds()
		b.StopTimer()
		if sum.Unchanged != nRespondents {
			b.Fatalf("unchanged %d", sum.Unchanged)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}

		_, rs = benchProvince(uint64(i), nUnits, nRespondents)
		secs, err := bareInsert(ctx, filepath.Join(dir, "baseline.db"), rs)
		if err != nil {
			b.Fatal(err)
		}
		baseSecs += secs
	}
	n := float64(nRespondents * b.N)
	b.ReportMetric(n/importSecs, "rows/s")
	b.ReportMetric(n/reimportSecs, "reimport-rows/s")
	b.ReportMetric(n/baseSecs, "baseline-rows/s")
	b.ReportMetric(baseSecs/importSecs, "x-baseline")
}

// bareInsert is the baseline: the rows' text inserted as is.
func bareInsert(ctx context.Context, path string, rs []*store.Respondent) (float64, error) {
	db, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (ext TEXT, name TEXT, salutation TEXT, title TEXT, unit TEXT, grp TEXT, mailbox TEXT)`); err != nil {
		return 0, err
	}
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		if _, err := stmt.ExecContext(ctx, r.ExternalID, r.FullName, string(r.Salutation), r.Title, r.UnitCode, r.Group, r.Mailbox); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Now().Sub(start).Seconds(), nil
}
