// Package bounce reads what arrives in the survey mailbox and says what it
// is: a delivery failure (RFC 3464 reports and the text formats of the
// common mail servers), a delay or delivery notice, an auto-reply, an abuse
// complaint, a reply a person wrote, or other automated mail. Everything
// here is a pure function of the message bytes.
package bounce

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/phieu/phieu/store"
)

// Report is what a message is, and for delivery reports, which recipients
// failed and why.
type Report struct {
	Kind              store.InboundKind // bounce, delay, delivered, auto_reply, complaint, reply, other
	Engine            string            // the recognised format: "RFC3464", "Postfix", "Exim", ... ("" when none)
	Failures          []Failure         // every failed (for delay/delivered: reported) recipient
	EnvelopeID        string            // Original-Envelope-Id
	OriginalMessageID string            // Message-ID of the original message, without <>
	OriginalRef       string            // X-Phieu-Ref header of the original
	OriginalSubject   string
	OriginalTo        []string // addresses from the original's To header
	FeedbackType      string   // ARF Feedback-Type (abuse, opt-out...)
	AutoReplyReason   string   // why it was judged an auto-reply
}

// Failure is one recipient of a delivery report.
type Failure struct {
	Recipient         string // lower-cased address, no <>, no "rfc822;" prefix
	OriginalRecipient string
	Action            string // failed, delayed, delivered, relayed, expanded
	Status            string // enhanced status "5.1.1", derived from the SMTP code or text when absent
	SMTPCode          int    // 550...; 0 when unknown
	Diagnostic        string // the server's text, one line, white space collapsed
	RemoteMTA         string
	Class             store.FailureClass
	Hard              bool
}

// Analyze parses a raw RFC 5322 message and says what it is. It fails only
// when raw is not a message at all, and never panics.
func Analyze(raw []byte) (rep *Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("bounce: cannot analyse message: %v", p)
		}
	}()
	return analyze(raw)
}

func analyze(raw []byte) (*Report, error) {
	m, err := parseMessage(raw)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	orig := findOriginal(m)
	if orig.messageID == "" {
		// Replies and auto-replies name the message they answer.
		orig.messageID = trimID(m.header.Get("In-Reply-To"))
	}
	rep.fillOriginal(orig)

	if fb := parseFeedback(m); fb != nil {
		rep.Kind = store.InboundComplaint
		rep.Engine = "ARF"
		rep.FeedbackType = fb.feedbackType
		rep.Failures = fb.failures(orig)
		return rep, nil
	}

	if strings.EqualFold(strings.TrimSpace(m.header.Get("X-Apple-Unsubscribe")), "true") {
		// Apple Mail's unsubscribe request, sent on the reader's behalf.
		rep.Kind = store.InboundComplaint
		rep.Engine = "AppleMail"
		rep.FeedbackType = "opt-out"
		for _, a := range addressList(headerText(m.header, "From")) {
			rep.Failures = append(rep.Failures, Failure{Recipient: a, Class: store.ClassOther})
		}
		return rep, nil
	}

	text := bounceText(m)
	if n := parseSES(text); n != nil && n.report(rep) {
		return rep, nil
	}
	if d := parseDSN(m); d != nil && len(d.recipients) > 0 {
		rep.Engine = detectEngine(m, text)
		if rep.Engine == "" {
			rep.Engine = "RFC3464"
		}
		rep.EnvelopeID = d.envelopeID
		rep.Failures = d.failures(text)
		rep.Kind = kindFromActions(rep.Failures)
		if rep.Kind == store.InboundDelivered && looksLikeFailure(m, text) {
			// Some servers report failures with a wrong Action.
			if tf := textFailures(m, text); len(tf) > 0 {
				rep.Failures = tf
				rep.Kind = kindFromActions(tf)
			}
		}
		return rep, nil
	}

	if looksLikeFailure(m, text) {
		if fs := textFailures(m, text); len(fs) > 0 {
			rep.Engine = detectEngine(m, text)
			if isGoogleGroups(text) {
				rep.Engine = "GoogleGroups"
				for i, f := range fs {
					fs[i] = newFailure(f.Recipient, "", f.Action, "", 0, googleGroupsDiagnostic, "", "")
				}
			}
			rep.Failures = fs
			rep.Kind = kindFromActions(fs)
			return rep, nil
		}
		if isDaemonSender(m) || bounceSubject(headerText(m.header, "Subject")) {
			// A failure report naming no recipient we can read: fall back
			// on the original's recipients.
			rep.Engine = detectEngine(m, text)
			st, code := statusAndCode(text)
			diag := firstDiagnostic(text)
			if isGoogleGroups(text) {
				rep.Engine = "GoogleGroups"
				diag = googleGroupsDiagnostic
			}
			for _, to := range rep.OriginalTo {
				rep.Failures = append(rep.Failures, newFailure(to, "", actionFor(st, text), st, code, diag, "", text))
			}
			if len(rep.Failures) > 0 {
				rep.Kind = kindFromActions(rep.Failures)
				return rep, nil
			}
		}
	}

	if reason := AutoReplyReason(m.header, bodyText(m)); reason != "" {
		rep.Kind = store.InboundAutoReply
		rep.AutoReplyReason = reason
		rep.Engine = "RFC3834"
		return rep, nil
	}
	if IsAutomated(m.header) || m.reportType != "" || hasPart(m, "message/disposition-notification") {
		rep.Kind = store.InboundOther
		return rep, nil
	}
	rep.Kind = store.InboundReply
	return rep, nil
}

