package store

import (
	"context"
	"time"
)

// FollowUp is one campaign member as reminder and escalation planning see
// them: who they are, where they stand, and what phieu already sent them.
type FollowUp struct {
	RespondentID int64
	Name         string
	Title        string
	Mailbox      string
	UnitCode     string
	UnitName     string
	Group        string
	Status       MemberStatus
	InvitedAt    time.Time // the first invitation sent; zero: not yet
	LastSentAt   time.Time // the latest invitation or reminder sent, or queued (its not-before)
	// LastAcceptedAt is when the server last took an invitation or a
	// reminder for them: a delivery failure before it is history.
	LastAcceptedAt time.Time
	// RemindersPlanned holds bit r-1 for each reminder round queued for
	// them, whatever became of it.
	RemindersPlanned uint64
	// ResendPending: the invitation waits to go again (after "mailbox full").
	ResendPending bool
}

// FollowUpService reads what planning needs in one pass.
type FollowUpService interface {
	// FindFollowUps returns every member of the campaign, by respondent id.
	FindFollowUps(ctx context.Context, campaignCode string) ([]*FollowUp, error)
	// FindDigestsPlanned returns, per unit code, bit r-1 for each head
	// digest round already queued for that unit.
	FindDigestsPlanned(ctx context.Context, campaignCode string) (map[string]uint64, error)
	// FindRecentAttempts returns the campaign's last n SMTP attempts, newest
	// first, with the mailbox each went to.
	FindRecentAttempts(ctx context.Context, campaignCode string, n int) ([]*RecentAttempt, error)
}

// RecentAttempt is one SMTP attempt and the mailbox it was for.
type RecentAttempt struct {
	Attempt
	Mailbox string
}
