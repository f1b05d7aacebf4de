package store

import (
	"context"
	"sort"
	"time"
)

// AuditAction names what an audit entry records.
type AuditAction string

const (
	AuditIdentifiedExport AuditAction = "identified_export" // an export with names and mailboxes
	AuditReviewAccept     AuditAction = "review_accept"     // a late or needs-review response counted
	AuditReviewReject     AuditAction = "review_reject"     // a late or needs-review response not counted
	AuditCampaignState    AuditAction = "campaign_state"    // a campaign activated, paused, resumed or closed
	AuditMemberStatus     AuditAction = "member_status"     // a member's status changed by hand
	AuditConfigChange     AuditAction = "config_change"     // the configuration changed
	AuditLogin            AuditAction = "login"             // a dashboard sign-in (or a failed one)
)

// AuditActions lists every action, for choosing one in a filter.
var AuditActions = []AuditAction{
	AuditIdentifiedExport, AuditReviewAccept, AuditReviewReject, AuditCampaignState, AuditMemberStatus,
	AuditConfigChange, AuditLogin,
}

// AuditEntry is one line of the audit log: who did what, to what, when.
// The log is append-only: entries are never changed or deleted (the
// database refuses it). Detail is written as key=value pairs
// ("respondent=12 member=invited→answered", "rows=128") so the log reads
// the same whatever language shows it.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // an operator's name, "cli:<os user>" or "system"
	Action   AuditAction
	Campaign string // campaign code, "" when none
	Subject  string // what was acted on: "response 42", a file path
	Detail   string // free text: the outcome, a count, a reason
}

// AuditFilter chooses audit entries; zero fields match everything.
type AuditFilter struct {
	Campaign string
	Action   AuditAction
	Since    time.Time
	Limit    int // 0: no limit
}

// AuditService keeps the append-only audit log.
type AuditService interface {
	// RecordAudit appends an entry (ID and, when zero, At are set; an
	// empty Actor is taken from ctx, see ActorFromContext). Action is
	// required (EINVALID).
	RecordAudit(ctx context.Context, e *AuditEntry) error
	// FindAudit lists entries, newest first; Since includes entries at
	// that instant.
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// ConfigService remembers the configuration the daemon runs with.
type ConfigService interface {
	// RecordConfig compares settings (flat "section.key" → value, no
	// secrets) with those last recorded for source and, when they differ,
	// appends a config_change audit entry naming each changed key with its
	// old and new value, in the same transaction as it remembers the new
	// ones. It returns the changed keys (every key the first time).
	RecordConfig(ctx context.Context, source string, settings map[string]string) ([]string, error)
}

// ConfigChanges lists, sorted by key, what differs between two flat
// settings maps as "key: old → new" ("∅" for a key absent on one side).
func ConfigChanges(old, new map[string]string) []string {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	var changes []string
	for k := range keys {
		o, had := old[k]
		n, has := new[k]
		if had && has && o == n {
			continue
		}
		if !had {
			o = "∅"
		}
		if !has {
			n = "∅"
		}
		changes = append(changes, k+": "+o+" → "+n)
	}
	sort.Strings(changes)
	return changes
}
