package store

import (
	"context"
	"time"
)

// DashboardCounts counts what the dashboard and /metrics show, for one
// campaign or all of them.
type DashboardCounts struct {
	Outbox    map[OutboxState]int    // messages by state
	Attempts  map[OutboxState]int    // SMTP attempts by outcome: sent, deferred, failed
	Failures  map[FailureClass]int   // delivery failures by class
	Responses map[ResponseStatus]int // responses by status
	Members   map[MemberStatus]int   // campaign members by status
}

// UnitMember is one campaign member as the dashboard lists them: who they
// are, where they stand and the last message phieu has for them. Never
// what they answered.
type UnitMember struct {
	RespondentID    int64
	Name            string
	Title           string
	Mailbox         string
	UnitCode        string
	UnitName        string
	Group           string
	Status          MemberStatus
	StatusChangedAt time.Time
	// The newest invitation, reminder, receipt or correction for them;
	// LastKind is "" when there is none.
	LastKind  MessageKind
	LastState OutboxState
	LastAt    time.Time // when it was sent, or last changed if it was not
}

// DeferredMessage is a message waiting for another attempt after a
// temporary failure, with what the server said last.
type DeferredMessage struct {
	ID            int64
	CampaignCode  string
	Kind          MessageKind
	To            string
	ToName        string
	Attempts      int
	NextAttemptAt time.Time
	Reason        string
	LastAttempt   *Attempt // nil when no SMTP conversation happened
}

// ResponseContext is what the review queue shows beside a response: whose
// it is and what the reply said about itself. No answer values.
type ResponseContext struct {
	ResponseID int64
	Name       string // the member
	Title      string
	Mailbox    string // the member's own mailbox, to compare with the sender
	UnitCode   string
	UnitName   string
	Subject    string // the reply's subject, as received
	Review     string // why the poller asked for a person
}

// DashboardService answers the dashboard's read-only questions that the
// other services do not.
type DashboardService interface {
	// Ping checks that the database answers a query.
	Ping(ctx context.Context) error
	// DashboardCounts counts messages, attempts, failures, responses and
	// members of one campaign ("" for all campaigns).
	DashboardCounts(ctx context.Context, campaignCode string) (*DashboardCounts, error)
	// FindUnitMembers lists the members of a campaign who belong to the
	// unit itself (not the units below it), in Vietnamese name order;
	// ENOTFOUND if the campaign or the unit does not exist.
	FindUnitMembers(ctx context.Context, campaignCode, unitCode string) ([]*UnitMember, error)
	// FindDeferred lists a campaign's deferred messages, next attempt
	// first, at most limit (0: all), with how many there are in all.
	FindDeferred(ctx context.Context, campaignCode string, limit int) ([]*DeferredMessage, int, error)
	// FindResponseContexts returns the context of each response id found.
	FindResponseContexts(ctx context.Context, ids []int64) (map[int64]*ResponseContext, error)
}
