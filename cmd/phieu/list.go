package main

import (
	"context"
	"flag"
	"strconv"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const respondentsListHelp = `
Prints respondents sorted the Vietnamese way: by tên (given name), then họ,
then tên đệm, in Vietnamese letter order ("Anh" < "Ánh" < "Bảo", "Dũng" <
"Đức"). Filters combine. With --campaign the member's status in that campaign
is shown too.`

// RespondentsListCommand lists respondents.
type RespondentsListCommand struct {
	noArgs
	m      *Main
	config configFlag
	filter store.RespondentFilter
	status string
	format formatFlag
}

func (c *RespondentsListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	c.format = "table"
	fs.StringVar(&c.filter.Campaign, "campaign", "", "only members of this campaign (adds their status)")
	fs.StringVar(&c.filter.Subtree, "unit", "", "only this unit `code` and the units below it")
	fs.StringVar(&c.filter.Group, "group", "", "only this group code")
	fs.StringVar(&c.status, "status", "", "with --campaign: only members with this status (not_invited, invited, answered, answered_needs_review, address_failed, excluded)")
	fs.BoolVar(&c.filter.IncludeInactive, "inactive", false, "include respondents marked inactive")
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the listing.
func (c *RespondentsListCommand) Run(ctx context.Context) error {
	if c.status != "" {
		if c.filter.Campaign == "" {
			return usageErrorf("--status needs --campaign")
		}
		if !store.MemberStatus(c.status).Valid() {
			return usageErrorf("--status %q is not a member status", c.status)
		}
		c.filter.Status = store.MemberStatus(c.status)
	}
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	if c.filter.Campaign != "" {
		if _, err := sqlite.NewCampaignService(db).FindCampaignByCode(ctx, c.filter.Campaign); err != nil {
			return err
		}
	}
	if c.filter.Subtree != "" {
		if _, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, c.filter.Subtree); err != nil {
			return err
		}
	}
	rs, err := sqlite.NewRespondentService(db).FindRespondents(ctx, c.filter)
	if err != nil {
		return err
	}
	t := &table{
		header:   []string{"ID", "Họ và tên", "Danh xưng", "Chức vụ", "Mã đơn vị", "Nhóm", "Email", "Mã cán bộ"},
		jsonKeys: []string{"id", "full_name", "salutation", "title", "unit", "group", "mailbox", "external_id"},
	}
	var statuses map[int64]store.MemberStatus
	if c.filter.Campaign != "" {
		t.header = append(t.header, "Trạng thái")
		t.jsonKeys = append(t.jsonKeys, "status")
		if statuses, err = memberStatuses(ctx, db, c.filter); err != nil {
			return err
		}
	}
	if c.filter.IncludeInactive {
		t.header = append(t.header, "Còn hiệu lực")
		t.jsonKeys = append(t.jsonKeys, "active")
	}
	for _, r := range rs {
		cells := []string{strconv.FormatInt(r.ID, 10), r.FullName, string(r.Salutation), r.Title, r.UnitCode, r.Group, strings.Join(r.Mailboxes(), "; "), r.ExternalID}
		if statuses != nil {
			cells = append(cells, string(statuses[r.ID]))
		}
		if c.filter.IncludeInactive {
			cells = append(cells, strconv.FormatBool(r.Active))
		}
		t.add(cells...)
	}
	return t.write(c.m.Stdout, c.format)
}

// memberStatuses returns the status of every member of the campaign.
func memberStatuses(ctx context.Context, db *sqlite.DB, f store.RespondentFilter) (map[int64]store.MemberStatus, error) {
	members, err := sqlite.NewCampaignService(db).FindMembers(ctx, f.Campaign, f.Status)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]store.MemberStatus, len(members))
	for _, m := range members {
		out[m.RespondentID] = m.Status
	}
	return out, nil
}

const unitsListHelp = `
Prints the unit tree, each unit under its parent, with its head.`

// UnitsListCommand prints the unit tree.
type UnitsListCommand struct {
	noArgs
	m      *Main
	config configFlag
	under  string
	format formatFlag
}

func (c *UnitsListCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	c.format = "table"
	fs.StringVar(&c.under, "unit", "", "only this unit `code` and the units below it")
	fs.Var(&c.format, "format", "output `format`: table, csv or json")
}

// Run prints the tree.
func (c *UnitsListCommand) Run(ctx context.Context) error {
	db, _, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	units, err := sqlite.NewUnitService(db).FindUnits(ctx, store.UnitFilter{Subtree: c.under})
	if err != nil {
		return err
	}
	t := &table{
		header:   []string{"Mã đơn vị", "Tên đơn vị", "Loại", "Đơn vị cấp trên", "Thủ trưởng", "Chức vụ thủ trưởng", "Email thủ trưởng", "Hiệu lực đến"},
		jsonKeys: []string{"code", "name", "kind", "parent", "head_name", "head_title", "head_mailbox", "valid_to"},
	}
	for _, n := range treeOrder(units) {
		name := n.unit.Name
		if c.format == "table" {
			name = strings.Repeat("  ", n.depth) + name
		}
		u := n.unit
		t.add(u.Code, name, u.Kind, u.ParentCode, u.Head.Name, u.Head.Title, u.Head.Mailbox, u.ValidTo.String())
	}
	return t.write(c.m.Stdout, c.format)
}

type treeNode struct {
	unit  *store.Unit
	depth int
}

// treeOrder lists units depth first, children after their parent in code
// order. Units whose parent is not in the list are roots.
func treeOrder(units []*store.Unit) []treeNode {
	byCode := map[string]bool{}
	children := map[string][]*store.Unit{}
	for _, u := range units {
		byCode[u.Code] = true
	}
	var roots []*store.Unit
	for _, u := range units {
		if u.ParentCode == "" || !byCode[u.ParentCode] {
			roots = append(roots, u)
		} else {
			children[u.ParentCode] = append(children[u.ParentCode], u)
		}
	}
	var out []treeNode
	var walk func(u *store.Unit, depth int)
	walk = func(u *store.Unit, depth int) {
		out = append(out, treeNode{u, depth})
		for _, ch := range children[u.Code] {
			walk(ch, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return out
}
