package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/phieu/phieu/poller/bounce"
	"github.com/phieu/phieu/poller/corpora"
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
	bounces, replies := corpora.Find("bounces"), corpora.Find("replies")
	if c.corpora != "" {
		bounces, replies = filepath.Join(c.corpora, "bounces"), filepath.Join(c.corpora, "replies")
	}
	if bounces == "" || replies == "" {
		return fmt.Errorf("bench accuracy: no corpora found: give --corpora DIR (the folder with bounces/ and replies/) or set PHIEU_CORPORA")
	}
	out := c.m.Stdout
	bs, err := bounce.Score(bounces)
	if err != nil {
		return fmt.Errorf("bench accuracy: bounces: %w", err)
	}
	fmt.Fprintf(out, "Bounces (%s):\n", bounces)
	bs.WriteTable(out)
	rs, err := reply.Score(replies)
	if err != nil {
		return fmt.Errorf("bench accuracy: replies: %w", err)
	}
	fmt.Fprintf(out, "\nReplies (%s):\n", replies)
	rs.WriteTable(out)
	t := bs.Overall
	fmt.Fprintf(out, "\naccuracy: bounce detection %.1f%%, failed recipient %.1f%%, class %.1f%%, status %.1f%%, reply text %.1f%%\n",
		100*t.Detection(), 100*t.RecipientRate(), 100*t.ClassRate(), 100*t.StatusRate(), 100*rs.Accuracy())
	if failed := bs.Failed(); len(failed) > 0 || rs.Accuracy() < 0.90 {
		return fmt.Errorf("bench accuracy: below target: %v (reply text %.1f%%)", failed, 100*rs.Accuracy())
	}
	return nil
}
