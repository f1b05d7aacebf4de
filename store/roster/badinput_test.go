package roster_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/roster"
)

// The bad input table for rosters (docs/BAD-INPUT.md), beside the files of
// testdata/import/bad that TestBadInputs reads: inputs generated here
// because they are large, binary or about bytes an editor would hide. Each
// is imported into a store already holding units and respondents; the
// import must be refused with the problems named exactly (or, for "safe"
// cases, succeed in bounded time) and the stored rows must not change.

const respondentsHeader = "Họ và tên,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\n"

type rosterCase struct {
	name  string
	file  string                                 // name of the generated file: its extension picks the reader
	data  func(t *testing.T, path string) []byte // contents; nil when it wrote path itself
	opts  roster.Options
	want  []string      // every problem, as printed, without the directory
	added int           // for inputs that must import: how many rows
	limit time.Duration // 0: one second
	// maxAllocMB bounds the bytes allocated while importing (garbage
	// included); 0: 64 MB.
	maxAllocMB uint64
}

// xlsxRespondents writes a respondents workbook with rows data rows, each
// holding the cells fill returns.
func xlsxRespondents(t *testing.T, path string, rows int, fill func(i int) []any) {
	t.Helper()
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A1", []any{"Họ và tên", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= rows; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, fill(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func respondentRow(i int) []any {
	return []any{fmt.Sprintf("Nguyễn Văn Số %d", i), "Chuyên viên", "STP", "CC", fmt.Sprintf("cv%07d@stp.binhson.gov.test", i)}
}

var rosterCases = []rosterCase{
	{name: "QuoteNeverClosed", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "Lê Văn Một,Chuyên viên,STP,CC,motlv@binhson.gov.test\n\"Nguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\nLê Thị Ba,Chuyên viên,STP,CC,balt@binhson.gov.test\n")
	}, want: []string{`respondents.csv:3: CSV syntax: extraneous or missing " in quoted-field (a quote inside a cell must be doubled: "")`}},
	{name: "XLSXThatIsText", file: "respondents.xlsx", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "Nguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\n")
	}, want: []string{"respondents.xlsx: cannot read as XLSX: zip: not a valid zip file"}},
	{name: "XLSXThatIsAnotherZip", file: "respondents.xlsx", data: func(t *testing.T, _ string) []byte {
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		w, _ := z.Create("bao-cao.docx")
		w.Write([]byte("not a workbook"))
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}, want: []string{"respondents.xlsx: cannot read as XLSX: the file is a zip archive but not an Excel workbook"}},
	{name: "XLSXTruncated", file: "respondents.xlsx", data: func(t *testing.T, path string) []byte {
		xlsxRespondents(t, path, 20, respondentRow)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b[:len(b)/2]
	}, want: []string{"respondents.xlsx: cannot read as XLSX: zip: not a valid zip file"}},
	{name: "NULInName", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "Nguyễn Văn\x00 An,Chuyên viên,STP,CC,annv@binhson.gov.test\n")
	}, want: []string{"respondents.csv:2:Họ và tên: contains a NUL byte"}},
	{name: "InvalidUTF8InName", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "Nguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\nTr\xe1\xba n Thị Bốn,Chuyên viên,STP,CC,bontt@binhson.gov.test\n")
	}, want: []string{"respondents.csv:3: not valid UTF-8, though the lines before it are: the file is damaged or mixes encodings; re-save it as CSV UTF-8 (or give --encoding windows-1258 if it really is ANSI)"}},
	{name: "BOMInTheMiddle", file: "respondents.csv", data: func(*testing.T, string) []byte {
		// Two exports pasted together: the second one's BOM sits on row 3.
		return []byte("\ufeff" + respondentsHeader + "Nguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\n\ufeffLê Thị Ba,Chuyên viên,STP,CC,balt@binhson.gov.test\n")
	}, added: 2},
	{name: "CRLFAndLFMixed", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(strings.TrimSuffix(respondentsHeader, "\n") + "\r\nNguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\nLê Thị Ba,Chuyên viên,STP,CC,balt@binhson.gov.test\r\n\r\nVõ Văn Năm,Chuyên viên,STP,CC,nam vv@binhson.gov.test\n")
	}, want: []string{`respondents.csv:5:Email: "nam vv@binhson.gov.test" contains a space`}},
	{name: "CellOf100KB", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "Nguyễn Văn An,Chuyên viên,STP,CC,annv@binhson.gov.test\n" + strings.Repeat("Nguyễn ", 100<<10/9) + ",Chuyên viên,STP,CC,dai@binhson.gov.test\n")
	}, want: []string{"respondents.csv:3:Họ và tên: is longer than 300 characters"}},
	{name: "UnknownEncoding", file: "respondents.csv", opts: roster.Options{Encoding: "tcvn3"}, data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader)
	}, want: []string{`respondents.csv: unknown encoding "tcvn3": give utf-8 or windows-1258`}},
	{name: "UTF16OddLength", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte{0xFF, 0xFE, 'H', 0, 'o', 0, 0xD8} // a lone byte and an unpaired surrogate half
	}, want: []string{"respondents.csv: no header row found in the first 15 rows: expected columns such as Họ và tên, Chức vụ, Mã đơn vị, Nhóm đối tượng, Email"}},
	{name: "OnlyABOM", file: "respondents.csv", data: func(*testing.T, string) []byte { return []byte{0xEF, 0xBB, 0xBF} },
		want: []string{"respondents.csv: the file is empty"}},
	{name: "ImpossibleDate", file: "units.csv", data: func(*testing.T, string) []byte {
		return []byte("Mã đơn vị,Tên đơn vị,Đơn vị cấp trên,Hiệu lực từ\nSNN,Sở Nông nghiệp,UBND,31/02/2026\n")
	}, want: []string{`units.csv:2:Hiệu lực từ: "31/02/2026" is not a real date (write dd/mm/yyyy)`}},
	{name: "FormulaWithSavedValue", file: "respondents.xlsx", data: func(t *testing.T, path string) []byte {
		// As Excel saves a formula: the formula and the value it computed.
		// The saved value is read; the formula is never evaluated.
		xlsxRespondents(t, path, 1, respondentRow)
		return rewriteZip(t, path, "xl/worksheets/sheet1.xml", func(x string) string {
			i := strings.Index(x, `<c r="E2"`)
			j := i + strings.Index(x[i:], "</c>") + len("</c>")
			return x[:i] + `<c r="E2" t="str"><f>LOWER("CV0000001")&amp;"@stp.binhson.gov.test"</f><v>cv0000001@stp.binhson.gov.test</v></c>` + x[j:]
		})
	}, added: 1},
	{name: "FormulaInjectionInCSV", file: "respondents.csv", data: func(*testing.T, string) []byte {
		return []byte(respondentsHeader + "\"=HYPERLINK(\"\"http://x.invalid\"\",\"\"An\"\")\",Chuyên viên,STP,CC,annv@binhson.gov.test\n")
	}, want: []string{`respondents.csv:2:Họ và tên: "=HYPERLINK(\"http://x.invalid\",\"An\")" looks like an address, not a name`}},
	{name: "CSV200000Rows", file: "respondents.csv", limit: 10 * time.Second, maxAllocMB: 1000, data: func(*testing.T, string) []byte {
		var b bytes.Buffer
		b.WriteString(respondentsHeader)
		for i := 1; i < 200000; i++ {
			fmt.Fprintf(&b, "Nguyễn Văn Số %d,Chuyên viên,STP,CC,cv%07d@stp.binhson.gov.test\n", i, i)
		}
		b.WriteString("Nguyễn Văn Cuối,Chuyên viên,STP,CC,cuoi\n")
		return b.Bytes()
	}, want: []string{`respondents.csv:200001:Email: "cuoi" is not an email address (no @)`}},
	{name: "XLSXOneMillionRows", file: "respondents.xlsx", limit: 10 * time.Second, maxAllocMB: 2000, data: func(t *testing.T, path string) []byte {
		xlsxRespondents(t, path, xlsxMaxRows-1, respondentRow)
		return nil
	}, want: []string{`respondents.xlsx: sheet "Sheet1" has more than 100000 rows, more than phieu reads from one workbook: split the list, or save it as CSV UTF-8`}},
	// The reader still lists the million empty rows: about 80 MB.
	{name: "XLSXFormattedToTheLastRow", file: "respondents.xlsx", maxAllocMB: 200, data: func(t *testing.T, path string) []byte {
		// One data row, and a row styled at Excel's last row: what
		// selecting a whole column and colouring it leaves.
		xlsxRespondents(t, path, 1, respondentRow)
		f, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetCellValue("Sheet1", fmt.Sprintf("A%d", xlsxMaxRows), ""); err != nil {
			t.Fatal(err)
		}
		if err := f.SetRowHeight("Sheet1", xlsxMaxRows, 30); err != nil {
			t.Fatal(err)
		}
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		return nil
	}, added: 1},
}

