package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

func TestAuditService_RecordAndFind(t *testing.T) {
	ctx := store.NewContextWithActor(context.Background(), "cli:thu")
	db, clock := MustOpenDB(t)
	audit := sqlite.NewAuditService(db)
	entries := []*store.AuditEntry{
		{Action: store.AuditIdentifiedExport, Campaign: "PAR2025", Subject: "ket-qua.xlsx", Detail: "rows=120"},
		{Action: store.AuditCampaignState, Campaign: "PAR2025", Subject: "campaign PAR2025", Detail: "state=active→paused", Actor: "Nguyễn Thị Ánh"},
		{Action: store.AuditLogin, Detail: "ok", At: time.Date(2025, 7, 3, 9, 0, 0, 0, ict)}, // given in another zone
		{Action: store.AuditCampaignState, Campaign: "SIPAS2025", Subject: "campaign SIPAS2025", Detail: "state=draft→active"},
	}
	for i, e := range entries {
		clock.Set(t0.Add(time.Duration(i) * time.Hour))
		if err := audit.RecordAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.ID == 0 || e.At.IsZero() || e.At.Location() != time.UTC {
			t.Fatalf("entry %d not filled in: %+v", i, e)
		}
	}
	if got, want := entries[0].At, clock.Now().Add(-3*time.Hour).Truncate(time.Microsecond); !got.Equal(want) {
		t.Errorf("At = %v, want the transaction's clock %v", got, want)
	}
	if entries[0].Actor != "cli:thu" || entries[1].Actor != "Nguyễn Thị Ánh" {
		t.Errorf("actors %q, %q: the context's unless given", entries[0].Actor, entries[1].Actor)
	}
	stored, err := audit.FindAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 || *stored[0] != *entries[2] {
		t.Fatalf("newest first, as recorded: %+v, want %+v first", stored[0], entries[2])
	}

	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []int // indexes into entries, newest first
	}{
		{"All", store.AuditFilter{}, []int{2, 3, 1, 0}},
		{"Campaign", store.AuditFilter{Campaign: "PAR2025"}, []int{1, 0}},
		{"Action", store.AuditFilter{Action: store.AuditCampaignState}, []int{3, 1}},
		{"CampaignAndAction", store.AuditFilter{Campaign: "PAR2025", Action: store.AuditCampaignState}, []int{1}},
		{"SinceIncludesTheInstant", store.AuditFilter{Since: entries[1].At.In(ict)}, []int{2, 3, 1}},
		{"Limit", store.AuditFilter{Limit: 2}, []int{2, 3}},
		{"Nothing", store.AuditFilter{Action: store.AuditMemberStatus}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := audit.FindAudit(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs, wantIDs []int64
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, i := range tc.want {
				wantIDs = append(wantIDs, entries[i].ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("ids %v, want %v", gotIDs, wantIDs)
			}
		})
	}

	t.Run("ErrNoAction", func(t *testing.T) {
		mustCode(t, audit.RecordAudit(ctx, &store.AuditEntry{Subject: "x"}), store.EINVALID)
	})
	t.Run("SystemWithoutActor", func(t *testing.T) {
		e := &store.AuditEntry{Action: store.AuditConfigChange}
		if err := audit.RecordAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if e.Actor != store.ActorSystem {
			t.Errorf("actor %q, want %q", e.Actor, store.ActorSystem)
		}
	})
}

// The audit log is append-only in the database itself: no statement, from
// phieu or from the sqlite3 shell, changes or deletes an entry.
func TestAudit_AppendOnly(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	if err := sqlite.NewAuditService(db).RecordAudit(ctx, &store.AuditEntry{Action: store.AuditLogin, Actor: "thu"}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	for _, tc := range []struct {
		name, stmt, want string
	}{
		{"Update", `UPDATE audit SET actor = 'someone else'`, "cannot be changed"},
		{"UpdateOneColumn", `UPDATE audit SET detail = '' WHERE id = 1`, "cannot be changed"},
		{"Delete", `DELETE FROM audit`, "cannot be deleted"},
		{"DeleteOne", `DELETE FROM audit WHERE id = 1`, "cannot be deleted"},
		{"Replace", `INSERT OR REPLACE INTO audit (id, at, actor, action) VALUES (1, '', 'x', 'login')`, "cannot be replaced"},
		{"Upsert", `INSERT INTO audit (id, at, actor, action) VALUES (1, '', 'x', 'login') ON CONFLICT (id) DO UPDATE SET actor = 'x'`, "cannot be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := db.BeginTx(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.Exec(tc.stmt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: %v, want an error containing %q", tc.stmt, err, tc.want)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			mustEqualDump(t, dump(t, db), before)
		})
	}
}

// A database written before migration 0004 keeps every response (since
// 0005 under a new id and a member link) through the rebuild of the responses table, which then accepts
// 'rejected' and still has its indexes.
func TestMigration0004_KeepsResponses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "phieu.db")
	old := oldDatabase(t, path, 4, "answered_needs_review")
	const ts = legacyTime
	if _, err := old.Exec(`INSERT INTO responses (id, campaign_id, respondent_id, inbound_id, seq, received_at, from_addr, answers, problems, complete, status, reason)
		VALUES (40, 3, 7, 5, 1, '` + ts + `', 'an.nv@stp.gov.test', '[]', '[]', 1, 'superseded', ''),
		       (41, 3, 7, 5, 2, '` + ts + `', 'x@gmail.test', '[{"code":"C1","value":"8"}]', '[]', 1, 'needs_review', 'khác hộp thư')`); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`UPDATE responses SET status = 'rejected' WHERE id = 41`); err == nil {
		t.Fatal("the schema before 0004 already accepts 'rejected': this test proves nothing")
	}
	const responsesQuery = `SELECT * FROM responses ORDER BY id`
	var want []string
	{
		rows, err := old.Query(`SELECT seq || '|' || status || '|' || answers || '|' || reason FROM responses ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			want = append(want, s)
		}
		rows.Close()
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, _ := MustOpenDBAt(t, path)
	got := queryStrings(t, db, `SELECT seq || '|' || status || '|' || answers || '|' || reason FROM responses ORDER BY seq`)
	if !slices.Equal(got, want) || len(got) != 2 {
		t.Fatalf("responses after 0004: %q, want %q", got, want)
	}
	if got := queryStrings(t, db, `SELECT name FROM sqlite_master WHERE tbl_name = 'responses' AND type = 'index' ORDER BY name`); !slices.Contains(got, "responses_campaign_status") || len(got) != 2 {
		t.Errorf("indexes of responses: %q, want responses_campaign_status and the UNIQUE one", got)
	}
	if got := queryStrings(t, db, `SELECT count(*) FROM pragma_foreign_key_check`); got[0] != "0" {
		t.Errorf("foreign key violations after the rebuild: %s", got[0])
	}
	if got := queryStrings(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'responses_new'`); got[0] != "0" {
		t.Error("responses_new left behind")
	}
	id, err := strconv.ParseInt(queryStrings(t, db, `SELECT id FROM responses WHERE status = 'needs_review'`)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.NewInboundService(db, nil).RejectResponse(ctx, id)
	if err != nil || r.Status != store.ResponseRejected {
		t.Fatalf("reject after the migration: %+v, %v", r, err)
	}
	if rows := queryStrings(t, db, responsesQuery); len(rows) != 2 {
		t.Fatalf("%d responses", len(rows))
	}
}
