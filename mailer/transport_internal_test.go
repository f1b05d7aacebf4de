package mailer

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// TestWriteDotStuffed checks the fast DATA writer against textproto's.
func TestWriteDotStuffed(t *testing.T) {
	for _, msg := range []string{
		"Subject: a\r\n\r\nline\r\n",
		".leading dot\r\n..two\r\nmid.dle\r\n.\r\n",
		"no final newline",
		"bare\nlf\n.dot after lf\n",
		"\r\n",
	} {
		var fast, slow bytes.Buffer
		w := bufio.NewWriter(&fast)
		if err := writeDotStuffed(w, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		sw := bufio.NewWriter(&slow)
		dw := textproto.NewWriter(sw).DotWriter()
		dw.Write([]byte(msg))
		dw.Close()
		sw.Flush()
		if fast.String() != slow.String() {
			t.Errorf("%q:\nfast %q\nslow %q", msg, fast.String(), slow.String())
		}
	}
}

func TestThrottlingAndNeedsPerson(t *testing.T) {
	for _, tt := range []struct {
		e          Error
		throttling bool
	}{
		{Error{Code: 421, Status: "4.7.0"}, true},
		{Error{Code: 450, Status: "4.7.1", Text: "Rate limit exceeded"}, true},
		{Error{Code: 451, Status: "4.3.0"}, true},
		{Error{Code: 452, Text: "Too many recipients received this hour"}, true},
		{Error{Code: 450, Status: "4.2.1", Text: "Mailbox busy"}, false},
		{Error{Code: 452, Status: "4.2.2", Text: "Mailbox full"}, false},
		{Error{Code: 550, Status: "5.7.1", Text: "Rate limit"}, false},
		// One mailbox, in the words servers use for anything temporary.
		{Error{Code: 450, Status: "4.2.1", Text: "Mailbox temporarily unavailable, try again later"}, false},
		{Error{Code: 452, Status: "4.2.2", Text: "Mailbox full, size limit exceeded"}, false},
		{Error{Code: 450, Status: "4.2.0", Text: "Greylisted, try again later"}, false},
		{Error{Code: 450, Status: "4.2.1", Text: "Too many messages for this mailbox, slow down"}, true},
		{Error{Code: 451, Text: "Try again later"}, true},
	} {
		if got := tt.e.Throttling(); got != tt.throttling {
			t.Errorf("%v: Throttling = %v", &tt.e, got)
		}
	}
	if !(&Error{Stage: "auth", Code: 535, Status: "5.7.8"}).NeedsPerson() || (&Error{Stage: "dial", Text: "refused"}).NeedsPerson() {
		t.Error("NeedsPerson")
	}
}
