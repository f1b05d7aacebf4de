package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

var simZone = time.FixedZone("ICT", 7*3600)

func simAt(day, month, hour int) time.Time {
	return time.Date(2023, time.Month(month), day, hour, 0, 0, 0, simZone)
}

const simUnits = "STT,Mã đơn vị,Tên đơn vị,Mã đơn vị cấp trên,Loại đơn vị,Thủ trưởng đơn vị,Chức vụ thủ trưởng,Email thủ trưởng\n" +
	"1,UBND,Ủy ban nhân dân tỉnh Bình Sơn,,UBND tỉnh,Nguyễn Minh Giang,Chủ tịch UBND tỉnh,giangnm@binhson.gov.test\n" +
	"2,STP,Sở Tư pháp,UBND,sở,Trần Văn Bình,Giám đốc,binhtv@stp.binhson.gov.test\n" +
	"3,STP-VP,Văn phòng Sở Tư pháp,STP,phòng,,,\n" +
	"4,STP-HC,Phòng Hành chính tư pháp,STP,phòng,Lê Thị Hà,Trưởng phòng,halt@stp.binhson.gov.test\n" +
	"5,STC,Sở Tài chính,UBND,sở,Phạm Quốc Dũng,Giám đốc,dungpq@stc.binhson.gov.test\n" +
	"6,STC-NS,Phòng Ngân sách,STC,phòng,Võ Thị Lan,Trưởng phòng,lanvt@stc.binhson.gov.test\n" +
	"7,SYT,Sở Y tế,UBND,sở,,,\n" +
	"8,SYT-NV,Phòng Nghiệp vụ Y,SYT,phòng,Đặng Minh Tâm,Trưởng phòng,tamdm@syt.binhson.gov.test\n"

// simMembers: 60 people, cb001–cb060, in the order of these units.
var simMembers = []struct {
	unit, group string
	n           int
}{{"UBND", "LDS", 4}, {"STP", "LDS", 8}, {"STP-VP", "LDP", 8}, {"STP-HC", "LDP", 8}, {"STC", "LDS", 8}, {"STC-NS", "LDP", 8}, {"SYT", "LDS", 8}, {"SYT-NV", "LDP", 8}}

const simCampaign = `code: SIM2023
title: "Khảo sát Chỉ số cải cách hành chính năm 2022"
timezone: Asia/Ho_Chi_Minh
opens_at: "20/02/2023 08:00"
deadline: "03/03/2023"
sender:
  name: "Sở Nội vụ tỉnh Bình Sơn"
  address: snv@binhson.gov.test
  reply_to: khaosat@binhson.gov.test
  operator: vanthu@snv.binhson.gov.test
  office: "Sở Nội vụ tỉnh Bình Sơn. Điện thoại: 0252 3 000 000"
groups: [LDS, LDP]
questionnaire:
  title: "Phiếu khảo sát"
  questions:
    - {code: C1, text: "Công tác chỉ đạo cải cách hành chính quyết liệt, hiệu quả", type: scale, min: 1, max: 10, required: true}
    - {code: C2, text: "Việc sắp xếp tổ chức bộ máy", type: choice, choices: {A: "Hợp lý", B: "Chưa hợp lý"}, required: true}
reminders:
  rounds: ["D-7 08:00", "D-3 08:00", "D-1 08:00"]
  min_spacing: 24h
  quiet_hours: "21:00-07:00"
  late_window: 6h
escalation:
  rounds: ["D-5 08:00", "D-2 08:00"]
calendar:
  weekend: [saturday, sunday]
  holidays: ["27/02/2023", "28/02/2023"]
`

