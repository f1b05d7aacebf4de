package sqlite_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// u builds a unit: code, parent code, name.
func u(code, parent, name string) *store.Unit {
	return &store.Unit{Code: code, ParentCode: parent, Name: name}
}

// mustImportUnits imports units and fails the test on error.
func mustImportUnits(tb testing.TB, db *sqlite.DB, units []*store.Unit, opts store.ImportOptions) *store.ImportSummary {
	tb.Helper()
	sum, err := sqlite.NewUnitService(db).ImportUnits(context.Background(), units, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

// unitCodes returns the codes of units, in order.
func unitCodes(units []*store.Unit) []string {
	var out []string
	for _, u := range units {
		out = append(out, u.Code)
	}
	return out
}

func mustSummary(tb testing.TB, got *store.ImportSummary, want store.ImportSummary) {
	tb.Helper()
	if *got != want {
		tb.Fatalf("summary %+v, want %+v", *got, want)
	}
}

func TestUnitService_ImportUnits(t *testing.T) {
	ctx := context.Background()

	t.Run("ParentAfterChild", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		sum := mustImportUnits(t, db, []*store.Unit{
			u("A1a", "A1", "Phòng A1a"), u("A1", "A", "Phòng A1"), u("A", "", "Sở A"),
		}, store.ImportOptions{})
		mustSummary(t, sum, store.ImportSummary{Added: 3})
		got, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, "A1a")
		if err != nil {
			t.Fatal(err)
		}
		if got.ParentCode != "A1" || got.Name != "Phòng A1a" || got.ID == 0 || !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("ParentStored", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "Sở A")}, store.ImportOptions{})
		sum := mustImportUnits(t, db, []*store.Unit{u("A1", "A", "Phòng A1")}, store.ImportOptions{})
		mustSummary(t, sum, store.ImportSummary{Added: 1, Missing: 1})
		got, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, "A1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ParentCode != "A" {
			t.Fatalf("parent %q", got.ParentCode)
		}
	})

	t.Run("Reparent", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B")}, store.ImportOptions{})
		// B moves under C, which the file lists after it.
		sum := mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "C", "B"), u("C", "A", "C")}, store.ImportOptions{})
		mustSummary(t, sum, store.ImportSummary{Added: 1, Updated: 1, Unchanged: 1})
		units, err := sqlite.NewUnitService(db).FindUnits(ctx, store.UnitFilter{ParentCode: "C"})
		if err != nil {
			t.Fatal(err)
		}
		if got := unitCodes(units); !reflect.DeepEqual(got, []string{"B"}) {
			t.Fatalf("children of C: %q", got)
		}
	})

	t.Run("UnknownParent", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{u("A", "", "A"), u("B", "X", "B")}, store.ImportOptions{})
		mustCode(t, err, store.EINVALID)
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 1, store.FieldParentCode, "X", -1)
		if len(issues) != 1 {
			t.Fatalf("issues %+v", issues)
		}
	})

	t.Run("CycleInFile", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{
			u("R", "", "Root"), u("A", "C", "A"), u("B", "A", "B"), u("C", "B", "C"), u("D", "R", "D"),
		}, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 1, store.FieldParentCode, "A → C → B → A", -1)
		mustHaveIssue(t, issues, 2, store.FieldParentCode, "B → A → C → B", -1)
		mustHaveIssue(t, issues, 3, store.FieldParentCode, "C → B → A → C", -1)
		if len(issues) != 3 {
			t.Fatalf("issues %+v", issues)
		}
	})

	t.Run("CycleThroughStoredUnits", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B"), u("C", "B", "C")}, store.ImportOptions{})
		before := dump(t, db)
		// A under C, while the store has C under B under A.
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{u("A", "C", "A")}, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 0, store.FieldParentCode, "A → C → B → A", -1)
		if len(issues) != 1 {
			t.Fatalf("issues %+v", issues)
		}
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("OwnParent", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{u("A", "A", "A")}, store.ImportOptions{})
		issues := mustImportError(t, err)
		if len(issues) != 1 || issues[0].Field != store.FieldParentCode {
			t.Fatalf("issues %+v", issues)
		}
	})

	t.Run("DuplicateCodes", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{
			u("A", "", "A"), u("B", "A", "B"), u("A", "", "A again"),
		}, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 2, store.FieldUnitCode, "unit code A appears twice", 0)
		if len(issues) != 1 {
			t.Fatalf("issues %+v", issues)
		}
	})

	t.Run("ReportsEveryProblem", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, []*store.Unit{
			{Code: "A", Name: "", Head: store.Head{Name: "Nguyễn Văn An"}},
			u("B", "Z", "B"),
			{Code: "C", Name: "C", Head: store.Head{Name: "X", Mailbox: "not an address"}},
		}, store.ImportOptions{})
		issues := mustImportError(t, err)
		mustHaveIssue(t, issues, 0, store.FieldUnitName, "required", -1)
		mustHaveIssue(t, issues, 0, store.FieldHeadMailbox, "no email", -1)
		mustHaveIssue(t, issues, 1, store.FieldParentCode, "Z", -1)
		mustHaveIssue(t, issues, 2, store.FieldHeadMailbox, "not an address", -1)
		units, err := sqlite.NewUnitService(db).FindUnits(ctx, store.UnitFilter{})
		if err != nil || len(units) != 0 {
			t.Fatalf("wrote %d units despite problems (%v)", len(units), err)
		}
	})

	t.Run("Normalizes", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{{
			Code: "  STP ", Name: "Sở\u00a0 Tư   pháp", Kind: " sở ",
			// "Tư" with a combining horn (NFD) must be stored composed.
			Head: store.Head{Name: "Lê  Văn Tu\u031b", Title: "Giám đốc", Mailbox: " GD.STP@Tinh.Gov.TEST "},
		}}, store.ImportOptions{})
		got, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, "STP")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Head{Name: "Lê Văn Tư", Title: "Giám đốc", Mailbox: "gd.stp@tinh.gov.test"}
		if got.Name != "Sở Tư pháp" || got.Kind != "sở" || got.Head != want {
			t.Fatalf("got %q %q %+v", got.Name, got.Kind, got.Head)
		}
	})

	t.Run("ReimportUnchangedAndUpdated", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		list := func() []*store.Unit {
			return []*store.Unit{
				u("A", "", "A"), u("B", "A", "B"),
				{Code: "C", ParentCode: "A", Name: "C", ValidFrom: store.Date{Year: 2025, Month: 7, Day: 1},
					Head: store.Head{Name: "Trần Thị Bích", Title: "Trưởng phòng", Mailbox: "bich@tinh.gov.test"}},
			}
		}
		mustSummary(t, mustImportUnits(t, db, list(), store.ImportOptions{}), store.ImportSummary{Added: 3})
		clock.Set(t0.Add(time.Hour))
		mustSummary(t, mustImportUnits(t, db, list(), store.ImportOptions{}), store.ImportSummary{Unchanged: 3})

		changed := list()
		changed[1].Name = "B mới"
		changed[2].Head.Title = "Phó Trưởng phòng"
		mustSummary(t, mustImportUnits(t, db, changed, store.ImportOptions{}), store.ImportSummary{Updated: 2, Unchanged: 1})
		got, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, "C")
		if err != nil {
			t.Fatal(err)
		}
		if got.Head.Title != "Phó Trưởng phòng" || got.ValidFrom != (store.Date{Year: 2025, Month: 7, Day: 1}) ||
			!got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !got.UpdatedAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("PruneSetsValidTo", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B"), u("C", "A", "C")}, store.ImportOptions{})

		// Without prune the missing unit is only counted.
		sum := mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B")}, store.ImportOptions{})
		mustSummary(t, sum, store.ImportSummary{Unchanged: 2, Missing: 1})

		// 20:00 UTC on 30/06 is already 01/07 in Vietnam: yesterday is 30/06.
		clock.Set(time.Date(2025, 6, 30, 20, 0, 0, 0, time.UTC))
		sum = mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B")}, store.ImportOptions{Prune: true})
		mustSummary(t, sum, store.ImportSummary{Unchanged: 2, Missing: 1, Deactivated: 1})
		c, err := sqlite.NewUnitService(db).FindUnitByCode(ctx, "C")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.ValidTo, (store.Date{Year: 2025, Month: 6, Day: 30}); got != want {
			t.Fatalf("valid_to %v, want %v", got, want)
		}

		// An ended unit is kept, and is no longer missing.
		sum = mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B")}, store.ImportOptions{Prune: true})
		mustSummary(t, sum, store.ImportSummary{Unchanged: 2})

		// Back in the file, it is valid again.
		sum = mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B"), u("C", "A", "C")}, store.ImportOptions{})
		mustSummary(t, sum, store.ImportSummary{Unchanged: 2, Updated: 1})
	})

	t.Run("ErrPruneEmptyList", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "A")}, store.ImportOptions{})
		before := dump(t, db)
		_, err := sqlite.NewUnitService(db).ImportUnits(ctx, nil, store.ImportOptions{Prune: true})
		mustHaveIssue(t, mustImportError(t, err), -1, "", "empty", -1)
		mustEqualDump(t, dump(t, db), before)
	})

	t.Run("DryRunWritesNothing", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustImportUnits(t, db, []*store.Unit{u("A", "", "A"), u("B", "A", "B")}, store.ImportOptions{})
		before := dump(t, db)
		sum := mustImportUnits(t, db, []*store.Unit{u("A", "", "A mới"), u("C", "A", "C")}, store.ImportOptions{DryRun: true, Prune: true})
		mustSummary(t, sum, store.ImportSummary{Added: 1, Updated: 1, Missing: 1, Deactivated: 1})
		mustEqualDump(t, dump(t, db), before)
	})
}

