package roster

import (
	"strings"
	"unicode"

	"github.com/phieu/phieu/store"
)

// converted is the rows handed to the store, with the row number of each.
type converted[T any] struct {
	values []T
	lines  []int
}

// cellReader reads one data row's cells by field, reporting what is wrong
// with a cell itself (control characters, formulas with no saved value).
type cellReader struct {
	t    *Table
	rec  record
	errs *Errors
}

// get returns the trimmed text of the field's cell, "" if the column is
// absent or the cell empty.
func (r cellReader) get(field string) string {
	c, ok := r.t.column(field)
	if !ok {
		return ""
	}
	if c.Index >= len(r.rec.cells) {
		return r.checkFormula(c)
	}
	v := r.rec.cells[c.Index]
	if v == "" {
		return r.checkFormula(c)
	}
	// Line breaks and control characters are reported here, before any
	// cleaning could fold them away: a CR/LF in a name is how mail header
	// injection starts, and it must be refused, not tidied.
	if msg := store.CheckText(strings.Trim(v, " \t")); msg != "" {
		addProblem(r.errs, r.rec.line, c.Index, r.t.label(c), "%s", msg)
		v = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, v)
	}
	return store.CleanText(v)
}

func (r cellReader) checkFormula(c Column) string {
	if r.t.sheet.emptyFormulas == nil {
		return ""
	}
	if fm, ok := r.t.sheet.emptyFormulas[[2]int{r.rec.line, c.Index}]; ok {
		addProblem(r.errs, r.rec.line, c.Index, r.t.label(c), "the formula =%s has no saved value: open the file in Excel and save it, or paste the column as values", fm)
	}
	return ""
}

// date reads a date cell: dd/mm/yyyy text, or a spreadsheet date serial.
func (r cellReader) date(field string) store.Date {
	v := r.get(field)
	if v == "" {
		return store.Date{}
	}
	c, _ := r.t.column(field)
	if r.rec.raw != nil && c.Index < len(r.rec.raw) {
		if s, ok := excelDate(r.rec.raw[c.Index]); ok {
			v = s
		}
	}
	d, err := store.ParseDate(v)
	if err != nil {
		addProblem(r.errs, r.rec.line, c.Index, r.t.label(c), "%v", err)
	}
	return d
}

// checkWidth reports cells beyond the header: in a CSV file that usually
// means an unquoted comma inside a name shifted every cell after it.
func (r cellReader) checkWidth(headerWidth int) {
	for i := headerWidth; i < len(r.rec.cells); i++ {
		if strings.TrimSpace(r.rec.cells[i]) != "" {
			addProblem(r.errs, r.rec.line, -1, "", "has %d cells but the header has %d columns: a comma inside a cell must be quoted (\"Sở Văn hóa, Thể thao\")", len(r.rec.cells), headerWidth)
			return
		}
	}
}

func (t *Table) headerWidth() int {
	for _, rec := range t.sheet.records {
		if rec.line == t.HeaderRow {
			n := len(rec.cells)
			for n > 0 && strings.TrimSpace(rec.cells[n-1]) == "" {
				n--
			}
			return n
		}
	}
	return 0
}

// convertRows turns every data row into a value with build, keeping the row
// numbers for the store's problems and collecting cell problems.
func convertRows[T any](t *Table, build func(r cellReader) T) (converted[T], *Errors) {
	var out converted[T]
	errs := &Errors{}
	width := t.headerWidth()
	for _, rec := range t.records {
		r := cellReader{t: t, rec: rec, errs: errs}
		r.checkWidth(width)
		out.values = append(out.values, build(r))
		out.lines = append(out.lines, rec.line)
	}
	return out, errs
}

func (t *Table) units() (converted[*store.Unit], *Errors) {
	return convertRows(t, func(r cellReader) *store.Unit {
		return &store.Unit{
			Code:       r.get(store.FieldUnitCode),
			Name:       r.get(store.FieldUnitName),
			ParentCode: r.get(store.FieldParentCode),
			Kind:       r.get(store.FieldUnitKind),
			Head: store.Head{
				Name:    r.get(store.FieldHeadName),
				Title:   r.get(store.FieldHeadTitle),
				Mailbox: r.get(store.FieldHeadMailbox),
			},
			ValidFrom: r.date(store.FieldValidFrom),
			ValidTo:   r.date(store.FieldValidTo),
		}
	})
}

func (t *Table) respondents() (converted[*store.Respondent], *Errors) {
	return convertRows(t, func(r cellReader) *store.Respondent {
		p := &store.Respondent{
			ExternalID: r.get(store.FieldExternalID),
			FullName:   r.get(store.FieldFullName),
			Title:      r.get(store.FieldTitle),
			UnitCode:   r.get(store.FieldUnit),
			Group:      r.get(store.FieldGroup),
			Mailbox:    r.get(store.FieldMailbox),
			Active:     true,
		}
		if p.FullName == "" {
			p.FullName = strings.TrimSpace(r.get(fieldFamilyPart) + " " + r.get(fieldGivenPart))
		}
		if p.UnitCode == "" {
			p.UnitCode = r.get(fieldUnitName)
		}
		p.Salutation = r.salutation()
		p.Aliases = strings.FieldsFunc(r.get(store.FieldAliases), func(c rune) bool { return c == ';' || c == ',' || unicode.IsSpace(c) })
		return p
	})
}

// salutation reads "Danh xưng" if given, else "Giới tính".
func (r cellReader) salutation() store.Salutation {
	for _, field := range []string{store.FieldSalutation, fieldGender} {
		v := r.get(field)
		if v == "" {
			continue
		}
		s, ok := store.ParseSalutation(v)
		if !ok {
			c, _ := r.t.column(field)
			want := "Nam or Nữ"
			if field == store.FieldSalutation {
				want = "Ông, Bà or Đồng chí"
			}
			addProblem(r.errs, r.rec.line, c.Index, r.t.label(c), "%q is not %s", v, want)
		}
		return s
	}
	return store.SalutationUnknown
}
