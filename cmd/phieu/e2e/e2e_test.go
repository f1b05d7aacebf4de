package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phieu/phieu/poller/imaptest"
)

// role is what a member does during the campaign.
type role int

const (
	answersAtTop        role = iota // types the answers above the quoted invitation
	answersInQuote                  // types each answer into the quoted form
	partialThenComplete             // answers C1, gets a correction request, sends the rest
	partial                         // answers C1 only
	htmlOnly                        // replies from a client that sends HTML only
	otherMailbox                    // replies from a mailbox that is not theirs
	outOfOffice                     // an automatic out-of-office answer
	unknownUser                     // no such mailbox: Dovecot refuses, Postfix bounces
	overQuota                       // 1 KiB quota: Dovecot refuses, Postfix bounces
	tempFail                        // Postfix answers RCPT with 450 until the test lifts it
	rejected                        // Postfix answers RCPT with 550
	deadServer                      // a domain whose server never answers: delay notice, then expiry
	silent                          // never answers
)

// roles[i] is member i's role; the rest are silent.
var roles = []role{
	answersAtTop, answersAtTop, answersAtTop, answersAtTop, answersAtTop,
	answersAtTop, answersAtTop, answersAtTop, answersAtTop, answersAtTop,
	answersInQuote, answersInQuote, answersInQuote, answersInQuote,
	partialThenComplete, partial, partial, htmlOnly, otherMailbox, outOfOffice,
	unknownUser, overQuota, tempFail, rejected, deadServer,
}

func (r role) answers() bool {
	return r == answersAtTop || r == answersInQuote || r == partialThenComplete || r == htmlOnly
}

type unit struct{ Code, Name, Parent, Kind, Head, HeadTitle, HeadLocal string }

// A three-level tree: the province, its departments and communes, and
// the divisions of the departments.
var units = []unit{
	{"TINH", "Tỉnh Bình Sơn", "", "tỉnh", "Nguyễn Minh Giang", "Chủ tịch UBND tỉnh", "giangnm"},
	{"HDND", "Hội đồng nhân dân tỉnh Bình Sơn", "TINH", "HĐND tỉnh", "Hoàng Minh Thắng", "Chủ tịch HĐND tỉnh", "thanghm"},
	{"STP", "Sở Tư pháp", "TINH", "sở", "Phạm Thị Kim Mai", "Giám đốc Sở Tư pháp", "maiptk"},
	{"STP-VP", "Văn phòng Sở Tư pháp", "STP", "phòng", "Đỗ Minh Lâm", "Chánh Văn phòng", "lamdm"},
	{"STP-TT", "Thanh tra Sở Tư pháp", "STP", "phòng", "Phan Ngọc Khánh", "Chánh Thanh tra", "khanhpn"},
	{"STC", "Sở Tài chính", "TINH", "sở", "Dương Đức Trung", "Giám đốc Sở Tài chính", "trungdd"},
	{"STC-NS", "Phòng Quản lý ngân sách", "STC", "phòng", "Đỗ Thanh Uyên", "Trưởng phòng", "uyendt"},
	{"XPT", "UBND phường Phú Thủy", "TINH", "UBND cấp xã", "Trần Công Tuấn", "Chủ tịch UBND phường", "tuantc"},
	{"XHT", "UBND xã Hòa Thắng", "TINH", "UBND cấp xã", "Võ Hữu Toàn", "Chủ tịch UBND xã", "toanvh"},
}

type member struct {
	Code, Name, Title, Unit, Group, Addr string
	Role                                 role
}

var (
	families = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"}
	middles  = []string{"Văn", "Thị", "Hữu", "Minh", "Ngọc", "Đức", "Thu", "Quốc", "Thanh", "Xuân"}
	givens   = []string{"An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương", "Khánh",
		"Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Nhung", "Phong", "Phúc", "Quang", "Quyên", "Sơn", "Tâm", "Thảo", "Thắng",
		"Thủy", "Trang", "Trung", "Tuấn", "Tùng", "Uyên", "Vân", "Việt", "Xuân", "Yến", "Đạt", "Ánh", "Bảo", "Châu", "Diệp",
		"Đông", "Gấm", "Hậu", "Hiền", "Khoa", "Lộc", "Mỹ"}
)

// campaign is one run's world: its own mailboxes, so runs never mix.
type campaign struct {
	run, code, domain                        string
	survey, operator, liaison, other, sender string
	members                                  []member
}