func TestUnitService_FindUnits(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	mustImportUnits(t, db, []*store.Unit{
		u("UBND", "", "UBND tỉnh"), u("STP", "UBND", "Sở Tư pháp"), u("STP-VP", "STP", "Văn phòng"),
		u("STP-VP-1", "STP-VP", "Tổ 1"), u("STC", "UBND", "Sở Tài chính"), u("HDND", "", "HĐND tỉnh"),
	}, store.ImportOptions{})
	us := sqlite.NewUnitService(db)

	for _, tt := range []struct {
		name   string
		filter store.UnitFilter
		want   []string
	}{
		{"All", store.UnitFilter{}, []string{"HDND", "STC", "STP", "STP-VP", "STP-VP-1", "UBND"}},
		{"Code", store.UnitFilter{Code: "STP"}, []string{"STP"}},
		{"ParentCode", store.UnitFilter{ParentCode: "UBND"}, []string{"STC", "STP"}},
		{"Subtree", store.UnitFilter{Subtree: "STP"}, []string{"STP", "STP-VP", "STP-VP-1"}},
		{"SubtreeRoot", store.UnitFilter{Subtree: "UBND"}, []string{"STC", "STP", "STP-VP", "STP-VP-1", "UBND"}},
		{"SubtreeAndParent", store.UnitFilter{Subtree: "STP", ParentCode: "STP-VP"}, []string{"STP-VP-1"}},
		{"UnknownSubtree", store.UnitFilter{Subtree: "NOPE"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			units, err := us.FindUnits(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := unitCodes(units); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := us.FindUnitByCode(ctx, "NOPE")
		mustCode(t, err, store.ENOTFOUND)
	})
}
