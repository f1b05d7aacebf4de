package templates_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/templates"
	"golang.org/x/text/unicode/norm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var ict = time.FixedZone("ICT", 7*3600)

// deadline is the PAR Index 2022 deadline: 03/03/2023, a Friday.
var deadline = time.Date(2023, 3, 3, 23, 59, 59, 0, ict)

func campaign() *store.Campaign {
	return &store.Campaign{
		Code:            "PAR2022",
		Title:           "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2022",
		LegalRef:        "Số: 296/UBND-NCKSTTHC ngày 07/02/2023",
		SenderName:      "Sở Nội vụ tỉnh Bình Sơn",
		SenderAddress:   "snv@binhson.gov.test",
		ReplyTo:         "khaosat.snv@binhson.gov.test",
		OperatorMailbox: "vanthu.snv@binhson.gov.test",
		Office:          "Sở Nội vụ tỉnh Bình Sơn, số 1 đường Trần Hưng Đạo, phường Phú Thủy. Điện thoại: 0252 3 000 000",
		Location:        "Asia/Ho_Chi_Minh",
		OpensAt:         time.Date(2023, 2, 8, 8, 0, 0, 0, ict),
		Deadline:        deadline,
		Groups:          []string{"LDS", "LDP"},
		State:           store.CampaignActive,
		Questionnaire: store.Questionnaire{
			Title: "Phiếu khảo sát Chỉ số cải cách hành chính",
			Intro: "Xin Ông/Bà cho biết ý kiến về từng nội dung dưới đây. Ý kiến của Ông/Bà được giữ bí mật và chỉ dùng để tổng hợp.",
			Questions: []store.Question{
				{Code: "C1", Text: "Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh được thực hiện quyết liệt, hiệu quả", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
				{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính", Type: store.AnswerChoice, Required: true,
					Choices: []store.Choice{{Letter: "A", Text: "Rất hợp lý"}, {Letter: "B", Text: "Hợp lý"}, {Letter: "C", Text: "Chưa hợp lý"}, {Letter: "D", Text: "Không có ý kiến"}}},
				{Code: "C3", Text: "Ý kiến khác để nâng cao chất lượng cải cách hành chính", Type: store.AnswerText},
			},
		},
	}
}

func respondent(name, title string, sal store.Salutation) *store.Respondent {
	return &store.Respondent{ID: 7, FullName: name, Salutation: sal, Title: title, UnitCode: "STP", Group: "LDS", Mailbox: "an.nv@stp.binhson.gov.test", Active: true}
}

var stp = &store.Unit{Code: "STP", Name: "Sở Tư pháp", Head: store.Head{Name: "Trần Văn Bình", Title: "Giám đốc", Mailbox: "binh.tv@stp.binhson.gov.test"}}

func data(edit func(*templates.Data)) *templates.Data {
	d := &templates.Data{
		Campaign:   campaign(),
		Respondent: respondent("Nguyễn Văn An", "Giám đốc", store.SalutationOng),
		Unit:       stp,
		Now:        time.Date(2023, 2, 26, 8, 0, 0, 0, ict), // 5 days left
		Round:      1,
		Ref:        "KS-7F3A9CQ2XM",
	}
	if edit != nil {
		edit(d)
	}
	return d
}

func digestData() *templates.Digest {
	counts := store.StatusCounts{store.StatusInvited: 2, store.StatusAnswered: 5, store.StatusAnsweredNeedsReview: 1, store.StatusAddressFailed: 1}
	return &templates.Digest{
		Counts: counts,
		Pending: []templates.DigestMember{
			{Name: "Lê Thị Hồng", Title: "Phó Giám đốc", UnitName: "Sở Tư pháp", Status: store.StatusInvited},
			{Name: "Phạm Quốc Việt", Title: "Trưởng phòng Hành chính tư pháp", UnitName: "Phòng Hành chính tư pháp", Status: store.StatusInvited},
			{Name: "Võ Minh Tuấn", Title: "Chánh Văn phòng", UnitName: "Văn phòng Sở", Status: store.StatusAddressFailed, Reason: "hộp thư không tồn tại (5.1.1). Đề nghị cung cấp địa chỉ thư đúng"},
		},
		Stats: &store.CampaignStats{
			Total:   counts,
			ByGroup: []store.GroupStats{{Group: "LDS", Counts: store.StatusCounts{store.StatusAnswered: 3, store.StatusInvited: 1}}, {Group: "LDP", Counts: store.StatusCounts{store.StatusAnswered: 3, store.StatusInvited: 1, store.StatusAddressFailed: 1}}},
			ByUnit: []store.UnitStats{
				{UnitCode: "UBND", UnitName: "UBND tỉnh Bình Sơn", Depth: 0, Subtree: counts},
				{UnitCode: "STP", UnitName: "Sở Tư pháp", ParentCode: "UBND", Depth: 1, Subtree: store.StatusCounts{store.StatusAnswered: 4, store.StatusInvited: 2, store.StatusAddressFailed: 1}},
				{UnitCode: "STP-HCTP", UnitName: "Phòng Hành chính tư pháp", ParentCode: "STP", Depth: 2, Subtree: store.StatusCounts{store.StatusAnswered: 1, store.StatusInvited: 1}},
			},
		},
		Failures: []templates.DigestFailure{
			{At: time.Date(2023, 2, 25, 9, 15, 0, 0, ict), Name: "Võ Minh Tuấn", UnitName: "Văn phòng Sở", Mailbox: "tuan.vm@stp.binhson.gov.test", Domain: "stp.binhson.gov.test",
				Stage: "rcpt", Code: 550, Status: "5.1.1", Class: "user_unknown", Text: "<tuan.vm@stp.binhson.gov.test>: Recipient address rejected: User unknown in virtual mailbox table"},
			{At: time.Date(2023, 2, 25, 10, 0, 0, 0, ict), Name: "Đặng Thu Trang", Mailbox: "trang.dt@sxd.binhson.gov.test", Domain: "sxd.binhson.gov.test",
				Stage: "dsn", Code: 552, Status: "5.2.2", Class: "mailbox_full", Text: strings.Repeat("Quota exceeded (mailbox for user is full) ", 12), Count: 2},
			{At: time.Date(2023, 2, 25, 11, 0, 0, 0, ict), Mailbox: "", Domain: "", Stage: "tls", Class: "transient", Text: "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		},
		Since:           time.Date(2023, 2, 24, 17, 0, 0, 0, ict),
		AtRisk:          []store.UnitStats{{UnitCode: "STP-HCTP", UnitName: "Phòng Hành chính tư pháp", Subtree: store.StatusCounts{store.StatusAnswered: 1, store.StatusInvited: 1}}},
		FailedAddresses: 1,
		Review:          2,
	}
}

var allTones = "Đỗ Thị Ẩn Huyền Ngữ Mạnh Phụng Ưng Ơn Ắc Ôn Ê Ỳ Ỷ Ỹ Ỵ Ý"

var cases = []struct {
	name string
	kind templates.Kind
	data *templates.Data
}{
	{"invitation", templates.Invitation, data(nil)},
	{"invitation_every_tone_mark", templates.Invitation, data(func(d *templates.Data) {
		d.Respondent = respondent(allTones+" "+strings.ToLower(allTones), "Phó Trưởng phòng Quản lý xử lý vi phạm hành chính", store.SalutationBa)
	})},
	{"invitation_long_unit", templates.Invitation, data(func(d *templates.Data) {
		d.Unit = &store.Unit{Code: "TTPVHCC", Name: "Trung tâm Phục vụ hành chính công và Kiểm soát thủ tục hành chính thuộc Văn phòng Ủy ban nhân dân tỉnh Bình Sơn (đơn vị sự nghiệp công lập trực thuộc, tiếp nhận hồ sơ một cửa liên thông)"}
		d.Respondent = respondent("Hoàng Thị Thu Hương", "Phó Giám đốc", store.SalutationBa)
	})},
	{"invitation_no_title", templates.Invitation, data(func(d *templates.Data) {
		d.Respondent = respondent("Trần Quang Khải", "", store.SalutationUnknown)
	})},
	{"invitation_dong_chi", templates.Invitation, data(func(d *templates.Data) {
		d.Respondent = respondent("Lý Văn Phúc", "Chủ tịch UBND xã Tân Phước", store.SalutationDongChi)
		d.Unit = &store.Unit{Code: "XTP", Name: "UBND xã Tân Phước"}
		d.Campaign.LegalRef = ""
	})},
	{"invitation_hostile_name", templates.Invitation, data(func(d *templates.Data) {
		d.Respondent = respondent(`Nguyễn <script>alert("x")</script> & Co`, `Giám đốc "A&B"`, store.SalutationOng)
	})},
	{"reminder_round1", templates.Reminder, data(nil)},
	{"reminder_round2", templates.Reminder, data(func(d *templates.Data) { d.Round = 2; d.Now = time.Date(2023, 3, 1, 8, 0, 0, 0, ict) })},
	{"reminder_round3", templates.Reminder, data(func(d *templates.Data) { d.Round = 3; d.Now = time.Date(2023, 3, 2, 8, 0, 0, 0, ict) })},
	{"reminder_last_day", templates.Reminder, data(func(d *templates.Data) { d.Round = 3; d.Now = time.Date(2023, 3, 3, 7, 0, 0, 0, ict) })},
	{"receipt", templates.Receipt, data(func(d *templates.Data) {
		d.Answers = []templates.Answer{
			{Code: "C1", Text: "Công tác chỉ đạo, điều hành", Value: "8"},
			{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy", Value: "B – Hợp lý"},
			{Code: "C3", Text: "Ý kiến khác", Value: "Đề nghị tăng cường số hóa hồ sơ, giảm giấy tờ khi giải quyết thủ tục hành chính cho người dân và doanh nghiệp ở vùng sâu."},
		}
	})},
	{"correction", templates.Correction, data(func(d *templates.Data) {
		d.Problems = []templates.AnswerProblem{
			{Code: "C1", Text: "Công tác chỉ đạo, điều hành", Problem: "giá trị 12 ngoài thang 1–10"},
			{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy", Problem: "chưa trả lời"},
		}
	})},
	{"head_digest", templates.HeadDigest, data(func(d *templates.Data) { d.Respondent = nil; d.Ref = ""; d.Digest = digestData() })},
	{"operator_digest", templates.OperatorDigest, data(func(d *templates.Data) { d.Respondent = nil; d.Unit = nil; d.Ref = ""; d.Digest = digestData() })},
	{"liaison_digest", templates.LiaisonDigest, data(func(d *templates.Data) { d.Respondent = nil; d.Unit = nil; d.Ref = ""; d.Digest = digestData() })},
	{"liaison_alert", templates.LiaisonDigest, data(func(d *templates.Data) {
		d.Respondent, d.Unit, d.Ref, d.Digest = nil, nil, "", digestData()
		d.Digest.Alert = "12 trong 50 lần gửi gần nhất bị máy chủ nhận từ chối vì máy chủ gửi (sender_rejected) hoặc giới hạn tốc độ (throttled)."
	})},
}

func TestGolden(t *testing.T) {
	covered := map[templates.Kind]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.kind] = true
			m, err := templates.Default().Render(tc.kind, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			checkMessage(t, m)
			got := "=== subject\n" + m.Subject + "\n=== text\n" + m.Text + "=== html\n" + m.HTML
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered message (run go test ./templates -update and review the diff):\n%s", path, got)
			}
		})
	}
	for _, k := range templates.Kinds {
		if !covered[k] {
			t.Errorf("no golden case for %s", k)
		}
	}
}

// checkMessage checks what every message must be: one-line subject, text
// lines within 78 characters except unbreakable words, UTF-8, no template
// leftovers, hostile text escaped in HTML.
func checkMessage(t *testing.T, m *templates.Message) {
	t.Helper()
	if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject %q is not one line", m.Subject)
	}
	for i, line := range strings.Split(m.Text, "\n") {
		if n := utf8.RuneCountInString(line); n > 78 && strings.Contains(strings.TrimSpace(line), " ") {
			t.Errorf("text line %d has %d characters: %q", i+1, n, line)
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("text line %d ends with a space: %q", i+1, line)
		}
	}
	for _, part := range []string{m.Subject, m.Text, m.HTML} {
		if !utf8.ValidString(part) || strings.Contains(part, "<no value>") || strings.Contains(part, "%!") {
			t.Errorf("rendering leftovers in %q", part)
		}
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Error("HTML part contains an unescaped <script>")
	}
}

