package sqlite_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

var ict = time.FixedZone("ICT", 7*3600)

// newCampaign returns a valid campaign with every nested part set.
func newCampaign(code string) *store.Campaign {
	return &store.Campaign{
		Code:            code,
		Title:           "Khảo sát mức độ hài lòng về cải cách hành chính năm 2025",
		LegalRef:        "Số: 296/UBND-NCKSTTHC ngày 07/02/2025",
		SenderName:      "Văn phòng UBND tỉnh",
		SenderAddress:   "khaosat@tinh.gov.test",
		ReplyTo:         "phieu@tinh.gov.test",
		OperatorMailbox: "vanthu@tinh.gov.test",
		Office:          "Phòng Kiểm soát TTHC, ĐT 0252 3822 123",
		OpensAt:         time.Date(2025, 7, 7, 8, 0, 0, 0, ict),
		Deadline:        store.DeadlineEndOfDay(store.Date{Year: 2025, Month: 7, Day: 31}, ict),
		Groups:          []string{"LDS", "CV"},
		Questionnaire: store.Questionnaire{
			Title: "Phiếu khảo sát",
			Intro: "Xin đồng chí vui lòng trả lời.",
			Questions: []store.Question{
				{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
				{Code: "C2", Text: "Kênh nào?", Type: store.AnswerChoice, Choices: []store.Choice{{Letter: "A", Text: "Cổng dịch vụ công"}, {Letter: "B", Text: "Trực tiếp"}}},
				{Code: "C3", Text: "Góp ý", Type: store.AnswerText},
			},
		},
		Reminders:  store.DefaultReminderPolicy(),
		Escalation: store.DefaultEscalationPolicy(),
		Calendar: store.Calendar{
			Weekend:     []time.Weekday{time.Saturday, time.Sunday},
			Holidays:    []store.Date{{Year: 2025, Month: 9, Day: 1}, {Year: 2025, Month: 9, Day: 2}},
			WorkingDays: []store.Date{{Year: 2025, Month: 4, Day: 26}},
		},
		Rates: store.RateLimits{PerMinute: 30, PerHour: 600},
	}
}

// mustCreateCampaign creates newCampaign(code), changed by edit.
func mustCreateCampaign(tb testing.TB, db *sqlite.DB, code string, edit func(*store.Campaign)) *store.Campaign {
	tb.Helper()
	c := newCampaign(code)
	if edit != nil {
		edit(c)
	}
	if err := sqlite.NewCampaignService(db).CreateCampaign(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// inUTC returns a copy of c with its instants in UTC, as the store returns
// them.
func inUTC(c *store.Campaign) *store.Campaign {
	cc := *c
	cc.OpensAt, cc.Deadline = c.OpensAt.UTC(), c.Deadline.UTC()
	cc.CreatedAt, cc.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &cc
}

func TestCampaignService_CreateCampaign(t *testing.T) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		c := mustCreateCampaign(t, db, "PAR2025", func(c *store.Campaign) { c.Units = []string{"STP", "STC"} })
		if c.ID == 0 || c.State != store.CampaignDraft || c.Location != store.DefaultLocation || !c.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("defaults not filled in: %+v", c)
		}
		got, err := sqlite.NewCampaignService(db).FindCampaignByCode(ctx, "PAR2025")
		if err != nil {
			t.Fatal(err)
		}
		if want := inUTC(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
		if got.Deadline.In(got.Loc()).Format("02/01/2006 15:04:05") != "31/07/2025 23:59:59" {
			t.Fatalf("deadline %v", got.Deadline.In(got.Loc()))
		}
	})

	t.Run("Minimal", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		c := &store.Campaign{
			Code: "MIN", Title: "T", SenderName: "S", SenderAddress: "s@t.gov.test", ReplyTo: "r@t.gov.test",
			OpensAt: t0, Deadline: t0.Add(24 * time.Hour), Groups: []string{"G"},
			Questionnaire: store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "?", Type: store.AnswerText}}},
		}
		if err := sqlite.NewCampaignService(db).CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := sqlite.NewCampaignService(db).FindCampaignByCode(ctx, "MIN")
		if err != nil {
			t.Fatal(err)
		}
		if want := inUTC(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustCreateCampaign(t, db, "PAR2025", nil)
		err := sqlite.NewCampaignService(db).CreateCampaign(ctx, newCampaign("PAR2025"))
		mustCode(t, err, store.ECONFLICT)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		c := newCampaign("PAR 2025")
		c.Title = ""
		err := sqlite.NewCampaignService(db).CreateCampaign(ctx, c)
		mustCode(t, err, store.EINVALID)
		var v store.ValidationError
		if !errors.As(err, &v) || len(v) != 2 || v[0].Field != store.FieldCampaignCode || v[1].Field != store.FieldCampaignTitle {
			t.Fatalf("error %#v", err)
		}
	})

	t.Run("ErrUnknownUnit", func(t *testing.T) {
		db, _ := MustOpenProvince(t)
		c := newCampaign("PAR2025")
		c.Units = []string{"STP", "NOPE"}
		err := sqlite.NewCampaignService(db).CreateCampaign(ctx, c)
		mustCode(t, err, store.EINVALID)
		var v store.ValidationError
		if !errors.As(err, &v) || len(v) != 1 || v[0].Field != store.FieldUnits {
			t.Fatalf("error %#v", err)
		}
		_, err = sqlite.NewCampaignService(db).FindCampaignByCode(ctx, "PAR2025")
		mustCode(t, err, store.ENOTFOUND)
	})
}

