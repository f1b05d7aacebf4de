// Package roster reads the rosters provincial offices keep — units with their
// heads, respondents — from CSV and XLSX files, recognizes the column headers
// they write (Vietnamese or English, any case, with or without diacritics),
// and imports them through the store, reporting every problem together as
// FILE:ROW:COLUMN: message with the column named as the file names it.
package roster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/phieu/phieu/store"
)

// Kind is what a roster file lists.
type Kind string

const (
	Units       Kind = "units"
	Respondents Kind = "respondents"
)

// Options say how to read a file.
type Options struct {
	// Encoding of a CSV file: "" detects UTF-8 (with or without BOM) or
	// falls back to windows-1258; "utf-8" or "windows-1258" forces one.
	Encoding string
	// Sheet of an XLSX file; "" is the first sheet.
	Sheet string
	// Map reads the column with this header (as written, matched without
	// case or diacritics) as this field, overriding recognition.
	Map map[string]string
}

// Errors is every problem found in a roster file; nothing was written. Each
// problem names the row as Excel or an editor numbers it and the column by
// its header as written.
type Errors = store.Problems

// addProblem records a problem at a row; col is the 0-based column index
// (for ordering) or -1 for the whole row.
func addProblem(e *Errors, row, col int, column, format string, args ...any) {
	e.Add(store.Problem{Line: row, Col: col + 1, Column: column, Message: fmt.Sprintf(format, args...)})
}

// finish names the file in every problem and returns the error, if any.
func finish(e *Errors, file string) error {
	for i := range e.List {
		e.List[i].File = file
	}
	return e.Err()
}

// Column is one recognized column of a roster.
type Column struct {
	Index int    // 0-based
	Name  string // the header as written
	Field string // what it is read as
}

// label names the column in messages: its header, and its letter in a
// spreadsheet, where people navigate by letter.
func (t *Table) label(c Column) string {
	if t.letters {
		return c.Name + " (" + columnLetter(c.Index) + ")"
	}
	return c.Name
}

// Table is a roster file with its header found and its columns recognized.
type Table struct {
	File      string
	Kind      Kind
	HeaderRow int
	Columns   []Column // recognized columns only
	Ignored   []string // headers not recognized, not read
	records   []record // data rows, blank rows left out
	letters   bool
	sheet     *sheet
}

// column returns the recognized column for field, if any.
func (t *Table) column(field string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Field == field {
			return c, true
		}
	}
	return Column{}, false
}

// headerScan is how many rows may stand above the header: offices put the
// province's name, the list's title and a date there.
const headerScan = 15

