package roster

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// record is one row of a roster file as read: its row number as a person
// sees it (the CSV line where the record starts, the spreadsheet row) and
// its cells.
type record struct {
	line  int
	cells []string
	raw   []string // XLSX only: unformatted values, for date serials
}

// sheet is a roster file's rows, before the header is found.
type sheet struct {
	records []record
	letters bool // columns are named by letters (XLSX)
	// emptyFormulas maps (row, col) of empty cells that hold a formula with
	// no saved value to the formula. XLSX only.
	emptyFormulas map[[2]int]string
	merges        []mergeRange
	sheets        []string // XLSX: every sheet of the workbook
	sheetName     string   // XLSX: the sheet read
}

// readFile reads a CSV or XLSX file into records.
func readFile(path string, opts Options) (*sheet, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".xlsx", ".xlsm":
		return readXLSX(path, opts)
	case ".csv", ".txt", ".tsv", "":
		if opts.Sheet != "" {
			return nil, fmt.Errorf("--sheet is for XLSX files; %s is CSV", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return readCSV(data, opts.Encoding)
	case ".xls":
		return nil, errors.New("old Excel 97–2003 .xls files cannot be read: open the file in Excel or LibreOffice and save it as .xlsx or CSV UTF-8")
	default:
		return nil, fmt.Errorf("unknown file type %q: give a .csv or .xlsx file", ext)
	}
}

// decodeText turns file bytes into NFC UTF-8. Vietnamese Windows "ANSI"
// exports are windows-1258, which writes tones as combining marks, so every
// decoded text is composed (NFC) before anything compares it.
func decodeText(data []byte, encoding string) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
		if encoding == "" {
			encoding = "utf-8"
		}
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		// Excel's "Unicode text" export.
		out, _, err := transform.Bytes(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder(), data)
		if err != nil {
			return "", fmt.Errorf("file starts with a UTF-16 mark but is not UTF-16: %w", err)
		}
		return norm.NFC.String(string(out)), nil
	}
	switch strings.ToLower(strings.ReplaceAll(encoding, "_", "-")) {
	case "":
		if utf8.Valid(data) {
			return norm.NFC.String(string(data)), nil
		}
		// Windows-1258 text almost never forms valid multi-byte UTF-8. A file
		// that does, and also has invalid bytes, is UTF-8 with damage:
		// reading it as Windows-1258 would garble every name in it.
		if at := invalidUTF8At(data); hasMultibyteUTF8(data[:at]) {
			line := 1 + bytes.Count(data[:at], []byte("\n"))
			return "", &lineError{line: line, msg: "not valid UTF-8, though the lines before it are: the file is damaged or mixes encodings; re-save it as CSV UTF-8 (or give --encoding windows-1258 if it really is ANSI)"}
		}
		fallthrough
	case "windows-1258", "cp1258", "ansi", "win1258":
		out, err := charmap.Windows1258.NewDecoder().Bytes(data)
		if err != nil {
			return "", err
		}
		return norm.NFC.String(string(out)), nil
	case "utf-8", "utf8":
		if !utf8.Valid(data) {
			line := 1 + bytes.Count(data[:invalidUTF8At(data)], []byte("\n"))
			return "", &lineError{line: line, msg: "not valid UTF-8: if the file was saved as ANSI, give --encoding windows-1258"}
		}
		return norm.NFC.String(string(data)), nil
	}
	return "", fmt.Errorf("unknown encoding %q: give utf-8 or windows-1258", encoding)
}

// hasMultibyteUTF8 reports whether valid b holds any non-ASCII character.
func hasMultibyteUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// sniffDelimiter picks the separator Excel used: comma, semicolon (Excel
// with a Vietnamese or European list separator) or tab.
func sniffDelimiter(text string) rune {
	lines := strings.SplitN(text, "\n", 16)
	best, bestCount := ',', 0
	for _, d := range []rune{',', ';', '\t'} {
		count := 0
		for _, l := range lines {
			count += strings.Count(l, string(d))
		}
		if count > bestCount {
			best, bestCount = d, count
		}
	}
	return best
}

func readCSV(data []byte, encoding string) (*sheet, error) {
	text, err := decodeText(data, encoding)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = sniffDelimiter(text)
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	s := &sheet{}
	for {
		cells, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &lineError{line: pe.StartLine, msg: fmt.Sprintf("CSV syntax: %v (a quote inside a cell must be doubled: \"\")", pe.Err)}
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		s.records = append(s.records, record{line: line, cells: cells})
	}
	return s, nil
}