// kindFromActions: any failure makes a bounce; else a delay; else delivered.
func kindFromActions(fs []Failure) store.InboundKind {
	kind := store.InboundKind("")
	for _, f := range fs {
		switch f.Action {
		case "failed":
			return store.InboundBounce
		case "delayed":
			kind = store.InboundDelay
		case "delivered", "relayed", "expanded":
			if kind == "" {
				kind = store.InboundDelivered
			}
		}
	}
	if kind == "" {
		return store.InboundBounce
	}
	return kind
}

// newFailure completes a recipient's record: status from the code or text
// when absent, class and hardness. report is the report's text, read for
// what it says about this recipient beyond the diagnostic.
func newFailure(rcpt, origRcpt, action, status string, code int, diag, mta, report string) Failure {
	f := Failure{
		Recipient:         cleanAddress(rcpt),
		OriginalRecipient: cleanAddress(origRcpt),
		Action:            strings.ToLower(strings.TrimSpace(action)),
		Status:            status,
		SMTPCode:          code,
		Diagnostic:        cleanDiagnostic(diag),
		RemoteMTA:         mta,
	}
	expired := false
	switch f.Action {
	case "failed", "delayed", "delivered", "relayed", "expanded":
	case "expired":
		// Not an RFC 3464 action, but some servers write it: retries ran out.
		f.Action, expired = "failed", true
	default:
		f.Action = "failed"
	}
	f.Class = refineClass(store.ClassifyFailure(f.SMTPCode, f.Status, f.Diagnostic), f, report)
	if expired && (f.Class == store.ClassRemoteError || f.Class == store.ClassOther) {
		f.Class = store.ClassExpired
	}
	if f.Action == "delayed" && (f.Class == store.ClassOther || f.Class == store.ClassRemoteError && f.Diagnostic == "") {
		f.Class = store.ClassExpired
	}
	if f.Status == "" {
		f.Status = derivedStatus(f)
	}
	f.Hard = f.Action == "failed" && f.Class.Hard(f.Status)
	return f
}

// derivedStatus makes a status for a failure reported without one: from
// the SMTP code's class digit, refined by the class the text gave.
func derivedStatus(f Failure) string {
	first := "5"
	switch {
	case f.SMTPCode >= 400 && f.SMTPCode < 500, f.Action == "delayed":
		first = "4"
	case f.SMTPCode >= 200 && f.SMTPCode < 300, f.Action == "delivered", f.Action == "relayed", f.Action == "expanded":
		return "2.0.0"
	}
	switch f.Class {
	case store.ClassUserUnknown:
		if first == "5" {
			return "5.1.1"
		}
	case store.ClassHostUnknown:
		if first == "5" {
			return "5.1.2"
		}
	case store.ClassMailboxFull:
		return first + ".2.2"
	case store.ClassMessageTooLarge:
		return first + ".3.4"
	case store.ClassExpired:
		return first + ".4.7"
	}
	return first + ".0.0"
}

func actionFor(status, text string) string {
	if isDelayText(text) || strings.HasPrefix(status, "4.") && text == "" {
		return "delayed"
	}
	return "failed"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var replyPrefix = regexp.MustCompile(`\b([245]\d\d)[ -]#?([245]\.\d{1,3}\.\d{1,3}) `)

// cleanDiagnostic makes the server's text one line, without the reply code
// repeated on every line of a multi-line reply.
func cleanDiagnostic(s string) string {
	s = oneLine(s)
	first := true
	return replyPrefix.ReplaceAllStringFunc(s, func(m string) string {
		if first {
			first = false
			return m
		}
		return ""
	})
}

// cleanAddress lower-cases an address and strips "rfc822;", <> and quotes.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ";"); i >= 0 && i < 16 && !strings.Contains(s[:i], "@") {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "<"); i >= 0 {
		if j := strings.Index(s[i:], ">"); j > 0 {
			s = s[i+1 : i+j]
		} else {
			s = s[i+1:]
		}
	}
	s = strings.ReplaceAll(s, `"`, "")
	s = strings.Trim(s, " \t<>'()[]:;,.")
	if f := strings.Fields(s); len(f) > 0 {
		for _, w := range f {
			if strings.Contains(w, "@") {
				s = strings.Trim(w, "<>\"'()[]:;,.")
				break
			}
		}
	}
	return strings.ToLower(s)
}

func hasPart(m *parsed, mediaType string) bool {
	for _, p := range m.parts {
		if p.mediaType == mediaType {
			return true
		}
	}
	return false
}