func newCampaign(s *Mailstack) *campaign {
	b := make([]byte, 3)
	rand.Read(b)
	run := hex.EncodeToString(b)
	d := s.Domain
	c := &campaign{run: run, code: "E2E-" + strings.ToUpper(run), domain: d,
		survey: "khaosat." + run + "@" + d, operator: "vanthu." + run + "@" + d, liaison: "cntt." + run + "@" + d,
		other: "thuky." + run + "@" + d, sender: "snv." + run + "@" + d}
	for i := range 50 {
		u := units[1+i%(len(units)-1)]
		m := member{Code: fmt.Sprintf("CB%03d", i+1), Name: families[i%len(families)] + " " + middles[i%len(middles)] + " " + givens[i],
			Unit: u.Code, Addr: fmt.Sprintf("cb%02d.%s@%s", i, run, d), Role: silent}
		if i < len(roles) {
			m.Role = roles[i]
		}
		switch u.Kind {
		case "HĐND tỉnh":
			m.Group, m.Title = "HDND", "Đại biểu HĐND tỉnh"
		case "sở":
			m.Group, m.Title = "LDS", "Phó Giám đốc"
		case "phòng":
			m.Group, m.Title = "LDP", "Phó Trưởng phòng"
		default:
			m.Group, m.Title = "LDX", "Phó Chủ tịch"
		}
		if m.Role == deadServer {
			m.Addr = fmt.Sprintf("cb%02d.%s@%s", i, run, s.DeadDomain)
		}
		c.members = append(c.members, m)
	}
	return c
}

func (c *campaign) head(u unit) string { return u.HeadLocal + "." + c.run + "@" + c.domain }

func (c *campaign) byRole(r role) []member {
	var out []member
	for _, m := range c.members {
		if m.Role == r {
			out = append(out, m)
		}
	}
	return out
}

