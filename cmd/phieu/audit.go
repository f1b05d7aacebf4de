package main

import (
	"context"
	"flag"
	"fmt"
	"os/user"
	"slices"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// cliActor names the person at the command line in the audit log:
// "cli:" and their operating-system user name, with the person who ran it
// through sudo (as docs/systemd/phieu-admin does, to act as the service
// user) named first: "cli:lan.nt via phieu".
func (m *Main) cliActor() string {
	name := m.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	if by := m.Getenv("SUDO_USER"); by != "" && by != name {
		return "cli:" + by + " via " + name
	}
	return "cli:" + name
}

// asCLIUser runs a command that changes things with the CLI user as the
// actor its audit entries name (the store records them in the same
// transaction as the change).
func asCLIUser(m *Main, r runner) runner { return actingAsCLIUser{r, m} }

type actingAsCLIUser struct {
	runner
	m *Main
}

func (r actingAsCLIUser) Run(ctx context.Context) error {
	return r.runner.Run(store.NewContextWithActor(ctx, r.m.cliActor()))
}

const auditListHelp = `
Lists the audit log, newest first: who did what, to what, when. It records
identified exports, review decisions (responses accept and reject),
campaigns paused and resumed, member status changes, dashboard sign-ins and
configuration changes (phieu run records the settings it starts with).
Actors are "cli:<user>" for the command line, an operator's name for the
dashboard, "system" for what phieu does on its own. The log is append-only:
the database refuses to change or delete an entry.

--since takes dd/mm/yyyy or a duration back from now (24h, 7d). Times are
shown dd/mm/yyyy hh:mm in the configured time zone.`

// AuditListCommand is "phieu audit list".
type AuditListCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	action   string
	since    string
	limit    int
	format   formatFlag
}

func (c *AuditListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "only this campaign `code`")
	fs.StringVar(&c.action, "action", "", "only this `action`: "+auditActionList())
	fs.StringVar(&c.since, "since", "", "only entries since `WHEN` (dd/mm/yyyy, or 24h, 7d back from now)")
	fs.IntVar(&c.limit, "limit", 100, "at most `N` entries (0: all)")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

func auditActionList() string {
	names := make([]string, len(store.AuditActions))
	for i, a := range store.AuditActions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// Run lists.
func (c *AuditListCommand) Run(ctx context.Context) error {
	if c.action != "" && !slices.Contains(store.AuditActions, store.AuditAction(c.action)) {
		return usageErrorf("--action %q is not one of %s", c.action, auditActionList())
	}
	if c.limit < 0 {
		return usageErrorf("--limit must be 0 (all) or more")
	}
	db, cfg, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	since, err := parseSince(c.since, c.m.Now(), loc)
	if err != nil {
		return usageErrorf("--since: %v", err)
	}
	f := store.AuditFilter{Campaign: c.campaign, Action: store.AuditAction(c.action), Since: since}
	if c.limit > 0 {
		f.Limit = c.limit + 1 // one more tells whether there are more
	}
	entries, err := sqlite.NewAuditService(db).FindAudit(ctx, f)
	if err != nil {
		return err
	}
	more := c.limit > 0 && len(entries) > c.limit
	if more {
		entries = entries[:c.limit]
	}
	t := &table{header: []string{"AT", "ACTOR", "ACTION", "CAMPAIGN", "SUBJECT", "DETAIL"},
		jsonKeys: []string{"at", "actor", "action", "campaign", "subject", "detail"}}
	for _, e := range entries {
		t.add(e.At.In(loc).Format("02/01/2006 15:04"), e.Actor, string(e.Action), e.Campaign, e.Subject, e.Detail)
	}
	if err := t.write(c.m.Stdout, c.format); err != nil {
		return err
	}
	if c.format == "table" && more {
		fmt.Fprintf(c.m.Stdout, "(the newest %d; --limit 0 for all)\n", c.limit)
	}
	return nil
}
