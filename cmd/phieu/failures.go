package main

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const failuresHelp = `Prints the delivery-failure ledger the IT liaison's digest is made of:
every recipient the mail system refused, during sending (stage rcpt, data)
or later in a bounce (stage dsn), newest first, with the code, enhanced
status, class, what the class means and what to do, and the server's text.
--since takes dd/mm/yyyy or a duration back from now (24h, 7d).
phieu export failures writes the same ledger as a spreadsheet.`

// FailuresCommand is "phieu failures".
type FailuresCommand struct {
	noArgs
	m      *Main
	config configFlag
	filter failureFilter
	format formatFlag
}

func (c *FailuresCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	c.filter.register(fs)
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the ledger.
func (c *FailuresCommand) Run(ctx context.Context) error {
	rows, err := c.filter.ledger(ctx, c.m, c.config)
	if err != nil {
		return err
	}
	t := &table{}
	for _, col := range failureColumns {
		t.header = append(t.header, col.header)
		t.jsonKeys = append(t.jsonKeys, col.key)
	}
	for _, r := range rows {
		t.add(cellTexts(r)...)
	}
	return t.write(c.m.Stdout, c.format)
}

// failureFilter chooses the failures of the ledger: the flags `phieu
// failures` and `phieu export failures` share.
type failureFilter struct {
	campaign string
	since    string
	class    string
	domain   string
}

func (f *failureFilter) register(fs *flag.FlagSet) {
	fs.StringVar(&f.campaign, "campaign", "", "only this campaign `code`")
	fs.StringVar(&f.since, "since", "", "only failures since `WHEN` (dd/mm/yyyy, or 24h, 7d back from now)")
	fs.StringVar(&f.class, "class", "", "only this `class` (user_unknown, mailbox_full, host_unknown, sender_rejected...)")
	fs.StringVar(&f.domain, "domain", "", "only this receiving `domain`")
}

// failureColumns are the ledger's columns: the header `phieu failures`
// prints, its JSON key, and the Vietnamese header of the export.
var failureColumns = []struct{ header, key, vi string }{
	{"AT", "at", "Thời gian"},
	{"CAMPAIGN", "campaign", "Đợt khảo sát"},
	{"MAILBOX", "mailbox", "Hộp thư"},
	{"DOMAIN", "domain", "Tên miền"},
	{"STAGE", "stage", "Giai đoạn"},
	{"CODE", "code", "Mã SMTP"},
	{"STATUS", "status", "Mã trạng thái"},
	{"CLASS", "class", "Loại lỗi"},
	{"HARD", "hard", "Lỗi vĩnh viễn"},
	{"MEANING", "meaning", "Ý nghĩa"},
	{"ACTION", "action", "Cách xử lý"},
	{"SERVER SAID", "text", "Nội dung máy chủ trả về"},
}

// ledger reads the failures the filter selects, newest first: one row of
// failureColumns a failure, its time in the config's zone, the SMTP code a
// number (nil when there was none) and HARD a bool.
func (f *failureFilter) ledger(ctx context.Context, m *Main, config configFlag) ([][]any, error) {
	db, cfg, outbox, err := m.openOutbox(config)
	if err != nil {
		return nil, err
	}
	if f.campaign != "" {
		if _, err := sqlite.NewCampaignService(db).FindCampaignByCode(ctx, f.campaign); err != nil {
			return nil, err
		}
	}
	loc := configLocation(cfg)
	since, err := parseSince(f.since, m.Now(), loc)
	if err != nil {
		return nil, usageErrorf("--since: %v", err)
	}
	if f.class != "" {
		known := false
		for _, k := range store.FailureClasses {
			known = known || string(k) == f.class
		}
		if !known {
			return nil, usageErrorf("--class %q is not a failure class", f.class)
		}
	}
	fs, err := outbox.FindDeliveryFailures(ctx, f.campaign, since)
	if err != nil {
		return nil, err
	}
	var rows [][]any
	for _, df := range fs {
		if f.class != "" && string(df.Class) != f.class || f.domain != "" && !strings.EqualFold(df.Domain, f.domain) {
			continue
		}
		meaning, action := df.Class.Explain()
		var code any
		if df.Code != 0 {
			code = df.Code
		}
		rows = append(rows, []any{df.At.In(loc), df.CampaignCode, df.Mailbox, df.Domain, string(df.Stage), code, df.Status,
			string(df.Class), df.Permanent, meaning, action, df.Text})
	}
	return rows, nil
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
