package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

func mustRefs(tb testing.TB) *store.Refs {
	tb.Helper()
	refs, err := store.NewRefs([]byte("test secret, not a real one, 32+"))
	if err != nil {
		tb.Fatal(err)
	}
	return refs
}

// openOutbox returns a database with three respondents, members of an
// active campaign PAR2025 (opened at t0), and its outbox.
func openOutbox(tb testing.TB) (*sqlite.DB, *Clock, *sqlite.OutboxService) {
	tb.Helper()
	ctx := context.Background()
	db, clock := MustOpenProvince(tb)
	mustImportRespondents(tb, db, three(), store.ImportOptions{})
	mustCreateCampaign(tb, db, "PAR2025", func(c *store.Campaign) {
		c.Groups = []string{"LDS", "CV"}
		c.OpensAt = t0.Add(-time.Hour)
	})
	campaigns := sqlite.NewCampaignService(db)
	if _, err := campaigns.AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil {
		tb.Fatal(err)
	}
	if err := campaigns.SetCampaignState(ctx, "PAR2025", store.CampaignActive); err != nil {
		tb.Fatal(err)
	}
	return db, clock, sqlite.NewOutboxService(db, mustRefs(tb))
}

func mustClaim(tb testing.TB, o *sqlite.OutboxService, owner string, n int) []*store.OutboxMessage {
	tb.Helper()
	msgs, err := o.ClaimOutbox(context.Background(), owner, n, 10*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}

func mustComplete(tb testing.TB, o *sqlite.OutboxService, owner string, rs ...*store.OutboxResult) {
	tb.Helper()
	if err := o.CompleteOutbox(context.Background(), owner, rs); err != nil {
		tb.Fatal(err)
	}
}

func memberStatus(tb testing.TB, db *sqlite.DB, id int64) store.MemberStatus {
	tb.Helper()
	m, err := sqlite.NewCampaignService(db).FindMember(context.Background(), "PAR2025", id)
	if err != nil {
		tb.Fatal(err)
	}
	return m.Status
}

func TestOutboxService_Enqueue(t *testing.T) {
	ctx := context.Background()
	db, _, o := openOutbox(t)
	refs := mustRefs(t)

	n, err := o.EnqueueInvitations(ctx, "PAR2025", 2)
	if err != nil || n != 2 {
		t.Fatalf("EnqueueInvitations limit 2 = %d, %v", n, err)
	}
	if n, err = o.EnqueueInvitations(ctx, "PAR2025", 0); err != nil || n != 1 {
		t.Fatalf("EnqueueInvitations again = %d, %v; want the one left", n, err)
	}
	if n, err = o.EnqueueInvitations(ctx, "PAR2025", 0); err != nil || n != 0 {
		t.Fatalf("EnqueueInvitations a third time = %d, %v; want 0", n, err)
	}
	msgs, total, err := o.FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2025"})
	if err != nil || total != 3 {
		t.Fatalf("FindOutbox: %d, %v", total, err)
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		if m.State != store.OutboxQueued || m.Kind != store.KindInvitation || !refs.Check(m.ID, m.Ref) || m.To == "" {
			t.Fatalf("queued invitation: %+v", m)
		}
		if len(m.MessageID) < 30 || m.MessageID[0] != '<' || ids[m.MessageID] {
			t.Fatalf("Message-ID %q not unique or malformed", m.MessageID)
		}
		ids[m.MessageID] = true
	}

	an := mustFindByMailbox(t, db, "an.nv@stp.gov.test")
	reminder := func() *store.OutboxMessage {
		return &store.OutboxMessage{CampaignCode: "PAR2025", Kind: store.KindReminder, Round: 1, RespondentID: an.ID}
	}
	first := reminder()
	if n, err := o.EnqueueOutbox(ctx, []*store.OutboxMessage{first}); err != nil || n != 1 {
		t.Fatalf("EnqueueOutbox = %d, %v", n, err)
	}
	again := reminder()
	if n, err := o.EnqueueOutbox(ctx, []*store.OutboxMessage{again}); err != nil || n != 0 {
		t.Fatalf("EnqueueOutbox again = %d, %v; want 0 new", n, err)
	}
	if again.ID != first.ID || again.MessageID != first.MessageID || again.Ref != first.Ref || again.To != "an.nv@stp.gov.test" {
		t.Fatalf("second enqueue did not return the stored row: %+v vs %+v", again, first)
	}
	digest := &store.OutboxMessage{CampaignCode: "PAR2025", Kind: store.KindHeadDigest, Round: 1, UnitCode: "STP"}
	if _, err := o.EnqueueOutbox(ctx, []*store.OutboxMessage{digest}); err != nil {
		t.Fatal(err)
	}
	if digest.UnitCode != "STP" || digest.To != "" {
		// treeUnits have no heads: the digest is queued with no address
		// and CheckSend suppresses it.
		t.Fatalf("head digest: %+v", digest)
	}
	if _, err := o.EnqueueOutbox(ctx, []*store.OutboxMessage{{CampaignCode: "NOPE", Kind: store.KindReminder, RespondentID: an.ID}}); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("unknown campaign: %v", err)
	}
}

