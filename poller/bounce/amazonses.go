package bounce

import (
	"encoding/json"
	"strings"

	"github.com/phieu/phieu/store"
)

// Amazon SES notifications delivered by e-mail (through SNS) are JSON, not
// RFC 3464: {"notificationType":"Bounce","bounce":{"bouncedRecipients":[...]}}
// possibly wrapped in an SNS envelope whose "Message" is that JSON as a string.

type sesRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action"`
	Status         string `json:"status"`
	DiagnosticCode string `json:"diagnosticCode"`
}

type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Message          string `json:"Message"` // SNS envelope
	Bounce           *struct {
		BounceType        string         `json:"bounceType"`
		BouncedRecipients []sesRecipient `json:"bouncedRecipients"`
		ReportingMTA      string         `json:"reportingMTA"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients  []sesRecipient `json:"complainedRecipients"`
		ComplaintFeedbackType string         `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Delivery *struct {
		Recipients   []string `json:"recipients"`
		SMTPResponse string   `json:"smtpResponse"`
		ReportingMTA string   `json:"reportingMTA"`
	} `json:"delivery"`
	Mail struct {
		MessageID     string `json:"messageId"`
		CommonHeaders struct {
			Subject   string   `json:"subject"`
			To        []string `json:"to"`
			MessageID string   `json:"messageId"`
		} `json:"commonHeaders"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
}

// parseSES reads an SES notification body; nil when the text is not one.
func parseSES(text string) *sesNotification {
	i := strings.Index(text, "{")
	if i < 0 || !strings.Contains(text, "notificationType") && !strings.Contains(text, "eventType") {
		return nil
	}
	var n sesNotification
	if err := json.NewDecoder(strings.NewReader(text[i:])).Decode(&n); err != nil {
		// Long lines folded on the way, inside JSON strings.
		unfolded := strings.NewReplacer("\r\n ", "", "\n ", "", "\r\n\t", "", "\n\t", "").Replace(text[i:])
		n = sesNotification{}
		if json.NewDecoder(strings.NewReader(unfolded)).Decode(&n) != nil {
			return nil
		}
	}
	if n.Message != "" && n.NotificationType == "" && n.EventType == "" {
		return parseSES(n.Message)
	}
	if n.NotificationType == "" {
		n.NotificationType = n.EventType
	}
	if n.NotificationType == "" {
		return nil
	}
	return &n
}

// sesReport fills rep from an SES notification; false when it is none.
func (n *sesNotification) report(rep *Report) bool {
	rep.Engine = "AmazonSES"
	h := n.Mail.CommonHeaders
	if rep.OriginalMessageID == "" {
		rep.OriginalMessageID = trimID(h.MessageID)
	}
	if rep.OriginalSubject == "" {
		rep.OriginalSubject = h.Subject
	}
	if len(rep.OriginalTo) == 0 {
		for _, t := range h.To {
			rep.OriginalTo = append(rep.OriginalTo, addressList(t)...)
		}
	}
	for _, x := range n.Mail.Headers {
		if strings.EqualFold(x.Name, "X-Phieu-Ref") && rep.OriginalRef == "" {
			rep.OriginalRef = strings.TrimSpace(x.Value)
		}
	}
	switch strings.ToLower(n.NotificationType) {
	case "bounce":
		if n.Bounce == nil {
			return false
		}
		for _, r := range n.Bounce.BouncedRecipients {
			action := strings.ToLower(r.Action)
			if action == "" {
				action = "failed"
			}
			st, code := statusAndCode(r.DiagnosticCode)
			status := statusField(r.Status)
			if status == "" || strings.HasSuffix(status, ".0.0") && st != "" {
				status = st
			}
			rep.Failures = append(rep.Failures, newFailure(r.EmailAddress, "", action, status, code, afterType(r.DiagnosticCode), afterType(n.Bounce.ReportingMTA), r.DiagnosticCode))
		}
		if strings.EqualFold(n.Bounce.BounceType, "Transient") {
			for i := range rep.Failures {
				rep.Failures[i].Hard = false
			}
		}
		rep.Kind = kindFromActions(rep.Failures)
	case "complaint":
		rep.Kind = store.InboundComplaint
		if n.Complaint != nil {
			rep.FeedbackType = n.Complaint.ComplaintFeedbackType
			for _, r := range n.Complaint.ComplainedRecipients {
				rep.Failures = append(rep.Failures, Failure{Recipient: cleanAddress(r.EmailAddress), Class: store.ClassOther})
			}
		}
		if rep.FeedbackType == "" {
			rep.FeedbackType = "abuse"
		}
	case "delivery":
		if n.Delivery == nil {
			return false
		}
		st, code := statusAndCode(n.Delivery.SMTPResponse)
		if st == "" {
			if m := statusPattern.FindStringSubmatch(n.Delivery.SMTPResponse); m != nil {
				st = m[1]
			}
		}
		for _, r := range n.Delivery.Recipients {
			rep.Failures = append(rep.Failures, newFailure(r, "", "delivered", st, code, n.Delivery.SMTPResponse, n.Delivery.ReportingMTA, ""))
		}
		rep.Kind = store.InboundDelivered
	default:
		return false
	}
	return true
}
