package store_test

import (
	"context"
	"testing"

	"github.com/phieu/phieu/store"
)

func TestActorFromContext(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"Unset", ctx, store.ActorSystem},
		{"Empty", store.NewContextWithActor(ctx, ""), store.ActorSystem},
		{"CLI", store.NewContextWithActor(ctx, "cli:thu"), "cli:thu"},
		{"Innermost", store.NewContextWithActor(store.NewContextWithActor(ctx, "cli:thu"), "Nguyễn Thị Ánh"), "Nguyễn Thị Ánh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.ActorFromContext(tc.ctx); got != tc.want {
				t.Fatalf("ActorFromContext = %q, want %q", got, tc.want)
			}
		})
	}
}
