package bounce

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir finds shared/corpora/bounces: $PHIEU_CORPORA, else walking up
// from the working directory.
func corpusDir() string {
	if d := os.Getenv("PHIEU_CORPORA"); d != "" {
		for _, c := range []string{filepath.Join(d, "bounces"), d} {
			if _, err := os.Stat(filepath.Join(c, "labels.tsv")); err == nil {
				return c
			}
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		c := filepath.Join(dir, "shared", "corpora", "bounces")
		if _, err := os.Stat(filepath.Join(c, "labels.tsv")); err == nil {
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
	dir := corpusDir()
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
