package roster_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/roster"
	"github.com/phieu/phieu/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files and generated fixtures")

const dir = "../../testdata/import"

// openSeeded opens a fresh store holding the seed units and respondents.
func openSeeded(t testing.TB) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "phieu.db"))
	db.Now = func() time.Time { return time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) }
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := roster.ImportUnits(ctx, sqlite.NewUnitService(db), filepath.Join(dir, "seed-units.csv"), roster.Options{}, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), filepath.Join(dir, "seed-respondents.csv"), roster.Options{}, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// snapshot lists every unit and respondent, to prove a refused import
// changed nothing.
func snapshot(t testing.TB, db *sqlite.DB) string {
	t.Helper()
	ctx := context.Background()
	units, err := sqlite.NewUnitService(db).FindUnits(ctx, store.UnitFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{IncludeInactive: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range units {
		b.WriteString(u.Code + "|" + u.Name + "|" + u.ParentCode + "|" + u.Head.Mailbox + "\n")
	}
	for _, r := range rs {
		b.WriteString(r.FullName + "|" + r.Mailbox + "|" + r.UnitCode + "|" + r.Group + "\n")
	}
	return b.String()
}

func importFile(ctx context.Context, db *sqlite.DB, path string, opts roster.Options, iopts store.ImportOptions) (*store.ImportSummary, error) {
	if strings.HasPrefix(filepath.Base(path), "units") {
		return roster.ImportUnits(ctx, sqlite.NewUnitService(db), path, opts, iopts)
	}
	return roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), path, opts, iopts)
}

// badOptions are the read options some bad inputs are imported with.
var badOptions = map[string]roster.Options{
	"respondents-forced-utf8.csv": {Encoding: "utf-8"},
	"respondents-bad-map.csv":     {Map: map[string]string{"Hộp thư": "hop_thu"}},
	"respondents-bad-sheet.xlsx":  {Sheet: "Danh sách"},
}

// TestBadInputs imports every file in testdata/import/bad and compares the
// problems reported with the file's .golden. Nothing may be written.
func TestBadInputs(t *testing.T) {
	if *update {
		writeFixtures(t)
	}
	files, err := filepath.Glob(filepath.Join(dir, "bad", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".golden") {
			continue
		}
		n++
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			db := openSeeded(t)
			before := snapshot(t, db)
			_, err := importFile(context.Background(), db, path, badOptions[name], store.ImportOptions{})
			var errs *roster.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("import = %v, want *roster.Errors", err)
			}
			got := strings.ReplaceAll(err.Error(), filepath.Join(dir, "bad")+string(filepath.Separator), "") + "\n"
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./store/roster -update)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			if after := snapshot(t, db); after != before {
				t.Errorf("a refused import changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if n < 18 {
		t.Errorf("only %d bad inputs in %s/bad", n, dir)
	}
}

