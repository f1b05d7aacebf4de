package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// MessageKind is what an outbox message says; the templates package renders
// each kind.
type MessageKind string

const (
	KindInvitation     MessageKind = "invitation"
	KindReminder       MessageKind = "reminder"
	KindReceipt        MessageKind = "receipt"
	KindCorrection     MessageKind = "correction"
	KindHeadDigest     MessageKind = "head_digest"
	KindOperatorDigest MessageKind = "operator_digest"
	KindLiaisonDigest  MessageKind = "liaison_digest"
)

// MessageKinds lists every kind.
var MessageKinds = []MessageKind{
	KindInvitation, KindReminder, KindReceipt, KindCorrection, KindHeadDigest, KindOperatorDigest, KindLiaisonDigest,
}

// ToRespondent reports whether the kind goes to a campaign member (and so
// depends on where that member stands).
func (k MessageKind) ToRespondent() bool {
	switch k {
	case KindInvitation, KindReminder, KindReceipt, KindCorrection:
		return true
	}
	return false
}

// OutboxState is where one outbox message stands. See NextOutboxState.
type OutboxState string

const (
	OutboxQueued     OutboxState = "queued"
	OutboxSending    OutboxState = "sending"    // claimed under a lease; bytes may be on the wire
	OutboxSent       OutboxState = "sent"       // the server accepted it (250 after DATA)
	OutboxDeferred   OutboxState = "deferred"   // a temporary failure; next attempt at NextAttemptAt
	OutboxFailed     OutboxState = "failed"     // permanent: never retried
	OutboxSuppressed OutboxState = "suppressed" // deliberately not sent; Reason says why
)

// OutboxStates lists every state in life-cycle order.
var OutboxStates = []OutboxState{OutboxQueued, OutboxSending, OutboxDeferred, OutboxSent, OutboxFailed, OutboxSuppressed}

// Valid reports whether s is a known state.
func (s OutboxState) Valid() bool {
	for _, k := range OutboxStates {
		if s == k {
			return true
		}
	}
	return false
}

// Final reports whether nothing more will happen to a message in state s.
func (s OutboxState) Final() bool {
	return s == OutboxSent || s == OutboxFailed || s == OutboxSuppressed
}

// OutboxEvent is what happens to an outbox message.
type OutboxEvent string

const (
	EventClaim    OutboxEvent = "claim"    // a sender takes it, before any byte goes out
	EventSent     OutboxEvent = "sent"     // 250 after DATA
	EventDefer    OutboxEvent = "defer"    // temporary failure or throttling: try again later
	EventFail     OutboxEvent = "fail"     // permanent failure
	EventSuppress OutboxEvent = "suppress" // must not be sent (answered, bad address, deadline...)
	EventRelease  OutboxEvent = "release"  // given back unsent (paused, not open yet, shutdown, lease expired)
)

// NextOutboxState is the outbox state machine:
//
//	queued ──claim──▶ sending ──sent──▶ sent
//	deferred ─claim─▶ sending ──defer─▶ deferred
//	                  sending ──fail──▶ failed
//	queued, deferred, sending ──suppress──▶ suppressed
//	                  sending ──release─▶ queued
//
// Final states accept nothing: a sent message is never sent again, whatever
// a resumed or restarted sender believes.
func NextOutboxState(from OutboxState, ev OutboxEvent) (OutboxState, error) {
	switch {
	case ev == EventClaim && (from == OutboxQueued || from == OutboxDeferred):
		return OutboxSending, nil
	case ev == EventSent && from == OutboxSending:
		return OutboxSent, nil
	case ev == EventDefer && from == OutboxSending:
		return OutboxDeferred, nil
	case ev == EventFail && from == OutboxSending:
		return OutboxFailed, nil
	case ev == EventSuppress && (from == OutboxQueued || from == OutboxDeferred || from == OutboxSending):
		return OutboxSuppressed, nil
	case ev == EventRelease && from == OutboxSending:
		return OutboxQueued, nil
	}
	return from, Errorf(ECONFLICT, "outbox: %s cannot happen to a %s message", ev, from)
}

// SMTPStage is the step of an SMTP conversation an attempt ended at.
type SMTPStage string