func TestCampaignService_FindCampaigns(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	for i, code := range []string{"A", "C", "B"} {
		mustCreateCampaign(t, db, code, func(c *store.Campaign) { c.Deadline = c.Deadline.AddDate(0, 0, i) })
	}
	cs, err := sqlite.NewCampaignService(db).FindCampaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Code)
		if len(c.Groups) != 2 || len(c.Questionnaire.Questions) != 3 {
			t.Fatalf("campaign %s lacks its parts: %+v", c.Code, c)
		}
	}
	if want := []string{"B", "C", "A"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %q, want %q (newest deadline first)", got, want)
	}
	_, err = sqlite.NewCampaignService(db).FindCampaignByCode(ctx, "NOPE")
	mustCode(t, err, store.ENOTFOUND)
}

func TestCampaignService_SetCampaignState(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		path []store.CampaignState // states to set in turn; the last may fail
		code string                // expected error code of the last step
	}{
		{"Activate", []store.CampaignState{store.CampaignActive}, ""},
		{"PauseResume", []store.CampaignState{store.CampaignActive, store.CampaignPaused, store.CampaignActive}, ""},
		{"Close", []store.CampaignState{store.CampaignActive, store.CampaignClosed}, ""},
		{"CloseDraft", []store.CampaignState{store.CampaignClosed}, ""},
		{"SameStateIsNoOp", []store.CampaignState{store.CampaignDraft}, ""},
		{"ErrReopen", []store.CampaignState{store.CampaignClosed, store.CampaignActive}, store.EINVALID},
		{"ErrBackToDraft", []store.CampaignState{store.CampaignActive, store.CampaignDraft}, store.EINVALID},
		{"ErrPauseDraft", []store.CampaignState{store.CampaignPaused}, store.EINVALID},
		{"ErrUnknownState", []store.CampaignState{"running"}, store.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			mustCreateCampaign(t, db, "PAR2025", nil)
			cs := sqlite.NewCampaignService(db)
			var err error
			for i, s := range tt.path {
				err = cs.SetCampaignState(ctx, "PAR2025", s)
				if i < len(tt.path)-1 && err != nil {
					t.Fatal(err)
				}
			}
			mustCode(t, err, tt.code)
			c, err := cs.FindCampaignByCode(ctx, "PAR2025")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.path[len(tt.path)-1]
			if tt.code != "" {
				want = store.CampaignDraft
				if len(tt.path) > 1 {
					want = tt.path[len(tt.path)-2]
				}
			}
			if c.State != want {
				t.Fatalf("state %s, want %s", c.State, want)
			}
		})
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustCode(t, sqlite.NewCampaignService(db).SetCampaignState(ctx, "NOPE", store.CampaignActive), store.ENOTFOUND)
	})
}

