package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/roster"
	"github.com/phieu/phieu/store/sqlite"
)

const importUnitsHelp = `
Reads the unit tree from a CSV or XLSX file: one row per unit with its code,
name, parent unit code, kind and head (name, title, mailbox). Headers are
recognized as Vietnamese offices write them ("Mã đơn vị", "Tên đơn vị",
"Đơn vị cấp trên", "Thủ trưởng đơn vị", "Email thủ trưởng", ...), in any
case, with or without diacritics; --map overrides.

Every row is validated before anything is written. All problems are printed
together as FILE:ROW:COLUMN: message and nothing is written if any row fails.
Re-importing the same file changes nothing.`

const importRespondentsHelp = `
Reads respondents from a CSV or XLSX file: full name, gender or salutation,
title, unit (code or exact name), group code and mailbox, optionally a staff
code ("Mã cán bộ") and alias mailboxes. Rows are matched to stored
respondents by staff code, else by mailbox, so re-importing an updated list
updates people instead of duplicating them.

Every row is validated before anything is written. All problems are printed
together as FILE:ROW:COLUMN: message and nothing is written if any row fails.
Respondents missing from the file are only counted unless --prune is given:
then those who took part in a campaign are marked inactive, the others removed.`

// ImportCommand imports a units or respondents roster.
type ImportCommand struct {
	m      *Main
	kind   roster.Kind
	config configFlag
	file   string
	opts   roster.Options
	iopts  store.ImportOptions
	maps   stringList
}

func (c *ImportCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.opts.Encoding, "encoding", "", "CSV encoding: utf-8 or windows-1258 (default: detect)")
	fs.StringVar(&c.opts.Sheet, "sheet", "", "XLSX sheet name (default: the first sheet)")
	fs.Var(&c.maps, "map", "read the column with this header as this field: `header=field` (repeatable), e.g. --map 'Hộp thư=mailbox'")
	fs.BoolVar(&c.iopts.DryRun, "dry-run", false, "validate and print what would change, write nothing")
	if c.kind == roster.Respondents {
		fs.BoolVar(&c.iopts.Prune, "prune", false, "deactivate or remove stored respondents missing from the file")
	} else {
		fs.BoolVar(&c.iopts.Prune, "prune", false, "end the validity (yesterday) of stored units missing from the file")
	}
}

func (c *ImportCommand) args(rest []string) error {
	if err := oneArg(rest, "FILE", &c.file); err != nil {
		return err
	}
	for _, m := range c.maps {
		col, field, ok := strings.Cut(m, "=")
		if !ok || strings.TrimSpace(col) == "" || strings.TrimSpace(field) == "" {
			return usageErrorf("--map %q: write column=field", m)
		}
		if c.opts.Map == nil {
			c.opts.Map = map[string]string{}
		}
		c.opts.Map[strings.TrimSpace(col)] = strings.TrimSpace(field)
	}
	return nil
}

// Run imports the file and prints the change summary.
func (c *ImportCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	var sum *store.ImportSummary
	if c.kind == roster.Units {
		sum, err = roster.ImportUnits(ctx, sqlite.NewUnitService(db), c.file, c.opts, c.iopts)
	} else {
		sum, err = roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), c.file, c.opts, c.iopts)
	}
	if err != nil {
		return err
	}
	verb := "imported"
	if c.iopts.DryRun {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(c.m.Stdout, "%s: %s %s: %s\n", c.file, c.kind, verb, sum)
	return nil
}
