package store

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
