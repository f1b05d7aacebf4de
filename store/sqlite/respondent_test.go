package sqlite_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// r builds a respondent: external id, full name, unit, group, mailbox and
// aliases.
func r(ext, name, unit, group, mailbox string, aliases ...string) *store.Respondent {
	return &store.Respondent{ExternalID: ext, FullName: name, UnitCode: unit, Group: group, Mailbox: mailbox, Aliases: aliases,
		Salutation: store.SalutationOng, Title: "Chuyên viên", Active: true}
}

// treeUnits is a small province: two departments that each have a "Văn
// phòng", so that name is ambiguous.
func treeUnits() []*store.Unit {
	return []*store.Unit{
		u("UBND", "", "UBND tỉnh"),
		u("STP", "UBND", "Sở Tư pháp"), u("STP-VP", "STP", "Văn phòng"),
		u("STC", "UBND", "Sở Tài chính"), u("STC-VP", "STC", "Văn phòng"),
	}
}

// MustOpenProvince opens a database holding treeUnits.
func MustOpenProvince(tb testing.TB) (*sqlite.DB, *Clock) {
	tb.Helper()
	db, clock := MustOpenDB(tb)
	mustImportUnits(tb, db, treeUnits(), store.ImportOptions{})
	return db, clock
}

func mustImportRespondents(tb testing.TB, db *sqlite.DB, rs []*store.Respondent, opts store.ImportOptions) *store.ImportSummary {
	tb.Helper()
	sum, err := sqlite.NewRespondentService(db).ImportRespondents(context.Background(), rs, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

func mustFindRespondents(tb testing.TB, db *sqlite.DB, f store.RespondentFilter) []*store.Respondent {
	tb.Helper()
	rs, err := sqlite.NewRespondentService(db).FindRespondents(context.Background(), f)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

func mustFindByMailbox(tb testing.TB, db *sqlite.DB, mailbox string) *store.Respondent {
	tb.Helper()
	rs := mustFindRespondents(tb, db, store.RespondentFilter{Mailbox: mailbox, IncludeInactive: true})
	if len(rs) != 1 {
		tb.Fatalf("%d respondents with mailbox %s", len(rs), mailbox)
	}
	return rs[0]
}

func names(rs []*store.Respondent) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.FullName)
	}
	return out
}

// three returns a fresh roster of three people (import normalizes in place,
// so every import gets its own).
func three() []*store.Respondent {
	return []*store.Respondent{
		r("CB001", "Nguyễn Văn An", "STP", "LDS", "an.nv@stp.gov.test"),
		r("CB002", "Trần Thị Bích", "STP-VP", "CV", "bich.tt@stp.gov.test", "bich@gmail.test"),
		r("", "Lê Hoàng Cường", "Sở Tài chính", "CV", "cuong.lh@stc.gov.test"),
	}
}