const (
	StageDial SMTPStage = "dial"
	StageTLS  SMTPStage = "tls"
	StageHelo SMTPStage = "helo"
	StageAuth SMTPStage = "auth"
	StageMail SMTPStage = "mail"
	StageRcpt SMTPStage = "rcpt"
	StageData SMTPStage = "data"
	StageDSN  SMTPStage = "dsn" // a bounce that arrived later, not an SMTP stage
)

// OutboxMessage is one message phieu owes someone: one row per (campaign,
// recipient, kind, round), so enqueueing twice is harmless.
type OutboxMessage struct {
	ID           int64
	CampaignCode string
	Kind         MessageKind
	Round        int // reminder or digest round; 0 for an invitation

	// The recipient: a campaign member (RespondentID), a unit head
	// (UnitCode), or a mailbox (operator, IT liaison).
	RespondentID int64
	UnitCode     string
	To           string // filled from the respondent or the unit head when empty
	ToName       string

	State     OutboxState
	MessageID string // "<random@sender-domain>", kept across retries
	// Ref is an opaque reference (an HMAC of the row id, never the
	// respondent's token) carried in the DSN envelope id, a plus address and
	// the subject, so bounces and replies can be matched to this row.
	Ref     string
	Payload []byte // JSON for kinds that carry data: receipts, corrections, digests

	NotBefore     time.Time // not sent before (a reminder's moment); zero: at once
	SendBy        time.Time // suppressed instead of sent late after this; zero: until the deadline
	NextAttemptAt time.Time
	Attempts      int
	LeaseUntil    time.Time
	Reason        string // why it is deferred, failed or suppressed

	CreatedAt time.Time
	UpdatedAt time.Time
	SentAt    time.Time

	// Filled by ClaimOutbox for rendering and for CheckSend.
	Respondent   *Respondent
	Unit         *Unit
	MemberStatus MemberStatus
}

// Key is the message's idempotency key within its campaign.
func (m *OutboxMessage) Key() string {
	switch {
	case m.RespondentID != 0:
		return fmt.Sprintf("%s/%d/r%d", m.Kind, m.Round, m.RespondentID)
	case m.UnitCode != "":
		return fmt.Sprintf("%s/%d/u:%s", m.Kind, m.Round, m.UnitCode)
	}
	return fmt.Sprintf("%s/%d/m:%s", m.Kind, m.Round, strings.ToLower(m.To))
}

// Attempt is one SMTP conversation about one message, whatever its outcome.
type Attempt struct {
	ID       int64
	OutboxID int64
	At       time.Time
	Stage    SMTPStage // where it ended; StageData with 250 for a success
	Code     int       // SMTP reply code, 0 when there was none (dial error...)
	Status   string    // enhanced status code, "5.1.1"
	Text     string    // the server's text or the local error
	Duration time.Duration
	Outcome  OutboxState // sent, deferred or failed
}

// OutboxResult is what a sender learned about one claimed message.
type OutboxResult struct {
	ID            int64
	Event         OutboxEvent // sent, defer, fail, suppress, release
	NextAttemptAt time.Time   // defer and release: not before
	Reason        string
	Attempt       *Attempt // nil when no SMTP conversation happened
	// Throttled marks a deferral caused by the server's rate limiting: it
	// does not count against the message's retry budget.
	Throttled bool
	// Interrupted marks a deferral caused by our own shutdown cutting the
	// transaction: it says nothing about the recipient's mailbox, so it is
	// no delivery failure either.
	Interrupted bool
}

// DeliveryFailure is one recipient the mail system refused: during the SMTP
// conversation (Stage rcpt, data...) or later in a bounce (StageDSN).
type DeliveryFailure struct {
	ID           int64
	CampaignCode string
	OutboxID     int64
	RespondentID int64
	Mailbox      string
	Domain       string
	Stage        SMTPStage
	Code         int
	Status       string
	Class        FailureClass
	Text         string
	Permanent    bool
	At           time.Time
}

