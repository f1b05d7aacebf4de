package roster_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/phieu/phieu/store/roster"
)

// FuzzReadUnits: a units CSV reads as a table or as positioned problems.
func FuzzReadUnits(f *testing.F) {
	for _, seed := range []string{
		"Mã đơn vị,Tên đơn vị,Đơn vị cấp trên,Loại đơn vị,Thủ trưởng đơn vị,Chức vụ thủ trưởng,Email thủ trưởng\nSTP,Sở Tư pháp,UBND,sở,Trần Thị Pháp,Giám đốc,gd.stp@binhson.gov.test\n",
		"UBND TỈNH BÌNH SƠN\nDANH SÁCH ĐƠN VỊ\n\nMã ĐV;Tên cơ quan;Trực thuộc;Hiệu lực từ\nSNN;Sở Nông nghiệp;UBND;31/02/2026\n",
		"ma,ten\nA,\"B\nC\"\n",
		"\xef\xbb\xbfcode,name,parent\nA,B,A\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { readFuzzed(t, "units.csv", roster.Units, data) })
}

// FuzzReadXLSX: any bytes named .xlsx read as a table or as problems.
// Seeds are real workbooks (the test fixtures and one built here), so the
// fuzzer mutates zip and XML structure.
func FuzzReadXLSX(f *testing.F) {
	for _, p := range []string{"good/respondents.xlsx", "bad/respondents-formula.xlsx", "bad/respondents-merged-header.xlsx", "bad/respondents-cover-sheet.xlsx"} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err == nil {
			f.Add(b)
		}
	}
	x := excelize.NewFile()
	x.SetSheetRow("Sheet1", "A1", &[]any{"Họ và tên", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"})
	x.SetSheetRow("Sheet1", "A2", &[]any{"Nguyễn Văn An", "Chuyên viên", "STP", "CC", "annv@binhson.gov.test"})
	var b bytes.Buffer
	if err := x.Write(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang must be a crash with its input saved, not a fuzzer
		// that silently stops making progress.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("ReadTable of a %d-byte workbook took over 10 s", len(data))) })
		defer watchdog.Stop()
		readFuzzed(t, "respondents.xlsx", roster.Respondents, data)
	})
}

// readFuzzed reads data as the roster file name: a table with a header
// of at least two recognized columns, or positioned problems.
func readFuzzed(t *testing.T, name string, kind roster.Kind, data []byte) {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tbl, err := roster.ReadTable(path, kind, roster.Options{})
	if err != nil {
		var errs *roster.Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 {
			t.Fatalf("unpositioned error %T: %v", err, err)
		}
		return
	}
	if tbl.HeaderRow < 1 || len(tbl.Columns) < 2 {
		t.Fatalf("header row %d with %d columns", tbl.HeaderRow, len(tbl.Columns))
	}
}
