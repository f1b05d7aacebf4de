package reminders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/reminders"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
	"github.com/phieu/phieu/templates"
)

type plannerStore struct {
	*sqlite.OutboxService
	*sqlite.CampaignService
	*sqlite.UnitService
	inbound *sqlite.InboundService
}

func (s plannerStore) FindInbound(ctx context.Context, f store.InboundFilter) ([]*store.InboundMessage, int, error) {
	return s.inbound.FindInbound(ctx, f)
}

// TestPlanner plans against a real SQLite store: six members in two units
// (the Sở with a head, its phòng without), invitations sent on 20/02.
func TestPlanner(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(at(20, 2, 9, 0))
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "phieu.db"))
	db.Now = clock.Now
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	units := []*store.Unit{
		{Code: "UBND", Name: "Ủy ban nhân dân tỉnh Bình Sơn"},
		{Code: "STP", Name: "Sở Tư pháp", ParentCode: "UBND", Head: store.Head{Name: "Trần Văn Bình", Title: "Giám đốc", Mailbox: "binh.tv@stp.binhson.gov.test"}},
		{Code: "STP-VP", Name: "Văn phòng Sở", ParentCode: "STP"},
	}
	if _, err := sqlite.NewUnitService(db).ImportUnits(ctx, units, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var rs []*store.Respondent
	for i := range 6 {
		unit := "STP"
		if i >= 3 {
			unit = "STP-VP"
		}
		rs = append(rs, &store.Respondent{FullName: fmt.Sprintf("Nguyễn Văn Số%d", i+1), Salutation: store.SalutationOng, Title: "Chuyên viên",
			UnitCode: unit, Group: "LDS", Mailbox: fmt.Sprintf("cb%03d@stp.binhson.gov.test", i+1), Active: true})
	}
	if _, err := sqlite.NewRespondentService(db).ImportRespondents(ctx, rs, store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := campaign()
	c.SenderName, c.SenderAddress, c.ReplyTo, c.Title, c.Groups = "Sở Nội vụ", "snv@binhson.gov.test", "khaosat@binhson.gov.test", "Khảo sát", []string{"LDS"}
	c.OperatorMailbox = "vanthu@snv.binhson.gov.test"
	c.State = store.CampaignDraft
	c.Questionnaire = store.Questionnaire{Questions: []store.Question{{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true}}}
	campaigns := sqlite.NewCampaignService(db)
	if err := campaigns.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := campaigns.AddMembers(ctx, c.Code, store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, c.Code, store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	refs, _ := store.NewRefs([]byte("a test secret that is long enough"))
	outbox := sqlite.NewOutboxService(db, refs)
	if _, err := outbox.EnqueueInvitations(ctx, c.Code, 0); err != nil {
		t.Fatal(err)
	}
	// Every invitation is sent, except cb006's, still waiting.
	claimed, err := outbox.ClaimOutbox(ctx, "test", 5, time.Hour)
	if err != nil || len(claimed) != 5 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	var results []*store.OutboxResult
	for _, m := range claimed {
		results = append(results, &store.OutboxResult{ID: m.ID, Event: store.EventSent,
			Attempt: &store.Attempt{At: clock.Now(), Stage: store.StageData, Code: 250, Outcome: store.OutboxSent}})
	}
	if err := outbox.CompleteOutbox(ctx, "test", results); err != nil {
		t.Fatal(err)
	}
	id := func(mailbox string) int64 {
		rs, _ := sqlite.NewRespondentService(db).FindRespondents(ctx, store.RespondentFilter{Mailbox: mailbox})
		return rs[0].ID
	}
	// cb001 answered; cb002's address failed.
	if err := campaigns.SetMemberStatus(ctx, c.Code, id("cb001@stp.binhson.gov.test"), store.StatusAnswered); err != nil {
		t.Fatal(err)
	}
	if err := campaigns.SetMemberStatus(ctx, c.Code, id("cb002@stp.binhson.gov.test"), store.StatusAddressFailed); err != nil {
		t.Fatal(err)
	}

	p := &reminders.Planner{Store: plannerStore{outbox, campaigns, sqlite.NewUnitService(db), sqlite.NewInboundService(db, outbox)}, Now: clock.Now}
	clock.Set(at(24, 2, 8, 30)) // D-7 (reminder round 1) and D-5 on Friday (escalation round 1)
	st, err := p.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reminders != 3 || st.Digests != 1 || st.Operator != 1 {
		t.Fatalf("plan: %+v, want 3 reminders (cb003, cb004, cb005), 1 head digest, 1 operator digest", st)
	}
	again, err := p.Plan(ctx)
	if err != nil || again.Reminders != 0 || again.Digests != 0 || again.Operator != 0 {
		t.Fatalf("planning again: %+v, %v", again, err)
	}
	rems, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindReminder})
	var to []string
	for _, m := range rems {
		to = append(to, m.To)
		if m.Round != 1 || !m.NotBefore.Equal(at(24, 2, 8, 0)) || !m.SendBy.Equal(at(24, 2, 14, 0)) {
			t.Errorf("reminder %+v", m)
		}
	}
	if got := strings.Join(to, " "); got != "cb005@stp.binhson.gov.test cb004@stp.binhson.gov.test cb003@stp.binhson.gov.test" {
		t.Errorf("reminders to %s", got)
	}
	digests, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindHeadDigest})
	if len(digests) != 1 || digests[0].To != "binh.tv@stp.binhson.gov.test" || digests[0].UnitCode != "STP" {
		t.Fatalf("digests %+v", digests)
	}
	var data templates.Data
	if err := json.Unmarshal(digests[0].Payload, &data); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range data.Digest.Pending {
		names = append(names, m.Name+"/"+string(m.Status))
	}
	if got := strings.Join(names, " "); got != "Nguyễn Văn Số3/invited Nguyễn Văn Số4/invited Nguyễn Văn Số5/invited Nguyễn Văn Số2/address_failed" ||
		data.Digest.Counts[store.StatusAnswered] != 1 || data.Digest.Counts.Total() != 6 {
		t.Errorf("digest: %s, counts %v", got, data.Digest.Counts)
	}
	if strings.Contains(string(digests[0].Payload), "answers") {
		t.Errorf("a digest must never carry answers: %s", digests[0].Payload)
	}
	op, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindOperatorDigest})
	if len(op) != 1 || op[0].To != "vanthu@snv.binhson.gov.test" || !strings.Contains(string(op[0].Payload), `"at_risk"`) ||
		!strings.Contains(string(op[0].Payload), `"failed_addresses":1`) {
		t.Errorf("operator digest: %+v", op)
	}
	// cb003 answers between planning and sending: the sender, deciding at
	// the moment of sending, drops the reminder.
	if err := campaigns.SetMemberStatus(ctx, c.Code, id("cb003@stp.binhson.gov.test"), store.StatusAnswered); err != nil {
		t.Fatal(err)
	}
	claimedRem, err := outbox.ClaimOutbox(ctx, "test", 20, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	camp, _ := campaigns.FindCampaignByCode(ctx, c.Code)
	var release []*store.OutboxResult
	for _, m := range claimedRem {
		if m.Kind == store.KindReminder && m.To == "cb003@stp.binhson.gov.test" {
			if dec, reason, _ := store.CheckSend(m, camp, clock.Now()); dec != store.Suppress || reason != store.ReasonAnswered {
				t.Errorf("a reminder to someone who just answered: %v %s", dec, reason)
			}
		}
		release = append(release, &store.OutboxResult{ID: m.ID, Event: store.EventRelease, NextAttemptAt: m.NextAttemptAt})
	}
	if err := outbox.CompleteOutbox(ctx, "test", release); err != nil {
		t.Fatal(err)
	}
	// The IT liaison hears of cb002's failed address once.
	n, err := p.PlanLiaisonDigest(ctx, "cntt@stttt.binhson.gov.test", "Cán bộ đầu mối kỹ thuật")
	if err != nil || n != 0 {
		t.Fatalf("liaison digest with no failure recorded: %d, %v", n, err)
	}
	claimed, err = outbox.ClaimOutbox(ctx, "test", 1, time.Hour)
	if err != nil || len(claimed) != 1 || claimed[0].Kind != store.KindInvitation {
		t.Fatalf("claim cb006's invitation: %+v, %v", claimed, err)
	}
	if err := outbox.CompleteOutbox(ctx, "test", []*store.OutboxResult{{ID: claimed[0].ID, Event: store.EventFail, Reason: "550 5.1.1",
		Attempt: &store.Attempt{At: clock.Now(), Stage: store.StageRcpt, Code: 550, Status: "5.1.1", Text: "User unknown", Outcome: store.OutboxFailed}}}); err != nil {
		t.Fatal(err)
	}
	clock.Set(at(24, 2, 17, 0))
	if n, err := p.PlanLiaisonDigest(ctx, "cntt@stttt.binhson.gov.test", "Cán bộ đầu mối kỹ thuật"); err != nil || n != 1 {
		t.Fatalf("liaison digest: %d, %v", n, err)
	}
	if n, err := p.PlanLiaisonDigest(ctx, "cntt@stttt.binhson.gov.test", "Cán bộ đầu mối kỹ thuật"); err != nil || n != 0 {
		t.Fatalf("liaison digest again, nothing new: %d, %v", n, err)
	}
	ld, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindLiaisonDigest})
	if len(ld) != 1 || ld[0].To != "cntt@stttt.binhson.gov.test" || !strings.Contains(string(ld[0].Payload), "Nguyễn Văn Số6") ||
		!strings.Contains(string(ld[0].Payload), "user_unknown") {
		t.Fatalf("liaison digest: %+v", ld)
	}
	clock.Set(at(25, 2, 17, 0)) // Saturday
	if n, _ := p.PlanLiaisonDigest(ctx, "cntt@stttt.binhson.gov.test", ""); n != 0 {
		t.Errorf("a liaison digest on a Saturday")
	}

	// Down over D-3 (Tuesday 28/02): that round is skipped; D-1 goes.
	clock.Set(at(2, 3, 9, 0))
	st, err = p.Plan(ctx)
	if err != nil || st.Reminders != 2 { // cb004, cb005: cb003 has answered
		t.Fatalf("after downtime: %+v, %v", st, err)
	}
	rems, _, _ = outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindReminder, Limit: 1})
	if rems[0].Round != 3 {
		t.Errorf("after downtime: round %d, want 3", rems[0].Round)
	}

	// Sending looks blocked: a warning to the liaison, once an hour.
	if n, err := p.CheckSending(ctx, "cntt@stttt.binhson.gov.test", "", nil); err != nil || n != 0 {
		t.Fatalf("check sending before any refusal: %d, %v", n, err)
	}
	for range 4 {
		claimed, err := outbox.ClaimOutbox(ctx, "test", 3, time.Hour)
		if err != nil || len(claimed) == 0 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		var rs []*store.OutboxResult
		for _, m := range claimed {
			rs = append(rs, &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: clock.Now(), Reason: "554 5.7.1",
				Attempt: &store.Attempt{At: clock.Now(), Stage: store.StageRcpt, Code: 554, Status: "5.7.1",
					Text: "Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org", Outcome: store.OutboxDeferred}})
		}
		if err := outbox.CompleteOutbox(ctx, "test", rs); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.CheckSending(ctx, "cntt@stttt.binhson.gov.test", "", nil); err != nil || n != 1 {
		t.Fatalf("check sending after 12 refusals: %d, %v", n, err)
	}
	clock.Add(30 * time.Minute)
	if n, _ := p.CheckSending(ctx, "cntt@stttt.binhson.gov.test", "", nil); n != 0 {
		t.Errorf("a second warning within the hour")
	}
	clock.Add(time.Hour)
	if n, _ := p.CheckSending(ctx, "cntt@stttt.binhson.gov.test", "", nil); n != 1 {
		t.Errorf("no warning the next hour while still blocked")
	}
	warnings, _, _ := outbox.FindOutbox(ctx, store.OutboxFilter{Kind: store.KindLiaisonDigest})
	if len(warnings) != 3 || !strings.Contains(string(warnings[0].Payload), `"alert"`) {
		t.Errorf("liaison messages: %d", len(warnings))
	}
}