func TestCampaignService_AddMembers(t *testing.T) {
	ctx := context.Background()

	// roster: LDS and CV people across treeUnits, one of them inactive.
	roster := func() []*store.Respondent {
		return []*store.Respondent{
			r("1", "Nguyễn Văn An", "UBND", "LDS", "an@tinh.gov.test"),
			r("2", "Trần Thị Bích", "STP", "LDS", "bich@stp.gov.test"),
			r("3", "Lê Văn Cường", "STP-VP", "CV", "cuong@stp.gov.test"),
			r("4", "Phạm Thị Dung", "STC", "CV", "dung@stc.gov.test"),
			r("5", "Hoàng Văn Em", "STC-VP", "CV", "em@stc.gov.test"),
			r("6", "Đỗ Thị Giang", "STC-VP", "HDND", "giang@stc.gov.test"),
			r("7", "Vũ Văn Hùng", "STP-VP", "CV", "hung@stp.gov.test"), // will be inactive
		}
	}
	setup := func(t *testing.T, edit func(*store.Campaign)) (*sqlite.DB, *Clock, *sqlite.CampaignService) {
		db, clock := MustOpenProvince(t)
		mustImportRespondents(t, db, roster(), store.ImportOptions{})
		mustCreateCampaign(t, db, "OLD", func(c *store.Campaign) { c.Groups = []string{"CV"} })
		hung := mustFindByMailbox(t, db, "hung@stp.gov.test")
		if _, err := sqlite.NewCampaignService(db).AddMembers(ctx, "OLD", store.MemberSelector{}); err != nil {
			t.Fatal(err)
		}
		mustImportRespondents(t, db, roster()[:6], store.ImportOptions{Prune: true}) // Hùng: inactive
		if got := mustFindByMailbox(t, db, "hung@stp.gov.test"); got.Active || got.ID != hung.ID {
			t.Fatalf("Hùng: %+v", got)
		}
		mustCreateCampaign(t, db, "PAR2025", edit)
		return db, clock, sqlite.NewCampaignService(db)
	}
	members := func(t *testing.T, db *sqlite.DB) []string {
		return names(mustFindRespondents(t, db, store.RespondentFilter{Campaign: "PAR2025", IncludeInactive: true}))
	}

	for _, tt := range []struct {
		name  string
		edit  func(*store.Campaign)
		sel   store.MemberSelector
		added int
		want  []string
	}{
		{"CampaignGroups", nil, store.MemberSelector{}, 5,
			[]string{"Nguyễn Văn An", "Trần Thị Bích", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em"}},
		{"OneGroup", nil, store.MemberSelector{Groups: []string{"LDS"}}, 2,
			[]string{"Nguyễn Văn An", "Trần Thị Bích"}},
		{"Subtree", nil, store.MemberSelector{Subtrees: []string{"STC"}}, 2,
			[]string{"Phạm Thị Dung", "Hoàng Văn Em"}},
		{"GroupAndSubtrees", nil, store.MemberSelector{Groups: []string{"CV"}, Subtrees: []string{"STP-VP", "STC-VP"}}, 2,
			[]string{"Lê Văn Cường", "Hoàng Văn Em"}},
		{"CampaignUnits", func(c *store.Campaign) { c.Units = []string{"STP"} }, store.MemberSelector{}, 2,
			[]string{"Trần Thị Bích", "Lê Văn Cường"}},
		{"SubtreeInsideCampaignUnits", func(c *store.Campaign) { c.Units = []string{"STP"} }, store.MemberSelector{Subtrees: []string{"STP-VP"}}, 1,
			[]string{"Lê Văn Cường"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, clock, cs := setup(t, tt.edit)
			clock.Set(t0.Add(time.Hour))
			n, err := cs.AddMembers(ctx, "PAR2025", tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.added {
				t.Fatalf("added %d, want %d", n, tt.added)
			}
			if got := members(t, db); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("members %q, want %q", got, tt.want)
			}
			// Idempotent.
			if n, err := cs.AddMembers(ctx, "PAR2025", tt.sel); err != nil || n != 0 {
				t.Fatalf("second call added %d (%v), want 0", n, err)
			}
		})
	}

	t.Run("MemberFields", func(t *testing.T) {
		db, clock, cs := setup(t, nil)
		clock.Set(t0.Add(time.Hour))
		if _, err := cs.AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil {
			t.Fatal(err)
		}
		dung := mustFindByMailbox(t, db, "dung@stc.gov.test")
		m, err := cs.FindMember(ctx, "PAR2025", dung.ID)
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Hour).Truncate(time.Microsecond)
		want := &store.Member{CampaignCode: "PAR2025", RespondentID: dung.ID, Status: store.StatusNotInvited, AddedAt: at, StatusChangedAt: at}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("got %+v, want %+v", m, want)
		}

		clock.Set(t0.Add(2 * time.Hour))
		if err := cs.SetMemberStatus(ctx, "PAR2025", dung.ID, store.StatusExcluded); err != nil {
			t.Fatal(err)
		}
		m, err = cs.FindMember(ctx, "PAR2025", dung.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != store.StatusExcluded || !m.AddedAt.Equal(at) || !m.StatusChangedAt.Equal(t0.Add(2*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", m)
		}

		hung := mustFindByMailbox(t, db, "hung@stp.gov.test")
		_, err = cs.FindMember(ctx, "PAR2025", hung.ID)
		mustCode(t, err, store.ENOTFOUND)
		mustCode(t, cs.SetMemberStatus(ctx, "PAR2025", hung.ID, store.StatusInvited), store.ENOTFOUND)
		mustCode(t, cs.SetMemberStatus(ctx, "PAR2025", dung.ID, "done"), store.EINVALID)
		_, err = cs.FindMember(ctx, "NOPE", dung.ID)
		mustCode(t, err, store.ENOTFOUND)

		all, err := cs.FindMembers(ctx, "PAR2025", "")
		if err != nil || len(all) < 2 {
			t.Fatalf("FindMembers = %d, %v", len(all), err)
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].RespondentID >= all[i].RespondentID {
				t.Fatalf("members not in respondent id order: %d before %d", all[i-1].RespondentID, all[i].RespondentID)
			}
		}
		excluded, err := cs.FindMembers(ctx, "PAR2025", store.StatusExcluded)
		if err != nil || len(excluded) != 1 || !reflect.DeepEqual(excluded[0], m) {
			t.Fatalf("FindMembers(excluded) = %+v, %v; want [%+v]", excluded, err, m)
		}
		_, err = cs.FindMembers(ctx, "PAR2025", "done")
		mustCode(t, err, store.EINVALID)
		_, err = cs.FindMembers(ctx, "NOPE", "")
		mustCode(t, err, store.ENOTFOUND)
	})

	for _, tt := range []struct {
		name string
		edit func(*store.Campaign)
		sel  store.MemberSelector
		code string
	}{
		{"ErrUnknownUnit", nil, store.MemberSelector{Subtrees: []string{"STP", "NOPE"}}, store.ENOTFOUND},
		{"ErrGroupNotInCampaign", nil, store.MemberSelector{Groups: []string{"HDND"}}, store.EINVALID},
		{"ErrUnitOutsideCampaign", func(c *store.Campaign) { c.Units = []string{"STP"} }, store.MemberSelector{Subtrees: []string{"STC"}}, store.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _, cs := setup(t, tt.edit)
			n, err := cs.AddMembers(ctx, "PAR2025", tt.sel)
			mustCode(t, err, tt.code)
			if n != 0 || len(members(t, db)) != 0 {
				t.Fatalf("added members despite the error")
			}
		})
	}

	t.Run("ErrCampaignNotFound", func(t *testing.T) {
		_, _, cs := setup(t, nil)
		_, err := cs.AddMembers(ctx, "NOPE", store.MemberSelector{})
		mustCode(t, err, store.ENOTFOUND)
	})

	t.Run("ErrClosed", func(t *testing.T) {
		_, _, cs := setup(t, nil)
		if err := cs.SetCampaignState(ctx, "PAR2025", store.CampaignClosed); err != nil {
			t.Fatal(err)
		}
		_, err := cs.AddMembers(ctx, "PAR2025", store.MemberSelector{})
		mustCode(t, err, store.EINVALID)
	})
}

