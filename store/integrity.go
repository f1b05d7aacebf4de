package store

import (
	"context"
	"fmt"
	"time"
)

// IntegrityKind names what kind of possible interference a flag records.
// Provincial instructions forbid anyone answering in a member's place; a
// flagged response waits for the operator and is not counted until then.
type IntegrityKind string

const (
	// FlagOtherMailbox: the answer came from a mailbox that is neither the
	// member's nor one of their aliases.
	FlagOtherMailbox IntegrityKind = "other_mailbox"
	// FlagSharedMailbox: the mailbox answered for several members of the
	// campaign, belongs to another member, or is the head's of the member's
	// unit (or a unit above it).
	FlagSharedMailbox IntegrityKind = "shared_mailbox"
	// FlagForwardedInvitation: the reply quotes phieu's invitation
	// forwarded to someone else.
	FlagForwardedInvitation IntegrityKind = "forwarded_invitation"
	// FlagAnswerCluster: identical or near-identical answers from one unit
	// arrived within a short window, beyond what chance explains.
	FlagAnswerCluster IntegrityKind = "answer_cluster"
)

// IntegrityKinds lists every kind, in the order reports show them.
var IntegrityKinds = []IntegrityKind{FlagOtherMailbox, FlagSharedMailbox, FlagForwardedInvitation, FlagAnswerCluster}

// Label is the kind as the operator reads it.
func (k IntegrityKind) Label() string {
	switch k {
	case FlagOtherMailbox:
		return "Hộp thư khác"
	case FlagSharedMailbox:
		return "Hộp thư dùng chung"
	case FlagForwardedInvitation:
		return "Thư mời bị chuyển tiếp"
	case FlagAnswerCluster:
		return "Cụm câu trả lời giống nhau"
	}
	return string(k)
}

// Valid reports whether k is one of IntegrityKinds.
func (k IntegrityKind) Valid() bool {
	for _, v := range IntegrityKinds {
		if k == v {
			return true
		}
	}
	return false
}

// IntegrityFlag is one piece of evidence that a response may not be the
// member's own. A response has at most one flag of each kind.
type IntegrityFlag struct {
	ResponseID int64
	Campaign   string // campaign code
	Kind       IntegrityKind
	// Reason is what a person reads: the evidence by name (mailboxes,
	// times, how many identical answers, the probability of chance).
	Reason string
	At     time.Time // when it was raised; set by the store when zero
	// UnitCode is the member's unit when the flag was raised; set by the
	// store.
	UnitCode string
}

// Validate checks what RecordFlags needs.
func (f *IntegrityFlag) Validate() error {
	switch {
	case f.ResponseID == 0:
		return Errorf(EINVALID, "integrity flag: no response")
	case !f.Kind.Valid():
		return Errorf(EINVALID, "integrity flag: unknown kind %q", f.Kind)
	case f.Reason == "":
		return Errorf(EINVALID, "integrity flag %s on response %d: no reason", f.Kind, f.ResponseID)
	}
	return nil
}

// ClusterPolicy says when answers from one unit are too alike to be
// chance. See poller/integrity for the statistics.
type ClusterPolicy struct {
	// Window: answers of a unit that arrive within it are compared.
	Window time.Duration
	// Min is the smallest number of alike answers that makes a cluster.
	Min int
	// MaxDistance is how many questions alike answers may differ on.
	MaxDistance int
	// MaxProbability: a cluster is flagged only when the probability of
	// seeing one at least as large by chance is below it.
	MaxProbability float64
}

// DefaultClusterPolicy returns 3 answers within 2 hours differing on at
// most 1 question, flagged below a chance of 0.001.
func DefaultClusterPolicy() ClusterPolicy {
	return ClusterPolicy{Window: 2 * time.Hour, Min: 3, MaxDistance: 1, MaxProbability: 0.001}
}

// WithDefaults returns DefaultClusterPolicy for a zero policy, else fills
// its zero Window, Min and MaxProbability from it (a MaxDistance of 0,
// identical answers only, is a choice).
func (p ClusterPolicy) WithDefaults() ClusterPolicy {
	d := DefaultClusterPolicy()
	if p == (ClusterPolicy{}) {
		return d
	}
	if p.Window == 0 {
		p.Window = d.Window
	}
	if p.Min == 0 {
		p.Min = d.Min
	}
	if p.MaxProbability == 0 {
		p.MaxProbability = d.MaxProbability
	}
	return p
}

