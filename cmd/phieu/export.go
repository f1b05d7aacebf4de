package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const exportResponsesHelp = `
Writes the campaign's counted responses as a spreadsheet, one row a
response: its id (random, in no particular order), the member's group,
unit code and unit name, one column a question (in questionnaire order)
with the answer (a choice's letter, a scale's number, the text) and the
day it was received (dd/mm/yyyy in the campaign's time zone: phieu keeps
no finer time). --all adds the partial, late and needs-review responses,
with a status column; superseded ones are never written.

Answers are confidential: respondents were promised that what they say is
not tied to their name. The export is de-identified: it holds no
respondent id, name or mailbox, and no group of fewer than 5 exported
responses can be picked out: a unit with fewer than 5 is shown as the
nearest unit above it whose units together have 5 or more (its name then
ends in "(gộp cả đơn vị cấp dưới)"), or with no unit at all ("Các đơn vị
dưới 5 phiếu") when even the whole tree has fewer; the group is left blank
where its unit has fewer than 5 of that group. --identified adds the full
name, title and mailbox and the member's own unit, unsuppressed; it needs
the installation secret, warns on stderr and records who exported what,
when, in the audit log (phieu audit list --action identified_export). Keep
such a file safe and delete it when it is no longer needed.

CSV (UTF-8 with a BOM, so Excel shows Vietnamese) goes to stdout unless
--output names a file; XLSX needs --output.`

const exportNonrespondentsHelp = `
Writes the campaign's members who have not answered yet (any status but
answered, answered_needs_review and excluded), under --unit and every unit
below it (default: all units), sorted by unit in tree order, then by name
the Vietnamese way. Columns: STT, Họ và tên, Chức vụ, Đơn vị, Nhóm, Email,
Trạng thái, and Lý do: why mail to them failed, from their latest delivery
failure (class and status), when the server has not taken a message for
them since. It never holds anyone's answers.

CSV (UTF-8 with a BOM, so Excel shows Vietnamese) goes to stdout unless
--output names a file; XLSX needs --output.`

const exportFailuresHelp = `
Writes the delivery-failure ledger of phieu failures (same filters, same
columns, Vietnamese headers) as a spreadsheet, newest first: every
recipient the mail system refused, with the code, enhanced status, class,
what the class means and what to do, and the server's text.

CSV (UTF-8 with a BOM, so Excel shows Vietnamese) goes to stdout unless
--output names a file; XLSX needs --output.`

// exportFormat is --format csv|xlsx.
type exportFormat string

func (f *exportFormat) String() string { return string(*f) }

func (f *exportFormat) Set(v string) error {
	switch v {
	case "csv", "xlsx":
		*f = exportFormat(v)
		return nil
	}
	return fmt.Errorf("%q is not csv or xlsx", v)
}

// exportOutput is what every export shares: --format and --output, and no
// positional arguments.
type exportOutput struct {
	format exportFormat
	path   string
}

func (o *exportOutput) register(fs *flag.FlagSet) {
	fs.Var(&o.format, "format", "`format`: csv or xlsx (default csv, or xlsx when --output ends in .xlsx)")
	fs.StringVar(&o.path, "output", "", "write to `FILE` (default: stdout, for CSV only)")
}

func (o *exportOutput) args(rest []string) error {
	if err := (noArgs{}).args(rest); err != nil {
		return err
	}
	if o.path == "-" {
		o.path = ""
	}
	if o.format == "" {
		o.format = "csv"
		if strings.EqualFold(filepath.Ext(o.path), ".xlsx") {
			o.format = "xlsx"
		}
	}
	if o.format == "xlsx" && o.path == "" {
		return usageErrorf("an XLSX file is binary and is not written to stdout: name it with --output FILE.xlsx")
	}
	return nil
}

// target names where the export goes, for messages and the audit log.
func (o *exportOutput) target() string {
	if o.path == "" {
		return "stdout"
	}
	if abs, err := filepath.Abs(o.path); err == nil {
		return abs
	}
	return o.path
}

// sheet is what an export writes: a header row and rows of typed cells
// (string, int, int64, bool, time.Time already in the zone to show,
// store.Date, or nil for an empty cell).
type sheet struct {
	name   string // the XLSX worksheet's name
	header []string
	rows   [][]any
}