func TestRespondentService_ImportRespondents(t *testing.T) {
	ctx := context.Background()

	t.Run("Add", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustSummary(t, mustImportRespondents(t, db, three(), store.ImportOptions{}), store.ImportSummary{Added: 3})
		got := mustFindByMailbox(t, db, "BICH@gmail.test ")
		want := &store.Respondent{
			ID: got.ID, ExternalID: "CB002", FullName: "Trần Thị Bích", FamilyName: "Trần", MiddleName: "Thị", GivenName: "Bích",
			Salutation: store.SalutationOng, Title: "Chuyên viên", UnitCode: "STP-VP", Group: "CV",
			Mailbox: "bich.tt@stp.gov.test", Aliases: []string{"bich@gmail.test"}, Active: true,
			CreatedAt: t0.Truncate(time.Microsecond), UpdatedAt: t0.Truncate(time.Microsecond),
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
		if got, err := sqlite.NewRespondentService(db).FindRespondentByID(ctx, got.ID); err != nil || got.Mailbox != want.Mailbox {
			t.Fatalf("FindRespondentByID: %+v, %v", got, err)
		}
	})

	t.Run("ReimportIsIdempotent", func(t *testing.T) {
		db, clock := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		before := dump(t, db)
		clock.Set(t0.Add(time.Hour))
		mustSummary(t, mustImportRespondents(t, db, three(), store.ImportOptions{Prune: true}), store.ImportSummary{Unchanged: 3})
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("UpdateByExternalIDWithNewMailbox", func(t *testing.T) {
		db, clock := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		old := mustFindByMailbox(t, db, "an.nv@stp.gov.test")
		clock.Set(t0.Add(time.Hour))
		rs := three()
		rs[0].Mailbox = "an.nguyenvan@stp.gov.test"
		rs[0].Aliases = []string{"an.nv@stp.gov.test"} // the old primary becomes an alias
		rs[0].Title = "Phó Giám đốc"
		mustSummary(t, mustImportRespondents(t, db, rs, store.ImportOptions{}), store.ImportSummary{Updated: 1, Unchanged: 2})
		got := mustFindByMailbox(t, db, "an.nguyenvan@stp.gov.test")
		if got.ID != old.ID || got.Title != "Phó Giám đốc" || !reflect.DeepEqual(got.Aliases, []string{"an.nv@stp.gov.test"}) ||
			!got.CreatedAt.Equal(old.CreatedAt) || !got.UpdatedAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
		// And back: the alias becomes the primary again.
		mustSummary(t, mustImportRespondents(t, db, three(), store.ImportOptions{}), store.ImportSummary{Updated: 1, Unchanged: 2})
		if got := mustFindByMailbox(t, db, "an.nv@stp.gov.test"); got.ID != old.ID || len(got.Aliases) != 0 {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("MatchByMailboxWithoutExternalID", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		old := mustFindByMailbox(t, db, "cuong.lh@stc.gov.test")
		rs := three()
		rs[2].FullName = "Lê  Hoàng   Cương" // corrected spelling
		rs[2].ExternalID = "CB003"           // the roster now has a code for him
		rs[1].ExternalID = ""                // and lost hers: the stored one is kept
		mustSummary(t, mustImportRespondents(t, db, rs, store.ImportOptions{}), store.ImportSummary{Updated: 1, Unchanged: 2})
		got := mustFindByMailbox(t, db, "cuong.lh@stc.gov.test")
		if got.ID != old.ID || got.FullName != "Lê Hoàng Cương" || got.GivenName != "Cương" || got.ExternalID != "CB003" {
			t.Fatalf("got %+v", got)
		}
		if got := mustFindByMailbox(t, db, "bich.tt@stp.gov.test"); got.ExternalID != "CB002" {
			t.Fatalf("external id %q, want CB002 kept", got.ExternalID)
		}
	})

	t.Run("MatchByAlias", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		old := mustFindByMailbox(t, db, "bich.tt@stp.gov.test")
		rs := three()
		rs[1].ExternalID = ""
		rs[1].Mailbox, rs[1].Aliases = "bich@gmail.test", nil
		mustSummary(t, mustImportRespondents(t, db, rs, store.ImportOptions{}), store.ImportSummary{Updated: 1, Unchanged: 2})
		if got := mustFindByMailbox(t, db, "bich@gmail.test"); got.ID != old.ID || got.Mailbox != "bich@gmail.test" || len(got.Aliases) != 0 {
			t.Fatalf("got %+v", got)
		}
		if rs := mustFindRespondents(t, db, store.RespondentFilter{Mailbox: "bich.tt@stp.gov.test"}); len(rs) != 0 {
			t.Fatalf("old mailbox still found: %+v", rs[0])
		}
	})

	t.Run("UnitByName", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		rs := three()
		mustImportRespondents(t, db, rs, store.ImportOptions{})
		if got, want := rs[2].UnitCode, "STC"; got != want {
			t.Fatalf("row's unit %q, want it resolved to %q", got, want)
		}
		if got := mustFindByMailbox(t, db, "cuong.lh@stc.gov.test"); got.UnitCode != "STC" {
			t.Fatalf("unit %q, want STC", got.UnitCode)
		}
		// Writing the code instead of the name changes nothing.
		rs = three()
		rs[2].UnitCode = "STC"
		mustSummary(t, mustImportRespondents(t, db, rs, store.ImportOptions{}), store.ImportSummary{Unchanged: 3})
	})

	t.Run("NewUnitIsAnUpdate", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		rs := three()
		rs[0].UnitCode = "STC-VP"
		mustSummary(t, mustImportRespondents(t, db, rs, store.ImportOptions{}), store.ImportSummary{Updated: 1, Unchanged: 2})
	})

	for _, tt := range []struct {
		name  string
		rows  func() []*store.Respondent
		index int
		field string
		text  string
		other int
	}{
		{"ErrAmbiguousUnitName", func() []*store.Respondent {
			rs := three()
			rs[1].UnitCode = "Văn phòng"
			return rs
		}, 1, store.FieldUnit, "STC-VP, STP-VP", -1},
		{"ErrUnknownUnit", func() []*store.Respondent {
			rs := three()
			rs[0].UnitCode = "Sở Ngoại vụ"
			return rs
		}, 0, store.FieldUnit, "Sở Ngoại vụ", -1},
		{"ErrDuplicateMailbox", func() []*store.Respondent {
			rs := three()
			rs[2].Mailbox = "AN.NV@stp.gov.test"
			return rs
		}, 2, store.FieldMailbox, "an.nv@stp.gov.test appears twice", 0},
		{"ErrAliasRepeatsAnotherRowsPrimary", func() []*store.Respondent {
			rs := three()
			rs[2].Aliases = []string{"bich.tt@stp.gov.test"}
			return rs
		}, 2, store.FieldAliases, "bich.tt@stp.gov.test appears twice", 1},
		{"ErrDuplicateExternalID", func() []*store.Respondent {
			rs := three()
			rs[2].ExternalID = "CB001"
			return rs
		}, 2, store.FieldExternalID, "CB001 appears twice", 0},
		{"ErrInvalidRow", func() []*store.Respondent {
			rs := three()
			rs[1].Mailbox = "bich at stp"
			return rs
		}, 1, store.FieldMailbox, "bich at stp", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := MustOpenProvince(t)
			_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, tt.rows(), store.ImportOptions{})
			mustCode(t, err, store.EINVALID)
			issues := mustImportError(t, err)
			mustHaveIssue(t, issues, tt.index, tt.field, tt.text, tt.other)
			if len(issues) != 1 {
				t.Fatalf("issues %+v", issues)
			}
			if rs := mustFindRespondents(t, db, store.RespondentFilter{IncludeInactive: true}); len(rs) != 0 {
				t.Fatalf("wrote %d respondents", len(rs))
			}
		})
	}

	t.Run("ErrAliasIsAnotherStoredPrimary", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		before := dump(t, db)
		rs := three()
		rs = append(rs, r("CB004", "Phạm Minh Dũng", "STC", "CV", "dung.pm@stc.gov.test", "an.nv@stp.gov.test"))
		rs[0].Mailbox = "an.new@stp.gov.test" // An moves on, but the old address stays his
		_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 3, store.FieldAliases, "an.nv@stp.gov.test already belongs to Nguyễn Văn An (mã CB001)", -1)
		if len(issues) != 1 {
			t.Fatalf("issues %+v", issues)
		}
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("ErrMailboxOfAnotherStoredPerson", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		for _, tt := range []struct {
			name string
			row  *store.Respondent
			text string
		}{
			// Matched by external id, but the mailbox is Bích's.
			{"Matched", r("CB001", "Nguyễn Văn An", "STP", "LDS", "bich.tt@stp.gov.test"),
				"bich.tt@stp.gov.test already belongs to Trần Thị Bích (mã CB002)"},
			// A new external id with a stored person's mailbox.
			{"Unmatched", r("CB009", "Nguyễn Văn An", "STP", "LDS", "an.nv@stp.gov.test"),
				"an.nv@stp.gov.test already belongs to Nguyễn Văn An (mã CB001)"},
			// A stored person without external id.
			{"NoExternalID", r("CB001", "Nguyễn Văn An", "STP", "LDS", "cuong.lh@stc.gov.test"),
				"already belongs to Lê Hoàng Cường (cuong.lh@stc.gov.test, no mã cán bộ)"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, []*store.Respondent{tt.row}, store.ImportOptions{})
				issues := mustImportError(t, err)
				mustHaveIssue(t, issues, 0, store.FieldMailbox, tt.text, -1)
				if len(issues) != 1 {
					t.Fatalf("issues %+v", issues)
				}
			})
		}
	})

	t.Run("ErrTwoRowsOnePerson", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		rs := three()
		rs[1].Aliases = nil
		rs = append(rs, r("", "Trần Thị Bích", "STP-VP", "CV", "bich@gmail.test"))
		_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 3, store.FieldMailbox, "same person", 1)
	})

	t.Run("Prune", func(t *testing.T) {
		db, clock := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		mustCreateCampaign(t, db, "PAR2025", func(c *store.Campaign) { c.Groups = []string{"LDS"} })
		if n, err := sqlite.NewCampaignService(db).AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil || n != 1 {
			t.Fatalf("added %d members, %v", n, err)
		}
		an := mustFindByMailbox(t, db, "an.nv@stp.gov.test")
		bich := mustFindByMailbox(t, db, "bich.tt@stp.gov.test")
		only := func() []*store.Respondent { return three()[2:] }

		// Without Prune, missing people are only counted.
		mustSummary(t, mustImportRespondents(t, db, only(), store.ImportOptions{}), store.ImportSummary{Unchanged: 1, Missing: 2})
		if got := len(mustFindRespondents(t, db, store.RespondentFilter{})); got != 3 {
			t.Fatalf("%d active respondents, want 3", got)
		}

		clock.Set(t0.Add(time.Hour))
		sum := mustImportRespondents(t, db, only(), store.ImportOptions{Prune: true})
		mustSummary(t, sum, store.ImportSummary{Unchanged: 1, Missing: 2, Deactivated: 1, Deleted: 1})
		got, err := sqlite.NewRespondentService(db).FindRespondentByID(ctx, an.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Active || !got.UpdatedAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("member An: %+v, want inactive", got)
		}
		_, err = sqlite.NewRespondentService(db).FindRespondentByID(ctx, bich.ID)
		mustCode(t, err, store.ENOTFOUND)
		if got := names(mustFindRespondents(t, db, store.RespondentFilter{})); !reflect.DeepEqual(got, []string{"Lê Hoàng Cường"}) {
			t.Fatalf("active: %q", got)
		}
		if got := len(mustFindRespondents(t, db, store.RespondentFilter{IncludeInactive: true})); got != 2 {
			t.Fatalf("%d respondents with inactive, want 2", got)
		}
		// Bích's alias went with her: it is free again.
		if rs := mustFindRespondents(t, db, store.RespondentFilter{Mailbox: "bich@gmail.test", IncludeInactive: true}); len(rs) != 0 {
			t.Fatalf("alias survived: %+v", rs[0])
		}

		// Pruning again: the inactive member is not missing any more.
		mustSummary(t, mustImportRespondents(t, db, only(), store.ImportOptions{Prune: true}), store.ImportSummary{Unchanged: 1})

		// Reactivation: An is back, Bích is new again.
		sum = mustImportRespondents(t, db, three(), store.ImportOptions{Prune: true})
		mustSummary(t, sum, store.ImportSummary{Added: 1, Updated: 1, Unchanged: 1, Reactivated: 1})
		if got := mustFindByMailbox(t, db, "an.nv@stp.gov.test"); !got.Active || got.ID != an.ID {
			t.Fatalf("An: %+v, want active again", got)
		}
		if m, err := sqlite.NewCampaignService(db).FindMember(ctx, "PAR2025", an.ID); err != nil || m.Status != store.StatusNotInvited {
			t.Fatalf("membership: %+v, %v", m, err)
		}
	})

	t.Run("ErrPruneEmptyList", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		before := dump(t, db)
		_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, nil, store.ImportOptions{Prune: true})
		mustHaveIssue(t, mustImportError(t, err), -1, "", "empty", -1)
		mustEqualDump(t, dump(t, db), before)
		// Without prune an empty list only counts.
		mustSummary(t, mustImportRespondents(t, db, nil, store.ImportOptions{}), store.ImportSummary{Missing: 3})
	})

	t.Run("TriggersGuardMailboxes", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		an := mustFindByMailbox(t, db, "an.nv@stp.gov.test")
		bich := mustFindByMailbox(t, db, "bich.tt@stp.gov.test")
		for _, tt := range []struct{ name, sql string }{
			{"AliasIsAPrimary", `INSERT INTO respondent_aliases (respondent_id, position, mailbox) VALUES (?, 5, 'an.nv@stp.gov.test')`},
			{"PrimaryIsAnotherAlias", `UPDATE respondents SET mailbox = 'bich@gmail.test' WHERE id = ?`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tx, err := db.BeginTx(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				id := bich.ID
				if tt.name == "PrimaryIsAnotherAlias" {
					id = an.ID
				}
				if _, err := tx.Exec(tt.sql, id); err == nil || !strings.Contains(err.Error(), "mailbox") {
					t.Fatalf("err = %v, want the trigger to refuse", err)
				}
			})
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three()[:2], store.ImportOptions{})
		before := dump(t, db)
		rs := three()[1:]
		rs[0].Title = "Trưởng phòng"
		sum := mustImportRespondents(t, db, rs, store.ImportOptions{DryRun: true, Prune: true})
		mustSummary(t, sum, store.ImportSummary{Added: 1, Updated: 1, Missing: 1, Deleted: 1})
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("FailureLeavesStoreAsBefore", func(t *testing.T) {
		db, clock := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		before := dump(t, db)
		clock.Set(t0.Add(time.Hour))
		rs := three()
		rs[0].Title = "Giám đốc"                                                    // a valid update
		rs = append(rs, r("CB005", "Đỗ Thu Hà", "STP", "CV", "ha.dt@stp.gov.test")) // a valid add
		rs = append(rs, r("CB006", "Vũ Minh Khoa", "NOPE", "CV", "khoa@stp.gov.test"))
		_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{Prune: true})
		mustHaveIssue(t, mustImportError(t, err), 4, store.FieldUnit, "NOPE", -1)
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("IssuesInRowOrder", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		rs := three()
		rs[2].UnitCode = "NOPE"              // found with the store
		rs[0].FullName = ""                  // found on its own
		rs[1].Mailbox = "an.nv@stp.gov.test" // found against the list
		_, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{})
		issues := mustImportError(t, err)
		for i := 1; i < len(issues); i++ {
			if issues[i].Index < issues[i-1].Index {
				t.Fatalf("issues out of row order: %+v", issues)
			}
		}
		if len(issues) != 3 {
			t.Fatalf("issues %+v", issues)
		}
	})
}