func TestOutboxService_ClaimComplete(t *testing.T) {
	ctx := context.Background()
	db, clock, o := openOutbox(t)
	if _, err := o.EnqueueInvitations(ctx, "PAR2025", 0); err != nil {
		t.Fatal(err)
	}

	msgs := mustClaim(t, o, "A", 10)
	if len(msgs) != 3 {
		t.Fatalf("claimed %d, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.State != store.OutboxSending || m.Respondent == nil || m.Unit == nil || m.MemberStatus != store.StatusNotInvited {
			t.Fatalf("claimed message lacks what rendering needs: %+v", m)
		}
	}
	if again := mustClaim(t, o, "B", 10); len(again) != 0 {
		t.Fatalf("a second sender claimed %d messages already being sent", len(again))
	}

	byTo := map[string]*store.OutboxMessage{}
	for _, m := range msgs {
		byTo[m.To] = m
	}
	sent, refused, deferred := byTo["an.nv@stp.gov.test"], byTo["bich.tt@stp.gov.test"], byTo["cuong.lh@stc.gov.test"]
	at := clock.Now()
	mustComplete(t, o, "A",
		&store.OutboxResult{ID: sent.ID, Event: store.EventSent, Attempt: &store.Attempt{At: at, Stage: store.StageData, Code: 250, Outcome: store.OutboxSent}},
		&store.OutboxResult{ID: refused.ID, Event: store.EventFail, Reason: "550 5.1.1",
			Attempt: &store.Attempt{At: at, Stage: store.StageRcpt, Code: 550, Status: "5.1.1", Text: "User unknown", Outcome: store.OutboxFailed}},
		&store.OutboxResult{ID: deferred.ID, Event: store.EventDefer, NextAttemptAt: at.Add(time.Hour), Reason: "452 4.2.2",
			Attempt: &store.Attempt{At: at, Stage: store.StageRcpt, Code: 452, Status: "4.2.2", Text: "Mailbox full", Outcome: store.OutboxDeferred}},
	)
	if got := memberStatus(t, db, sent.RespondentID); got != store.StatusInvited {
		t.Errorf("sent: member %s, want invited", got)
	}
	if got := memberStatus(t, db, refused.RespondentID); got != store.StatusAddressFailed {
		t.Errorf("refused at RCPT: member %s, want address_failed", got)
	}
	if got := memberStatus(t, db, deferred.RespondentID); got != store.StatusNotInvited {
		t.Errorf("deferred: member %s, want not_invited", got)
	}
	failures, err := o.FindDeliveryFailures(ctx, "PAR2025", time.Time{})
	if err != nil || len(failures) != 2 {
		t.Fatalf("delivery failures: %d, %v", len(failures), err)
	}
	for _, f := range failures {
		switch f.Mailbox {
		case "bich.tt@stp.gov.test":
			if !f.Permanent || f.Class != "user_unknown" || f.Stage != store.StageRcpt || f.Domain != "stp.gov.test" {
				t.Errorf("refused: %+v", f)
			}
		case "cuong.lh@stc.gov.test":
			if f.Permanent || f.Class != "mailbox_full" {
				t.Errorf("deferred: %+v", f)
			}
		}
	}
	m, attempts, err := o.FindOutboxMessage(ctx, refused.ID)
	if err != nil || m.State != store.OutboxFailed || len(attempts) != 1 || attempts[0].Text != "User unknown" || m.Attempts != 1 {
		t.Fatalf("FindOutboxMessage: %+v %+v %v", m, attempts, err)
	}

	// A sent message stays sent, whatever a confused sender reports.
	mustComplete(t, o, "A", &store.OutboxResult{ID: sent.ID, Event: store.EventDefer, NextAttemptAt: at})
	if m, _, _ := o.FindOutboxMessage(ctx, sent.ID); m.State != store.OutboxSent {
		t.Fatalf("a sent message became %s", m.State)
	}

	// The deferred one is due in an hour, not before.
	if got := mustClaim(t, o, "A", 10); len(got) != 0 {
		t.Fatalf("claimed %d before the deferred message was due", len(got))
	}
	if at, ok, err := o.NextOutboxDue(ctx); err != nil || !ok || !at.Equal(clock.Now().Add(time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("NextOutboxDue = %v %v %v", at, ok, err)
	}
	clock.Set(clock.Now().Add(time.Hour))
	if got := mustClaim(t, o, "A", 10); len(got) != 1 || got[0].ID != deferred.ID || got[0].Attempts != 1 {
		t.Fatalf("after an hour claimed %+v", got)
	}
}

func TestOutboxService_PauseReclaimClose(t *testing.T) {
	ctx := context.Background()
	db, clock, o := openOutbox(t)
	campaigns := sqlite.NewCampaignService(db)
	if _, err := o.EnqueueInvitations(ctx, "PAR2025", 0); err != nil {
		t.Fatal(err)
	}

	// Paused: nothing is claimed; resumed: everything, once.
	if err := campaigns.SetCampaignState(ctx, "PAR2025", store.CampaignPaused); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, o, "A", 10); len(got) != 0 {
		t.Fatalf("claimed %d from a paused campaign", len(got))
	}
	if err := campaigns.SetCampaignState(ctx, "PAR2025", store.CampaignActive); err != nil {
		t.Fatal(err)
	}
	claimed := mustClaim(t, o, "A", 2)
	if len(claimed) != 2 {
		t.Fatalf("claimed %d, want 2", len(claimed))
	}

	// The sender dies. Before the lease expires nothing is reclaimed, unless
	// the caller holds the sender lock (all).
	if n, err := o.ReclaimOutbox(ctx, false); err != nil || n != 0 {
		t.Fatalf("reclaim before lease expiry = %d, %v", n, err)
	}
	clock.Set(clock.Now().Add(11 * time.Minute))
	if n, err := o.ReclaimOutbox(ctx, false); err != nil || n != 2 {
		t.Fatalf("reclaim after lease expiry = %d, %v", n, err)
	}
	// The dead sender's late result changes nothing but is kept as an attempt.
	mustComplete(t, o, "A", &store.OutboxResult{ID: claimed[0].ID, Event: store.EventSent,
		Attempt: &store.Attempt{At: clock.Now(), Stage: store.StageData, Code: 250, Outcome: store.OutboxSent}})
	m, attempts, _ := o.FindOutboxMessage(ctx, claimed[0].ID)
	if m.State != store.OutboxQueued || len(attempts) != 1 {
		t.Fatalf("late result of a reclaimed message: %s with %d attempts", m.State, len(attempts))
	}
	b := mustClaim(t, o, "B", 10)
	if len(b) != 3 {
		t.Fatalf("new sender claimed %d, want 3", len(b))
	}
	// A result from the old owner for a message the new owner holds is ignored.
	mustComplete(t, o, "A", &store.OutboxResult{ID: b[0].ID, Event: store.EventFail})
	if m, _, _ := o.FindOutboxMessage(ctx, b[0].ID); m.State != store.OutboxSending {
		t.Fatalf("old owner changed a message it no longer holds: %s", m.State)
	}
	for _, m := range b {
		mustComplete(t, o, "B", &store.OutboxResult{ID: m.ID, Event: store.EventRelease})
	}

	// Closing suppresses what is still waiting.
	if err := campaigns.SetCampaignState(ctx, "PAR2025", store.CampaignClosed); err != nil {
		t.Fatal(err)
	}
	counts, err := o.OutboxCounts(ctx, "PAR2025")
	if err != nil || counts[store.OutboxSuppressed] != 3 {
		t.Fatalf("after close: %v %v", counts, err)
	}
}

