package poller_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/poller/answers"
	"github.com/phieu/phieu/poller/imaptest"
	"github.com/phieu/phieu/store"
)

// The bad input table for mail (docs/BAD-INPUT.md): messages that are
// damaged, mislabelled or built to exhaust the reader. Each must be read
// in bounded time and memory, to a sane analysis — never a panic, never
// invalid UTF-8 passed on to the store.

// replyHeader is the head of a person's reply to cb001's invitation.
const replyHeader = "From: =?utf-8?q?Nguy=E1=BB=85n_V=C4=83n_S=E1=BB=911?= <cb001@stp.binhson.gov.test>\r\n" +
	"To: khaosat.snv@binhson.gov.test\r\nSubject: Re: Phieu khao sat [KS-0123456789]\r\n" +
	"Date: Mon, 20 Feb 2023 09:15:00 +0700\r\nMessage-Id: <r1@stp.binhson.gov.test>\r\nMIME-Version: 1.0\r\n"

// win1258 is "Đồng ý" as Vietnamese Windows ("ANSI") writes it: base
// letters and combining tone marks (ồ is ô then a grave accent), bytes
// that are not UTF-8.
var win1258 = []byte{0xD0, 0xF4, 0xCC, 'n', 'g', ' ', 'y', 0xEC}

