package store

import "context"

// ActorSystem is the actor of what phieu does on its own: the daemon's
// schedules, the poller, anything run without a person named.
const ActorSystem = "system"

// actorKey is the context key of the actor.
type actorKey struct{}

// NewContextWithActor returns ctx carrying who is acting: an operator's
// name, "cli:<os user>". Services that record audit entries take the actor
// from the context, so the decision and the entry naming who took it are
// written together.
func NewContextWithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFromContext returns the actor ctx carries, ActorSystem when none.
func ActorFromContext(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return ActorSystem
}