func TestGoodInputs(t *testing.T) {
	for _, tc := range []struct {
		file  string
		opts  roster.Options
		added int
		check func(t *testing.T, db *sqlite.DB)
	}{
		{file: "units-title-lines.csv", added: 2, check: func(t *testing.T, db *sqlite.DB) {
			u, err := sqlite.NewUnitService(db).FindUnitByCode(context.Background(), "SKHCN-VP")
			if err != nil || u.ParentCode != "SKHCN" {
				t.Errorf("SKHCN-VP = %+v, %v", u, err)
			}
		}},
		{file: "respondents-semicolon.csv", added: 2, check: func(t *testing.T, db *sqlite.DB) {
			r := findByMailbox(t, db, "binhtt@binhson.gov.test")
			if r.Title != "Phó Giám đốc, phụ trách" {
				t.Errorf("title = %q", r.Title)
			}
		}},
		{file: "respondents-split-name.csv", added: 2, check: func(t *testing.T, db *sqlite.DB) {
			r := findByMailbox(t, db, "tamlv@binhson.gov.test")
			if r.FullName != "Lê Văn Tám" || r.Salutation != store.SalutationDongChi || r.UnitCode != "X01" || len(r.Aliases) != 2 {
				t.Errorf("respondent = %+v", r)
			}
			if r := findByMailbox(t, db, "anhnt@binhson.gov.test"); r.UnitCode != "STP-TH" || r.GivenName != "Ánh" {
				t.Errorf("respondent = %+v", r)
			}
		}},
		{file: "respondents-trailing-blank-rows.csv", added: 1},
		{file: "respondents-windows1258.csv", added: 2, check: func(t *testing.T, db *sqlite.DB) {
			r := findByMailbox(t, db, "yenntt@binhson.gov.test")
			if r.FullName != "Nguyễn Thị Thu Yến" || !norm.NFC.IsNormalString(r.FullName) {
				t.Errorf("name = %q (%+q)", r.FullName, r.FullName)
			}
			if r.Title != "Phó Trưởng phòng Quản lý đô thị" {
				t.Errorf("title = %q", r.Title)
			}
		}},
		{file: "respondents.xlsx", added: 3, check: func(t *testing.T, db *sqlite.DB) {
			r := findByMailbox(t, db, "ducdm@binhson.gov.test")
			if r.ExternalID != "20231234" || r.FullName != "Đỗ Minh Đức" || r.UnitCode != "SYT" {
				t.Errorf("respondent = %+v", r)
			}
		}},
		{file: "units.xlsx", added: 1, check: func(t *testing.T, db *sqlite.DB) {
			u, err := sqlite.NewUnitService(db).FindUnitByCode(context.Background(), "SNN")
			if err != nil || u.ValidFrom.String() != "01/07/2025" {
				t.Errorf("SNN = %+v, %v", u, err)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			db := openSeeded(t)
			path := filepath.Join(dir, "good", tc.file)
			sum, err := importFile(context.Background(), db, path, tc.opts, store.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Added != tc.added {
				t.Errorf("added %d, want %d (%s)", sum.Added, tc.added, sum)
			}
			if tc.check != nil {
				tc.check(t, db)
			}
			again, err := importFile(context.Background(), db, path, tc.opts, store.ImportOptions{})
			if err != nil || again.Added != 0 || again.Updated != 0 || again.Unchanged != tc.added {
				t.Errorf("re-import: %v, %v", again, err)
			}
		})
	}
}

func findByMailbox(t *testing.T, db *sqlite.DB, mailbox string) *store.Respondent {
	t.Helper()
	rs, err := sqlite.NewRespondentService(db).FindRespondents(context.Background(), store.RespondentFilter{Mailbox: mailbox})
	if err != nil || len(rs) != 1 {
		t.Fatalf("find %s: %v, %d found", mailbox, err, len(rs))
	}
	return rs[0]
}

func TestSamplesImport(t *testing.T) {
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	sum, err := roster.ImportUnits(ctx, sqlite.NewUnitService(db), "../../cmd/phieu/samples/units.csv", roster.Options{}, store.ImportOptions{})
	if err != nil || sum.Added < 20 {
		t.Fatalf("units: %v, %v", sum, err)
	}
	sum, err = roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), "../../cmd/phieu/samples/respondents.csv", roster.Options{}, store.ImportOptions{})
	if err != nil || sum.Added < 100 {
		t.Fatalf("respondents: %v, %v", sum, err)
	}
}