// write writes the sheet to stdout or, through a temporary file renamed
// into place, to --output: a failed export leaves no half-written file.
// The file is readable by its owner only: exports hold personal data.
func (o *exportOutput) write(m *Main, s *sheet) error {
	if o.path == "" {
		return writeCSV(m.Stdout, s)
	}
	f, err := os.CreateTemp(filepath.Dir(o.path), "."+filepath.Base(o.path)+".*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(f.Name())
	if o.format == "xlsx" {
		err = writeXLSX(f, s)
	} else {
		err = writeCSV(f, s)
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("export %s: %w", o.path, err)
	}
	if err := os.Rename(f.Name(), o.path); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// writeCSV writes the sheet as the listings' CSV: UTF-8 with a BOM. Text
// that Excel would take for a formula (a reply's "=..." or "- ý kiến")
// gets a leading apostrophe, which Excel hides: what respondents and mail
// servers write must never run in the operator's spreadsheet.
func writeCSV(w io.Writer, s *sheet) error {
	t := &table{header: s.header}
	for _, r := range s.rows {
		cells := cellTexts(r)
		for i, v := range r {
			if text, ok := v.(string); ok && text != "" && strings.ContainsRune("=+-@\t\r", rune(text[0])) {
				cells[i] = "'" + text
			}
		}
		t.add(cells...)
	}
	return t.write(w, "csv")
}

// xlsxDateTime is how date and time cells show in Excel.
const xlsxDateTime = "dd/mm/yyyy hh:mm"

// writeXLSX writes the sheet as a workbook of one worksheet: a bold header
// row, frozen, with an autofilter; columns as wide as their content; times
// as Excel dates and numbers as numbers, so that they sort and sum.
func writeXLSX(w io.Writer, s *sheet) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName(f.GetSheetName(0), s.name); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	dateFormat := xlsxDateTime
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFormat})
	if err != nil {
		return err
	}
	dayFormat := "dd/mm/yyyy"
	day, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dayFormat})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(s.name)
	if err != nil {
		return err
	}
	// The stream writer puts each column's width before those set already
	// and writes them as they stand; Excel wants them in column order.
	widths := columnWidths(s)
	for i := len(widths) - 1; i >= 0; i-- {
		if err := sw.SetColWidth(i+1, i+1, widths[i]); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return err
	}
	cells := make([]any, len(s.header))
	for i, h := range s.header {
		cells[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", cells); err != nil {
		return err
	}
	for i, r := range s.rows {
		cells := make([]any, len(r))
		for j, v := range r {
			cells[j] = v
			if t, ok := v.(time.Time); ok {
				cells[j] = excelize.Cell{StyleID: date, Value: t}
				if t.IsZero() {
					cells[j] = nil
				}
			}
			if d, ok := v.(store.Date); ok {
				cells[j] = excelize.Cell{StyleID: day, Value: d.In(time.UTC)}
				if d.IsZero() {
					cells[j] = nil
				}
			}
		}
		if err := sw.SetRow("A"+strconv.Itoa(i+2), cells); err != nil {
			return err
		}
	}
	last, err := excelize.CoordinatesToCellName(max(len(s.header), 1), len(s.rows)+1)
	if err != nil {
		return err
	}
	// The stream writer writes the worksheet's autoFilter element on Flush.
	if err := f.AutoFilter(s.name, "A1:"+last, nil); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

// columnWidths fits each column to its longest cell, within reason.
func columnWidths(s *sheet) []float64 {
	widths := make([]float64, len(s.header))
	fit := func(i int, text string) {
		if n := float64(utf8.RuneCountInString(text)) + 2; n > widths[i] {
			widths[i] = min(n, 60)
		}
	}
	for i, h := range s.header {
		widths[i] = 8
		fit(i, h)
	}
	for _, r := range s.rows {
		for i, v := range r {
			if i < len(widths) {
				fit(i, cellText(v))
			}
		}
	}
	return widths
}

// campaignExport is what the exports of one campaign share: --config,
// --campaign (required), --format and --output.
type campaignExport struct {
	m        *Main
	config   configFlag
	out      exportOutput
	campaign string
}

func (e *campaignExport) register(fs *flag.FlagSet) {
	e.config.register(fs)
	fs.StringVar(&e.campaign, "campaign", "", "campaign `code` (required)")
	e.out.register(fs)
}

func (e *campaignExport) args(rest []string) error {
	if e.campaign == "" {
		return usageErrorf("missing --campaign CODE")
	}
	return e.out.args(rest)
}

// ExportResponsesCommand is "phieu export responses".
type ExportResponsesCommand struct {
	campaignExport
	all        bool
	identified bool
}

func (c *ExportResponsesCommand) flags(fs *flag.FlagSet) {
	c.register(fs)
	fs.BoolVar(&c.all, "all", false, "also partial, late and needs-review responses, with a status column")
	fs.BoolVar(&c.identified, "identified", false, "add each respondent's full name, title and mailbox (warns, and records the export in the audit log)")
}

// Run writes the responses.
func (c *ExportResponsesCommand) Run(ctx context.Context) error {
	cs, err := c.m.openCampaign(ctx, c.config, c.campaign)
	if err != nil {
		return err
	}
	camp := cs.campaign
	rs, err := sqlite.NewInboundService(cs.db, cs.outbox).FindResponses(ctx, camp.Code, 0)
	if err != nil {
		return err
	}
	units, err := sqlite.NewUnitService(cs.db).FindUnits(ctx, store.UnitFilter{})
	if err != nil {
		return err
	}
	var members map[int64]*store.FollowUp
	if c.identified {
		if members, err = followUpsByID(ctx, cs.outbox, camp.Code); err != nil {
			return err
		}
	}
	var kept []*store.Response
	for _, r := range rs {
		if _, ok := responseLabels[r.Status]; !ok || r.Status != store.ResponseCounted && !c.all {
			continue
		}
		if c.identified && r.RespondentID == 0 {
			return store.Errorf(store.EINVALID, "response %d cannot be tied to a member: an identified export needs the "+
				"installation secret phieu had when the response was stored", r.ID)
		}
		kept = append(kept, r)
	}
	s := &sheet{name: "Phiếu trả lời", header: []string{"Mã phiếu", "Nhóm", "Mã đơn vị", "Tên đơn vị"}}
	if c.identified {
		s.header = append(s.header, "Họ và tên", "Chức vụ", "Email")
	}
	for _, q := range camp.Questionnaire.Questions {
		s.header = append(s.header, q.Code)
	}
	s.header = append(s.header, "Ngày nhận")
	if c.all {
		s.header = append(s.header, "Trạng thái")
	}
	places := suppressSmallCells(kept, units)
	loc := camp.Loc()
	type line struct {
		r    *store.Response
		lead []any  // the columns before the answers
		key  string // the order within a day: where it is shown, never finer
	}
	lines := make([]line, len(kept))
	for i, r := range kept {
		if c.identified {
			f := members[r.RespondentID]
			if f == nil {
				f = &store.FollowUp{}
			}
			lines[i] = line{r, []any{r.ID, f.Group, f.UnitCode, f.UnitName, f.Name, f.Title, f.Mailbox}, f.UnitCode + "\x00" + f.Name}
		} else {
			p := places[i]
			lines[i] = line{r, []any{r.ID, p.group, p.unitCode, p.unitName}, p.unitCode + "\x00" + p.unitName + "\x00" + p.group}
		}
	}
	// By day, then by what the row shows, then by the random id: within
	// a merged unit the order must not follow the units merged.
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if !a.r.At.Equal(b.r.At) {
			return a.r.At.Before(b.r.At)
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.r.ID < b.r.ID
	})
	for _, l := range lines {
		r, row := l.r, l.lead
		for _, q := range camp.Questionnaire.Questions {
			row = append(row, answerCell(q, r.Answers))
		}
		row = append(row, store.DateOf(r.At.In(loc)))
		if c.all {
			row = append(row, responseLabels[r.Status])
		}
		s.rows = append(s.rows, row)
	}
	if c.identified {
		if err := c.m.auditIdentified(ctx, cs, c.out.target(), len(s.rows)); err != nil {
			return err
		}
	}
	return c.out.write(c.m, s)
}