func TestRespondentService_FindRespondents(t *testing.T) {
	ctx := context.Background()

	t.Run("VietnameseOrder", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		want := []string{
			"Lê Thị An", "Lê Văn An", "Nguyễn Văn An", // same tên: by họ, then tên đệm
			"Nguyễn Văn Anh", "Trần Thị Ánh", // Anh < Ánh
			"Lê Bảo", "Phạm Quốc Dũng", "Hoàng Minh Đức", // Dũng < Đức
			"Vũ Thị Ánh Tuyết", "Bùi Yến",
		}
		order := []int{9, 4, 7, 2, 0, 5, 8, 1, 6, 3}
		var rs []*store.Respondent
		for k, i := range order {
			rs = append(rs, r("", want[i], "STP", "CV", strings.Repeat("x", k+1)+"@stp.gov.test"))
		}
		mustImportRespondents(t, db, rs, store.ImportOptions{})
		if got := names(mustFindRespondents(t, db, store.RespondentFilter{})); !reflect.DeepEqual(got, want) {
			t.Fatalf("order:\n got %q\nwant %q", got, want)
		}
		if got := names(mustFindRespondents(t, db, store.RespondentFilter{Offset: 3, Limit: 2})); !reflect.DeepEqual(got, want[3:5]) {
			t.Fatalf("page: %q, want %q", got, want[3:5])
		}
		if got := names(mustFindRespondents(t, db, store.RespondentFilter{Offset: 8})); !reflect.DeepEqual(got, want[8:]) {
			t.Fatalf("offset: %q, want %q", got, want[8:])
		}
	})

	t.Run("Subtree", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		// Four levels: tỉnh → sở → phòng → tổ, with a sibling sở.
		mustImportUnits(t, db, []*store.Unit{
			u("L1", "", "Tỉnh"), u("L2", "L1", "Sở"), u("L2b", "L1", "Sở khác"), u("L3", "L2", "Phòng"), u("L4", "L3", "Tổ"),
		}, store.ImportOptions{})
		mustImportRespondents(t, db, []*store.Respondent{
			r("", "Người Một", "L1", "CV", "l1@t.gov.test"),
			r("", "Người Hai", "L2", "CV", "l2@t.gov.test"),
			r("", "Người Khác", "L2b", "CV", "l2b@t.gov.test"),
			r("", "Người Ba", "L3", "CV", "l3@t.gov.test"),
			r("", "Người Bốn", "L4", "CV", "l4@t.gov.test"),
		}, store.ImportOptions{})
		for _, tt := range []struct {
			subtree string
			want    []string
		}{
			{"L1", []string{"Người Ba", "Người Bốn", "Người Hai", "Người Khác", "Người Một"}},
			{"L2", []string{"Người Ba", "Người Bốn", "Người Hai"}},
			{"L3", []string{"Người Ba", "Người Bốn"}},
			{"L4", []string{"Người Bốn"}},
			{"L2b", []string{"Người Khác"}},
			{"NOPE", nil},
		} {
			t.Run(tt.subtree, func(t *testing.T) {
				if got := names(mustFindRespondents(t, db, store.RespondentFilter{Subtree: tt.subtree})); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			})
		}
	})

	t.Run("Filters", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		mustImportRespondents(t, db, three(), store.ImportOptions{})
		mustCreateCampaign(t, db, "PAR2025", func(c *store.Campaign) { c.Groups = []string{"CV"} })
		cs := sqlite.NewCampaignService(db)
		if _, err := cs.AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil {
			t.Fatal(err)
		}
		bich := mustFindByMailbox(t, db, "bich.tt@stp.gov.test")
		if err := cs.SetMemberStatus(ctx, "PAR2025", bich.ID, store.StatusAnswered); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name   string
			filter store.RespondentFilter
			want   []string
		}{
			{"All", store.RespondentFilter{}, []string{"Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường"}},
			{"ID", store.RespondentFilter{ID: bich.ID}, []string{"Trần Thị Bích"}},
			{"MailboxPrimary", store.RespondentFilter{Mailbox: "Cuong.LH@stc.gov.test"}, []string{"Lê Hoàng Cường"}},
			{"MailboxAlias", store.RespondentFilter{Mailbox: "bich@gmail.test"}, []string{"Trần Thị Bích"}},
			{"Group", store.RespondentFilter{Group: "CV"}, []string{"Trần Thị Bích", "Lê Hoàng Cường"}},
			{"Campaign", store.RespondentFilter{Campaign: "PAR2025"}, []string{"Trần Thị Bích", "Lê Hoàng Cường"}},
			{"CampaignStatus", store.RespondentFilter{Campaign: "PAR2025", Status: store.StatusAnswered}, []string{"Trần Thị Bích"}},
			{"CampaignOtherStatus", store.RespondentFilter{Campaign: "PAR2025", Status: store.StatusInvited}, nil},
			{"UnknownCampaign", store.RespondentFilter{Campaign: "NOPE"}, nil},
			{"Combined", store.RespondentFilter{Subtree: "STP", Group: "CV", Campaign: "PAR2025"}, []string{"Trần Thị Bích"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := names(mustFindRespondents(t, db, tt.filter)); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			})
		}

		t.Run("ErrStatusWithoutCampaign", func(t *testing.T) {
			_, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{Status: store.StatusAnswered})
			mustCode(t, err, store.EINVALID)
		})
		t.Run("ErrUnknownStatus", func(t *testing.T) {
			_, err := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{Campaign: "PAR2025", Status: "done"})
			mustCode(t, err, store.EINVALID)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := sqlite.NewRespondentService(db).FindRespondentByID(ctx, 999)
			mustCode(t, err, store.ENOTFOUND)
		})
	})
}
