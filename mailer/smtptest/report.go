package smtptest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// FaultResult is one case of the fault suite (scripts/faults): what was
// broken, what phieu must do, and what it did, with the counts. Report
// prints it for the script, which builds docs/RELIABILITY.md from it.
type FaultResult struct {
	Suite    string // smtp, imap, storage, crash
	Case     string
	Expected string
	Observed string
	// Items is how many members (SMTP) or replies (IMAP) the case ran
	// over; Lost and Duplicates are what the case counted of them.
	Items, Lost, Duplicates int
}

// Report prints r as one tab-separated "FAULT" line on stdout when the test
// ends, with "pass", "FAIL" or "skipped" from the test's outcome; the
// caller fills r in during the test.
func Report(tb testing.TB, r *FaultResult) {
	tb.Cleanup(func() {
		verdict := "pass"
		switch {
		case tb.Failed():
			verdict = "FAIL"
		case tb.Skipped():
			verdict, r.Observed = "skipped", "not run here"
		}
		clean := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
		// Test servers' ports change every run; the report should not.
		r.Observed = loopbackPort.ReplaceAllString(r.Observed, "127.0.0.1:PORT")
		fmt.Printf("FAULT\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Suite, clean.Replace(r.Case), clean.Replace(r.Expected),
			clean.Replace(r.Observed), r.Items, r.Lost, r.Duplicates, verdict)
	})
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