func TestHeaderRecognition(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   []string // fields of the recognized columns, in order
	}{
		{"Họ và tên,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email", []string{"full_name", "title", "unit", "group", "mailbox"}},
		{"HỌ TÊN,CHỨC DANH,ĐƠN VỊ,NHÓM,THƯ ĐIỆN TỬ", []string{"full_name", "title", "unit_name_ref", "group", "mailbox"}},
		{"Ho ten,Chuc vu,Ma don vi,Doi tuong,E-mail", []string{"full_name", "title", "unit", "group", "mailbox"}},
		{"Full name,Position,Unit code,Group,Mailbox,Staff ID", []string{"full_name", "title", "unit", "group", "mailbox", "external_id"}},
		{"Họ và tên (*),Email (bắt buộc),Mã đơn vị:,Nhóm đối tượng,Mã CBCC,Ghi chú", []string{"full_name", "mailbox", "unit", "group", "external_id"}},
	} {
		t.Run(tc.header, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.csv")
			if err := os.WriteFile(path, []byte(tc.header+"\nx,x,x,x,x,x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tbl, err := roster.ReadTable(path, roster.Respondents, roster.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tbl.Columns {
				got = append(got, c.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("fields = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMapOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.csv")
	body := "Họ và tên,Chức vụ,Mã đơn vị,Nhóm đối tượng,Hộp thư cá nhân\nNguyễn Văn An,Phó Giám đốc,STP,LDS,annv@binhson.gov.test\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openSeeded(t)
	ctx := context.Background()
	if _, err := roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), path, roster.Options{}, store.ImportOptions{}); err == nil || !strings.Contains(err.Error(), "missing column(s): Email") {
		t.Fatalf("without --map: %v", err)
	}
	sum, err := roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), path, roster.Options{Map: map[string]string{"hop thu ca nhan": "mailbox"}}, store.ImportOptions{})
	if err != nil || sum.Added != 1 {
		t.Fatalf("with --map: %v, %v", sum, err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	db := openSeeded(t)
	before := snapshot(t, db)
	sum, err := importFile(context.Background(), db, filepath.Join(dir, "good", "respondents-semicolon.csv"), roster.Options{}, store.ImportOptions{DryRun: true})
	if err != nil || sum.Added != 2 {
		t.Fatalf("dry run: %v, %v", sum, err)
	}
	if snapshot(t, db) != before {
		t.Error("dry run wrote")
	}
}

// writeFixtures (re)generates the binary fixtures: spreadsheets and the
// windows-1258 file, which an editor would silently re-encode.
func writeFixtures(t *testing.T) {
	t.Helper()
	xlsx := func(path string, rows [][]any, edit func(f *excelize.File)) {
		f := excelize.NewFile()
		defer f.Close()
		for i, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow("Sheet1", cell, &row); err != nil {
				t.Fatal(err)
			}
		}
		if edit != nil {
			edit(f)
		}
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
	}
	header := []any{"STT", "Mã cán bộ", "Họ và tên", "Giới tính", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"}
	xlsx(filepath.Join(dir, "good", "respondents.xlsx"), [][]any{
		{"SỞ NỘI VỤ TỈNH BÌNH SƠN"}, {"DANH SÁCH CÁN BỘ ĐƯỢC KHẢO SÁT"}, {},
		header,
		{1, 20231234, "Đỗ Minh Đức", "Nam", "Phó Giám đốc", "SYT", "LDS", "ducdm@binhson.gov.test"},
		{2, 20231235, "Huỳnh Thị Ngọc Hà", "Nữ", "Trưởng phòng", "SYT-TH", "LDP", "hahtn@binhson.gov.test"},
		{3, 20231236, "Ngô Quang Vĩnh", "Nam", "Chủ tịch UBND xã", "X01", "LDX", "vinhnq@binhson.gov.test"},
		{}, {},
	}, func(f *excelize.File) { _ = f.MergeCell("Sheet1", "A1", "H1") }) // a merged title above the header is fine
	xlsx(filepath.Join(dir, "good", "units.xlsx"), [][]any{
		{"Mã đơn vị", "Tên đơn vị", "Đơn vị cấp trên", "Hiệu lực từ"},
		{"SNN", "Sở Nông nghiệp và Môi trường", "UBND", time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)},
	}, nil)
	xlsx(filepath.Join(dir, "bad", "respondents-merged-header.xlsx"), [][]any{
		{"Họ và tên", "", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"},
		{"Nguyễn Văn", "An", "Phó Giám đốc", "STP", "LDS", "annv@binhson.gov.test"},
	}, func(f *excelize.File) { _ = f.MergeCell("Sheet1", "A1", "B1") })
	xlsx(filepath.Join(dir, "bad", "respondents-formula.xlsx"), [][]any{
		{"Họ và tên", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"},
		{"Nguyễn Văn An", "Phó Giám đốc", "STP", "LDS", nil},
	}, func(f *excelize.File) {
		_ = f.SetCellFormula("Sheet1", "E2", `LOWER(SUBSTITUTE(A2," ",""))&"@binhson.gov.test"`)
	})
	xlsx(filepath.Join(dir, "bad", "respondents-bad-sheet.xlsx"), [][]any{{"Họ và tên", "Email"}}, nil)
	xlsx(filepath.Join(dir, "bad", "respondents-cover-sheet.xlsx"), [][]any{
		{"SỞ NỘI VỤ TỈNH BÌNH SƠN"}, {"Danh sách cán bộ được khảo sát: xem trang Danh sách"},
	}, func(f *excelize.File) {
		if _, err := f.NewSheet("Danh sách"); err != nil {
			t.Fatal(err)
		}
		_ = f.SetSheetRow("Danh sách", "A1", &[]any{"Họ và tên", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"})
		_ = f.SetSheetName("Sheet1", "Bìa")
	})

	cp1258 := "Họ và tên,Giới tính,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\r\n" +
		"Nguyễn Thị Thu Yến,Nữ,Phó Trưởng phòng Quản lý đô thị,STP-TH,LDP,yenntt@binhson.gov.test\r\n" +
		"Trương Văn Lưỡng,Nam,Chủ tịch UBND xã,X01,LDX,luongtv@binhson.gov.test\r\n"
	data := encode1258(t, cp1258)
	for _, p := range []string{filepath.Join(dir, "good", "respondents-windows1258.csv"), filepath.Join(dir, "bad", "respondents-forced-utf8.csv")} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// encode1258 writes s as Windows-1258 does: base letters (â ê ô ơ ư ă đ are
// single bytes) followed by combining tone marks.
func encode1258(t *testing.T, s string) []byte {
	enc := charmap.Windows1258.NewEncoder()
	var out []byte
	for _, r := range s {
		if b, err := enc.Bytes([]byte(string(r))); err == nil {
			out = append(out, b...)
			continue
		}
		d := []rune(norm.NFD.String(string(r)))
		base := string(d[0])
		marks := d[1:]
		if len(marks) > 0 {
			if composed := norm.NFC.String(base + string(marks[0])); len([]rune(composed)) == 1 {
				if _, err := enc.Bytes([]byte(composed)); err == nil {
					base, marks = composed, marks[1:]
				}
			}
		}
		b, err := enc.Bytes([]byte(base + string(marks)))
		if err != nil {
			t.Fatalf("cannot write %q in windows-1258: %v", r, err)
		}
		out = append(out, b...)
	}
	return out
}

func FuzzReadRespondents(f *testing.F) {
	for _, seed := range []string{
		"Họ và tên,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\nNguyễn Văn An,GĐ,STP,LDS,a@b.test\n",
		"\ufeffHO TEN;EMAIL;NHOM;DON VI\n\"a\"\"b\";x@y.test;G;U\n",
		"Họ và tên đệm,Tên,Email,Nhóm,Đơn vị\n,,,,\n\n",
		"\xff\xfeH\x00o\x00",
		"a,b\n\"unterminated",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "r.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tbl, err := roster.ReadTable(path, roster.Respondents, roster.Options{})
		if err != nil {
			var errs *roster.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("unpositioned error %T: %v", err, err)
			}
			return
		}
		if tbl.HeaderRow < 1 {
			t.Fatalf("header row %d", tbl.HeaderRow)
		}
	})
}
