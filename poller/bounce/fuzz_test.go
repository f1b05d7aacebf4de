package bounce

import (
	"testing"
)

// FuzzAnalyze: Analyze must not panic, and a report it returns must be
// consistent. Seeds are in testdata/fuzz/FuzzAnalyze (small synthetic
// messages) plus the hand-written ones of the unit tests.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{postfixDSN, exchangeNDR, vietAutoReply, qmailWithOriginal} {
		f.Add(crlf(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := analyze(raw) // without Analyze's recover, so panics surface
		if err != nil {
			if r != nil {
				t.Fatal("report with an error")
			}
			return
		}
		if r.Kind == "" {
			t.Fatal("empty Kind")
		}
		for _, x := range r.Failures {
			if x.Hard && x.Action != "failed" {
				t.Fatalf("hard failure with action %q", x.Action)
			}
		}
	})
}