func TestOutboxService_Alerts(t *testing.T) {
	ctx := context.Background()
	_, _, o := openOutbox(t)
	a := &store.Alert{Kind: "smtp_down", Stage: store.StageTLS, Text: "x509: certificate signed by unknown authority"}
	if err := o.RaiseAlert(ctx, a); err != nil || a.ID == 0 {
		t.Fatal(a, err)
	}
	b := &store.Alert{Kind: "smtp_down", Stage: store.StageDial, Text: "connection refused"}
	if err := o.RaiseAlert(ctx, b); err != nil || b.ID != a.ID {
		t.Fatalf("a second open alert of the same kind was raised: %d vs %d, %v", b.ID, a.ID, err)
	}
	if open, err := o.FindAlerts(ctx, true); err != nil || len(open) != 1 || open[0].Stage != store.StageTLS {
		t.Fatalf("open alerts: %+v %v", open, err)
	}
	if err := o.ResolveAlerts(ctx, "smtp_down", ""); err != nil {
		t.Fatal(err)
	}
	if open, _ := o.FindAlerts(ctx, true); len(open) != 0 {
		t.Fatalf("still open: %+v", open)
	}
	if all, _ := o.FindAlerts(ctx, false); len(all) != 1 || all[0].ResolvedAt.IsZero() {
		t.Fatalf("all alerts: %+v", all)
	}
}