// TestSimulation runs a whole campaign, 20/02 to 04/03/2023, hour by hour
// on an injected clock, against the in-process SMTP and IMAP servers, with
// the commands an operator and a cron would run: 60 members in 8 units over
// 3 levels; some answer at once, some after a reminder, some after their
// head's digest, one late, one partly then fully; one address does not
// exist, one mailbox is full then emptied, one is out of office; a
// two-day holiday before the deadline. The golden timeline is exactly what
// each party received, and when.
func TestSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("the 13-day simulation takes a few seconds")
	}
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	dir := t.TempDir()
	smtp := smtptest.Start(t, smtptest.Options{DSN: true})
	imap, err := imaptest.Start(imaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer imap.Close()
	var roster strings.Builder
	roster.WriteString("STT,Mã cán bộ,Họ và tên,Giới tính,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\n")
	i := 0
	for _, g := range simMembers {
		for range g.n {
			i++
			fmt.Fprintf(&roster, "%d,CB%03d,Nguyễn Văn Số%d,Nam,Chuyên viên,%s,%s,cb%03d@binhson.gov.test\n", i, i, i, g.unit, g.group, i)
		}
	}
	config := filepath.Join(dir, "phieu.yaml")
	for name, body := range map[string]string{
		"units.csv": simUnits, "respondents.csv": roster.String(), "campaign.yaml": simCampaign, "imap.password": imap.Password,
		"phieu.yaml": fmt.Sprintf("store:\n  path: phieu.db\nsmtp:\n  host: 127.0.0.1\n  port: %d\n  tls: none\n  per_minute: 0\n  per_hour: 0\n"+
			"imap:\n  host: 127.0.0.1\n  port: %d\n  tls: none\n  username: %s\n  password_file: imap.password\n"+
			"liaison:\n  name: Cán bộ đầu mối kỹ thuật\n  mailbox: cntt@stttt.binhson.gov.test\n", smtp.Port, imap.Port, imap.Username),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := simAt(20, 2, 7)
	mustRunAt(t, "", start, "import", "units", "--config", config, filepath.Join(dir, "units.csv"))
	mustRunAt(t, "", start, "import", "respondents", "--config", config, filepath.Join(dir, "respondents.csv"))
	mustRunAt(t, "", start, "campaign", "create", "--config", config, "-f", filepath.Join(dir, "campaign.yaml"))
	mustRunAt(t, "", start, "campaign", "add-members", "--config", config, "SIM2023")

	cb := func(n int) string { return fmt.Sprintf("cb%03d@binhson.gov.test", n) }
	invitation := map[string]smtptest.Message{}
	reply := func(n int, when time.Time, text string) func() {
		return func() {
			inv := invitation[cb(n)]
			raw, err := imaptest.Reply{From: cb(n), To: "khaosat@binhson.gov.test", Subject: inv.Header.Get("Subject"),
				InReplyTo: inv.Header.Get("Message-Id"), Text: text, Date: when}.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if err := imap.AppendAt("INBOX", raw, when); err != nil {
				t.Fatal(err)
			}
		}
	}
	dsn := func(n int, when time.Time, status, diag string) func() {
		return func() {
			raw := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: "khaosat@binhson.gov.test", EnvelopeID: invitation[cb(n)].EnvelopeID,
				Recipient: cb(n), Status: status, Diagnostic: diag}.Bytes()
			if err := imap.AppendAt("INBOX", raw, when); err != nil {
				t.Fatal(err)
			}
		}
	}
	events := map[time.Time][]func(){}
	on := func(at time.Time, f func()) { events[at] = append(events[at], f) }
	for n := 1; n <= 20; n++ { // at once
		on(simAt(21, 2, 9), reply(n, simAt(21, 2, 9), "C1: 8\nC2: A"))
	}
	for n := 21; n <= 30; n++ { // after the first reminder
		on(simAt(24, 2, 10), reply(n, simAt(24, 2, 10), "C1: 7\nC2: B"))
	}
	on(simAt(24, 2, 10), reply(31, simAt(24, 2, 10), "C1: 9")) // partly: a correction is asked
	on(simAt(1, 3, 9), reply(31, simAt(1, 3, 9), "C2: A"))     // and completed
	for n := 32; n <= 40; n++ {                                // after their head's digest
		on(simAt(1, 3, 10), reply(n, simAt(1, 3, 10), "C1: 6\nC2: A"))
	}
	on(simAt(4, 3, 8), reply(41, simAt(4, 3, 8), "C1: 5\nC2: B")) // after the deadline
	on(simAt(20, 2, 9), dsn(51, simAt(20, 2, 9), "5.1.1", "smtp; 550 5.1.1 <"+cb(51)+">: Recipient address rejected: User unknown"))
	on(simAt(20, 2, 9), dsn(52, simAt(20, 2, 9), "5.2.2", "smtp; 552 5.2.2 <"+cb(52)+">: Mailbox full"))
	on(simAt(22, 2, 10), reply(52, simAt(22, 2, 10), "C1: 10\nC2: A")) // the resent invitation arrived
	on(simAt(20, 2, 9), func() {
		raw, err := imaptest.AutoReply(cb(53), "khaosat@binhson.gov.test", invitation[cb(53)].Header.Get("Subject"),
			invitation[cb(53)].Header.Get("Message-Id"), "Tôi đang đi công tác đến hết ngày 05/03/2023.")
		if err != nil {
			t.Fatal(err)
		}
		imap.AppendAt("INBOX", raw, simAt(20, 2, 9))
	})

	type delivery struct {
		at  time.Time
		msg smtptest.Message
	}
	var deliveries []delivery
	seen := 0
	for day := simAt(20, 2, 0); !day.After(simAt(4, 3, 0)); day = day.AddDate(0, 0, 1) {
		for hour := 7; hour <= 20; hour++ {
			now := day.Add(time.Duration(hour) * time.Hour)
			for _, f := range events[now] {
				f()
			}
			if now.Equal(simAt(20, 2, 8)) { // the operator starts the campaign
				mustRunAt(t, "", now, "send", "--config", config, "--campaign", "SIM2023", "--wait", "0")
			}
			jobs := "plan,send,poll"
			if hour == 17 {
				jobs = "plan,liaison_digest,send,poll"
			}
			mustRunAt(t, "", now, "run", "--once", "--jobs", jobs, "--config", config)
			rec := smtp.Received()
			for _, m := range rec[seen:] {
				deliveries = append(deliveries, delivery{now, m})
				if _, ok := invitation[m.To[0]]; !ok {
					invitation[m.To[0]] = m
				}
			}
			seen = len(rec)
		}
	}

	// What each message was, from its reference.
	db := sqlite.NewDB(filepath.Join(dir, "phieu.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	outbox := sqlite.NewOutboxService(db, nil)
	ctx := context.Background()
	var lines []string
	kinds := map[string][]store.MessageKind{}
	type sent struct {
		at   time.Time
		kind store.MessageKind
		to   string
	}
	var all []sent
	for _, d := range deliveries {
		ref := d.msg.Header.Get("X-Phieu-Ref")
		msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{Ref: ref, Limit: 1})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("message to %s with reference %q: %v", d.msg.To[0], ref, err)
		}
		m := msgs[0]
		kind := string(m.Kind)
		if m.Round > 0 {
			kind = fmt.Sprintf("%s/%d", kind, m.Round)
		}
		lines = append(lines, fmt.Sprintf("%s  %s  %-18s %s", d.at.In(simZone).Format("2006-01-02 15:04"),
			d.at.In(simZone).Format("Mon 02/01 15:04"), kind, d.msg.To[0]))
		kinds[d.msg.To[0]] = append(kinds[d.msg.To[0]], m.Kind)
		all = append(all, sent{d.at, m.Kind, d.msg.To[0]})
	}
	sort.Strings(lines) // by time, then kind and recipient
	for i, l := range lines {
		lines[i] = l[len("2006-01-02 15:04  "):] // the sort key
	}
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "simulation.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/phieu -run TestSimulation -update)", err)
	}
	if got != string(want) {
		t.Errorf("timeline differs from %s (-update rewrites it after review):\n%s", golden, got)
	}

	// The rules, stated as well as pictured.
	count := func(addr string, k store.MessageKind) int {
		n := 0
		for _, x := range kinds[addr] {
			if x == k {
				n++
			}
		}
		return n
	}
	for n := 1; n <= 20; n++ {
		if count(cb(n), store.KindReminder) != 0 || count(cb(n), store.KindReceipt) != 1 {
			t.Errorf("cb%03d answered at once: %v", n, kinds[cb(n)])
		}
	}
	if count(cb(51), store.KindReminder) != 0 {
		t.Errorf("the address that does not exist was reminded: %v", kinds[cb(51)])
	}
	if count(cb(52), store.KindInvitation) != 2 || count(cb(52), store.KindReminder) != 0 {
		t.Errorf("the full mailbox: %v, want the invitation twice and no reminder", kinds[cb(52)])
	}
	if count(cb(53), store.KindReminder) == 0 {
		t.Errorf("out of office is not an answer: %v", kinds[cb(53)])
	}
	if count(cb(31), store.KindCorrection) != 1 || count(cb(31), store.KindReceipt) != 1 {
		t.Errorf("partial then complete: %v", kinds[cb(31)])
	}
	if count(cb(41), store.KindReceipt) != 0 {
		t.Errorf("a late answer got a receipt: %v", kinds[cb(41)])
	}
	for _, d := range all {
		h := d.at.In(simZone).Hour()
		if h < 7 || h >= 21 {
			t.Errorf("%s to %s at %s: in the quiet hours", d.kind, d.to, d.at)
		}
		if d.at.After(simAt(3, 3, 23)) && d.kind != store.KindLiaisonDigest && d.kind != store.KindOperatorDigest {
			t.Errorf("%s to %s at %s: after the deadline", d.kind, d.to, d.at)
		}
		dayOff := d.at.Weekday() == time.Saturday || d.at.Weekday() == time.Sunday || d.at.Month() == 2 && (d.at.Day() == 27 || d.at.Day() == 28)
		if dayOff && (d.kind == store.KindReminder || d.kind == store.KindHeadDigest) {
			t.Errorf("%s to %s at %s: on a day off", d.kind, d.to, d.at)
		}
	}
}