func textReply(contentType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(replyHeader)
	b.WriteString("Content-Type: " + contentType + "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// withAttachment is a reply with its answers in the text part and a file
// of size bytes (base64) beside it.
func withAttachment(size int) []byte {
	var b bytes.Buffer
	b.WriteString(replyHeader)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nC1: 8\r\nC2: A\r\n")
	b.WriteString("--XX\r\nContent-Type: application/pdf; name=\"bao-cao.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"bao-cao.pdf\"\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n" // 76 characters, 57 bytes
	for n := 0; n < size; n += 57 {
		b.WriteString(line)
	}
	b.WriteString("--XX--\r\n")
	return b.Bytes()
}

// manyRecipientsDSN is one RFC 3464 report naming n failed recipients.
func manyRecipientsDSN(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@mail.binhson.gov.test\r\nTo: khaosat.snv@binhson.gov.test\r\nSubject: Undelivered Mail Returned to Sender\r\n")
	b.WriteString("Message-Id: <dsn1@mail.binhson.gov.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n")
	b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.binhson.gov.test\r\n")
	for i := range n {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; cb%05d@stp.binhson.gov.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n", i)
	}
	b.WriteString("\r\n--B--\r\n")
	return b.Bytes()
}

// nestedForward wraps a reply in depth message/rfc822 forwards.
func nestedForward(depth int) []byte {
	msg := textReply("text/plain; charset=utf-8", []byte("C1: 8\r\n"))
	for i := range depth {
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: a%d@binhson.gov.test\r\nTo: khaosat.snv@binhson.gov.test\r\nSubject: Fwd: %d\r\nMIME-Version: 1.0\r\n", i, i)
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"L%d\"\r\n\r\n--L%d\r\nContent-Type: text/plain\r\n\r\nxem thu duoi\r\n--L%d\r\nContent-Type: message/rfc822\r\n\r\n", i, i, i)
		b.Write(msg)
		fmt.Fprintf(&b, "\r\n--L%d--\r\n", i)
		msg = b.Bytes()
	}
	return msg
}

type mailCase struct {
	name  string
	raw   func() []byte
	limit time.Duration
	check func(t *testing.T, a *poller.Analysis, err error)
}

func isReply(t *testing.T, a *poller.Analysis, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != store.InboundReply {
		t.Errorf("kind %s, want reply", a.Kind)
	}
}

// answerOf reads the answers of a's text against a two-question form.
func answerOf(a *poller.Analysis) map[string]string {
	q := store.Questionnaire{Questions: []store.Question{
		{Code: "C1", Type: store.AnswerScale, Min: 1, Max: 10},
		{Code: "C2", Type: store.AnswerChoice, Choices: []store.Choice{{Letter: "A", Text: "Có"}, {Letter: "B", Text: "Không"}}},
	}}
	out := map[string]string{}
	for _, an := range answers.Read(a.Visible, a.Quoted, q).Answers {
		out[an.Code] = an.Value
	}
	return out
}

var mailCases = []mailCase{
	{"TruncatedMIME", func() []byte {
		return []byte(replyHeader + "Content-Type: multipart/alternative; boundary=\"A\"\r\n\r\n--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nC1: 8\r\nC2: A\r\n--A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>C1: 8<br>C2")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "8" || got["C2"] != "A" {
			t.Errorf("answers before the cut are lost: %v", got)
		}
	}},
	{"TruncatedInHeader", func() []byte { return []byte("From: cb001@stp.binhson.gov.test\r\nSubject: Re: Phi") }, time.Second,
		func(t *testing.T, a *poller.Analysis, err error) {
			if err == nil && a.From != "cb001@stp.binhson.gov.test" {
				t.Errorf("from %q", a.From)
			}
		}},
	{"DeclaredUTF8ButWindows1258", func() []byte {
		return textReply("text/plain; charset=utf-8", append([]byte("C1: 9\r\nC3: "), win1258...))
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if !utf8.ValidString(a.Text) {
			t.Errorf("text is not valid UTF-8: %q", a.Text)
		}
		if got := answerOf(a); got["C1"] != "9" {
			t.Errorf("answers %v, want C1=9", got)
		}
	}},
	{"Windows1258Declared", func() []byte {
		return textReply("text/plain; charset=windows-1258", append([]byte("C1: 9\r\nC3: "), win1258...))
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if !strings.Contains(a.Text, "Đồng ý") {
			t.Errorf("windows-1258 text not decoded: %q", a.Text)
		}
	}},
	{"UnknownCharset", func() []byte {
		return textReply("text/plain; charset=x-viet-vni", []byte("C1: 7\r\nC2: B\r\n"))
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "7" || got["C2"] != "B" {
			t.Errorf("ASCII answers under an unknown charset are lost: %v (text %q)", got, a.Text)
		}
	}},
	{"Attachment20MB", func() []byte { return withAttachment(20 << 20) }, 2 * time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "8" || got["C2"] != "A" {
			t.Errorf("answers %v", got)
		}
		if len(a.Text) > 1000 {
			t.Errorf("the attachment leaked into the text: %d bytes", len(a.Text))
		}
	}},
	{"DSN10000Recipients", func() []byte { return manyRecipientsDSN(10000) }, 2 * time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		if err != nil {
			t.Fatal(err)
		}
		// phieu sends every message to one recipient: a report naming
		// thousands is read up to a bound (bounce.maxRecipients).
		if a.Kind != store.InboundBounce || len(a.Failures) != 1000 {
			t.Fatalf("kind %s with %d failures, want bounce with the first 1000", a.Kind, len(a.Failures))
		}
		if f := a.Failures[999]; f.Recipient != "cb00999@stp.binhson.gov.test" || f.Class != store.ClassUserUnknown || !f.Hard {
			t.Errorf("last failure %+v", f)
		}
	}},
	{"NestedRFC822Depth100", func() []byte { return nestedForward(100) }, 2 * time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if a.From != "a99@binhson.gov.test" {
			t.Errorf("from %q, want the outermost sender", a.From)
		}
	}},
	{"HeaderLine100KB", func() []byte {
		return []byte(replyHeader[:len(replyHeader)-len("MIME-Version: 1.0\r\n")] + "X-Long: " + strings.Repeat("a", 100<<10) +
			"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nC1: 6\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "6" {
			t.Errorf("answers %v", got)
		}
	}},
	{"Subject100KB", func() []byte {
		return []byte("From: cb001@stp.binhson.gov.test\r\nSubject: Re: " + strings.Repeat("Khảo sát ", 100<<10/10) + "[KS-0123456789]\r\n\r\nC1: 6\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if !strings.HasSuffix(a.Subject, "[KS-0123456789]") {
			t.Errorf("subject lost its reference: ...%q", a.Subject[max(0, len(a.Subject)-40):])
		}
	}},
	{"NULBytes", func() []byte {
		return textReply("text/plain; charset=utf-8", []byte("C1: 5\x00\r\nC2:\x00 B\r\n\x00\x00\x00"))
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "5" {
			t.Errorf("answers %v", got)
		}
	}},
	{"NULInHeader", func() []byte {
		return []byte("From: cb001@stp.binhson.gov.test\r\nSubject: Re\x00: [KS-0123456789]\r\n\r\nC1: 6\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if a.From != "cb001@stp.binhson.gov.test" {
			t.Errorf("from %q", a.From)
		}
	}},
	{"InvalidUTF8InName", func() []byte {
		return []byte("From: Nguy\xe1\xbb n V\xff <cb001@stp.binhson.gov.test>\r\nTo: khaosat.snv@binhson.gov.test\r\nSubject: Re: [KS-0123456789]\r\n\r\nC1: 6\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if a.From != "cb001@stp.binhson.gov.test" {
			t.Errorf("from %q", a.From)
		}
	}},
	{"EncodedWordInvalidUTF8", func() []byte {
		return []byte("From: =?utf-8?b?" + "/w==" + "?= <cb001@stp.binhson.gov.test>\r\nSubject: =?utf-8?q?Re=3A_=FF=FE?= [KS-0123456789]\r\n\r\nC1: 6\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if a.From != "cb001@stp.binhson.gov.test" {
			t.Errorf("from %q", a.From)
		}
	}},
	{"BOMInTheMiddle", func() []byte {
		return textReply("text/plain; charset=utf-8", []byte("Kính gửi,\r\n\ufeffC1: 4\r\nC2: \ufeffA\r\n"))
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "4" || got["C2"] != "A" {
			t.Errorf("answers %v", got)
		}
	}},
	{"CRLFAndLFMixed", func() []byte {
		return []byte("From: cb001@stp.binhson.gov.test\nTo: khaosat.snv@binhson.gov.test\r\nSubject: Re: [KS-0123456789]\nContent-Type: text/plain; charset=utf-8\r\n\nC1: 3\r\nC2: B\n\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "3" || got["C2"] != "B" {
			t.Errorf("answers %v", got)
		}
	}},
	{"BoundaryNeverDeclared", func() []byte {
		return []byte(replyHeader + "Content-Type: multipart/mixed\r\n\r\n--X\r\n\r\nC1: 8\r\n--X--\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if a.From != "cb001@stp.binhson.gov.test" {
			t.Errorf("from %q", a.From)
		}
	}},
	{"BadBase64Body", func() []byte {
		return []byte(replyHeader + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nQzE6IDg=\r\n!!!not base64!!!\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(a.Text) {
			t.Errorf("text %q", a.Text)
		}
	}},
	{"Empty", func() []byte { return nil }, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		if err == nil && a.Kind == store.InboundBounce {
			t.Errorf("an empty message read as a bounce")
		}
	}},
	{"NotAMessage", func() []byte { return bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 0xff}, 10000) }, time.Second,
		func(t *testing.T, a *poller.Analysis, err error) {
			if err == nil && (a.Kind == store.InboundBounce || len(a.Failures) > 0) {
				t.Errorf("binary garbage read as a bounce: %+v", a.Report)
			}
		}},
	{"TenThousandHeaders", func() []byte {
		return []byte(replyHeader + strings.Repeat("X-Spam: yes\r\n", 10000) + "Content-Type: text/plain\r\n\r\nC1: 2\r\n")
	}, time.Second, func(t *testing.T, a *poller.Analysis, err error) {
		isReply(t, a, err)
		if got := answerOf(a); got["C1"] != "2" {
			t.Errorf("answers %v", got)
		}
	}},
}

