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
response: its id, the member's group, unit code and unit name, one column a
question (in questionnaire order) with the answer (a choice's letter, a
scale's number, the text) and when it was received (dd/mm/yyyy hh:mm in the
campaign's time zone). --all adds the partial, late and needs-review
responses, with a status column; superseded ones are never written.

Answers are confidential: respondents were promised that what they say is
not tied to their name. The export is de-identified: it holds no
respondent id, name or mailbox. --identified adds the full name, title and
mailbox; it warns on stderr and records who exported what, when, in the
audit log (phieu audit list --action identified_export). Keep such a file
safe and delete it when it is no longer needed.

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
// (string, int, int64, bool, time.Time already in the zone to show, or nil
// for an empty cell).
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
	members, err := followUpsByID(ctx, cs.outbox, camp.Code)
	if err != nil {
		return err
	}
	s := &sheet{name: "Phiếu trả lời", header: []string{"Mã phiếu", "Nhóm", "Mã đơn vị", "Tên đơn vị"}}
	if c.identified {
		s.header = append(s.header, "Họ và tên", "Chức vụ", "Email")
	}
	for _, q := range camp.Questionnaire.Questions {
		s.header = append(s.header, q.Code)
	}
	s.header = append(s.header, "Thời gian nhận")
	if c.all {
		s.header = append(s.header, "Trạng thái")
	}
	loc := camp.Loc()
	for i := len(rs) - 1; i >= 0; i-- { // oldest first
		r := rs[i]
		label, ok := responseLabels[r.Status]
		if !ok || r.Status != store.ResponseCounted && !c.all {
			continue
		}
		f := members[r.RespondentID]
		if f == nil {
			f = &store.FollowUp{}
		}
		row := []any{r.ID, f.Group, f.UnitCode, f.UnitName}
		if c.identified {
			row = append(row, f.Name, f.Title, f.Mailbox)
		}
		for _, q := range camp.Questionnaire.Questions {
			row = append(row, answerCell(q, r.Answers))
		}
		row = append(row, r.At.In(loc))
		if c.all {
			row = append(row, label)
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