func TestCampaignService_CampaignStats(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	// Three levels: R → A, B; A → A1, A2. Z is another root, E an ended unit.
	mustImportUnits(t, db, []*store.Unit{
		u("R", "", "Tỉnh"), u("A", "R", "Sở A"), u("B", "R", "Sở B"), u("A1", "A", "Phòng A1"), u("A2", "A", "Phòng A2"),
		u("Z", "", "Khác"), {Code: "E", ParentCode: "R", Name: "Đã giải thể", ValidTo: store.Date{Year: 2025, Month: 6, Day: 30}},
	}, store.ImportOptions{})
	var rs []*store.Respondent
	add := func(unit, group string, n int) {
		for range n {
			k := len(rs)
			rs = append(rs, r("", "Người Số "+string(rune('A'+k)), unit, group, string(rune('a'+k))+"@t.gov.test"))
		}
	}
	add("R", "LDS", 1)
	add("A", "LDS", 1)
	add("A1", "CV", 2)
	add("A2", "CV", 1)
	add("B", "CV", 3)
	add("Z", "CV", 1)
	mustImportRespondents(t, db, rs, store.ImportOptions{})
	cs := sqlite.NewCampaignService(db)

	mustCreateCampaign(t, db, "ALL", func(c *store.Campaign) { c.Groups = []string{"CV", "LDS", "HDND"} })
	if n, err := cs.AddMembers(ctx, "ALL", store.MemberSelector{}); err != nil || n != 9 {
		t.Fatalf("added %d, %v", n, err)
	}
	for mailbox, status := range map[string]store.MemberStatus{
		"c@t.gov.test": store.StatusAnswered, // A1
		"e@t.gov.test": store.StatusAnswered, // A2
		"f@t.gov.test": store.StatusInvited,  // B
		"a@t.gov.test": store.StatusExcluded, // R
	} {
		if err := cs.SetMemberStatus(ctx, "ALL", mustFindByMailbox(t, db, mailbox).ID, status); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateCampaign(t, db, "PART", func(c *store.Campaign) { c.Groups = []string{"CV"}; c.Units = []string{"A", "A1"} })
	if n, err := cs.AddMembers(ctx, "PART", store.MemberSelector{}); err != nil || n != 3 {
		t.Fatalf("added %d, %v", n, err)
	}

	type sc = store.StatusCounts
	const (
		ni  = store.StatusNotInvited
		inv = store.StatusInvited
		ans = store.StatusAnswered
		exc = store.StatusExcluded
	)

	t.Run("AllUnits", func(t *testing.T) {
		st, err := cs.CampaignStats(ctx, "ALL")
		if err != nil {
			t.Fatal(err)
		}
		if st.Campaign.Code != "ALL" {
			t.Fatalf("campaign %s", st.Campaign.Code)
		}
		if want := (sc{ni: 5, inv: 1, ans: 2, exc: 1}); !reflect.DeepEqual(st.Total, want) {
			t.Fatalf("total %v, want %v", st.Total, want)
		}
		wantGroups := []store.GroupStats{
			{Group: "CV", Counts: sc{ni: 4, ans: 2, inv: 1}},
			{Group: "HDND", Counts: sc{}},
			{Group: "LDS", Counts: sc{ni: 1, exc: 1}},
		}
		if !reflect.DeepEqual(st.ByGroup, wantGroups) {
			t.Fatalf("by group %+v\nwant %+v", st.ByGroup, wantGroups)
		}
		wantUnits := []store.UnitStats{
			{UnitCode: "R", UnitName: "Tỉnh", Depth: 0, Own: sc{exc: 1}, Subtree: sc{exc: 1, ni: 4, ans: 2, inv: 1}},
			{UnitCode: "A", UnitName: "Sở A", ParentCode: "R", Depth: 1, Own: sc{ni: 1}, Subtree: sc{ni: 2, ans: 2}},
			{UnitCode: "A1", UnitName: "Phòng A1", ParentCode: "A", Depth: 2, Own: sc{ni: 1, ans: 1}, Subtree: sc{ni: 1, ans: 1}},
			{UnitCode: "A2", UnitName: "Phòng A2", ParentCode: "A", Depth: 2, Own: sc{ans: 1}, Subtree: sc{ans: 1}},
			{UnitCode: "B", UnitName: "Sở B", ParentCode: "R", Depth: 1, Own: sc{ni: 2, inv: 1}, Subtree: sc{ni: 2, inv: 1}},
			// E ended without members: left out.
			{UnitCode: "Z", UnitName: "Khác", Depth: 0, Own: sc{ni: 1}, Subtree: sc{ni: 1}},
		}
		if !reflect.DeepEqual(st.ByUnit, wantUnits) {
			t.Fatalf("by unit:\n got %+v\nwant %+v", st.ByUnit, wantUnits)
		}
	})

	t.Run("CampaignUnits", func(t *testing.T) {
		st, err := cs.CampaignStats(ctx, "PART")
		if err != nil {
			t.Fatal(err)
		}
		wantUnits := []store.UnitStats{
			{UnitCode: "A", UnitName: "Sở A", ParentCode: "R", Depth: 0, Own: sc{}, Subtree: sc{ni: 3}},
			{UnitCode: "A1", UnitName: "Phòng A1", ParentCode: "A", Depth: 1, Own: sc{ni: 2}, Subtree: sc{ni: 2}},
			{UnitCode: "A2", UnitName: "Phòng A2", ParentCode: "A", Depth: 1, Own: sc{ni: 1}, Subtree: sc{ni: 1}},
		}
		if !reflect.DeepEqual(st.ByUnit, wantUnits) {
			t.Fatalf("by unit:\n got %+v\nwant %+v", st.ByUnit, wantUnits)
		}
		if got := st.Total.Total(); got != 3 {
			t.Fatalf("total %d", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := cs.CampaignStats(ctx, "NOPE")
		mustCode(t, err, store.ENOTFOUND)
	})
}

func TestCampaignService_AnswerTrend(t *testing.T) {
	ctx := context.Background()
	db, clock, outbox := openOutbox(t)
	campaigns := sqlite.NewCampaignService(db)
	in := sqlite.NewInboundService(db, outbox)
	mustCreateCampaign(t, db, "SIPAS2025", nil)
	an := respondentID(t, db, "an.nv@stp.gov.test")
	bich := respondentID(t, db, "bich.tt@stp.gov.test")
	cuong := respondentID(t, db, "cuong.lh@stc.gov.test")

	// The first invitation leaves at 00:30 on 02/07 in Vietnam, still 01/07
	// in UTC: the trend starts on 02/07.
	clock.Set(time.Date(2025, 7, 1, 17, 30, 0, 0, time.UTC))
	if _, err := outbox.EnqueueInvitations(ctx, "PAR2025", 0); err != nil {
		t.Fatal(err)
	}
	for _, m := range mustClaim(t, outbox, "A", 10) {
		mustComplete(t, outbox, "A", &store.OutboxResult{ID: m.ID, Event: store.EventSent,
			Attempt: &store.Attempt{At: clock.Now(), Stage: store.StageData, Code: 250, Outcome: store.OutboxSent}})
	}
	rp := &replies{tb: t, in: in, clock: clock}
	// 23:59:59 on 02/07 in Vietnam; the correction on 04/07 does not move
	// her first answer.
	rp.recordAt(time.Date(2025, 7, 2, 16, 59, 59, 0, time.UTC), bich, "bich.tt@stp.gov.test", store.ResponseCounted)
	rp.recordAt(time.Date(2025, 7, 4, 3, 0, 0, 0, time.UTC), bich, "bich.tt@stp.gov.test", store.ResponseCounted)
	// 23:30 UTC on 02/07 is 06:30 on 03/07 in Vietnam.
	rp.recordAt(time.Date(2025, 7, 2, 23, 30, 0, 0, time.UTC), an, "an.nv@stp.gov.test", store.ResponseCounted)
	// A partial answer never counted; the one from another mailbox counts
	// on the day it arrived (04/07), once accepted.
	rp.recordAt(time.Date(2025, 7, 3, 2, 0, 0, 0, time.UTC), cuong, "cuong.lh@stc.gov.test", store.ResponsePartial)
	review := rp.recordAt(time.Date(2025, 7, 4, 10, 0, 0, 0, time.UTC), cuong, "cuong@gmail.test", store.ResponseNeedsReview)
	clock.Set(time.Date(2025, 7, 5, 1, 0, 0, 0, time.UTC))
	if _, err := in.AcceptResponse(ctx, review.ID); err != nil {
		t.Fatal(err)
	}
	// A late answer rejected: not counted.
	late := rp.recordAt(time.Date(2025, 8, 1, 2, 0, 0, 0, time.UTC), an, "an.nv@stp.gov.test", store.ResponseLate)
	if _, err := in.RejectResponse(ctx, late.ID); err != nil {
		t.Fatal(err)
	}

	loc, err := time.LoadLocation(store.DefaultLocation)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2025, 7, d, 0, 0, 0, 0, loc) }
	for _, tc := range []struct {
		name       string
		code       string
		now        time.Time
		firstDay   int
		answered   []int // from firstDay
		cumulative []int
	}{
		{"BeforeTheFirstSendDay", "PAR2025", time.Date(2025, 7, 1, 16, 59, 0, 0, time.UTC), 0, nil, nil},
		// Responses keep only the day they came, so an answer counts for
		// its whole day, even asked earlier that day (17:00 and 06:00).
		{"FirstDay", "PAR2025", time.Date(2025, 7, 2, 10, 0, 0, 0, time.UTC), 2, []int{1}, []int{1}},
		{"TheWholeDayCounts", "PAR2025", time.Date(2025, 7, 2, 23, 0, 0, 0, time.UTC), 2, []int{1, 1}, []int{1, 2}},
		{"DuringTheCampaign", "PAR2025", time.Date(2025, 7, 5, 3, 0, 0, 0, time.UTC), 2, []int{1, 1, 1, 0}, []int{1, 2, 3, 3}},
		{"NothingSent", "SIPAS2025", time.Date(2025, 7, 5, 3, 0, 0, 0, time.UTC), 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := campaigns.AnswerTrend(ctx, tc.code, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil, want an empty slice")
			}
			var answered, cumulative []int
			for i, d := range got {
				if !d.Day.Equal(day(tc.firstDay+i)) || d.Day.Location().String() != store.DefaultLocation {
					t.Errorf("day %d is %v, want %v", i, d.Day, day(tc.firstDay+i))
				}
				answered, cumulative = append(answered, d.Answered), append(cumulative, d.Cumulative)
			}
			if !reflect.DeepEqual(answered, tc.answered) || !reflect.DeepEqual(cumulative, tc.cumulative) {
				t.Errorf("answered %v cumulative %v, want %v %v", answered, cumulative, tc.answered, tc.cumulative)
			}
		})
	}

	t.Run("EndsAtTheDeadline", func(t *testing.T) {
		got, err := campaigns.AnswerTrend(ctx, "PAR2025", time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 30 || !got[29].Day.Equal(day(31)) || got[29].Cumulative != 3 {
			t.Fatalf("%d days, last %+v; want 02/07 to 31/07 with 3 answered", len(got), got[len(got)-1])
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := campaigns.AnswerTrend(ctx, "NOPE", time.Now())
		mustCode(t, err, store.ENOTFOUND)
	})
}

func TestCampaignService_ChangesAudited(t *testing.T) {
	ctx := store.NewContextWithActor(context.Background(), "cli:thu")
	db, _ := MustOpenProvince(t)
	mustImportRespondents(t, db, three(), store.ImportOptions{})
	mustCreateCampaign(t, db, "PAR2025", nil)
	s := sqlite.NewCampaignService(db)
	if _, err := s.AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	an := mustFindByMailbox(t, db, "an.nv@stp.gov.test").ID
	for _, step := range []func() error{
		func() error { return s.SetCampaignState(ctx, "PAR2025", store.CampaignActive) },
		func() error { return s.SetCampaignState(ctx, "PAR2025", store.CampaignPaused) },
		func() error { return s.SetCampaignState(ctx, "PAR2025", store.CampaignPaused) }, // no change, no entry
		func() error { return s.SetMemberStatus(ctx, "PAR2025", an, store.StatusExcluded) },
		func() error { return s.SetMemberStatus(ctx, "PAR2025", an, store.StatusExcluded) }, // no change, no entry
		func() error { return s.SetCampaignState(context.Background(), "PAR2025", store.CampaignActive) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCampaignState(ctx, "PAR2025", store.CampaignDraft); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("back to draft: %v", err)
	}
	es, err := sqlite.NewAuditService(db).FindAudit(ctx, store.AuditFilter{Campaign: "PAR2025"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, strings.Join([]string{e.Actor, string(e.Action), e.Subject, e.Detail}, " | "))
	}
	want := []string{
		"system | campaign_state | campaign PAR2025 | state=paused→active",
		"cli:thu | member_status | respondent " + strconv.FormatInt(an, 10) + " | member=not_invited→excluded",
		"cli:thu | campaign_state | campaign PAR2025 | state=active→paused",
		"cli:thu | campaign_state | campaign PAR2025 | state=draft→active",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit, newest first:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