// Alert is something a person must act on: for sending, the official server
// refusing connections, TLS or logins. The IT liaison's digest shows open
// alerts.
type Alert struct {
	ID           int64
	Kind         string // "smtp_down"
	CampaignCode string // "" when it concerns every campaign
	Stage        SMTPStage
	Text         string
	RaisedAt     time.Time
	ResolvedAt   time.Time
}

// OutboxFilter chooses outbox messages to list.
type OutboxFilter struct {
	ID           int64
	CampaignCode string
	State        OutboxState
	Kind         MessageKind
	RespondentID int64
	Ref          string
	MessageID    string // without <>
	Offset       int
	Limit        int
}

// SendDecision is what CheckSend decides about a claimed message.
type SendDecision int

const (
	Send     SendDecision = iota
	Hold                  // give it back unsent: try again at the returned time
	Suppress              // never send it; the reason says why
)

// Reasons a message is held or suppressed. Operators read them in
// `phieu outbox list`; they are stable strings.
const (
	ReasonAnswered       = "respondent already answered"
	ReasonAddressFailed  = "address known to fail"
	ReasonExcluded       = "member excluded from the campaign"
	ReasonInactive       = "respondent no longer on the roster"
	ReasonPastDeadline   = "campaign deadline has passed"
	ReasonTooLate        = "its moment passed more than the late window ago"
	ReasonClosed         = "campaign is closed"
	ReasonPaused         = "campaign is paused"
	ReasonDraft          = "campaign is still a draft"
	ReasonNotOpen        = "campaign has not opened yet"
	ReasonNotYet         = "not due yet"
	ReasonNotMember      = "respondent is not a member of the campaign"
	ReasonNoHeadMailbox  = "unit has no head mailbox"
	ReasonMissingAddress = "no recipient address"
)

// CheckSend decides, at the moment of sending, whether m may go out. It is
// the single place that knows when phieu must not write to someone: after
// they answered, to an address that failed, after the deadline, while the
// campaign is paused, or late. Pausing holds messages (they stay queued and
// go out once on resume); only facts that will not change suppress.
func CheckSend(m *OutboxMessage, c *Campaign, now time.Time) (SendDecision, string, time.Time) {
	switch c.State {
	case CampaignClosed:
		return Suppress, ReasonClosed, time.Time{}
	case CampaignPaused:
		return Hold, ReasonPaused, time.Time{}
	case CampaignDraft:
		return Hold, ReasonDraft, time.Time{}
	}
	// Digests for the operator and the IT liaison report on the campaign,
	// including its end; everything else stops at the deadline.
	internal := m.Kind == KindOperatorDigest || m.Kind == KindLiaisonDigest
	if !internal && !c.InTime(now) {
		return Suppress, ReasonPastDeadline, time.Time{}
	}
	if !m.SendBy.IsZero() && now.After(m.SendBy) {
		return Suppress, ReasonTooLate, time.Time{}
	}
	if now.Before(c.OpensAt) {
		return Hold, ReasonNotOpen, c.OpensAt
	}
	if now.Before(m.NotBefore) {
		return Hold, ReasonNotYet, m.NotBefore
	}
	if m.Kind.ToRespondent() {
		if m.Respondent != nil && !m.Respondent.Active {
			return Suppress, ReasonInactive, time.Time{}
		}
		switch m.MemberStatus {
		case "":
			return Suppress, ReasonNotMember, time.Time{}
		case StatusAddressFailed:
			return Suppress, ReasonAddressFailed, time.Time{}
		case StatusExcluded:
			return Suppress, ReasonExcluded, time.Time{}
		case StatusAnswered, StatusAnsweredNeedsReview:
			// Receipts and correction requests are about the answer itself.
			if m.Kind == KindInvitation || m.Kind == KindReminder {
				return Suppress, ReasonAnswered, time.Time{}
			}
		}
	}
	if m.To == "" {
		if m.Kind == KindHeadDigest {
			return Suppress, ReasonNoHeadMailbox, time.Time{}
		}
		return Suppress, ReasonMissingAddress, time.Time{}
	}
	return Send, "", time.Time{}
}

