package main

import (
	"archive/zip"
	"encoding/csv"
	"io"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
)

// exportDuring is when the export fixture's mail is read: 09:00 on
// 02/12/2026 in Vietnam, while the sample campaign is open.
var exportDuring = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

// Members of the sample campaign the export fixture mails.
const (
	mbUBND     = "namvd@binhson.gov.test"    // Võ Đức Nam, UBND: invited, silent
	mbS001     = "loanlth@binhson.gov.test"  // Lý Thị Hồng Loan, S001: answers
	mbS001P1   = "loanltt@binhson.gov.test"  // Lương Thị Thu Loan, S001-P1: bounces
	mbS001P2   = "chault@binhson.gov.test"   // Lý Thanh Châu, S001-P2: answers
	mbS001P3   = "nhungdtt@binhson.gov.test" // Đỗ Thị Thu Nhung, S001-P3: answers from another mailbox
	mbElsewise = "nhung.rieng@binhson.gov.test"
)

// exportFixture is the sample province a week into the campaign: the first
// six members invited; two answered, one from another mailbox (needs
// review), one address bounced, two silent.
func exportFixture(t *testing.T) string {
	t.Helper()
	dir, smtp, imap := sampleWithServers(t)
	mustRunAt(t, dir, exportDuring, "send", "--campaign", "PAR2025", "--limit", "6", "--wait", "0")
	sent := map[string]int{}
	msgs := smtp.Received()
	for i, m := range msgs {
		sent[m.To[0]] = i
	}
	preview := mustRunAt(t, dir, exportDuring, "preview", "--campaign", "PAR2025", "--respondent", "1")
	form := fillIn(preview[strings.Index(preview, "\n\n")+2:])
	reply := func(to, from string) {
		i, ok := sent[to]
		if !ok {
			t.Fatalf("nothing sent to %s: %v", to, sent)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msgs[i].Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := imaptest.Reply{From: from, To: "khaosat.snv@binhson.gov.test", Subject: subject,
			InReplyTo: msgs[i].Header.Get("Message-Id"), Text: "Kính gửi Sở Nội vụ phiếu đã điền.", Quoted: form}.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, imap, raw, exportDuring)
	}
	reply(mbS001, mbS001)
	reply(mbS001P2, mbS001P2)
	reply(mbS001P3, mbElsewise)
	mustAppend(t, imap, imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: "khaosat.snv@binhson.gov.test",
		EnvelopeID: msgs[sent[mbS001P1]].EnvelopeID, Recipient: mbS001P1, Status: "5.1.1",
		Diagnostic: "smtp; 550 5.1.1 User unknown"}.Bytes(), exportDuring)
	mustRunAt(t, dir, exportDuring, "poll", "--once")
	return dir
}

// readCSV parses an export's CSV, checking its BOM.
func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	if !strings.HasPrefix(s, "\ufeff") {
		t.Fatalf("CSV has no BOM: %.40q", s)
	}
	records, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(s, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	return records
}

// column returns the values of the column headed name, one per data row.
func column(t *testing.T, records [][]string, name string) []string {
	t.Helper()
	i := slices.Index(records[0], name)
	if i < 0 {
		t.Fatalf("no column %q in %q", name, records[0])
	}
	var out []string
	for _, r := range records[1:] {
		out = append(out, r[i])
	}
	return out
}

