package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/campaignfile"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/vn"
)

const campaignCreateHelp = `
Creates a campaign from a campaign file (YAML): code, title, legal reference,
sender, deadline, respondent groups and units, questionnaire, reminder and
escalation rounds, working-day calendar and rate limits. See docs/files.md.
Problems are printed as FILE:LINE:COL: message; nothing is stored if any.`

// CampaignCreateCommand creates a campaign.
type CampaignCreateCommand struct {
	noArgs
	m      *Main
	config configFlag
	file   string
}

func (c *CampaignCreateCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.StringVar(&c.file, "f", "", "campaign `file` (YAML)")
}

// Run creates the campaign.
func (c *CampaignCreateCommand) Run(ctx context.Context) error {
	if c.file == "" {
		return usageErrorf("campaign create needs -f FILE")
	}
	camp, err := campaignfile.ReadFile(c.file)
	if err != nil {
		return err
	}
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	if err := sqlite.NewCampaignService(db).CreateCampaign(ctx, camp); err != nil {
		return err
	}
	loc := camp.Loc()
	fmt.Fprintf(c.m.Stdout, "created campaign %s %q: %d questions, groups %s, deadline %s\n",
		camp.Code, camp.Title, len(camp.Questionnaire.Questions), strings.Join(camp.Groups, ", "), deadlineText(camp.Deadline.In(loc)))
	fmt.Fprintf(c.m.Stdout, "next: phieu campaign add-members %s\n", camp.Code)
	return nil
}

// deadlineText writes a deadline the way official letters do: "23 giờ 59
// ngày 03/03/2023".
func deadlineText(t time.Time) string {
	return fmt.Sprintf("%02d giờ %02d ngày %s", t.Hour(), t.Minute(), t.Format("02/01/2006"))
}

const campaignListHelp = `
Lists every campaign with its state, deadline and member count.`

// CampaignListCommand lists campaigns.
type CampaignListCommand struct {
	noArgs
	m      *Main
	config configFlag
	format formatFlag
}

func (c *CampaignListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	c.format = "table"
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the list.
func (c *CampaignListCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	svc := sqlite.NewCampaignService(db)
	camps, err := svc.FindCampaigns(ctx)
	if err != nil {
		return err
	}
	t := &table{
		header:   []string{"Mã", "Tên đợt khảo sát", "Trạng thái", "Hạn trả lời", "Thành viên", "Đã trả lời"},
		jsonKeys: []string{"code", "title", "state", "deadline", "members", "answered"},
	}
	for _, camp := range camps {
		stats, err := svc.CampaignStats(ctx, camp.Code)
		if err != nil {
			return err
		}
		t.add(camp.Code, camp.Title, string(camp.State), vn.FormatDateTime(camp.Deadline.In(camp.Loc())),
			strconv.Itoa(stats.Total.Total()), strconv.Itoa(stats.Total[store.StatusAnswered]))
	}
	return t.write(c.m.Stdout, c.format)
}

const campaignShowHelp = `
Shows a campaign: its settings, its questionnaire and its members counted by
status, by group and by unit (each unit with the units below it rolled up).`

// CampaignShowCommand shows one campaign.
type CampaignShowCommand struct {
	m      *Main
	config configFlag
	code   string
}

func (c *CampaignShowCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

func (c *CampaignShowCommand) args(rest []string) error { return oneArg(rest, "CODE", &c.code) }

// Run prints the campaign.
func (c *CampaignShowCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	return printCampaign(ctx, c.m.Stdout, db, c.code)
}

// printCampaign writes a campaign's settings and member counts.
func printCampaign(ctx context.Context, w io.Writer, db *sqlite.DB, code string) error {
	stats, err := sqlite.NewCampaignService(db).CampaignStats(ctx, code)
	if err != nil {
		return err
	}
	camp := stats.Campaign
	loc := camp.Loc()
	fmt.Fprintf(w, "%s — %s\n", camp.Code, camp.Title)
	if camp.LegalRef != "" {
		fmt.Fprintf(w, "Văn bản:     %s\n", camp.LegalRef)
	}
	fmt.Fprintf(w, "Trạng thái:  %s\n", camp.State)
	fmt.Fprintf(w, "Người gửi:   %s <%s>, trả lời về %s\n", camp.SenderName, camp.SenderAddress, camp.ReplyTo)
	fmt.Fprintf(w, "Bắt đầu:     %s\n", vn.FormatDateTime(camp.OpensAt.In(loc)))
	fmt.Fprintf(w, "Hạn trả lời: %s (%s)\n", deadlineText(camp.Deadline.In(loc)), loc)
	fmt.Fprintf(w, "Nhóm:        %s\n", strings.Join(camp.Groups, ", "))
	if len(camp.Units) > 0 {
		fmt.Fprintf(w, "Đơn vị:      %s\n", strings.Join(camp.Units, ", "))
	}
	fmt.Fprintf(w, "Câu hỏi:     %d\n", len(camp.Questionnaire.Questions))

	fmt.Fprintf(w, "\nThành viên: %d\n", stats.Total.Total())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, st := range store.MemberStatuses {
		fmt.Fprintf(tw, "  %s\t%d\n", st.Label(), stats.Total[st])
	}
	tw.Flush()

	fmt.Fprintf(w, "\nTheo nhóm:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Nhóm\tTổng\tĐã trả lời\tChưa trả lời\tĐịa chỉ lỗi\t\n")
	for _, g := range stats.ByGroup {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", g.Group, g.Counts.Total(), answered(g.Counts), pending(g.Counts), g.Counts[store.StatusAddressFailed])
	}
	tw.Flush()

	fmt.Fprintf(w, "\nTheo đơn vị (gồm đơn vị trực thuộc):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Đơn vị\tMã\tTổng\tĐã trả lời\tTỷ lệ\n")
	for _, u := range stats.ByUnit {
		total := u.Subtree.Total()
		if total == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%d\t%s\n", strings.Repeat("  ", u.Depth), u.UnitName, u.UnitCode, total, answered(u.Subtree), percent(answered(u.Subtree), total))
	}
	return tw.Flush()
}

func answered(c store.StatusCounts) int {
	return c[store.StatusAnswered] + c[store.StatusAnsweredNeedsReview]
}

func pending(c store.StatusCounts) int { return c[store.StatusNotInvited] + c[store.StatusInvited] }

func percent(n, total int) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(total))
}

const campaignAddMembersHelp = `
Adds active respondents to a campaign as "not invited". --group and --unit
narrow the selection (a unit includes every unit below it); by default the
campaign's own groups and units are used. Adding twice adds nobody twice.`

// CampaignAddMembersCommand adds members.
type CampaignAddMembersCommand struct {
	m      *Main
	config configFlag
	code   string
	groups stringList
	units  stringList
}

func (c *CampaignAddMembersCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.Var(&c.groups, "group", "group `code` (repeatable or comma-separated)")
	fs.Var(&c.units, "unit", "unit `code`, with its sub-units (repeatable or comma-separated)")
}

func (c *CampaignAddMembersCommand) args(rest []string) error { return oneArg(rest, "CODE", &c.code) }

// Run adds the members.
func (c *CampaignAddMembersCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	svc := sqlite.NewCampaignService(db)
	n, err := svc.AddMembers(ctx, c.code, store.MemberSelector{Groups: c.groups, Subtrees: c.units})
	if err != nil {
		return err
	}
	stats, err := svc.CampaignStats(ctx, c.code)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.m.Stdout, "added %d members to %s (now %d)\n", n, c.code, stats.Total.Total())
	return nil
}