// OutboxService persists the outbox. Every state change goes through
// NextOutboxState.
type OutboxService interface {
	// EnqueueOutbox inserts the messages whose key is new and leaves the
	// others as they are, setting ID, Ref, MessageID and State on every
	// message given. It returns how many were new.
	EnqueueOutbox(ctx context.Context, msgs []*OutboxMessage) (int, error)
	// EnqueueInvitations queues an invitation for each active member not
	// invited yet, at most limit (0: all); it returns how many were queued.
	EnqueueInvitations(ctx context.Context, campaignCode string, limit int) (int, error)
	// ClaimOutbox moves up to n due messages (queued or deferred, next
	// attempt reached, campaign active) to sending under a lease held by
	// owner, in one committed transaction, before any byte goes out.
	ClaimOutbox(ctx context.Context, owner string, n int, lease time.Duration) ([]*OutboxMessage, error)
	// CompleteOutbox records results in one transaction: the state change,
	// the attempt, and what follows from it (a member becomes invited, an
	// address refused at RCPT becomes a delivery failure).
	CompleteOutbox(ctx context.Context, owner string, results []*OutboxResult) error
	// ReclaimOutbox gives back sending messages whose lease expired, or every
	// sending message when all is set (the caller holds the sender lock, so
	// no one else can be sending). Messages may have been sent before the
	// crash; they go out again (at least once, never lost).
	ReclaimOutbox(ctx context.Context, all bool) (int, error)
	// NextOutboxDue returns when the earliest queued or deferred message
	// of an active campaign is due; ok is false when there is none.
	NextOutboxDue(ctx context.Context) (at time.Time, ok bool, err error)
	// FindOutbox lists messages newest first and counts all that match.
	FindOutbox(ctx context.Context, f OutboxFilter) ([]*OutboxMessage, int, error)
	// FindOutboxMessage returns one message with every attempt, or ENOTFOUND.
	FindOutboxMessage(ctx context.Context, id int64) (*OutboxMessage, []*Attempt, error)
	// OutboxCounts counts a campaign's messages by state ("" for all campaigns).
	OutboxCounts(ctx context.Context, campaignCode string) (map[OutboxState]int, error)
	// FindDeliveryFailures lists failures, newest first.
	FindDeliveryFailures(ctx context.Context, campaignCode string, since time.Time) ([]*DeliveryFailure, error)
	// RaiseAlert records an alert unless an open one of the same kind and
	// campaign exists; ResolveAlerts closes open alerts of a kind.
	RaiseAlert(ctx context.Context, a *Alert) error
	ResolveAlerts(ctx context.Context, kind, campaignCode string) error
	FindAlerts(ctx context.Context, openOnly bool) ([]*Alert, error)
}

// Refs makes the opaque references of outbox messages: an HMAC of the row
// id under a per-installation secret, so a reference reveals nothing and
// cannot be forged from a respondent's identity.
type Refs struct{ key []byte }

// NewRefs returns references keyed by secret (at least 16 bytes).
func NewRefs(secret []byte) (*Refs, error) {
	if len(secret) < 16 {
		return nil, Errorf(EINVALID, "reference secret must be at least 16 bytes, got %d", len(secret))
	}
	return &Refs{key: append([]byte(nil), secret...)}, nil
}

// refEncoding is Crockford-like base32 without padding, upper case: safe in
// a subject, an ENVID (xtext) and a plus address, and read the same whatever
// case a mail server folds the local part to.
var refEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// RefLength is the length of a reference: 50 bits, so 100,000 messages
// collide with odds below one in 200,000.
const RefLength = 10

// Ref returns the reference of outbox row id.
func (r *Refs) Ref(id int64) string {
	mac := hmac.New(sha256.New, r.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	mac.Write([]byte("phieu outbox ref\x00"))
	mac.Write(b[:])
	return refEncoding.EncodeToString(mac.Sum(nil))[:RefLength]
}

// Check reports, in constant time, whether ref is row id's reference.
func (r *Refs) Check(id int64, ref string) bool {
	return hmac.Equal([]byte(r.Ref(id)), []byte(strings.ToUpper(ref)))
}

// SubjectCode is how a reference appears in a subject: "KS-7F3A9CQ2XM".
func SubjectCode(ref string) string { return "KS-" + ref }
