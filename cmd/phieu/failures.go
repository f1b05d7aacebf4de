package main

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
)

const failuresHelp = `Prints the delivery-failure ledger the IT liaison's digest is made of:
every recipient the mail system refused, during sending (stage rcpt, data)
or later in a bounce (stage dsn), newest first, with the code, enhanced
status, class, what the class means and what to do, and the server's text.
--since takes dd/mm/yyyy or a duration back from now (24h, 7d).`

// FailuresCommand is "phieu failures".
type FailuresCommand struct {
	noArgs
	m        *Main
	config   configFlag
	campaign string
	since    string
	class    string
	domain   string
	format   formatFlag
}

func (c *FailuresCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.campaign, "campaign", "", "only this campaign `code`")
	fs.StringVar(&c.since, "since", "", "only failures since `WHEN` (dd/mm/yyyy, or 24h, 7d back from now)")
	fs.StringVar(&c.class, "class", "", "only this `class` (user_unknown, mailbox_full, host_unknown, sender_rejected...)")
	fs.StringVar(&c.domain, "domain", "", "only this receiving `domain`")
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the ledger.
func (c *FailuresCommand) Run(ctx context.Context) error {
	_, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	loc := configLocation(cfg)
	since, err := parseSince(c.since, c.m.Now(), loc)
	if err != nil {
		return usageErrorf("--since: %v", err)
	}
	if c.class != "" {
		known := false
		for _, k := range store.FailureClasses {
			known = known || string(k) == c.class
		}
		if !known {
			return usageErrorf("--class %q is not a failure class", c.class)
		}
	}
	fs, err := outbox.FindDeliveryFailures(ctx, c.campaign, since)
	if err != nil {
		return err
	}
	t := &table{header: []string{"AT", "CAMPAIGN", "MAILBOX", "DOMAIN", "STAGE", "CODE", "STATUS", "CLASS", "HARD", "MEANING", "ACTION", "SERVER SAID"},
		jsonKeys: []string{"at", "campaign", "mailbox", "domain", "stage", "code", "status", "class", "hard", "meaning", "action", "text"}}
	for _, f := range fs {
		if c.class != "" && string(f.Class) != c.class || c.domain != "" && !strings.EqualFold(f.Domain, c.domain) {
			continue
		}
		meaning, action := f.Class.Explain()
		code := ""
		if f.Code != 0 {
			code = strconv.Itoa(f.Code)
		}
		t.add(f.At.In(loc).Format("02/01/2006 15:04"), f.CampaignCode, f.Mailbox, f.Domain, string(f.Stage), code, f.Status,
			string(f.Class), strconv.FormatBool(f.Permanent), meaning, action, f.Text)
	}
	return t.write(c.m.Stdout, c.format)
}

// parseSince reads dd/mm/yyyy (midnight in loc) or a duration back from
// now ("24h", "7d"); "" is the beginning.
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 {
			return time.Time{}, store.Errorf(store.EINVALID, "%q is not a number of days", s)
		}
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.ParseInLocation("02/01/2006", s, loc)
	if err != nil {
		return time.Time{}, store.Errorf(store.EINVALID, "%q is neither dd/mm/yyyy nor a duration like 24h or 7d", s)
	}
	return t, nil
}