func TestBadMail(t *testing.T) {
	for _, tc := range mailCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			a, err := poller.Analyze(raw)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if took > tc.limit {
				t.Errorf("took %v, want under %v", took, tc.limit)
			}
			// Reading a message may cost a few copies of it, never more.
			if alloc, bound := after.TotalAlloc-before.TotalAlloc, uint64(20*len(raw)+32<<20); alloc > bound {
				t.Errorf("allocated %d MB for a %d KB message", alloc>>20, len(raw)>>10)
			}
			if err == nil {
				for what, s := range map[string]string{"text": a.Text, "subject": a.Subject, "from name": a.FromName} {
					if !utf8.ValidString(s) {
						t.Errorf("%s is not valid UTF-8: %q", what, s)
					}
				}
			}
			tc.check(t, a, err)
		})
	}
}

// TestBadMailLosesNothingStored: a poll meeting damaged mail after good
// mail keeps what was stored and still reads the mail behind it. The bad
// messages come from someone who is not a member, so nothing may change
// any member's answers.
func TestBadMailLosesNothingStored(t *testing.T) {
	e := newEnv(t, imaptest.Options{})
	ctx := context.Background()
	e.append(e.reply(1, "", "C1: 8\nC2: A\nC3: Tốt."))
	if _, err := e.poller(poller.FileMove).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		msgs, _, err := e.inbound.FindInbound(ctx, store.InboundFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}
	if got := count(); got != 1 {
		t.Fatalf("%d inbound messages after the good reply", got)
	}
	appended := 0
	for _, tc := range mailCases {
		if tc.name == "Attachment20MB" || tc.name == "Empty" {
			continue // the in-memory IMAP server is not what is under test
		}
		raw := bytes.ReplaceAll(tc.raw(), []byte("cb001@"), []byte("vanthu@"))
		e.append(raw, nil)
		appended++
	}
	e.append(e.reply(2, "", "C1: 9\nC2: B"))
	st, err := e.poller(poller.FileMove).Poll(ctx)
	if err != nil {
		t.Fatalf("a poll over bad mail failed: %v", err)
	}
	if st.Fetched != appended+1 {
		t.Errorf("fetched %d, want %d", st.Fetched, appended+1)
	}
	if got := e.status(t, cb(1)); got != store.StatusAnswered {
		t.Errorf("cb001: %s, want answered (the good answer must stay)", got)
	}
	if got := e.status(t, cb(2)); got != store.StatusAnswered {
		t.Errorf("cb002: %s, want answered (mail after the bad ones must be read)", got)
	}
	rs, err := e.inbound.FindResponses(ctx, "PAR2022", e.sent[cb(1)].RespondentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Status != store.ResponseCounted || answerMap(rs[0])["C1"] != "8" {
		t.Errorf("cb001's stored response changed: %d responses", len(rs))
	}
	if got := count(); got < 2 {
		t.Errorf("%d inbound messages, want the first reply kept and more", got)
	}
}