// rewriteZip returns the zip at path with the member name changed by edit.
func rewriteZip(t *testing.T, path, name string, edit func(string) string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	found := false
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			data, found = []byte(edit(string(data))), true
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no %s", path, name)
	}
	return b.Bytes()
}

// xlsxMaxRows is Excel's row limit, 1,048,576: the largest sheet a person
// can send.
const xlsxMaxRows = 1 << 20

func TestBadRoster(t *testing.T) {
	for _, tc := range rosterCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "XLSXOneMillionRows" && testing.Short() {
				t.Skip("writing a 1,048,576-row workbook takes seconds; run without -short")
			}
			db := openSeeded(t)
			before := snapshot(t, db)
			path := filepath.Join(t.TempDir(), tc.file)
			if data := tc.data(t, path); data != nil {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			limit := tc.limit
			if limit == 0 {
				limit = time.Second
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			sum, err := importFile(context.Background(), db, path, tc.opts, store.ImportOptions{})
			took := time.Since(start)
			runtime.ReadMemStats(&ms1)
			if took > limit {
				t.Errorf("took %v, want under %v", took, limit)
			}
			allocMB, maxMB := (ms1.TotalAlloc-ms0.TotalAlloc)>>20, tc.maxAllocMB
			if maxMB == 0 {
				maxMB = 64
			}
			if allocMB > maxMB {
				t.Errorf("allocated %d MB, want at most %d", allocMB, maxMB)
			}
			t.Logf("%v, %d MB allocated", took.Round(time.Millisecond), allocMB)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				if sum.Added != tc.added {
					t.Errorf("added %d, want %d", sum.Added, tc.added)
				}
				return
			}
			var errs *roster.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("import = %v, want *roster.Errors", err)
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), ""), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if after := snapshot(t, db); after != before {
				t.Errorf("a refused import changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