// ReadTable reads a roster file and recognizes its header. Problems with
// the file as a whole (no header, missing or doubled columns, merged header
// cells) come back as *Errors.
func ReadTable(path string, kind Kind, opts Options) (*Table, error) {
	for _, field := range opts.Map {
		if !validMapField(kind, field) {
			return nil, &Errors{List: []store.Problem{{File: path, Message: fmt.Sprintf("--map: %q is not a field of a %s file; use one of: %s", field, kind, strings.Join(mapFields[kind], ", "))}}}
		}
	}
	s, err := readFile(path, opts)
	if err != nil {
		var le *lineError
		if errors.As(err, &le) {
			return nil, &Errors{List: []store.Problem{{File: path, Line: le.line, Message: le.msg}}}
		}
		return nil, &Errors{List: []store.Problem{{File: path, Message: err.Error()}}}
	}
	t := &Table{File: path, Kind: kind, letters: s.letters, sheet: s}
	var errs Errors
	header := -1
	for i, rec := range s.records {
		if i >= headerScan {
			break
		}
		n := 0
		for _, cell := range rec.cells {
			if f := fieldFor(kind, cell, opts.Map); f != "" && f != fieldIgnore {
				n++
			}
		}
		if n >= 2 {
			header = i
			break
		}
	}
	if header < 0 {
		if len(s.records) == 0 {
			addProblem(&errs, 0, -1, "", "the file is empty")
		} else {
			hint := ""
			if len(s.sheets) > 1 {
				hint = fmt.Sprintf(" (this is sheet %q; the workbook also has %s: choose one with --sheet)", s.sheetName, strings.Join(otherSheets(s), ", "))
			}
			addProblem(&errs, 0, -1, "", "no header row found in the first %d rows: expected columns such as %s%s", headerScan, expectedHeaders(kind), hint)
		}
		return nil, finish(&errs, path)
	}
	hrec := s.records[header]
	t.HeaderRow = hrec.line
	for _, m := range s.merges {
		r1, r2, c1, c2 := m.rows()
		if r1 <= hrec.line && hrec.line <= r2 && (c1 != c2 || r1 != r2) {
			addProblem(&errs, hrec.line, -1, "", "merged header cells %s:%s: unmerge them so that each column has its own header", m.start, m.end)
		}
	}
	seen := map[string]Column{}
	for i, cell := range hrec.cells {
		name := strings.TrimSpace(cell)
		if name == "" {
			continue
		}
		field := fieldFor(kind, name, opts.Map)
		switch {
		case field == "":
			t.Ignored = append(t.Ignored, name)
			continue
		case field == fieldIgnore:
			continue
		}
		c := Column{Index: i, Name: name, Field: field}
		if prev, dup := seen[field]; dup {
			addProblem(&errs, hrec.line, i, t.label(c), "this column and column %s are both read as %s: remove one or name one with --map", t.label(prev), field)
			continue
		}
		seen[field] = c
		t.Columns = append(t.Columns, c)
	}
	t.checkRequired(&errs, hrec.line)
	for _, rec := range s.records[header+1:] {
		if !blank(rec.cells) {
			t.records = append(t.records, rec)
		}
	}
	if len(errs.List) == 0 && len(t.records) == 0 {
		addProblem(&errs, 0, -1, "", "the header is on row %d but no row below it has data", hrec.line)
	}
	return t, finish(&errs, path)
}

func (t *Table) checkRequired(errs *Errors, line int) {
	var missing []string
	has := func(f string) bool { _, ok := t.column(f); return ok }
	switch t.Kind {
	case Units:
		for _, f := range []string{store.FieldUnitCode, store.FieldUnitName} {
			if !has(f) {
				missing = append(missing, describe(Units, f))
			}
		}
	case Respondents:
		if !has(store.FieldFullName) && !(has(fieldFamilyPart) && has(fieldGivenPart)) {
			missing = append(missing, describe(Respondents, store.FieldFullName))
		}
		if has(store.FieldFullName) && (has(fieldFamilyPart) || has(fieldGivenPart)) {
			addProblem(errs, line, -1, "", "the name is given both whole (Họ và tên) and in parts (Họ và tên đệm, Tên): keep one")
		}
		if !has(store.FieldUnit) && !has(fieldUnitName) {
			missing = append(missing, describe(Respondents, store.FieldUnit))
		}
		for _, f := range []string{store.FieldGroup, store.FieldMailbox} {
			if !has(f) {
				missing = append(missing, describe(Respondents, f))
			}
		}
	}
	if len(missing) > 0 {
		var found []string
		for _, c := range t.Columns {
			found = append(found, c.Name)
		}
		found = append(found, t.Ignored...)
		addProblem(errs, line, -1, "", "missing column(s): %s (the header row has: %s)", strings.Join(missing, "; "), strings.Join(found, ", "))
	}
}

// describe names a field by the header offices most often write for it.
func describe(kind Kind, field string) string {
	headers := map[string]string{
		store.FieldUnitCode: "Mã đơn vị", store.FieldUnitName: "Tên đơn vị",
		store.FieldFullName: "Họ và tên", store.FieldUnit: "Mã đơn vị or Đơn vị",
		store.FieldGroup: "Nhóm đối tượng", store.FieldMailbox: "Email",
	}
	return headers[field]
}

