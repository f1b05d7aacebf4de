package reply

import (
	"strings"
	"testing"

	"github.com/phieu/phieu/poller/corpora"
)

func TestCorpus(t *testing.T) {
	dir := corpora.Find("replies")
	if dir == "" {
		t.Skip("reply corpus not found: set PHIEU_CORPORA or place shared/corpora above the working directory")
	}
	sc, err := Score(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc.WriteTable(&b)
	t.Log("\n" + b.String())
	if testing.Verbose() {
		for _, r := range sc.Cases {
			if !r.OK && r.Err == nil {
				t.Logf("%s:\n--- got\n%s\n--- want\n%s", r.File, r.Got, r.Want)
			}
		}
	}
	if sc.Total == 0 {
		t.Fatal("corpus has no cases")
	}
	if acc := sc.Accuracy(); acc < 0.90 {
		t.Errorf("exact visible-text accuracy %.1f%% (%d/%d), want >= 90%%", 100*acc, sc.Passed, sc.Total)
	}
}