// TestCampaignThroughPostfixAndDovecot runs a whole campaign, scaled to
// minutes, through the real phieu daemon, Postfix (submission with
// STARTTLS and AUTH) and Dovecot (IMAPS, IDLE), with real bounces, and
// restarts the daemon twice on the way.
func TestCampaignThroughPostfixAndDovecot(t *testing.T) {
	s := Require(t)
	began := time.Now()
	bin := buildPhieu(t)
	c := newCampaign(s)
	dir := t.TempDir()
	if os.Getenv("PHIEU_E2E_KEEP") != "" {
		// The store, config and daemon log, kept to look into afterwards.
		var err error
		if dir, err = os.MkdirTemp("", "phieu-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("campaign %s in %s", c.code, dir)

	// The stack's side: mailboxes for everyone but the unknown user and the
	// ones refused at RCPT, a 1 KiB quota for the over-quota member.
	var boxes []string
	for _, u := range units {
		boxes = append(boxes, c.head(u))
	}
	boxes = append(boxes, c.survey, c.operator, c.liaison, c.other)
	for _, m := range c.members {
		switch m.Role {
		case unknownUser, overQuota, rejected, deadServer:
		default:
			boxes = append(boxes, m.Addr)
		}
	}
	s.AddUsers(t, "", boxes...)
	s.AddUsers(t, "1K", c.byRole(overQuota)[0].Addr)
	s.Access(t, c.byRole(tempFail)[0].Addr, "450 4.2.1 Mailbox temporarily unavailable, try again later")
	s.Access(t, c.byRole(rejected)[0].Addr, "550 5.7.1 Recipient address rejected: access denied")
	t.Cleanup(func() {
		s.Access(t, c.byRole(tempFail)[0].Addr, "OK")
		s.Access(t, c.byRole(rejected)[0].Addr, "OK")
	})

	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	// Reminders and unit-head digests at the first whole minute at least
	// 75 s away: time for invitations, replies and bounces before it.
	round := now.Add(75 * time.Second).Truncate(time.Minute)
	if round.Before(now.Add(75 * time.Second)) {
		round = round.Add(time.Minute)
	}
	deadline := round.Add(2 * time.Minute)
	health := freeAddr(t)
	config := writeFiles(t, dir, s, c, now.Add(-2*time.Minute), round, deadline, health)
	env := []string{"PHIEU_E2E_PASSWORD=" + s.Password, "PHIEU_CONFIG=" + config}
	phieu := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("phieu %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}

	// The operator: rosters, campaign, a first batch by hand.
	phieu("import", "units", filepath.Join(dir, "units.csv"))
	phieu("import", "respondents", filepath.Join(dir, "respondents.csv"))
	phieu("campaign", "create", "-f", filepath.Join(dir, "campaign.yaml"))
	if out := phieu("campaign", "add-members", c.code); !strings.Contains(out, "50") {
		t.Fatalf("add-members: %s", out)
	}
	phieu("send", "--campaign", c.code, "--limit", "5", "--wait", "0")
	human, err := imaptest.Human(c.operator, c.survey, "Lịch họp giao ban tuần", "Kính gửi các đồng chí, lịch họp giao ban tuần này dời sang thứ Năm.")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(c.operator, []string{c.survey}, human); err != nil {
		t.Fatalf("human mail: %v", err)
	}

	// The daemon invites the rest; stopped with SIGTERM while sending
	// (smtp.per_minute spreads the invitations over seconds), started again.
	logPath := filepath.Join(dir, "daemon.log")
	d := startDaemon(t, bin, config, health, logPath, env)
	deliverable := func(m member) bool {
		return m.Role != unknownUser && m.Role != overQuota && m.Role != tempFail && m.Role != rejected && m.Role != deadServer
	}
	invited := func(min int) func() (bool, string) {
		return func() (bool, string) {
			n := 0
			for _, m := range c.members {
				if deliverable(m) && len(s.pick(t, m.Addr, isInvitation)) > 0 {
					n++
				}
			}
			return n >= min, fmt.Sprintf("%d members have their invitation", n)
		}
	}
	waitFor(t, 30*time.Second, "15 invitations", invited(15))
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM while sending: %v\n%s", err, tail(logPath))
	}
	d = startDaemon(t, bin, config, health, logPath, env)
	want := 0
	for _, m := range c.members {
		if deliverable(m) {
			want++
		}
	}
	waitFor(t, 60*time.Second, "every deliverable invitation", invited(want))
	checkInvitation(t, s, c, c.members[0], deadline)

	// Members answer, as people do. The daemon is killed (-9) after the
	// first half reached Postfix; the second half arrives while it is dead.
	var late []func()
	for i, m := range c.members {
		inv := first(s.pick(t, m.Addr, isInvitation))
		send := func() {
			if err := reply(s, c, m, inv, false); err != nil {
				t.Fatalf("%s replies: %v", m.Name, err)
			}
		}
		if inv == nil || m.Role == silent || !slices.Contains([]role{answersAtTop, answersInQuote, partialThenComplete, partial, htmlOnly, otherMailbox, outOfOffice}, m.Role) {
			continue
		}
		if i%2 == 0 {
			send()
		} else {
			late = append(late, send)
		}
	}
	if err := d.stop(syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("kill -9: %v", err)
	}
	for _, send := range late {
		send()
	}
	d = startDaemon(t, bin, config, health, logPath, env)

	// Receipts for complete answers, correction requests for partial ones;
	// the member who completes gets a receipt for the merged answers.
	waitFor(t, 60*time.Second, "receipts and correction requests", func() (bool, string) {
		var missing []string
		for _, m := range c.members {
			switch {
			case m.Role == answersAtTop || m.Role == answersInQuote || m.Role == htmlOnly:
				if len(s.pick(t, m.Addr, isReceipt)) == 0 {
					missing = append(missing, "receipt for "+m.Name)
				}
			case m.Role == partial || m.Role == partialThenComplete:
				if len(s.pick(t, m.Addr, isCorrection)) == 0 {
					missing = append(missing, "correction for "+m.Name)
				}
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
	completer := c.byRole(partialThenComplete)[0]
	if err := reply(s, c, completer, first(s.pick(t, completer.Addr, isCorrection)), true); err != nil {
		t.Fatal(err)
	}
	corr := first(s.pick(t, c.byRole(partial)[0].Addr, isCorrection))
	if !strings.Contains(corr.Text, "C2") || !strings.Contains(corr.Text, "C3") {
		t.Errorf("the correction request does not name the missing answers C2, C3:\n%s", corr.Text)
	}
	waitFor(t, 30*time.Second, "a receipt for the completed answers", func() (bool, string) {
		return len(s.pick(t, completer.Addr, isReceipt)) == 1, "no receipt yet"
	})

	// The temporary failure ends: the retried invitation is delivered.
	tf := c.byRole(tempFail)[0]
	s.Access(t, tf.Addr, "OK")
	waitFor(t, 40*time.Second, "the retried invitation", func() (bool, string) {
		return len(s.pick(t, tf.Addr, isInvitation)) == 1, "not delivered yet"
	})

	// The failure ledger: real Postfix bounces and SMTP-time refusals.
	waitFor(t, 150*time.Second, "the failure ledger", func() (bool, string) {
		got := failureClasses(t, phieu, c.code)
		wantRows := map[string]string{
			c.byRole(unknownUser)[0].Addr: "dsn user_unknown true",
			c.byRole(overQuota)[0].Addr:   "dsn mailbox_full false",
			c.byRole(rejected)[0].Addr:    "rcpt",
			tf.Addr:                       "rcpt",
			c.byRole(deadServer)[0].Addr:  "dsn expired",
		}
		var miss []string
		for addr, w := range wantRows {
			if !slices.ContainsFunc(got[addr], func(g string) bool { return strings.HasPrefix(g, w) }) {
				miss = append(miss, fmt.Sprintf("%s: want %q, have %q", addr, w, got[addr]))
			}
		}
		slices.Sort(miss)
		return len(miss) == 0, strings.Join(miss, "; ")
	})
	rows := failureClasses(t, phieu, c.code)
	if r := rows[tf.Addr][0]; !strings.Contains(r, " false 450") {
		t.Errorf("the 450 at RCPT: %q, want stage rcpt, not hard", r)
	}
	if r := rows[c.byRole(rejected)[0].Addr][0]; !strings.Contains(r, " true 550") {
		t.Errorf("the 550 at RCPT: %q, want stage rcpt, hard", r)
	}
	checkBounces(t, s, c, phieu)

	// Reminders and unit-head digests at the round.
	t.Logf("waiting for the round at %s", round.Format("15:04:05"))
	status := memberStatuses(t, phieu, c.code)
	pending := func(m member) bool {
		st := status[m.Addr]
		return st != "answered" && st != "answered_needs_review"
	}
	waitFor(t, time.Until(round)+60*time.Second, "unit-head digests", func() (bool, string) {
		var miss []string
		for _, u := range units {
			if len(s.pick(t, c.head(u), isHeadDigest)) == 0 {
				miss = append(miss, u.Head)
			}
		}
		return len(miss) == 0, "no digest yet for " + strings.Join(miss, ", ")
	})
	waitFor(t, 30*time.Second, "reminders", func() (bool, string) {
		reminded := remindersTo(t, phieu, c.code)
		for _, m := range c.members {
			// The over-quota member's invitation goes again after
			// imap.resend_after: no reminder before that.
			if status[m.Addr] == "invited" && m.Role != overQuota && !reminded[m.Addr] {
				return false, m.Name + " (" + m.Addr + ") not reminded yet"
			}
		}
		return true, ""
	})
	reminded := remindersTo(t, phieu, c.code)
	for _, m := range c.members {
		got := len(s.pick(t, m.Addr, isReminder))
		switch {
		case !pending(m) && (reminded[m.Addr] || got > 0):
			t.Errorf("%s answered (%s) and was reminded", m.Name, status[m.Addr])
		case status[m.Addr] == "address_failed" && reminded[m.Addr]:
			t.Errorf("%s's address failed and was reminded", m.Name)
		case m.Role == overQuota && reminded[m.Addr]:
			t.Errorf("%s's mailbox is full and a resend is pending; reminded", m.Name)
		case deliverable(m) && status[m.Addr] == "invited" && got != 1:
			t.Errorf("%s (%s) has %d reminders in the mailbox, want 1", m.Name, status[m.Addr], got)
		}
	}
	checkHeadDigests(t, s, c, pending)

	// The IT liaison's digest names the failures, with a CSV.
	waitFor(t, 60*time.Second, "the IT liaison's digest of the expired delivery", func() (bool, string) {
		text := ""
		for _, m := range s.pick(t, c.liaison, isLiaisonDigest) {
			text += m.Text
		}
		for _, want := range []string{c.byRole(unknownUser)[0].Addr, c.byRole(overQuota)[0].Addr, c.byRole(rejected)[0].Addr, c.byRole(deadServer)[0].Addr} {
			if !strings.Contains(text, want) {
				return false, want + " not in a digest yet"
			}
		}
		return true, ""
	})
	for _, m := range s.pick(t, c.liaison, isLiaisonDigest) {
		if len(m.Attachments) != 1 {
			t.Errorf("liaison digest %q has %d attachments, want the CSV", m.Subject, len(m.Attachments))
		}
	}

	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, tail(logPath))
	}
	checkNothingTwice(t, s, c, phieu)
	checkResponses(t, c, phieu, status)
	checkHumanMailUntouched(t, s, c)
	if t.Failed() {
		t.Logf("daemon log:\n%s", tail(logPath))
	}
	t.Logf("end-to-end campaign: %s (build included)", time.Since(began).Round(time.Second))
}

// buildPhieu builds the binary from the tree, or takes $PHIEU_BIN.
func buildPhieu(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("PHIEU_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "phieu")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/phieu")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const layout = "02/01/2006 15:04"

func writeFiles(t *testing.T, dir string, s *Mailstack, c *campaign, opens, round, deadline time.Time, health string) string {
	t.Helper()
	var units_, resp strings.Builder
	units_.WriteString("\ufeffUBND TỈNH BÌNH SƠN,,,,,,,\nDANH SÁCH ĐƠN VỊ THAM GIA KHẢO SÁT,,,,,,,\n,,,,,,,\n" +
		"STT,Mã đơn vị,Tên đơn vị,Mã đơn vị cấp trên,Loại đơn vị,Thủ trưởng đơn vị,Chức vụ thủ trưởng,Email thủ trưởng\n")
	for i, u := range units {
		fmt.Fprintf(&units_, "%d,%s,%s,%s,%s,%s,%s,%s\n", i+1, u.Code, u.Name, u.Parent, u.Kind, u.Head, u.HeadTitle, c.head(u))
	}
	resp.WriteString("\ufeffSỞ NỘI VỤ TỈNH BÌNH SƠN,,,,,,,\nDANH SÁCH CÁN BỘ ĐƯỢC KHẢO SÁT,,,,,,,\n,,,,,,,\n" +
		"STT,Mã cán bộ,Họ và tên,Giới tính,Chức vụ,Mã đơn vị,Nhóm đối tượng,Email\n")
	for i, m := range c.members {
		sex := "Nam"
		if strings.Contains(m.Name, " Thị ") {
			sex = "Nữ"
		}
		fmt.Fprintf(&resp, "%d,%s,%s,%s,%s,%s,%s,%s\n", i+1, m.Code, m.Name, sex, m.Title, m.Unit, m.Group, m.Addr)
	}
	days := int(dateOf(round).Sub(dateOf(deadline)).Hours() / 24)
	roundSpec := fmt.Sprintf("D%+d %s", days, round.Format("15:04"))
	camp := fmt.Sprintf(`code: %s
title: "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2025"
legal_ref: "Số: 1234/UBND-NC ngày 10/11/2026"
timezone: Asia/Ho_Chi_Minh
opens_at: "%s"
deadline: "%s"
sender:
  name: "Sở Nội vụ tỉnh Bình Sơn"
  address: %s
  reply_to: %s
  operator: %s
  office: "Sở Nội vụ tỉnh Bình Sơn, số 1 đường Trần Hưng Đạo, phường Phú Thủy"
  subaddressing: true
groups: [HDND, LDS, LDP, LDX]
questionnaire:
  title: "Phiếu khảo sát Chỉ số cải cách hành chính"
  intro: "Xin Ông/Bà vui lòng trả lời thư này, ghi câu trả lời sau dấu hai chấm của từng câu."
  questions:
    - {code: C1, text: "Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh quyết liệt, hiệu quả", type: scale, min: 1, max: 10, required: true}
    - {code: C2, text: "Thủ tục hành chính được công khai đầy đủ, kịp thời", type: scale, min: 1, max: 10, required: true}
    - code: C3
      text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính"
      type: choice
      choices: {A: "Rất hợp lý", B: "Hợp lý", C: "Chưa hợp lý"}
      required: true
    - {code: C4, text: "Ý kiến khác", type: text}
reminders:
  rounds: ["%s"]
  max_rounds: 1
  min_spacing: 30s
  quiet_hours: "00:00-00:00"
  send_on_non_working_days: true
  late_window: 2m
escalation:
  rounds: ["%s"]
calendar:
  weekend: []
rate_limits:
  per_minute: 1000
  per_hour: 10000
`, c.code, opens.Format(layout), deadline.Format(layout), c.sender, c.survey, c.operator, roundSpec, roundSpec)
	config := fmt.Sprintf(`store:
  path: phieu.db
secret_file: phieu.secret
timezone: Asia/Ho_Chi_Minh
smtp:
  host: 127.0.0.1
  port: %d
  tls: starttls
  ca_file: %s
  username: %s
  password_env: PHIEU_E2E_PASSWORD
  helo_name: phieu.binhson.gov.test
  connections: 2
  per_minute: 300
  per_hour: 0
  retry_first: 3s
  retry_max: 6s
  give_up_after: 1h
imap:
  host: 127.0.0.1
  port: %d
  tls: tls
  ca_file: %s
  username: %s
  password_env: PHIEU_E2E_PASSWORD
  mailbox: INBOX
  idle: true
  poll_interval: 5s
http:
  listen: %s
liaison:
  name: Trần Văn Kỹ
  mailbox: %s
daemon:
  send: "@every 2s"
  poll: "@every 5s"
  plan: "@every 3s"
  housekeeping: "@every 1m"
  liaison_digest: "@every 10s"
  shutdown_timeout: 20s
log:
  level: info
  format: json
`, s.Submission, s.CAFile, c.survey, s.IMAPS, s.CAFile, c.survey, health, c.liaison)
	for name, content := range map[string]string{"units.csv": units_.String(), "respondents.csv": resp.String(),
		"campaign.yaml": camp, "phieu.yaml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "phieu.yaml")
}

func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Message kinds, by their Vietnamese subjects.
func isInvitation(m *message) bool {
	return strings.Contains(m.Subject, "Đề nghị trả lời phiếu khảo sát:")
}
func isReceipt(m *message) bool {
	return strings.Contains(m.Subject, "Đã nhận phiếu trả lời")
}
func isCorrection(m *message) bool {
	return strings.Contains(m.Subject, "Đề nghị bổ sung phiếu trả lời")
}
func isReminder(m *message) bool { return strings.Contains(m.Subject, "Nhắc lần") }
func isHeadDigest(m *message) bool {
	return strings.HasPrefix(m.Subject, "Danh sách chưa trả lời phiếu khảo sát")
}
func isLiaisonDigest(m *message) bool {
	return strings.HasPrefix(m.Subject, "Báo cáo lỗi gửi thư khảo sát")
}

func (s *Mailstack) pick(t *testing.T, addr string, kind func(*message) bool) []*message {
	t.Helper()
	var out []*message
	for _, m := range s.Mailbox(t, addr) {
		if kind(m) {
			out = append(out, m)
		}
	}
	return out
}

func first(ms []*message) *message {
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

var formLine = regexp.MustCompile(`(?m)^(\s*(C\d+) \[[^\]]*\]:)[ \t]*$`)

// reply answers inv as m's role says; more is the completing reply.
func reply(s *Mailstack, c *campaign, m member, inv *message, more bool) error {
	from := m.Addr
	r := imaptest.Reply{From: from, To: inv.Header.Get("Reply-To"), Subject: inv.Subject, InReplyTo: inv.Header.Get("Message-Id"),
		Quoted: inv.Text, Date: time.Now()}
	if addr, err := parseAddr(r.To); err == nil {
		r.To = addr
	}
	answers := map[string]string{"C1": "8", "C2": "9", "C3": "B", "C4": "Cần đẩy mạnh chuyển đổi số ở cấp xã."}
	var raw []byte
	var err error
	switch m.Role {
	case answersAtTop, htmlOnly:
		r.Text = "Kính gửi Sở Nội vụ,\nTôi xin trả lời như sau:\nC1: 8\nC2: 9\nC3: B\nC4: Cần đẩy mạnh chuyển đổi số ở cấp xã.\n\nTrân trọng,\n" + m.Name
		r.HTMLOnly = m.Role == htmlOnly
	case answersInQuote:
		// The reply is the quoted invitation with each answer typed after
		// its colon, as people do in webmail.
		r.Quoted = formLine.ReplaceAllStringFunc(inv.Text, func(line string) string {
			q := formLine.FindStringSubmatch(line)
			return q[1] + " " + answers[q[2]]
		})
		r.Text = "Tôi trả lời trong phiếu bên dưới."
	case partial, partialThenComplete:
		r.Text = "C1: 7"
		if more {
			r.Text = "Tôi xin bổ sung:\nC2: 6\nC3: A"
		}
	case otherMailbox:
		from = c.other
		r.From = from
		r.Text = "Tôi là thư ký, trả lời thay lãnh đạo:\nC1: 10\nC2: 10\nC3: A"
	case outOfOffice:
		raw, err = imaptest.AutoReply(from, r.To, inv.Subject, r.InReplyTo,
			"Tôi đang đi công tác đến hết tuần, sẽ trả lời thư khi trở về.")
	default:
		return fmt.Errorf("role %d does not reply", m.Role)
	}
	if raw == nil {
		raw, err = r.Bytes()
	}
	if err != nil {
		return err
	}
	return s.Submit(from, []string{r.To}, raw)
}

func parseAddr(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// checkInvitation looks at one invitation as the member's client does.
func checkInvitation(t *testing.T, s *Mailstack, c *campaign, m member, deadline time.Time) {
	t.Helper()
	inv := first(s.pick(t, m.Addr, isInvitation))
	rawSubject := inv.Header.Get("Subject")
	if !strings.Contains(strings.ToLower(rawSubject), "=?utf-8?") {
		t.Errorf("subject not RFC 2047 encoded: %q", rawSubject)
	}
	if !strings.Contains(inv.Subject, "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2025") || !strings.Contains(inv.Subject, "[KS-") {
		t.Errorf("subject %q", inv.Subject)
	}
	if id := inv.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.Contains(id, "@") {
		t.Errorf("Message-ID %q", id)
	}
	if rp := inv.Header.Get("Return-Path"); !strings.HasPrefix(rp, "<khaosat."+c.run+"+") {
		t.Errorf("Return-Path %q: the envelope sender is not the survey mailbox with the reference", rp)
	}
	if !slices.Equal(inv.Types, []string{"text/plain", "text/html"}) {
		t.Errorf("parts %v, want text/plain and text/html", inv.Types)
	}
	for _, want := range []string{m.Name, "C1 [1-10]:", "C3 [A/B/C]:", deadline.Format("02/01/2006")} {
		if !strings.Contains(inv.Text, want) {
			t.Errorf("invitation text lacks %q:\n%s", want, inv.Text)
		}
	}
	if !strings.Contains(inv.HTML, m.Name) || !strings.Contains(inv.HTML, "<html") {
		t.Errorf("invitation HTML lacks the name:\n%s", inv.HTML)
	}
}

// failureClasses maps each mailbox to its ledger rows as "stage class hard code".
func failureClasses(t *testing.T, phieu func(...string) string, code string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range jsonRows(t, phieu("failures", "--campaign", code, "--format", "json")) {
		out[r["mailbox"]] = append(out[r["mailbox"]], fmt.Sprintf("%s %s %s %s", r["stage"], r["class"], r["hard"], r["code"]))
	}
	return out
}

func jsonRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	var rows []map[string]string
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r map[string]string
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("json: %v\n%s", err, out)
		}
		rows = append(rows, r)
	}
	return rows
}

func memberStatuses(t *testing.T, phieu func(...string) string, code string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range jsonRows(t, phieu("respondents", "list", "--campaign", code, "--format", "json")) {
		out[r["mailbox"]] = r["status"]
	}
	return out
}

func remindersTo(t *testing.T, phieu func(...string) string, code string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, r := range jsonRows(t, phieu("outbox", "list", "--campaign", code, "--kind", "reminder", "--limit", "0", "--format", "json")) {
		out[r["to"]] = true
	}
	return out
}

// checkBounces: Postfix's reports came back with the envelope id phieu
// asked for (DSN ENVID) and only the headers of the original (RET=HDRS).
func checkBounces(t *testing.T, s *Mailstack, c *campaign, phieu func(...string) string) {
	t.Helper()
	methods, kinds := map[string]int{}, map[string]int{}
	for _, r := range jsonRows(t, phieu("inbox", "list", "--campaign", c.code, "--format", "json")) {
		kinds[r["kind"]]++
		if r["kind"] == "bounce" || r["kind"] == "delay" {
			methods[r["match"]]++
		}
	}
	// Postfix's "still being retried" notice for the dead server came first.
	if kinds["delay"] < 1 || kinds["bounce"] < 3 || kinds["auto_reply"] != 1 {
		t.Errorf("the survey mailbox held %v; want Postfix's delay notice, 3+ bounces, 1 out-of-office", kinds)
	}
	if methods["envelope_id"] < 3 || len(methods) != 1 {
		t.Errorf("bounces matched by %v, want all by envelope_id (DSN ENVID)", methods)
	}
	local, _, _ := strings.Cut(c.survey, "@")
	found := false
	for _, sub := range []string{"new", "cur"} {
		d := filepath.Join(s.Dir, "mail", c.domain, local, ".phieu.Bounces", sub)
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			raw, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				continue
			}
			m, err := parseMessage(raw)
			if err != nil {
				t.Fatalf("bounce %s: %v", e.Name(), err)
			}
			found = true
			if !bytes.Contains(raw, []byte("Original-Envelope-Id:")) || !slices.Contains(m.Types, "text/rfc822-headers") {
				t.Errorf("bounce %q lacks Original-Envelope-Id or carries more than headers: %v", m.Subject, m.Types)
			}
		}
	}
	if !found {
		t.Error("no bounce filed in phieu/Bounces")
	}
}

// checkHeadDigests: each unit head got one digest naming exactly the
// members of their units who have not answered.
func checkHeadDigests(t *testing.T, s *Mailstack, c *campaign, pending func(member) bool) {
	t.Helper()
	under := func(u unit, code string) bool {
		for code != "" {
			if code == u.Code {
				return true
			}
			i := slices.IndexFunc(units, func(x unit) bool { return x.Code == code })
			code = units[i].Parent
		}
		return false
	}
	for _, u := range units {
		ds := s.pick(t, c.head(u), isHeadDigest)
		if len(ds) != 1 {
			t.Errorf("%s (%s) has %d digests, want 1", u.Head, u.Name, len(ds))
			continue
		}
		d := ds[0]
		if !strings.Contains(d.Subject, u.Name) || !strings.Contains(d.Text, "Kính gửi: "+u.HeadTitle+" "+u.Head) {
			t.Errorf("digest for %s: subject %q, text:\n%s", u.Head, d.Subject, d.Text)
		}
		for _, m := range c.members {
			// The entry and its wrapped lines, indented under it.
			entry := regexp.MustCompile(`\d+\. ` + regexp.QuoteMeta(m.Name) + `,[^\n]*(\n {4,}[^\n]*)*`).FindString(d.Text)
			listed := entry != ""
			switch {
			case !listed:
			case m.Role == overQuota && !strings.Contains(entry, "hộp thư đầy (5.2.2). Đề nghị nhắc cán bộ xóa bớt thư"):
				t.Errorf("%s's digest: the full mailbox without its advice:\n%s", u.Head, entry)
			case m.Role == tempFail && strings.Contains(entry, "Lý do"):
				t.Errorf("%s's digest gives a reason for a refusal the retry got past:\n%s", u.Head, entry)
			case (m.Role == silent || m.Role == outOfOffice) && strings.Contains(entry, "Lý do"):
				t.Errorf("%s's digest gives a reason for a member whose mail was delivered:\n%s", u.Head, entry)
			}
			switch want := under(u, m.Unit) && pending(m); {
			case want && !listed:
				t.Errorf("%s's digest does not list %s, who has not answered", u.Head, m.Name)
			case !want && listed:
				t.Errorf("%s's digest lists %s", u.Head, m.Name)
			}
		}
	}
}

// checkNothingTwice: no mailbox holds a message twice, and each member
// got one invitation (the over-quota one bounced; its resend is later).
func checkNothingTwice(t *testing.T, s *Mailstack, c *campaign, phieu func(...string) string) {
	t.Helper()
	addrs := []string{c.survey, c.operator, c.liaison, c.other}
	for _, u := range units {
		addrs = append(addrs, c.head(u))
	}
	for _, m := range c.members {
		addrs = append(addrs, m.Addr)
	}
	for _, a := range addrs {
		seen := map[string]bool{}
		for _, m := range s.Mailbox(t, a) {
			id := m.Header.Get("Message-Id")
			if seen[id] {
				t.Errorf("%s received %s (%q) twice", a, id, m.Subject)
			}
			seen[id] = true
		}
	}
	for _, m := range c.members {
		n := len(s.pick(t, m.Addr, isInvitation))
		switch {
		case (m.Role == unknownUser || m.Role == overQuota || m.Role == rejected || m.Role == deadServer) && n != 0,
			!(m.Role == unknownUser || m.Role == overQuota || m.Role == rejected || m.Role == deadServer) && n != 1:
			t.Errorf("%s (%s) has %d invitations", m.Name, m.Addr, n)
		}
		if n := len(s.pick(t, m.Addr, isReceipt)); n > 1 {
			t.Errorf("%s has %d receipts", m.Name, n)
		}
	}
	perMember := map[string]int{}
	for _, r := range jsonRows(t, phieu("outbox", "list", "--campaign", c.code, "--kind", "invitation", "--limit", "0", "--format", "json")) {
		if r["state"] == "sent" {
			perMember[r["to"]]++
		}
	}
	for to, n := range perMember {
		if n > 1 {
			t.Errorf("%d invitations sent to %s", n, to)
		}
	}
}

// checkResponses: what was counted, and what waits for the operator.
func checkResponses(t *testing.T, c *campaign, phieu func(...string) string, status map[string]string) {
	t.Helper()
	want := map[role]string{answersAtTop: "answered", answersInQuote: "answered", partialThenComplete: "answered", htmlOnly: "answered",
		partial: "invited", outOfOffice: "invited", silent: "invited", tempFail: "invited",
		unknownUser: "address_failed", rejected: "address_failed"}
	for _, m := range c.members {
		if w, ok := want[m.Role]; ok && status[m.Addr] != w {
			t.Errorf("%s (%v): status %q, want %q", m.Name, m.Role, status[m.Addr], w)
		}
	}
	rows := jsonRows(t, phieu("responses", "list", "--campaign", c.code, "--format", "json"))
	review := 0
	for _, r := range rows {
		if strings.Contains(r["from"], c.other) {
			review++
			if r["status"] != "needs_review" {
				t.Errorf("the reply from another mailbox: %v", r)
			}
		}
	}
	if review != 1 {
		t.Errorf("%d responses from %s, want 1 held for review:\n%v", review, c.other, rows)
	}
}

// checkHumanMailUntouched: mail that is not phieu's stays in the INBOX,
// unread and unflagged (Maildir keeps flags in the file name).
func checkHumanMailUntouched(t *testing.T, s *Mailstack, c *campaign) {
	t.Helper()
	for _, m := range s.Mailbox(t, c.survey) {
		if m.Subject != "Lịch họp giao ban tuần" {
			continue
		}
		if _, flags, _ := strings.Cut(filepath.Base(m.File), ":2,"); flags != "" {
			t.Errorf("the human message was flagged %q", flags)
		}
		return
	}
	t.Error("the human message left the survey INBOX")
}