func expectedHeaders(kind Kind) string {
	if kind == Units {
		return "Mã đơn vị, Tên đơn vị, Đơn vị cấp trên, Thủ trưởng đơn vị, Email thủ trưởng"
	}
	return "Họ và tên, Chức vụ, Mã đơn vị, Nhóm đối tượng, Email"
}

func otherSheets(s *sheet) []string {
	var out []string
	for _, n := range s.sheets {
		if n != s.sheetName {
			out = append(out, fmt.Sprintf("%q", n))
		}
	}
	return out
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// ImportUnits reads a units file and imports it. On any problem — in the
// file or found by the store — it returns *Errors listing all of them and
// nothing is written.
func ImportUnits(ctx context.Context, svc store.UnitService, path string, opts Options, iopts store.ImportOptions) (*store.ImportSummary, error) {
	t, err := ReadTable(path, Units, opts)
	if err != nil {
		return nil, err
	}
	rows, errs := t.units()
	return importRows(t, errs, func(o store.ImportOptions) (*store.ImportSummary, error) {
		return svc.ImportUnits(ctx, rows.values, o)
	}, rows.lines, iopts)
}

// ImportRespondents reads a respondents file and imports it. On any problem
// it returns *Errors listing all of them and nothing is written.
func ImportRespondents(ctx context.Context, svc store.RespondentService, path string, opts Options, iopts store.ImportOptions) (*store.ImportSummary, error) {
	t, err := ReadTable(path, Respondents, opts)
	if err != nil {
		return nil, err
	}
	rows, errs := t.respondents()
	return importRows(t, errs, func(o store.ImportOptions) (*store.ImportSummary, error) {
		return svc.ImportRespondents(ctx, rows.values, o)
	}, rows.lines, iopts)
}

// importRows hands the converted rows to the store. If converting found
// problems the store still validates, in a dry run, so that the person sees
// every problem at once; then nothing is written.
func importRows(t *Table, errs *Errors, call func(store.ImportOptions) (*store.ImportSummary, error), lines []int, iopts store.ImportOptions) (*store.ImportSummary, error) {
	if len(errs.List) > 0 {
		iopts.DryRun = true
	}
	sum, err := call(iopts)
	var ie *store.ImportError
	switch {
	case errors.As(err, &ie):
		t.addStoreIssues(errs, ie, lines)
	case err != nil:
		return nil, err
	}
	if err := finish(errs, t.File); err != nil {
		return nil, err
	}
	return sum, nil
}

// addStoreIssues positions the store's problems: the row index becomes the
// row number, the field the column that holds it.
func (t *Table) addStoreIssues(errs *Errors, ie *store.ImportError, lines []int) {
	for _, is := range ie.Issues {
		row := 0
		if is.Index >= 0 && is.Index < len(lines) {
			row = lines[is.Index]
		}
		msg := is.Message
		if is.Other >= 0 && is.Other < len(lines) {
			msg += fmt.Sprintf(" (row %d)", lines[is.Other])
		}
		c, ok := t.fieldColumn(is.Field)
		if !ok {
			if is.Field != "" {
				msg = is.Field + ": " + msg
			}
			addProblem(errs, row, -1, "", "%s", msg)
			continue
		}
		addProblem(errs, row, c.Index, t.label(c), "%s", msg)
	}
}

// fieldColumn finds the column a store field was read from.
func (t *Table) fieldColumn(field string) (Column, bool) {
	candidates := []string{field}
	switch field {
	case store.FieldFullName:
		candidates = append(candidates, fieldFamilyPart, fieldGivenPart)
	case store.FieldUnit:
		candidates = append(candidates, fieldUnitName)
	case store.FieldSalutation:
		candidates = append(candidates, fieldGender)
	}
	for _, f := range candidates {
		if c, ok := t.column(f); ok {
			return c, true
		}
	}
	return Column{}, false
}