// minCell is the fewest responses a de-identified export shows for one
// unit or one group within a unit: fewer could be told apart.
const minCell = 5

// place is where a de-identified export puts a response.
type place struct {
	group, unitCode, unitName string
}

// suppressSmallCells places each response (by the unit and group it was
// stored with) so that no unit and no group within a unit shown holds
// fewer than minCell of them. Bottom-up through the tree, a unit shows its
// own responses with those its small sub-units passed up when together
// they reach minCell, and passes them all to its parent otherwise; what
// reaches the top still short shows no unit at all. A group smaller than
// minCell in the unit shown is left blank.
func suppressSmallCells(rs []*store.Response, units []*store.Unit) []place {
	byCode := make(map[string]*store.Unit, len(units))
	children := map[string][]string{}
	for _, u := range units {
		byCode[u.Code] = u
	}
	var roots []string
	for _, u := range units {
		if u.ParentCode == "" || byCode[u.ParentCode] == nil {
			roots = append(roots, u.Code)
		} else {
			children[u.ParentCode] = append(children[u.ParentCode], u.Code)
		}
	}
	own := map[string]int{}
	for _, r := range rs {
		own[r.UnitCode]++
		if byCode[r.UnitCode] == nil && own[r.UnitCode] == 1 {
			roots = append(roots, r.UnitCode) // a unit no longer in the tree
		}
	}
	shownAs := map[string]place{} // a stored unit code -> where its responses show
	// settle returns the codes whose responses are still to be placed
	// above u, and how many they are.
	var settle func(code string, depth int) ([]string, int)
	settle = func(code string, depth int) ([]string, int) {
		pending, n := []string{code}, own[code]
		merged := false
		if depth < 64 { // a tree deeper than that is a cycle
			for _, ch := range children[code] {
				codes, m := settle(ch, depth+1)
				if m > 0 {
					pending, n, merged = append(pending, codes...), n+m, true
				}
			}
		}
		if n < minCell {
			return pending, n
		}
		p := place{unitCode: code, unitName: code}
		if u := byCode[code]; u != nil {
			p.unitName = u.Name
		}
		if merged {
			p.unitName += " (gộp cả đơn vị cấp dưới)"
		}
		for _, c := range pending {
			shownAs[c] = p
		}
		return nil, 0
	}
	for _, root := range roots {
		codes, _ := settle(root, 0)
		for _, c := range codes {
			shownAs[c] = place{unitName: "Các đơn vị dưới 5 phiếu"}
		}
	}
	out := make([]place, len(rs))
	for i, r := range rs {
		out[i] = shownAs[r.UnitCode]
		out[i].group = r.GroupCode
	}
	// A group too small is blanked; if what is blanked in a unit is itself
	// fewer than minCell (one blank beside five of the other group says
	// which group it is), every group of that unit is.
	groups, blanked := map[place]int{}, map[string]int{}
	for _, p := range out {
		groups[p]++
	}
	for p, n := range groups {
		if n < minCell {
			blanked[p.unitCode+"\x00"+p.unitName] += n
		}
	}
	for i, p := range out {
		if n := blanked[p.unitCode+"\x00"+p.unitName]; groups[p] < minCell || n > 0 && n < minCell {
			out[i].group = ""
		}
	}
	return out
}