func TestSalutation(t *testing.T) {
	for _, tt := range []struct {
		name, full, title, unit string
		sal                     store.Salutation
		want                    string
	}{
		{"TitleAndUnit", "Nguyễn Văn An", "Giám đốc", "Sở Tư pháp", store.SalutationOng, "Kính gửi: Ông Nguyễn Văn An, Giám đốc Sở Tư pháp"},
		{"Ba", "Trần Thị Bích", "Phó Giám đốc", "Sở Tài chính", store.SalutationBa, "Kính gửi: Bà Trần Thị Bích, Phó Giám đốc Sở Tài chính"},
		{"DongChi", "Lê Văn Cường", "Chủ tịch", "UBND xã Tân Phước", store.SalutationDongChi, "Kính gửi đồng chí Lê Văn Cường, Chủ tịch UBND xã Tân Phước"},
		{"Unknown", "Lê Văn Cường", "Chủ tịch", "UBND xã Tân Phước", store.SalutationUnknown, "Kính gửi: Ông/Bà Lê Văn Cường, Chủ tịch UBND xã Tân Phước"},
		{"TitleNamesUnit", "Nguyễn Văn An", "Giám đốc Sở Tư pháp", "Sở Tư pháp", store.SalutationOng, "Kính gửi: Ông Nguyễn Văn An, Giám đốc Sở Tư pháp"},
		{"TitleNamesUnitWithoutDiacritics", "Nguyễn Văn An", "Giam doc So Tu phap", "Sở Tư pháp", store.SalutationOng, "Kính gửi: Ông Nguyễn Văn An, Giam doc So Tu phap"},
		{"NoTitle", "Nguyễn Văn An", "", "Sở Tư pháp", store.SalutationOng, "Kính gửi: Ông Nguyễn Văn An, Sở Tư pháp"},
		{"TitleNamesBody", "Võ Đức Nam", "Phó Chủ tịch UBND tỉnh", "Ủy ban nhân dân tỉnh Bình Sơn", store.SalutationOng, "Kính gửi: Ông Võ Đức Nam, Phó Chủ tịch UBND tỉnh"},
		{"UyVienIsATitle", "Lê Văn Cường", "Ủy viên Ban Thường vụ", "Tỉnh ủy Bình Sơn", store.SalutationOng, "Kính gửi: Ông Lê Văn Cường, Ủy viên Ban Thường vụ Tỉnh ủy Bình Sơn"},
		{"NothingElse", "Nguyễn Văn An", "", "", store.SalutationOng, "Kính gửi: Ông Nguyễn Văn An"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := templates.Salutation(respondent(tt.full, tt.title, tt.sal), tt.unit)
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDeadlineAndDaysLeft(t *testing.T) {
	c := campaign()
	if got, want := templates.DeadlineText(c), "23 giờ 59 ngày 03/03/2023"; got != want {
		t.Fatalf("DeadlineText = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		now  time.Time
		want int
	}{
		{time.Date(2023, 2, 26, 8, 0, 0, 0, ict), 5},
		{time.Date(2023, 3, 2, 23, 59, 0, 0, ict), 1},
		{time.Date(2023, 3, 3, 0, 0, 0, 0, ict), 0},
		{time.Date(2023, 3, 2, 17, 30, 0, 0, time.UTC), 0}, // 00:30 on 03/03 in Vietnam
		{time.Date(2023, 3, 4, 0, 0, 1, 0, ict), -1},
	} {
		if got := templates.DaysLeft(c, tt.now); got != tt.want {
			t.Errorf("DaysLeft at %v = %d, want %d", tt.now, got, tt.want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"một hai ba bốn năm", "một hai\nba bốn\nnăm"},
		{"dòng một\ndòng hai", "dòng một\ndòng hai"},
		{"siêudàiquáđộrộngcủadòng ngắn", "siêudàiquáđộrộngcủadòng\nngắn"},
		{"", ""},
	} {
		if got := templates.Wrap(tt.in, 8); got != tt.want {
			t.Errorf("Wrap(%q, 8) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Width counts characters, not bytes: 8 Vietnamese letters fit.
	if got := templates.Wrap("ường ường", 9); got != "ường ường" {
		t.Errorf("Wrap counted bytes: %q", got)
	}
}

func TestReflow(t *testing.T) {
	in := "Xin Ông/Bà vui lòng trả lời\nbằng cách bấm Trả lời.\n\nÝ kiến được giữ bí mật."
	want := "Xin Ông/Bà vui lòng\ntrả lời bằng cách\nbấm Trả lời.\n\nÝ kiến được giữ bí\nmật."
	if got := templates.Reflow(in, 20); got != want {
		t.Fatalf("Reflow = %q, want %q", got, want)
	}
}

func TestAnswerLine(t *testing.T) {
	qs := campaign().Questionnaire.Questions
	for i, want := range []string{"C1 [1-10]:", "C2 [A/B/C/D]:", "C3 [ý kiến]:"} {
		if got := templates.AnswerLine(qs[i]); got != want {
			t.Errorf("AnswerLine(%s) = %q, want %q", qs[i].Code, got, want)
		}
	}
	if got := templates.Percent(853, 1000); got != "85,3%" {
		t.Errorf("Percent = %q", got)
	}
}

func TestLoad(t *testing.T) {
	t.Run("OverrideOneFile", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "invitation.subject.tmpl"), []byte("[{{.Ref}}] Phiếu khảo sát của {{.Campaign.SenderName}}\n"), 0o644)
		set, err := templates.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := set.Render(templates.Invitation, data(nil))
		if err != nil {
			t.Fatal(err)
		}
		def, _ := templates.Default().Render(templates.Invitation, data(nil))
		if m.Subject != "[KS-7F3A9CQ2XM] Phiếu khảo sát của Sở Nội vụ tỉnh Bình Sơn" || m.Text != def.Text || m.HTML != def.HTML {
			t.Fatalf("override: subject %q; body kept: %v", m.Subject, m.Text == def.Text)
		}
	})
	t.Run("ErrBrokenOverrideNamesFileAndLine", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "reminder.txt.tmpl"), []byte("Kính gửi\n\n{{.Salutation\n"), 0o644)
		_, err := templates.Load(dir)
		if err == nil || !strings.Contains(err.Error(), "reminder.txt.tmpl:3") {
			t.Fatalf("err = %v; want it to name reminder.txt.tmpl:3", err)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "receipt.subject.tmpl"), []byte("{{.Campaign.Titel}}"), 0o644)
		set, err := templates.Load(dir)
		if err == nil {
			_, err = set.Render(templates.Receipt, data(nil))
		}
		if err == nil || !strings.Contains(err.Error(), "Titel") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrUnknownFile", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "invitaton.txt.tmpl"), []byte("x"), 0o644)
		if _, err := templates.Load(dir); err == nil || !strings.Contains(err.Error(), "invitaton.txt.tmpl") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrMissingDir", func(t *testing.T) {
		if _, err := templates.Load(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("ErrEmptySubject", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "invitation.subject.tmpl"), []byte("  {{/* nothing */}}\n"), 0o644)
		set, err := templates.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.Render(templates.Invitation, data(nil)); err == nil {
			t.Fatal("an empty subject was accepted")
		}
	})
}

// TestRenderComposesNFC: answers may arrive decomposed (windows-1258 writes
// tones as combining marks), campaign files too; every part comes out NFC.
func TestRenderComposesNFC(t *testing.T) {
	d := data(func(d *templates.Data) {
		d.Campaign.Title = norm.NFD.String(d.Campaign.Title)
		d.Campaign.Questionnaire.Questions[0].Text = norm.NFD.String(d.Campaign.Questionnaire.Questions[0].Text)
		d.Respondent = respondent(norm.NFD.String("Đỗ Thị Ẩn"), "", store.SalutationBa)
		d.Answers = []templates.Answer{{Code: "C3", Text: "Ý kiến", Value: norm.NFD.String("Đề nghị số hóa hồ sơ")}}
		d.Problems = []templates.AnswerProblem{{Code: "C1", Text: "Chỉ đạo", Problem: norm.NFD.String("chưa trả lời")}}
	})
	for _, k := range []templates.Kind{templates.Invitation, templates.Receipt, templates.Correction} {
		m, err := templates.Default().Render(k, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			if !norm.NFC.IsNormalString(part) {
				t.Errorf("%s: a part is not NFC", k)
			}
		}
	}
	if norm.NFC.IsNormalString(d.Answers[0].Value) {
		t.Error("Render changed the caller's Data")
	}
}

func TestDefaultsAreNFC(t *testing.T) {
	files, err := filepath.Glob("default/*.tmpl")
	if err != nil || len(files) == 0 {
		t.Fatal(err, files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !norm.NFC.IsNormal(b) {
			t.Errorf("%s is not NFC", f)
		}
	}
}

// TestReminderSubjectRound: a reminder whose round was not set reads as the
// first, never "Nhắc lần 0".
func TestReminderSubjectRound(t *testing.T) {
	for round, want := range map[int]string{0: "Nhắc lần 1 ", 1: "Nhắc lần 1 ", 2: "Nhắc lần 2 ", 3: "Nhắc lần cuối ", 4: "Nhắc lần cuối "} {
		m, err := templates.Default().Render(templates.Reminder, data(func(d *templates.Data) { d.Round = round }))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Subject, want) {
			t.Errorf("round %d: subject %q lacks %q", round, m.Subject, want)
		}
	}
}

// BenchmarkRenderInvitation renders the invitation of one member after
// another: the per-message cost when sending.
func BenchmarkRenderInvitation(b *testing.B) {
	set := templates.Default()
	d := data(nil)
	d.Campaign.UpdatedAt = time.Date(2023, 2, 7, 8, 0, 0, 0, ict)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Render(templates.Invitation, d); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLiaisonDigestAttachesFailures(t *testing.T) {
	d := data(func(d *templates.Data) { d.Respondent, d.Unit, d.Ref, d.Digest = nil, nil, "", digestData() })
	m, err := templates.Default().Render(templates.LiaisonDigest, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("%d attachments", len(m.Attachments))
	}
	a := m.Attachments[0]
	csv := string(a.Data)
	if a.Name != "loi-gui-thu-PAR2022-2023-02-26.csv" || !strings.HasPrefix(csv, "\ufeffThời gian,Hộp thư") ||
		!strings.Contains(csv, "tuan.vm@stp.binhson.gov.test,Võ Minh Tuấn,Văn phòng Sở") || !strings.Contains(csv, "Kiểm tra lại địa chỉ") ||
		strings.Count(csv, "\n") != 1+len(d.Digest.Failures) {
		t.Errorf("%s:\n%s", a.Name, csv)
	}
	d.Digest.Failures = nil
	if m, _ := templates.Default().Render(templates.LiaisonDigest, d); len(m.Attachments) != 0 {
		t.Errorf("an empty spreadsheet attached")
	}
}
