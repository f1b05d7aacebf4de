package sqlite_test

import (
	"context"
	"testing"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// BenchmarkFindOutboxByMessageID is the poller's lookup of the message a
// reply answers.
func BenchmarkFindOutboxByMessageID(b *testing.B) {
	ctx := context.Background()
	db, _, outbox := openOutbox(b)
	if _, err := outbox.EnqueueInvitations(ctx, "PAR2025", 0); err != nil {
		b.Fatal(err)
	}
	msgs, _, err := outbox.FindOutbox(ctx, store.OutboxFilter{Limit: 1})
	if err != nil || len(msgs) == 0 {
		b.Fatal(err)
	}
	in := sqlite.NewInboundService(db, outbox)
	for b.Loop() {
		if _, err := in.FindOutboxByMessageID(ctx, msgs[0].MessageID); err != nil {
			b.Fatal(err)
		}
	}
}