// lineError is a problem with a whole line of the file.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func readXLSX(path string, opts Options) (*sheet, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// A zip without a workbook in it: another kind of file renamed.
			return nil, errors.New("cannot read as XLSX: the file is a zip archive but not an Excel workbook")
		}
		return nil, fmt.Errorf("cannot read as XLSX: %w", err)
	}
	defer f.Close()
	names := f.GetSheetList()
	if len(names) == 0 {
		return nil, errors.New("the workbook has no sheets")
	}
	name := names[0]
	if opts.Sheet != "" {
		name = ""
		for _, n := range names {
			if n == opts.Sheet {
				name = n
			}
		}
		if name == "" {
			return nil, fmt.Errorf("no sheet named %q; the sheets are: %s", opts.Sheet, strings.Join(names, ", "))
		}
	}
	if n, err := countRows(f, name, maxSheetRows); err != nil {
		return nil, fmt.Errorf("cannot read sheet %q: %w", name, err)
	} else if n > maxSheetRows {
		return nil, fmt.Errorf("sheet %q has more than %d rows, more than phieu reads from one workbook: split the list, or save it as CSV UTF-8", name, maxSheetRows)
	}
	rows, err := f.GetRows(name)
	if err != nil {
		return nil, err
	}
	raw, err := f.GetRows(name, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, err
	}
	merges, err := f.GetMergeCells(name, true)
	if err != nil {
		return nil, err
	}
	s := &sheet{letters: true, sheets: names, sheetName: name}
	for i, cells := range rows {
		for j := range cells {
			cells[j] = norm.NFC.String(cells[j])
		}
		rec := record{line: i + 1, cells: cells}
		if i < len(raw) {
			rec.raw = raw[i]
		}
		s.records = append(s.records, rec)
	}
	// A formula with no saved value reads as an empty cell: find those while
	// the file is open, so that the importer can say why a cell is empty.
	formulas := map[[2]int]string{}
	for _, rec := range s.records {
		for col, v := range rec.cells {
			if v != "" {
				continue
			}
			cell, err := excelize.CoordinatesToCellName(col+1, rec.line)
			if err != nil {
				continue
			}
			if fm, err := f.GetCellFormula(name, cell); err == nil && fm != "" {
				formulas[[2]int{rec.line, col}] = fm
			}
		}
	}
	s.emptyFormulas = formulas
	for _, m := range merges {
		s.merges = append(s.merges, mergeRange{m.GetStartAxis(), m.GetEndAxis()})
	}
	return s, nil
}

// maxSheetRows bounds the rows read from a workbook. The XLSX reader costs
// about 80 µs and 6 KB of live memory per row, so Excel's own limit
// (1,048,576 rows) took 90 s and 6 GB; the largest rosters hold tens of
// thousands of people, and CSV has no such cost. Counting stops at the
// bound, so a sheet formatted down to its last row is refused in seconds.
const maxSheetRows = 100_000

// countRows counts a sheet's rows that hold something, stopping once there
// are more than limit. Rows that are only formatted (down to row 1,048,576)
// do not count: the iterator passes them without reading cells.
func countRows(f *excelize.File, sheet string, limit int) (int, error) {
	rows, err := f.Rows(sheet)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for n <= limit && rows.Next() {
		cells, err := rows.Columns()
		if err != nil {
			return n, err
		}
		if !blank(cells) {
			n++
		}
	}
	return n, rows.Error()
}

// mergeRange is a block of merged cells, "A1" to "C1".
type mergeRange struct{ start, end string }

// rows returns the first and last row of the range.
func (m mergeRange) rows() (first, last, firstCol, lastCol int) {
	c1, r1, _ := excelize.CellNameToCoordinates(m.start)
	c2, r2, _ := excelize.CellNameToCoordinates(m.end)
	return r1, r2, c1, c2
}

// columnLetter names the 0-based column col as a spreadsheet does.
func columnLetter(col int) string {
	name, err := excelize.ColumnNumberToName(col + 1)
	if err != nil {
		return strconv.Itoa(col + 1)
	}
	return name
}

// excelDate converts a raw cell value holding a date serial, if it is one.
func excelDate(raw string) (string, bool) {
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || v < 1 || v > 200000 || math.IsNaN(v) {
		return "", false
	}
	t, err := excelize.ExcelDateToTime(v, false)
	if err != nil {
		return "", false
	}
	return t.Format("02/01/2006"), true
}