func TestExport(t *testing.T) {
	dir := exportFixture(t)
	export := func(args ...string) string {
		return mustRunAt(t, dir, exportDuring, append([]string{"export"}, args...)...)
	}
	auditJSON := func() []map[string]string {
		return auditEntries(t, mustRunAt(t, dir, exportDuring, "audit", "list", "--action", "identified_export", "--format", "json"))
	}

	t.Run("ResponsesDeidentified", func(t *testing.T) {
		out := export("responses", "--campaign", "PAR2025")
		records := readCSV(t, out)
		want := []string{"Mã phiếu", "Nhóm", "Mã đơn vị", "Tên đơn vị", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "Ngày nhận"}
		if !slices.Equal(records[0], want) {
			t.Errorf("header %q, want %q", records[0], want)
		}
		// Two counted responses (not the needs-review one): fewer than 5
		// in any unit, even the whole tree, so none is shown, nor a group.
		if got := column(t, records, "Mã đơn vị"); !slices.Equal(got, []string{"", ""}) {
			t.Errorf("units %q of 2 responses, want them suppressed", got)
		}
		if got := column(t, records, "Tên đơn vị"); !slices.Equal(got, []string{"Các đơn vị dưới 5 phiếu", "Các đơn vị dưới 5 phiếu"}) {
			t.Errorf("unit names %q", got)
		}
		if got := column(t, records, "Nhóm"); !slices.Equal(got, []string{"", ""}) {
			t.Errorf("groups %q of 2 responses, want them suppressed", got)
		}
		if got := column(t, records, "C1"); !slices.Equal(got, []string{"10", "10"}) {
			t.Errorf("C1 answers %q", got)
		}
		if got := column(t, records, "C4"); !slices.Equal(got, []string{"A", "A"}) {
			t.Errorf("C4 answers %q", got)
		}
		if got := column(t, records, "Ngày nhận"); got[0] != "02/12/2026" {
			t.Errorf("received %q, want 02/12/2026 (the day only, Asia/Ho_Chi_Minh)", got)
		}
		for _, secret := range []string{"@", "Loan", "Châu", "Lý", "Giám đốc", "Chánh Thanh tra", "S001", "Tư pháp"} {
			if strings.Contains(out, secret) {
				t.Errorf("de-identified export holds %q:\n%s", secret, out)
			}
		}
		if es := auditJSON(); len(es) != 0 {
			t.Errorf("a de-identified export was audited: %v", es)
		}

		records = readCSV(t, export("responses", "--campaign", "PAR2025", "--all"))
		// One day, one (merged) unit: the order is the random ids'.
		if got := column(t, records, "Trạng thái"); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"Cần xem xét, chưa tính", "Được tính", "Được tính"}) {
			t.Errorf("--all statuses %q", got)
		}
		if got := column(t, records, "Mã đơn vị"); !slices.Equal(got, []string{"", "", ""}) {
			t.Errorf("--all units %q, want them suppressed", got)
		}
	})

	t.Run("ResponsesIdentified", func(t *testing.T) {
		path := filepath.Join(dir, "danh-tinh.csv")
		for range 2 {
			code, out, errs := runAt(t, dir, exportDuring, "export", "responses", "--campaign", "PAR2025", "--identified", "--output", path)
			if code != exitOK || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
			}
			if !strings.Contains(errs, "identifies respondents") || !strings.Contains(errs, "phieu audit list --action identified_export") {
				t.Errorf("no warning naming the audit log on stderr: %q", errs)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		records := readCSV(t, string(data))
		if got := column(t, records, "Họ và tên"); !slices.Equal(got, []string{"Lý Thị Hồng Loan", "Lý Thanh Châu"}) {
			t.Errorf("names %q", got)
		}
		if got := column(t, records, "Email"); !slices.Equal(got, []string{mbS001, mbS001P2}) {
			t.Errorf("mailboxes %q", got)
		}
		if got := column(t, records, "Chức vụ"); got[0] != "Giám đốc" {
			t.Errorf("titles %q", got)
		}
		if got := column(t, records, "C4"); got[0] != "A" {
			t.Errorf("answers %q", got)
		}

		es := auditJSON()
		if len(es) != 2 {
			t.Fatalf("%d identified_export entries, want one per export: %v", len(es), es)
		}
		want := map[string]string{"at": "02/12/2026 09:00", "actor": NewMain().cliActor(), "action": "identified_export",
			"campaign": "PAR2025", "subject": path,
			"detail": "rows=2 command=phieu export responses --campaign PAR2025 --identified --output " + path}
		if !maps.Equal(es[0], want) {
			t.Errorf("audit entry %v\nwant %v", es[0], want)
		}
		if strings.HasPrefix(want["actor"], "cli:unknown") {
			t.Errorf("actor %q: the OS user name is unknown", want["actor"])
		}
		if _, err := os.Stat(filepath.Join(dir, "audit.log")); !os.IsNotExist(err) {
			t.Errorf("audit.log written beside the audit table: %v", err)
		}
	})

	t.Run("Nonrespondents", func(t *testing.T) {
		records := readCSV(t, export("nonrespondents", "--campaign", "PAR2025", "--unit", "S001"))
		want := []string{"STT", "Họ và tên", "Chức vụ", "Đơn vị", "Nhóm", "Email", "Trạng thái", "Lý do"}
		if !slices.Equal(records[0], want) {
			t.Fatalf("header %q, want %q", records[0], want)
		}
		mailboxes := column(t, records, "Email")
		for _, mb := range []string{mbS001, mbS001P2, mbS001P3, mbUBND} {
			if slices.Contains(mailboxes, mb) {
				t.Errorf("%s is listed (answered, or outside S001)", mb)
			}
		}
		i := slices.Index(mailboxes, mbS001P1)
		if i < 0 {
			t.Fatalf("the bounced member of S001-P1 is missing: %q", mailboxes)
		}
		if r := records[i+1]; r[3] != "Văn phòng Sở Tư pháp" || r[6] != "Địa chỉ thư lỗi" || r[7] != "Hộp thư không tồn tại (5.1.1)" {
			t.Errorf("bounced member: %q", r)
		}
		units := column(t, records, "Đơn vị")
		for _, u := range []string{"Sở Tư pháp", "Văn phòng Sở Tư pháp", "Thanh tra Sở Tư pháp", "Phòng Kế hoạch - Tài chính Sở Tư pháp"} {
			if !slices.Contains(units, u) {
				t.Errorf("no member of %s (sub-units count): %q", u, units)
			}
		}
		// By unit in tree order, then by name the Vietnamese way (tên, họ).
		if units[0] != "Sở Tư pháp" || !slices.IsSortedFunc(records[1:], func(a, b []string) int {
			return slices.Index(units, a[3]) - slices.Index(units, b[3])
		}) {
			t.Errorf("not grouped by unit: %q", units)
		}
		if got := column(t, records, "STT"); got[0] != "1" || got[len(got)-1] != strconv.Itoa(len(got)) {
			t.Errorf("STT %q", got)
		}
		names := column(t, records, "Họ và tên")
		if a, b := slices.Index(names, "Đỗ Đức Cường"), slices.Index(names, "Lương Ngọc Hằng"); a < 0 || b < a {
			t.Errorf("Cường should come before Hằng: %q", names)
		}
		for _, secret := range []string{"10", "Không có ý kiến"} {
			if strings.Contains(strings.Join(column(t, records, "Lý do"), ""), secret) {
				t.Errorf("an answer leaked: %q", secret)
			}
		}

		all := readCSV(t, export("nonrespondents", "--campaign", "PAR2025"))
		mailboxes = column(t, all, "Email")
		if i := slices.Index(mailboxes, mbUBND); i < 0 || all[i+1][6] != "Đã gửi, chưa trả lời" || all[i+1][7] != "" {
			t.Errorf("without --unit the silent UBND member should be listed: %q", mailboxes)
		}
		if len(all) <= len(records) {
			t.Errorf("all units: %d rows, S001 alone: %d", len(all), len(records))
		}
	})

	t.Run("Failures", func(t *testing.T) {
		ledger := readCSV(t, mustRunAt(t, dir, exportDuring, "failures", "--format", "csv"))
		exported := readCSV(t, export("failures"))
		if len(ledger) < 2 || !slices.EqualFunc(ledger[1:], exported[1:], slices.Equal) {
			t.Errorf("export failures rows differ from phieu failures:\n%q\n%q", ledger, exported)
		}
		if exported[0][0] != "Thời gian" || len(exported[0]) != len(ledger[0]) {
			t.Errorf("header %q", exported[0])
		}
		filtered := readCSV(t, export("failures", "--campaign", "PAR2025", "--class", "mailbox_full"))
		if len(filtered) != 1 {
			t.Errorf("--class mailbox_full: %q", filtered)
		}
	})

	t.Run("XLSX", func(t *testing.T) {
		path := filepath.Join(dir, "phieu-tra-loi.xlsx")
		export("responses", "--campaign", "PAR2025", "--all", "--format", "xlsx", "--output", path)
		f, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		const sh = "Phiếu trả lời"
		if got := f.GetSheetList(); !slices.Equal(got, []string{sh}) {
			t.Fatalf("sheets %q", got)
		}
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0][0] != "Mã phiếu" || rows[0][3] != "Tên đơn vị" || rows[0][13] != "Trạng thái" || rows[1][3] != "Các đơn vị dưới 5 phiếu" {
			t.Fatalf("rows %q", rows)
		}
		if panes, err := f.GetPanes(sh); err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
			t.Errorf("header not frozen: %+v %v", panes, err)
		}
		if st := cellStyle(t, f, sh, "A1"); st.Font == nil || !st.Font.Bold {
			t.Errorf("header not bold: %+v", st)
		}
		// M2 is the day received: a number with a date format.
		if raw, _ := f.GetCellValue(sh, "M2", excelize.Options{RawCellValue: true}); raw == "" {
			t.Error("no received day")
		} else if n, err := strconv.ParseFloat(raw, 64); err != nil {
			t.Errorf("received day %q is not a number", raw)
		} else if at, _ := excelize.ExcelDateToTime(n, false); !at.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("received day %v, want 02/12/2026", at)
		}
		if st := cellStyle(t, f, sh, "M2"); st.CustomNumFmt == nil || *st.CustomNumFmt != "dd/mm/yyyy" {
			t.Errorf("received day format %+v", st)
		}
		if got, _ := f.GetCellValue(sh, "M2"); got != "02/12/2026" {
			t.Errorf("received day shows %q", got)
		}
		for _, cell := range []string{"A2", "E2"} { // response id, C1's scale answer
			if typ, _ := f.GetCellType(sh, cell); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
				t.Errorf("%s is not a number: type %v", cell, typ)
			}
		}
		if w, _ := f.GetColWidth(sh, "D"); w < float64(len([]rune("Các đơn vị dưới 5 phiếu"))) {
			t.Errorf("column D is %v wide", w)
		}
		xml := strings.ReplaceAll(zipFile(t, path, "xl/worksheets/sheet1.xml"), "$", "")
		if !strings.Contains(xml, `<autoFilter ref="A1:N4"`) {
			t.Errorf("no autofilter over the table:\n%s", xml)
		}
		if !strings.Contains(xml, `<cols><col min="1" max="1" `) {
			t.Errorf("column widths out of column order:\n%s", xml)
		}

		// The format follows the file's extension; each export names its sheet.
		for _, tc := range []struct{ kind, sheet string }{{"nonrespondents", "Chưa trả lời"}, {"failures", "Lỗi gửi thư"}} {
			path := filepath.Join(dir, tc.kind+".xlsx")
			export(tc.kind, "--campaign", "PAR2025", "--output", path)
			f, err := excelize.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetSheetList(); !slices.Equal(got, []string{tc.sheet}) {
				t.Errorf("%s sheets %q", tc.kind, got)
			}
			if tc.kind == "failures" {
				if st := cellStyle(t, f, tc.sheet, "A2"); st.CustomNumFmt == nil || *st.CustomNumFmt != "dd/mm/yyyy hh:mm" {
					t.Errorf("failure time is not a date: %+v", st)
				}
			}
			f.Close()
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want int
			msg  string
		}{
			{"UnknownCampaign", []string{"responses", "--campaign", "NOPE2025"}, exitFailure, "campaign NOPE2025 not found"},
			{"UnknownCampaignNonrespondents", []string{"nonrespondents", "--campaign", "NOPE2025"}, exitFailure, "NOPE2025"},
			{"UnknownCampaignFailures", []string{"failures", "--campaign", "NOPE2025"}, exitFailure, "NOPE2025"},
			{"UnknownUnit", []string{"nonrespondents", "--campaign", "PAR2025", "--unit", "S999"}, exitFailure, "unit S999 not found"},
			{"NoCampaign", []string{"responses"}, exitUsage, "--campaign"},
			{"XLSXToStdout", []string{"responses", "--campaign", "PAR2025", "--format", "xlsx"}, exitUsage, "--output"},
			{"XLSXToDash", []string{"failures", "--format", "xlsx", "--output", "-"}, exitUsage, "--output"},
			{"BadFormat", []string{"failures", "--format", "ods"}, exitUsage, "not csv or xlsx"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errs := runAt(t, dir, exportDuring, append([]string{"export"}, tc.args...)...)
				if code != tc.want || !strings.Contains(errs, tc.msg) {
					t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.want, errs, tc.msg)
				}
				if out != "" {
					t.Errorf("wrote %q", out)
				}
			})
		}
	})
}

