package reminders_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/phieu/phieu/reminders"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/synth"
)

// BenchmarkPlannerStore100k is the daemon's whole plan job for a
// 100,000-member campaign in 2,000 units: reading every member's follow-up
// state from SQLite, planning reminders and head digests, queueing them.
// Each iteration plans from the same state (nothing queued yet).
func BenchmarkPlannerStore100k(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "phieu.db")
	db := sqlite.NewDB(path)
	now := at(24, 2, 8, 30)
	db.Now = func() time.Time { return at(20, 2, 9, 0) }
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p := synth.Generate(1, 2000, 100_000)
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, p.StoreUnits(), store.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, p.Respondents, store.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	c := campaign()
	c.SenderName, c.SenderAddress, c.ReplyTo, c.Title, c.Groups = "Sở Nội vụ", "snv@binhson.gov.test", "khaosat@binhson.gov.test", "Khảo sát", p.Groups()
	c.State = store.CampaignDraft
	c.Questionnaire = store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true}}}
	campaigns := sqlite.NewCampaignService(db)
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		b.Fatal(err)
	}
	if _, err := campaigns.AddMembers(ctx, c.Code, store.MemberSelector{}); err != nil {
		b.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, c.Code, store.CampaignActive); err != nil {
		b.Fatal(err)
	}
	refs, _ := store.NewRefs([]byte("a test secret that is long enough"))
	outbox := sqlite.NewOutboxService(db, refs)
	if _, err := outbox.EnqueueInvitations(ctx, c.Code, 0); err != nil {
		b.Fatal(err)
	}
	// Every invitation sent on 20/02 (one statement, as a sender would
	// leave it), a third of the members answered.
	raw, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{
		`UPDATE outbox SET state = 'sent', sent_at = '2023-02-20T02:00:00.000000Z'`,
		`UPDATE campaign_members SET status = CASE WHEN respondent_id % 3 = 0 THEN 'answered' ELSE 'invited' END`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	st := plannerStore{outbox, campaigns, sqlite.NewUnitService(db), sqlite.NewInboundService(db, outbox)}
	planner := &reminders.Planner{Store: dryRun{st}, Now: func() time.Time { return now }}
	var got reminders.PlanStats
	b.ResetTimer()
	for b.Loop() {
		var err error
		if got, err = planner.Plan(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if got.Reminders < 60_000 || got.Digests == 0 {
		b.Fatalf("planned %+v", got)
	}
	b.ReportMetric(float64(got.Reminders), "reminders")
}

// dryRun counts what would be queued without queueing it, so every
// iteration plans from the same state.
type dryRun struct{ plannerStore }

func (d dryRun) EnqueueOutbox(ctx context.Context, msgs []*store.OutboxMessage) (int, error) {
	return len(msgs), nil
}

func (d dryRun) EnqueueInvitations(ctx context.Context, code string, limit int) (int, error) {
	return 0, nil
}
