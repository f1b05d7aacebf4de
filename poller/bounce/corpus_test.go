package bounce

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phieu/phieu/poller/corpora"
)

func TestCorpus(t *testing.T) {
	dir := corpora.Find("bounces")
	if dir == "" {
		t.Skip("bounce corpus not found (shared/corpora/bounces above the working directory, or $PHIEU_CORPORA)")
	}
	s, err := Score(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	s.WriteTable(&b)
	t.Log("\n" + b.String())
	if testing.Verbose() || os.Getenv("BOUNCE_MISSES") != "" {
		for _, m := range s.Misses {
			t.Logf("miss %-9s %-28s %-14s want %s got %s", m.Measure, m.File, m.Engine, m.Want, m.Got)
		}
	}
	for _, f := range s.Failed() {
		t.Errorf("target missed: %s", f)
	}
}

// TestDump prints the reports of the corpus files named in $BOUNCE_DUMP
// (comma-separated), for working on the rules.
func TestDump(t *testing.T) {
	names := os.Getenv("BOUNCE_DUMP")
	dir := corpora.Find("bounces")
	if names == "" || dir == "" {
		t.Skip("set BOUNCE_DUMP=file.eml,... to print reports")
	}
	for _, n := range strings.Split(names, ",") {
		raw, err := os.ReadFile(filepath.Join(dir, "eml", n))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Analyze(raw)
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Logf("%s: err=%v\n%s", n, err, b)
	}
}
