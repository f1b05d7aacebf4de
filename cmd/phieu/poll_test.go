package main

import (
	"encoding/json"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/mailer/smtptest"
	"github.com/phieu/phieu/poller/imaptest"
)

// pointIMAPAt rewrites the sample config in dir to read srv's mailbox.
func pointIMAPAt(t *testing.T, dir string, srv *imaptest.Server) {
	t.Helper()
	editConfig(t, dir, func(s string) string {
		s = strings.Replace(s, "  port: 1143", "  port: "+strconv.Itoa(srv.Port), 1)
		return strings.Replace(s, "  mailbox: INBOX", "  mailbox: INBOX\n  username: "+srv.Username+"\n  password_file: imap.password", 1)
	})
	if err := os.WriteFile(filepath.Join(dir, "imap.password"), []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

var answerLineRE = regexp.MustCompile(`(?m)^(C\d+) \[([^\]]+)\]:$`)

// fillIn answers every question of a quoted invitation the way people do:
// typing after the colons of the answer lines.
func fillIn(text string) string {
	return answerLineRE.ReplaceAllStringFunc(text, func(line string) string {
		m := answerLineRE.FindStringSubmatch(line)
		switch opts := m[2]; {
		case strings.Contains(opts, "-"):
			return line + " " + strings.SplitN(opts, "-", 2)[1]
		case strings.Contains(opts, "/"):
			return line + " " + strings.SplitN(opts, "/", 2)[0]
		}
		return line + " Không có ý kiến thêm."
	})
}

func TestPollWorkflow(t *testing.T) {
	dir, smtp, imap := sampleWithServers(t)
	during := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--limit", "3", "--wait", "0")
	sent := smtp.Received()
	if len(sent) != 3 {
		t.Fatalf("sent %d", len(sent))
	}
	dec := new(mime.WordDecoder)
	subject := func(i int) string {
		s, err := dec.DecodeHeader(sent[i].Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Respondent 0 fills in the quoted form; respondent 1's address
	// bounces; a colleague writes about something else.
	preview := mustRunAt(t, dir, during, "preview", "--campaign", "PAR2025", "--respondent", "1")
	body := preview[strings.Index(preview, "\n\n")+2:]
	reply, err := imaptest.Reply{From: sent[0].To[0], To: "khaosat.snv@binhson.gov.test", Subject: subject(0),
		InReplyTo: sent[0].Header.Get("Message-Id"), Text: "Gửi Sở Nội vụ phiếu đã điền.", Quoted: fillIn(body)}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, imap, reply, during)
	mustAppend(t, imap, imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: "khaosat.snv@binhson.gov.test", EnvelopeID: sent[1].EnvelopeID,
		Recipient: sent[1].To[0], Status: "5.1.1", Diagnostic: "smtp; 550 5.1.1 User unknown"}.Bytes(), during)
	human, _ := imaptest.Human("vanthu@ubnd.binhson.gov.test", "khaosat.snv@binhson.gov.test", "Lịch họp", "Kính mời dự họp.")
	mustAppend(t, imap, human, during)

	out := mustRunAt(t, dir, during, "poll", "--once")
	for _, want := range []string{"3 new, 2 stored (1 reply, 1 bounce)", "1 responses", "1 not phieu's (left untouched)", "2 filed"} {
		if !strings.Contains(out, want) {
			t.Errorf("poll output lacks %q:\n%s", want, out)
		}
	}
	out = mustRunAt(t, dir, during, "responses", "list", "--campaign", "PAR2025")
	if !strings.Contains(out, "counted") || !strings.Contains(out, "C1=") {
		t.Errorf("responses list:\n%s", out)
	}
	out = mustRunAt(t, dir, during, "inbox", "list", "--kind", "bounce", "--format", "json")
	if !strings.Contains(out, `"failures":"`+sent[1].To[0]+` 5.1.1 user_unknown"`) {
		t.Errorf("inbox list:\n%s", out)
	}
	out = mustRunAt(t, dir, during, "failures", "--class", "user_unknown", "--since", "1d", "--format", "csv")
	if !strings.Contains(out, sent[1].To[0]) || !strings.Contains(out, "dsn") || !strings.Contains(out, "Kiểm tra lại địa chỉ") {
		t.Errorf("failures:\n%s", out)
	}
	if code, _, errs := runAt(t, dir, during, "failures", "--class", "nonsense"); code != exitUsage || !strings.Contains(errs, "not a failure class") {
		t.Errorf("failures --class nonsense: exit %d %s", code, errs)
	}
	out = mustRunAt(t, dir, during, "send", "--campaign", "PAR2025", "--limit", "0", "--wait", "0")
	var receipt *smtptest.Message
	for _, m := range smtp.Received() {
		if s, _ := dec.DecodeHeader(m.Header.Get("Subject")); strings.Contains(s, "Xác nhận") || m.Header.Get("Auto-Submitted") != "" {
			receipt = &m
		}
	}
	if receipt == nil || receipt.To[0] != sent[0].To[0] {
		t.Fatalf("no receipt sent to %s: %s", sent[0].To[0], out)
	}

	// inspect, offline, on the same bounce and on a bare text body.
	dsnPath := filepath.Join(dir, "bounce.eml")
	os.WriteFile(dsnPath, imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: "khaosat.snv@binhson.gov.test",
		Recipient: "khong.ton.tai@stc.binhson.gov.test", Status: "5.1.1",
		Diagnostic: "smtp; 550 5.1.1 <khong.ton.tai@stc.binhson.gov.test>: Recipient address rejected: User unknown"}.Bytes(), 0o644)
	barePath := filepath.Join(dir, "bare.eml")
	os.WriteFile(barePath, []byte("Content-Type: text/plain; charset=utf-8\r\n\r\nC1: 9\r\nC2: A\r\n\r\n> C1 [1-10]:\r\n"), 0o644)
	out = mustRunAt(t, dir, during, "inspect", "--json", "--campaign", "PAR2025", dsnPath, barePath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("inspect --json: want one line per file:\n%s", out)
	}
	var got [2]map[string]any
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &got[i]); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
	}
	fails, _ := got[0]["failures"].([]any)
	if got[0]["kind"] != "bounce" || len(fails) != 1 || fails[0].(map[string]any)["class"] != "user_unknown" || fails[0].(map[string]any)["hard"] != true {
		t.Errorf("inspect bounce: %s", lines[0])
	}
	if got[1]["kind"] != "reply" || got[1]["reply_text"] != "C1: 9\nC2: A" || got[1]["answers"].(map[string]any)["C1"] != "9" {
		t.Errorf("inspect bare reply: %s", lines[1])
	}
	out = mustRunAt(t, dir, during, "inspect", dsnPath)
	for _, want := range []string{"thư báo lỗi", "hộp thư không tồn tại", "lỗi vĩnh viễn", "Cần làm:"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect text lacks %q:\n%s", want, out)
		}
	}
}

// sampleWithServers writes the sample province and points its config at
// in-process SMTP and IMAP servers.
func sampleWithServers(t *testing.T) (string, *smtptest.Server, *imaptest.Server) {
	t.Helper()
	t.Setenv("PHIEU_CONFIG", "")
	t.Setenv("PHIEU_SECRET", "")
	dir := filepath.Join(t.TempDir(), "province")
	mustRun(t, "", "init", "--sample", dir)
	smtp := smtptest.Start(t, smtptest.Options{DSN: true})
	pointAt(t, dir, smtp)
	imap, err := imaptest.Start(imaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imap.Close() })
	pointIMAPAt(t, dir, imap)
	return dir, smtp, imap
}

func mustAppend(t *testing.T, srv *imaptest.Server, raw []byte, at time.Time) {
	t.Helper()
	if err := srv.AppendAt("INBOX", raw, at); err != nil {
		t.Fatal(err)
	}
}