func cellStyle(t *testing.T, f *excelize.File, sheet, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// zipFile returns one member of a zip archive (an XLSX file's XML).
func zipFile(t *testing.T, path, name string) string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	r, err := z.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestExportCSVDisarmsFormulas(t *testing.T) {
	var b strings.Builder
	s := &sheet{header: []string{"Mã phiếu", "C8", "Thời gian nhận"}, rows: [][]any{
		{int64(7), "=HYPERLINK(\"http://x.test\")", time.Date(2026, 12, 2, 9, 5, 0, 0, time.UTC)},
		{int64(8), "- Không có ý kiến", nil},
		{int64(9), "Tốt", nil},
	}}
	if err := writeCSV(&b, s); err != nil {
		t.Fatal(err)
	}
	records := readCSV(t, b.String())
	want := [][]string{{"7", `'=HYPERLINK("http://x.test")`, "02/12/2026 09:05"}, {"8", "'- Không có ý kiến", ""}, {"9", "Tốt", ""}}
	if !slices.EqualFunc(records[1:], want, slices.Equal) {
		t.Errorf("rows %q, want %q", records[1:], want)
	}
}

// A de-identified export shows no unit, and no group within a unit, with
// fewer than 5 responses: small units merge into the nearest unit above
// that reaches 5, small groups are blanked, and so is every group of a
// unit where what was blanked would stand out.
func TestSuppressSmallCells(t *testing.T) {
	units := []*store.Unit{
		{Code: "T", Name: "Tỉnh"},
		{Code: "A", Name: "Sở A", ParentCode: "T"},
		{Code: "A1", Name: "Phòng A1", ParentCode: "A"},
		{Code: "A2", Name: "Phòng A2", ParentCode: "A"},
		{Code: "B", Name: "Sở B", ParentCode: "T"},
		{Code: "C", Name: "Sở C", ParentCode: "T"},
	}
	var rs []*store.Response
	add := func(unit, group string, n int) {
		for range n {
			rs = append(rs, &store.Response{UnitCode: unit, GroupCode: group})
		}
	}
	add("A1", "CV", 5) // A1 stands on its own, its group too
	add("A2", "CV", 2) // A2 passes up to A, which then shows 4 + 2
	add("A", "LD", 4)
	add("B", "CV", 6) // B stands; its one LD would stand out: no group shown
	add("B", "LD", 1)
	add("C", "CV", 3) // C passes up to T, which has too few
	got := map[place]int{}
	for _, p := range suppressSmallCells(rs, units) {
		got[p]++
	}
	want := map[place]int{
		{group: "CV", unitCode: "A1", unitName: "Phòng A1"}:                   5,
		{group: "", unitCode: "A", unitName: "Sở A (gộp cả đơn vị cấp dưới)"}: 6,
		{group: "", unitCode: "B", unitName: "Sở B"}:                          7,
		{group: "", unitName: "Các đơn vị dưới 5 phiếu"}:                      3,
	}
	if !maps.Equal(got, want) {
		t.Errorf("places %v\nwant %v", got, want)
	}
	for p, n := range got {
		if n < minCell && p.group != "" {
			t.Errorf("group %s shown for %d responses in %s", p.group, n, p.unitName)
		}
	}

	// The whole tree below 5: no unit at all.
	small := suppressSmallCells(rs[:2], units)
	for _, p := range small {
		if p != (place{unitName: "Các đơn vị dưới 5 phiếu"}) {
			t.Errorf("2 responses placed at %+v", p)
		}
	}
}

// Without the installation secret a command that only reads still works
// and creates none. Under another secret (the file lost and made anew) the
// responses read de-identified and the identified export is refused.
func TestExport_WithoutTheSecret(t *testing.T) {
	dir := exportFixture(t)
	secret := filepath.Join(dir, "phieu.secret")
	if err := os.Rename(secret, secret+".away"); err != nil {
		t.Fatal(err)
	}
	mustRunAt(t, dir, exportDuring, "audit", "list")
	if _, err := os.Stat(secret); !os.IsNotExist(err) {
		t.Fatalf("a read-only command made a secret file: %v", err)
	}

	t.Setenv("PHIEU_SECRET", "not the secret the answers were stored under")
	records := readCSV(t, mustRunAt(t, dir, exportDuring, "export", "responses", "--campaign", "PAR2025"))
	if len(records) != 3 || column(t, records, "C1")[0] != "10" {
		t.Errorf("de-identified export under another secret: %q", records)
	}
	code, out, errs := runAt(t, dir, exportDuring, "export", "responses", "--campaign", "PAR2025", "--identified")
	if code == exitOK || !strings.Contains(errs, "cannot be tied to a member") || strings.Contains(out, "@") {
		t.Errorf("identified export under another secret: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if es := auditEntries(t, mustRunAt(t, dir, exportDuring, "audit", "list", "--action", "identified_export", "--format", "json")); len(es) != 0 {
		t.Errorf("a refused export was audited: %v", es)
	}
	for _, r := range auditEntries(t, mustRunAt(t, dir, exportDuring, "responses", "list", "--campaign", "PAR2025", "--format", "json")) {
		if r["respondent"] != "0" || r["from"] != "" {
			t.Errorf("responses list under another secret names %q %q", r["respondent"], r["from"])
		}
	}
}