// responseLabels are the statuses a response export may hold, as the
// status column shows them; superseded responses are never exported.
var responseLabels = map[store.ResponseStatus]string{
	store.ResponseCounted:     "Được tính",
	store.ResponsePartial:     "Chưa đủ, đã đề nghị bổ sung",
	store.ResponseLate:        "Trả lời sau hạn, chưa tính",
	store.ResponseNeedsReview: "Cần xem xét, chưa tính",
}

// answerCell is the answer to q: a scale's number as a number, a choice's
// letter or the text as text, nil when there is none.
func answerCell(q store.Question, answers []store.ResponseAnswer) any {
	for _, a := range answers {
		if !strings.EqualFold(a.Code, q.Code) {
			continue
		}
		if q.Type == store.AnswerScale {
			if n, err := strconv.Atoi(a.Value); err == nil {
				return n
			}
		}
		return a.Value
	}
	return nil
}

// followUpsByID returns the campaign's members by respondent id.
func followUpsByID(ctx context.Context, outbox *sqlite.OutboxService, campaign string) (map[int64]*store.FollowUp, error) {
	fus, err := outbox.FindFollowUps(ctx, campaign)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*store.FollowUp, len(fus))
	for _, f := range fus {
		out[f.RespondentID] = f
	}
	return out, nil
}

// auditIdentified records an identified export in the audit log before
// any of it is written (no record, no export), and warns on stderr. The
// entry names the CLI user, the campaign, where the export goes, how many
// rows it holds and the command line.
func (m *Main) auditIdentified(ctx context.Context, cs *campaignStore, target string, rows int) error {
	if err := sqlite.NewAuditService(cs.db).RecordAudit(ctx, &store.AuditEntry{
		Actor:    m.cliActor(),
		Action:   store.AuditIdentifiedExport,
		Campaign: cs.campaign.Code,
		Subject:  target,
		Detail:   fmt.Sprintf("rows=%d command=%s", rows, commandLine(m.argv)),
	}); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	fmt.Fprintf(m.Stderr, "phieu: warning: this export (%s) identifies respondents: their names, titles and mailboxes stand next to "+
		"their answers, which are confidential. Keep it safe and delete it when it is no longer needed. Recorded in the audit log "+
		"(phieu audit list --action identified_export).\n", target)
	return nil
}

