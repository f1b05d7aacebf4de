package store

import (
	"context"
	"time"
)

// InboundKind is what a message arriving in the survey mailbox is.
type InboundKind string

const (
	InboundBounce    InboundKind = "bounce"     // a permanent delivery failure report
	InboundDelay     InboundKind = "delay"      // a DSN saying delivery is delayed, still retrying
	InboundDelivered InboundKind = "delivered"  // a success DSN
	InboundAutoReply InboundKind = "auto_reply" // vacation or out-of-office (RFC 3834)
	InboundComplaint InboundKind = "complaint"  // an abuse feedback report (RFC 5965 ARF)
	InboundReply     InboundKind = "reply"      // something a person wrote
	InboundOther     InboundKind = "other"      // automated mail that is none of the above
)

// Checkpoint is how far phieu has read one IMAP mailbox: every message with a
// UID up to LastUID under this UIDValidity has been processed.
type Checkpoint struct {
	Account     string // "user@host:port": the same folder name on two servers is two mailboxes
	Mailbox     string
	UIDValidity uint32
	LastUID     uint32
	UpdatedAt   time.Time
}

// MatchMethod is how an inbound message was tied to something phieu sent,
// strongest first.
type MatchMethod string

const (
	MatchEnvelopeID        MatchMethod = "envelope_id"         // the DSN's Original-Envelope-Id is our reference
	MatchPlusAddress       MatchMethod = "plus_address"        // sent to reply_to+REF
	MatchOriginalRef       MatchMethod = "original_ref"        // X-Phieu-Ref of the attached original
	MatchOriginalMessageID MatchMethod = "original_message_id" // Message-ID of the attached or quoted original
	MatchInReplyTo         MatchMethod = "in_reply_to"         // In-Reply-To or References
	MatchSubjectCode       MatchMethod = "subject_code"        // [KS-REF] in the subject
	MatchAddress           MatchMethod = "address"             // the failed recipient or the sender is a member's mailbox
)

// InboundMessage is one message phieu read from the survey mailbox, with
// what it concluded and what it will do about it.
type InboundMessage struct {
	ID          int64
	Account     string
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	MessageID   string // without <>; may be empty
	ContentHash string // SHA-256 of the raw bytes, hex
	Size        int

	Kind    InboundKind
	Engine  string // the bounce format recognised
	From    string
	Subject string
	Date    time.Time // the message's Date header
	At      time.Time // when phieu processed it

	CampaignCode string // "" when unmatched
	RespondentID int64
	OutboxID     int64 // the message it answers or reports on
	Match        MatchMethod
	// Review says why a person must look at the message ("" when nothing
	// needs doing): unmatched, answered from another mailbox, a complaint...
	Review string
	// Note is what the operator should know: the auto-reply's reason, the
	// complaint's feedback type.
	Note        string
	AuthResults string // Authentication-Results, as received

	Folder string // where it is filed; "" leaves it in place

	Failures []*InboundFailure
	Response *Response
	// Enqueue is what phieu owes in return: a receipt, a correction request,
	// a resend of the invitation after "mailbox full". Queued in the same
	// transaction as the message.
	Enqueue []*OutboxMessage
}

// InboundFailure is one failed recipient a bounce reports.
type InboundFailure struct {
	Recipient    string       `json:"recipient"`
	RespondentID int64        `json:"respondent_id,omitempty"` // 0 when the address is no member's
	Status       string       `json:"status,omitempty"`
	Code         int          `json:"smtp_code,omitempty"`
	Class        FailureClass `json:"class"`
	Hard         bool         `json:"hard"`
	Diagnostic   string       `json:"diagnostic,omitempty"`
	RemoteMTA    string       `json:"remote_mta,omitempty"`
}

// ResponseStatus is where a response stands.
type ResponseStatus string

const (
	ResponseCounted     ResponseStatus = "counted"      // complete, on time, from the member's mailbox
	ResponsePartial     ResponseStatus = "partial"      // some answers missing or invalid: a correction was requested
	ResponseLate        ResponseStatus = "late"         // after the deadline: not counted unless the operator accepts it
	ResponseNeedsReview ResponseStatus = "needs_review" // from another mailbox: not counted until resolved
	ResponseSuperseded  ResponseStatus = "superseded"   // a later reply replaced it
	ResponseRejected    ResponseStatus = "rejected"     // the operator decided it does not count
)

