package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/roster"
	"github.com/phieu/phieu/store/sqlite"
)

//go:embed samples/phieu.yaml samples/campaign.yaml samples/units.csv samples/respondents.csv
var samples embed.FS

const initHelp = `
Writes into DIR (default: the current directory) a commented config
(phieu.yaml), a sample campaign (campaign.yaml) and sample rosters (units.csv,
respondents.csv) for a fictional province whose mail domains end in .test,
and creates the database named in the config. Existing files are kept unless
--force is given.

With --sample it also imports the sample rosters, creates the sample campaign
and adds its members, so you can look around at once:

  phieu init --sample demo && cd demo && phieu campaign show PAR2025`

// InitCommand sets up a working directory.
type InitCommand struct {
	m      *Main
	dir    string
	force  bool
	sample bool
}

func (c *InitCommand) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.force, "force", false, "overwrite existing files")
	fs.BoolVar(&c.sample, "sample", false, "also import the sample rosters and create the sample campaign")
}

func (c *InitCommand) args(rest []string) error {
	c.dir = "."
	if len(rest) == 0 {
		return nil
	}
	return oneArg(rest, "DIR", &c.dir)
}

// Run writes the files and creates the database.
func (c *InitCommand) Run(ctx context.Context) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	entries, err := fs.ReadDir(samples, "samples")
	if err != nil {
		return err
	}
	for _, e := range entries {
		dst := filepath.Join(c.dir, e.Name())
		if _, err := os.Stat(dst); err == nil && !c.force {
			fmt.Fprintf(c.m.Stdout, "kept     %s (exists; --force overwrites)\n", dst)
			continue
		}
		data, err := samples.ReadFile("samples/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		fmt.Fprintf(c.m.Stdout, "wrote    %s\n", dst)
	}

	db, _, err := c.m.openStore(configFlag{path: filepath.Join(c.dir, "phieu.yaml")})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "database %s\n", db.Path())
	if !c.sample {
		fmt.Fprintf(c.m.Stdout, "\nNext, in %s:\n  phieu import units units.csv\n  phieu import respondents respondents.csv\n  phieu campaign create -f campaign.yaml\n  phieu campaign add-members PAR2025\n  phieu campaign show PAR2025\n", c.dir)
		return nil
	}
	return c.loadSamples(ctx, db)
}

// loadSamples imports the sample rosters and campaign as a user would.
func (c *InitCommand) loadSamples(ctx context.Context, db *sqlite.DB) error {
	path := func(name string) string { return filepath.Join(c.dir, name) }
	sum, err := roster.ImportUnits(ctx, sqlite.NewUnitService(db), path("units.csv"), roster.Options{}, store.ImportOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "units.csv: %s\n", sum)
	sum, err = roster.ImportRespondents(ctx, sqlite.NewRespondentService(db), path("respondents.csv"), roster.Options{}, store.ImportOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "respondents.csv: %s\n", sum)
	camp, err := campaignfile.ReadFile(path("campaign.yaml"))
	if err != nil {
		return err
	}
	svc := sqlite.NewCampaignService(db)
	switch err := svc.CreateCampaign(ctx, camp); {
	case store.ErrorCode(err) == store.ECONFLICT:
		fmt.Fprintf(c.m.Stdout, "campaign %s exists already\n", camp.Code)
	case err != nil:
		return err
	default:
		fmt.Fprintf(c.m.Stdout, "created campaign %s\n", camp.Code)
	}
	n, err := svc.AddMembers(ctx, camp.Code, store.MemberSelector{})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "added %d members\n\n", n)
	return printCampaign(ctx, c.m.Stdout, db, camp.Code)
}
