package bounce

import (
	"strings"

	"github.com/phieu/phieu/store"
)

// feedback is an RFC 5965 abuse report.
type feedback struct {
	feedbackType string
	recipients   []string // Original-Rcpt-To
	mailFrom     string
}

// parseFeedback reads a multipart/report; report-type=feedback-report, or
// nil when the message is not one.
func parseFeedback(m *parsed) *feedback {
	var fb *feedback
	for _, p := range m.parts {
		if p.mediaType != "message/feedback-report" {
			continue
		}
		fb = &feedback{}
		for _, l := range unfold(string(p.body)) {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "feedback-type":
				fb.feedbackType = strings.ToLower(v)
			case "original-rcpt-to", "removal-recipient":
				fb.recipients = append(fb.recipients, addressList(v)...)
			case "original-mail-from":
				fb.mailFrom = cleanAddress(v)
			}
		}
		break
	}
	if fb == nil && m.reportType == "feedback-report" {
		fb = &feedback{feedbackType: "abuse"}
	}
	if fb == nil {
		// Some providers (Hotmail's JMRP, older Yahoo) send the report as
		// plain text with the same fields.
		t := strings.ToLower(bodyText(m))
		if strings.Contains(t, "feedback-type:") && strings.Contains(t, "user-agent:") {
			fb = &feedback{}
			for _, l := range unfold(bodyText(m)) {
				if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "feedback-type") {
					fb.feedbackType = strings.ToLower(strings.TrimSpace(v))
				}
			}
		}
	}
	return fb
}

// failures names the complained-about recipient: Original-Rcpt-To, else
// the To of the attached original.
func (fb *feedback) failures(o original) []Failure {
	rcpts := fb.recipients
	if len(rcpts) == 0 {
		rcpts = o.to
	}
	var out []Failure
	for _, r := range rcpts {
		out = append(out, Failure{Recipient: cleanAddress(r), Class: store.ClassOther})
	}
	return out
}