// Response is one reply's answers. A member's later reply supersedes the
// earlier one; every response is kept.
//
// Answers are stored apart from who gave them: under a random ID and a
// keyed link to the member, with the day received and the member's unit
// and group. RespondentID and From are filled in only where the
// installation secret's link key is loaded; InboundID only at intake.
type Response struct {
	ID           int64 // random, carries no order
	CampaignCode string
	RespondentID int64     // 0 when read without the link key
	InboundID    int64     // the reply it came in; set at intake, not stored
	Seq          int       // 1 for the member's first response
	At           time.Time // the day received: midnight in the campaign's time zone
	From         string    // the sender; "" when read without the link key
	UnitCode     string    // the member's unit when the response was stored
	GroupCode    string    // the member's group when the response was stored
	Answers      []ResponseAnswer
	Problems     []ResponseProblem
	Complete     bool
	Status       ResponseStatus
	Reason       string
}

// ResponseAnswer is one valid answer.
type ResponseAnswer struct {
	Code   string `json:"code"`
	Value  string `json:"value"`
	Source string `json:"source,omitempty"` // "visible" or "quoted"
}

// ResponseProblem is one missing or invalid answer.
type ResponseProblem struct {
	Code    string `json:"code"`
	Kind    string `json:"kind"`
	Got     string `json:"got,omitempty"`
	Message string `json:"message"`
}

// Membership is a campaign a mailbox's owner belongs to, for matching mail
// that carries no reference.
type Membership struct {
	CampaignCode string
	RespondentID int64
	Status       MemberStatus
	Alias        bool // the mailbox is an alias, not the primary
}

// InboundFilter chooses inbound messages to list.
type InboundFilter struct {
	CampaignCode string
	Kind         InboundKind
	ReviewOnly   bool
	Offset       int
	Limit        int
}

// InboundService persists what the poller reads.
type InboundService interface {
	// FindCheckpoint returns the mailbox's checkpoint; a zero one (LastUID
	// 0) when the mailbox was never read.
	FindCheckpoint(ctx context.Context, account, mailbox string) (*Checkpoint, error)
	// SaveCheckpoint stores a checkpoint on its own: after a UIDVALIDITY
	// change, or when a batch held only mail that is not phieu's.
	SaveCheckpoint(ctx context.Context, cp *Checkpoint) error
	// RecordInbound stores the message with its failures, response and
	// queued replies and advances the checkpoint to it, in one
	// transaction. A message already stored (same Message-ID and content)
	// only advances the checkpoint and has this copy filed like the first:
	// dup is true and m.ID and m.Folder are the first copy's.
	RecordInbound(ctx context.Context, m *InboundMessage, cp *Checkpoint) (dup bool, err error)
	// PendingFilings lists the copies in this mailbox and UIDVALIDITY still
	// to be filed (ID, UID and Folder set), by UID.
	PendingFilings(ctx context.Context, account, mailbox string, uidValidity uint32) ([]*InboundMessage, error)
	// MarkFiled records that these copies were filed.
	MarkFiled(ctx context.Context, account, mailbox string, uidValidity uint32, uids []uint32) error
	// FindInbound lists stored messages, newest first, with the total.
	FindInbound(ctx context.Context, f InboundFilter) ([]*InboundMessage, int, error)
	// FindResponses returns a member's responses, newest first.
	FindResponses(ctx context.Context, campaignCode string, respondentID int64) ([]*Response, error)
	// AcceptResponse counts a late response or one from another mailbox,
	// as the operator decided: it becomes the member's counted response.
	// Only complete late and needs_review responses can be accepted
	// (EINVALID otherwise). The decision is audited (review_accept, actor
	// from ctx) in the same transaction.
	AcceptResponse(ctx context.Context, id int64) (*Response, error)
	// RejectResponse marks a late or needs-review response as not counted,
	// as the operator decided; the member's status follows from the
	// responses left (answered if another counts, answered_needs_review if
	// another still waits, else invited; excluded stays excluded, and a
	// status the response never set is kept). Only late and needs_review
	// responses can be rejected (EINVALID otherwise). The decision is
	// audited (review_reject, actor from ctx) in the same transaction.
	RejectResponse(ctx context.Context, id int64) (*Response, error)
	// FindReviewQueue lists the responses waiting for an operator's
	// decision (late and needs_review, not superseded), oldest first;
	// every campaign's when campaignCode is "".
	FindReviewQueue(ctx context.Context, campaignCode string) ([]*Response, error)
	// FindMemberships returns the campaigns whose member owns the mailbox
	// (primary or alias), open campaigns first.
	FindMemberships(ctx context.Context, mailbox string) ([]*Membership, error)
	// FindOutboxByMessageID returns the sent message with the Message-ID.
	FindOutboxByMessageID(ctx context.Context, messageID string) (*OutboxMessage, error)
	// FindOutboxByRef returns the sent message with the reference.
	FindOutboxByRef(ctx context.Context, ref string) (*OutboxMessage, error)
}