// commandLine writes the arguments as a shell would take them back.
func commandLine(args []string) string {
	words := []string{"phieu"}
	for _, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("-_.,/:=@+%", r))
		}) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// ExportNonrespondentsCommand is "phieu export nonrespondents".
type ExportNonrespondentsCommand struct {
	campaignExport
	unit string
}

func (c *ExportNonrespondentsCommand) flags(fs *flag.FlagSet) {
	c.register(fs)
	fs.StringVar(&c.unit, "unit", "", "only this unit `code` and the units below it")
}

// Run writes the list.
func (c *ExportNonrespondentsCommand) Run(ctx context.Context) error {
	cs, err := c.m.openCampaign(ctx, c.config, c.campaign)
	if err != nil {
		return err
	}
	unitService := sqlite.NewUnitService(cs.db)
	if c.unit != "" {
		if _, err := unitService.FindUnitByCode(ctx, c.unit); err != nil {
			return err
		}
	}
	units, err := unitService.FindUnits(ctx, store.UnitFilter{Subtree: c.unit})
	if err != nil {
		return err
	}
	unitOrder := map[string]int{}
	unitNames := map[string]string{}
	for i, n := range treeOrder(units) {
		unitOrder[n.unit.Code], unitNames[n.unit.Code] = i, n.unit.Name
	}
	// Vietnamese name order, as respondents list has it; members who left
	// the roster still count as not having answered.
	rs, err := sqlite.NewRespondentService(cs.db).FindRespondents(ctx, store.RespondentFilter{Campaign: cs.campaign.Code,
		Subtree: c.unit, IncludeInactive: true})
	if err != nil {
		return err
	}
	members, err := followUpsByID(ctx, cs.outbox, cs.campaign.Code)
	if err != nil {
		return err
	}
	reasons, err := failureReasons(ctx, cs.outbox, cs.campaign.Code, members)
	if err != nil {
		return err
	}
	var pending []*store.Respondent
	for _, r := range rs {
		switch f := members[r.ID]; {
		case f == nil, f.Status == store.StatusAnswered, f.Status == store.StatusAnsweredNeedsReview, f.Status == store.StatusExcluded:
		default:
			pending = append(pending, r)
		}
	}
	sort.SliceStable(pending, func(i, j int) bool { return unitOrder[pending[i].UnitCode] < unitOrder[pending[j].UnitCode] })
	s := &sheet{name: "Chưa trả lời", header: []string{"STT", "Họ và tên", "Chức vụ", "Đơn vị", "Nhóm", "Email", "Trạng thái", "Lý do"}}
	for i, r := range pending {
		s.rows = append(s.rows, []any{i + 1, r.FullName, r.Title, unitNames[r.UnitCode], r.Group, r.Mailbox,
			members[r.ID].Status.Label(), reasons[r.ID]})
	}
	return c.out.write(c.m, s)
}

// failureReasons says why mail to each member failed, from their latest
// delivery failure: its class and status ("Hộp thư không tồn tại
// (5.1.1)"). A failure before the server last took a message for them is
// history and gives no reason, as in the unit heads' digests.
func failureReasons(ctx context.Context, outbox *sqlite.OutboxService, campaign string, members map[int64]*store.FollowUp) (map[int64]string, error) {
	fs, err := outbox.FindDeliveryFailures(ctx, campaign, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	seen := map[int64]bool{}
	for _, f := range fs { // newest first
		if f.RespondentID == 0 || seen[f.RespondentID] {
			continue
		}
		seen[f.RespondentID] = true
		if m := members[f.RespondentID]; m != nil && m.LastAcceptedAt.After(f.At) {
			continue
		}
		label := []rune(f.Class.Label())
		label[0] = unicode.ToUpper(label[0])
		reason := string(label)
		if f.Status != "" {
			reason += " (" + f.Status + ")"
		}
		out[f.RespondentID] = reason
	}
	return out, nil
}

// ExportFailuresCommand is "phieu export failures".
type ExportFailuresCommand struct {
	m      *Main
	config configFlag
	filter failureFilter
	out    exportOutput
}

func (c *ExportFailuresCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	c.filter.register(fs)
	c.out.register(fs)
}

func (c *ExportFailuresCommand) args(rest []string) error { return c.out.args(rest) }

// Run writes the ledger.
func (c *ExportFailuresCommand) Run(ctx context.Context) error {
	rows, err := c.filter.ledger(ctx, c.m, c.config)
	if err != nil {
		return err
	}
	s := &sheet{name: "Lỗi gửi thư", rows: rows}
	for _, col := range failureColumns {
		s.header = append(s.header, col.vi)
	}
	return c.out.write(c.m, s)
}
