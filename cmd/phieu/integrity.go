package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/yamlfile"
)

const integrityHelp = `
Prints the campaign's integrity report: for each unit, in tree order, how
many responses were read, how many carry a sign that someone other than the
member answered, and how many signs of each kind:

  other_mailbox         sent from a mailbox that is not the member's or an alias
  shared_mailbox        the mailbox answered for several members, is another
                        member's, or is the head's of the member's unit
  forwarded_invitation  the reply quotes the invitation forwarded to someone else
  answer_cluster        alike answers from one unit within a short window,
                        beyond what the campaign's answers make likely by chance

Then every flag with its reason. Flagged responses wait in the review queue
and are not counted until an operator accepts them (responses accept ID) or
rejects them (responses reject ID).

--format csv or json prints the per-unit report, or with --flags the list
of flags.`

// IntegrityCommand is "phieu integrity".
type IntegrityCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	flagList bool
	format   formatFlag
}

func (c *IntegrityCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "campaign `code` (required)")
	fs.BoolVar(&c.flagList, "flags", false, "with csv or json, list the flags instead of the per-unit report")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the report.
func (c *IntegrityCommand) Run(ctx context.Context) error {
	if c.campaign == "" {
		return usageErrorf("integrity needs --campaign CODE")
	}
	db, cfg, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	rep, err := sqlite.NewInboundService(db, nil).IntegrityReport(ctx, c.campaign)
	if err != nil {
		return err
	}
	units, flags := integrityTables(rep, configLocation(cfg))
	switch {
	case c.format != "table" && c.flagList:
		return flags.write(c.m.Stdout, c.format)
	case c.format != "table":
		return units.write(c.m.Stdout, c.format)
	}
	fmt.Fprintf(c.m.Stdout, "Integrity of %s: %d of %d responses flagged\n\n", rep.Campaign, rep.Flagged, rep.Responses)
	if err := units.write(c.m.Stdout, c.format); err != nil {
		return err
	}
	if len(rep.Flags) == 0 {
		fmt.Fprintln(c.m.Stdout, "\nNo flags.")
		return nil
	}
	fmt.Fprintln(c.m.Stdout)
	return flags.write(c.m.Stdout, c.format)
}

// integrityTables lays the report out as the per-unit table (with a total
// line) and the list of flags.
func integrityTables(rep *store.IntegrityReport, loc *time.Location) (units, flags *table) {
	units = &table{header: []string{"UNIT", "NAME", "RESPONSES", "FLAGGED"}, jsonKeys: []string{"unit", "name", "responses", "flagged"}}
	for _, k := range store.IntegrityKinds {
		units.header = append(units.header, strings.ToUpper(strings.ReplaceAll(string(k), "_", " ")))
		units.jsonKeys = append(units.jsonKeys, string(k))
	}
	line := func(unit, name string, responses, flagged int, byKind map[store.IntegrityKind]int) {
		cells := []string{unit, name, strconv.Itoa(responses), strconv.Itoa(flagged)}
		for _, k := range store.IntegrityKinds {
			cells = append(cells, strconv.Itoa(byKind[k]))
		}
		units.add(cells...)
	}
	for _, u := range rep.Units {
		line(strings.Repeat("  ", u.Depth)+u.Code, u.Name, u.Responses, u.Flagged, u.ByKind)
	}
	line("TOTAL", "", rep.Responses, rep.Flagged, rep.ByKind)
	flags = &table{header: []string{"AT", "UNIT", "RESPONSE", "KIND", "REASON"}, jsonKeys: []string{"at", "unit", "response", "kind", "reason"}}
	for _, f := range rep.Flags {
		flags.add(f.At.In(loc).Format("02/01/2006 15:04"), f.UnitCode, strconv.FormatInt(f.ResponseID, 10), string(f.Kind), f.Reason)
	}
	return units, flags
}

// IntegrityConfig is the config's integrity section: when alike answers
// from one unit are flagged as a cluster. Empty keys take
// store.DefaultClusterPolicy's values (2h, 3, 1, 0.001).
type IntegrityConfig struct {
	ClusterWindow         string   `yaml:"cluster_window"`          // answers arriving within it are compared
	ClusterMin            int      `yaml:"cluster_min"`             // alike answers that make a cluster
	ClusterMaxDistance    *int     `yaml:"cluster_max_distance"`    // questions alike answers may differ on
	ClusterMaxProbability *float64 `yaml:"cluster_max_probability"` // flag only when chance is below it
}

// policy returns the cluster policy the section describes.
func (ic IntegrityConfig) policy() (store.ClusterPolicy, error) {
	p := store.DefaultClusterPolicy()
	if ic.ClusterWindow != "" {
		d, err := time.ParseDuration(ic.ClusterWindow)
		if err != nil || d <= 0 {
			return p, store.Errorf(store.EINVALID, "integrity.cluster_window: %q is not a duration like 90m or 2h", ic.ClusterWindow)
		}
		p.Window = d
	}
	if ic.ClusterMin != 0 {
		p.Min = ic.ClusterMin
	}
	if ic.ClusterMaxDistance != nil {
		p.MaxDistance = *ic.ClusterMaxDistance
	}
	if ic.ClusterMaxProbability != nil {
		p.MaxProbability = *ic.ClusterMaxProbability
		if p.MaxProbability == 0 {
			return p, store.Errorf(store.EINVALID, "integrity.cluster_max_probability: must be above 0")
		}
	}
	return p, p.Validate()
}

// validate records the section's problems at their keys.
func (ic IntegrityConfig) validate(doc *yamlfile.Doc) {
	if _, err := ic.policy(); err != nil {
		msg := store.ErrorMessage(err)
		key, _, _ := strings.Cut(msg, ":")
		doc.Errorf(key, "%s", msg)
	}
}