// Validate checks the thresholds make sense.
func (p ClusterPolicy) Validate() error {
	switch {
	case p.Window < 0:
		return Errorf(EINVALID, "integrity.cluster_window: must be positive")
	case p.Min != 0 && p.Min < 2:
		return Errorf(EINVALID, "integrity.cluster_min: must be at least 2: one answer is no cluster")
	case p.MaxDistance < 0:
		return Errorf(EINVALID, "integrity.cluster_max_distance: cannot be negative")
	case p.MaxProbability < 0 || p.MaxProbability >= 1:
		return Errorf(EINVALID, "integrity.cluster_max_probability: must be between 0 and 1, got %g", p.MaxProbability)
	}
	return nil
}

// MailboxUse is what phieu knows of a mailbox that sent an answer for a
// member who does not own it.
type MailboxUse struct {
	Mailbox string
	// Owners are the campaign's members whose mailbox (or alias) it is.
	Owners []int64
	// AnsweredFor are the campaign's members it sent replies for before.
	AnsweredFor []int64
	// HeadOf are the units whose head uses it, among the member's unit and
	// the units above it, nearest first.
	HeadOf []string
}

// Arrival is one response as the cluster check compares it: its unit,
// when it arrived and its answers (code → value).
type Arrival struct {
	ResponseID int64
	UnitCode   string
	At         time.Time
	Answers    map[string]string
}

// IntegrityUnit is one unit's line of the integrity report.
type IntegrityUnit struct {
	Code      string
	Name      string
	Depth     int // 0 for a root, for indenting the tree
	Responses int // responses read, superseded ones excluded
	Flagged   int // responses with at least one flag
	ByKind    map[IntegrityKind]int
}

// IntegrityReport is the per-unit count of flags of one campaign, units in
// tree order, with every flag.
type IntegrityReport struct {
	Campaign  string
	Units     []*IntegrityUnit
	Responses int
	Flagged   int
	ByKind    map[IntegrityKind]int
	Flags     []*IntegrityFlag // oldest first
}

// IntegrityService records and reports interference flags.
type IntegrityService interface {
	// RecordFlags stores the flags a response does not have yet (a kind
	// already raised on it is kept as it was) and, in the same
	// transaction, moves each newly flagged response to needs_review
	// (not counted until the operator decides) and its member to
	// answered_needs_review. It returns how many flags were new.
	RecordFlags(ctx context.Context, flags []*IntegrityFlag) (int, error)
	// FindFlags lists a campaign's flags, oldest first.
	FindFlags(ctx context.Context, campaign string) ([]*IntegrityFlag, error)
	// IntegrityReport counts a campaign's flags per unit and kind.
	IntegrityReport(ctx context.Context, campaign string) (*IntegrityReport, error)
	// FindMailboxUse says whose a mailbox is, and for whom it answered
	// before, as far as the member's campaign and unit go.
	FindMailboxUse(ctx context.Context, campaign, mailbox string, respondentID int64) (*MailboxUse, error)
	// MemberUnit returns the code of the member's unit.
	MemberUnit(ctx context.Context, respondentID int64) (string, error)
	// RecordArrival notes when a response arrived, for the cluster check,
	// and forgets the campaign's arrivals older than keep before it:
	// arrival times link answers to mail, so they are kept no longer than
	// the check needs.
	RecordArrival(ctx context.Context, a *Arrival, campaign string, keep time.Duration) error
	// FindArrivals returns the unit's responses that arrived at or after
	// since and still stand (not superseded or rejected), oldest first.
	FindArrivals(ctx context.Context, campaign, unitCode string, since time.Time) ([]*Arrival, error)
	// FindAnswerBase returns the answers of every response of the campaign
	// that still stands, with its unit: the distribution chance is
	// measured against. At is zero.
	FindAnswerBase(ctx context.Context, campaign string) ([]*Arrival, error)
}

// String is the flag on one line, for logs.
func (f *IntegrityFlag) String() string {
	return fmt.Sprintf("%s response=%d %s: %s", f.Campaign, f.ResponseID, f.Kind, f.Reason)
}
