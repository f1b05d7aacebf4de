package reply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir finds the shared reply corpus: $PHIEU_CORPORA (the folder that
// holds replies/), else the first directory upwards from the working
// directory that contains shared/corpora.
func corpusDir() string {
	if d := os.Getenv("PHIEU_CORPORA"); d != "" {
		if st, err := os.Stat(filepath.Join(d, "replies")); err == nil && st.IsDir() {
			return filepath.Join(d, "replies")
		}
		if _, err := os.Stat(filepath.Join(d, "labels.tsv")); err == nil {
			return d
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		c := filepath.Join(dir, "shared", "corpora", "replies")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func TestCorpus(t *testing.T) {
	dir := corpusDir()
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
