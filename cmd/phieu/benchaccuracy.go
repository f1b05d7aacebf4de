package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phieu/phieu/poller/bounce"
	"github.com/phieu/phieu/poller/reply"
)

const benchAccuracyHelp = `Measures the bounce analyser and the reply trimmer on real messages: the
labelled corpora in --corpora (default $PHIEU_CORPORA, else the first
shared/corpora above the working directory). Prints a table per bounce
engine (detection, failed recipient, class, status code) and per reply
category (visible text exact after trimming), then the overall figures
against the targets: detection ≥ 99%, recipient ≥ 97%, class ≥ 90%,
status ≥ 90%, reply text ≥ 90%. Exits 1 when a target is missed.`

// BenchAccuracyCommand is "phieu bench accuracy".
type BenchAccuracyCommand struct {
	noArgs
	m       *Main
	corpora string
}

func (c *BenchAccuracyCommand) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.corpora, "corpora", "", "the corpora `dir` holding bounces/ and replies/")
}

// Run measures.
func (c *BenchAccuracyCommand) Run(ctx context.Context) error {
	dir := c.corpora
	if dir == "" {
		dir = findCorpora(c.m.Getenv("PHIEU_CORPORA"))
	}
	if dir == "" {
		return fmt.Errorf("bench accuracy: no corpora found: give --corpora DIR (the folder with bounces/ and replies/)")
	}
	out := c.m.Stdout
	bs, err := bounce.Score(filepath.Join(dir, "bounces"))
	if err != nil {
		return fmt.Errorf("bench accuracy: bounces: %w", err)
	}
	fmt.Fprintf(out, "Bounces (%s):\n", filepath.Join(dir, "bounces"))
	bs.WriteTable(out)
	rs, err := reply.Score(filepath.Join(dir, "replies"))
	if err != nil {
		return fmt.Errorf("bench accuracy: replies: %w", err)
	}
	fmt.Fprintf(out, "\nReplies (%s):\n", filepath.Join(dir, "replies"))
	rs.WriteTable(out)
	t := bs.Overall
	fmt.Fprintf(out, "\naccuracy: bounce detection %.1f%%, failed recipient %.1f%%, class %.1f%%, status %.1f%%, reply text %.1f%%\n",
		100*t.Detection(), 100*t.RecipientRate(), 100*t.ClassRate(), 100*t.StatusRate(), 100*rs.Accuracy())
	if failed := bs.Failed(); len(failed) > 0 || rs.Accuracy() < 0.90 {
		return fmt.Errorf("bench accuracy: below target: %v (reply text %.1f%%)", failed, 100*rs.Accuracy())
	}
	return nil
}

// findCorpora returns env if set, else the first shared/corpora above the
// working directory.
func findCorpora(env string) string {
	if env != "" {
		return env
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		c := filepath.Join(dir, "shared", "corpora")
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
