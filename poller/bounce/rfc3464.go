package bounce

import (
	"regexp"
	"strings"
)

// dsn is an RFC 3464 delivery-status body.
type dsn struct {
	envelopeID   string
	reportingMTA string
	recipients   []dsnRecipient
}

type dsnRecipient struct {
	final, original, action, status, remoteMTA, diagType, diagnostic string
}

var dsnFieldLine = regexp.MustCompile(`(?i)(?:final|original)-recipient:|diagnostic-code:`)

// parseDSN reads the message/delivery-status parts; text parts written in
// the same field syntax (some servers do) are read too when there is none.
func parseDSN(m *parsed) *dsn {
	var d *dsn
	for _, p := range m.parts {
		if p.inOriginal {
			continue
		}
		if p.mediaType == "message/delivery-status" || p.mediaType == "message/global-delivery-status" {
			x := parseDeliveryStatus(string(p.body))
			if d == nil {
				d = x
			} else {
				d.recipients = append(d.recipients, x.recipients...)
			}
		}
	}
	if d != nil && len(d.recipients) > 0 {
		return d
	}
	// A report forwarded as an attachment.
	for _, p := range m.parts {
		if p.inOriginal && (p.mediaType == "message/delivery-status" || p.mediaType == "message/global-delivery-status") {
			if x := parseDeliveryStatus(string(p.body)); len(x.recipients) > 0 {
				return x
			}
		}
	}
	for _, p := range m.parts {
		if p.inOriginal || !strings.HasPrefix(p.mediaType, "text/plain") {
			continue
		}
		t := string(p.body)
		lt := strings.ToLower(t)
		if strings.Contains(lt, "final-recipient:") && strings.Contains(lt, "action:") && strings.Contains(lt, "status:") {
			if x := parseDeliveryStatus(t[strings.Index(lt, "final-recipient:"):]); len(x.recipients) > 0 {
				return x
			}
		}
	}
	return d
}

// parseDeliveryStatus reads the per-message and per-recipient fields. Blank
// lines separate the groups, but a new Final-Recipient also starts one, as
// some servers forget the blank lines.
func parseDeliveryStatus(body string) *dsn {
	d := &dsn{}
	var cur *dsnRecipient
	flush := func() {
		if cur != nil && (cur.final != "" || cur.original != "") {
			if cur.final == "" {
				cur.final = cur.original
			}
			d.recipients = append(d.recipients, *cur)
		}
		cur = nil
	}
	lines := unfold(body)
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			if cur != nil && cur.final != "" {
				flush()
			}
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch k {
		case "original-envelope-id":
			d.envelopeID = v
		case "reporting-mta":
			d.reportingMTA = afterType(v)
		case "final-recipient", "original-recipient", "x-actual-recipient":
			if cur != nil && (k == "final-recipient" && cur.final != "" || k == "original-recipient" && cur.original != "") {
				flush()
			}
			if cur == nil {
				cur = &dsnRecipient{}
			}
			switch k {
			case "final-recipient":
				cur.final = afterType(v)
			case "original-recipient":
				cur.original = afterType(v)
			}
		case "action", "status", "remote-mta", "diagnostic-code":
			if cur == nil {
				cur = &dsnRecipient{}
			}
			switch k {
			case "action":
				cur.action = strings.ToLower(strings.Fields(v + " x")[0])
			case "status":
				cur.status = statusField(v)
			case "remote-mta":
				cur.remoteMTA = afterType(v)
			case "diagnostic-code":
				t, rest, ok := strings.Cut(v, ";")
				if ok && len(t) < 20 && !strings.ContainsAny(t, " <@") {
					cur.diagType, cur.diagnostic = strings.ToUpper(strings.TrimSpace(t)), strings.TrimSpace(rest)
				} else {
					cur.diagnostic = v
				}
			}
		}
	}
	flush()
	return d
}

// unfold joins continuation lines onto their field.
func unfold(body string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if len(out) > 0 && len(l) > 0 && (l[0] == ' ' || l[0] == '\t') && strings.TrimSpace(out[len(out)-1]) != "" {
			out[len(out)-1] += " " + strings.TrimSpace(l)
			continue
		}
		out = append(out, l)
	}
	return out
}

func afterType(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && len(t) < 16 && !strings.Contains(t, "@") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}

// statusField is the enhanced code of a Status field ("5.1.1 (user unknown)").
func statusField(v string) string {
	v = strings.TrimSpace(v)
	if m := statusPattern.FindStringSubmatch(" " + v); m != nil {
		return m[1]
	}
	if f := strings.Fields(v); len(f) > 0 && len(f[0]) >= 5 && (f[0][0] == '2' || f[0][0] == '4' || f[0][0] == '5') && f[0][1] == '.' {
		return strings.TrimRight(f[0], ".,;")
	}
	return ""
}

// failures turns the recipients into Failures; text is the report's own
// words, used when a recipient has no Diagnostic-Code.
func (d *dsn) failures(text string) []Failure {
	var out []Failure
	seen := map[string]bool{}
	for _, r := range d.recipients {
		rcpt := cleanAddress(r.final)
		if len(out) >= maxRecipients {
			break
		}
		if rcpt == "" || seen[rcpt] {
			continue
		}
		seen[rcpt] = true
		diag := r.diagnostic
		st, code := statusAndCode(diag)
		if extra := recipientText(text, rcpt); diag != "" && len(extra) > len(diag) && strings.Contains(oneLine(extra), oneLine(diag)) && !dsnFieldLine.MatchString(extra) {
			// The text part quotes the same reply with more context
			// ("in reply to end of DATA command").
			diag = extra
		} else if diag == "" || !hasFailureWords(diag) {
			// The text part often says more, about this recipient.
			if extra := recipientText(text, rcpt); extra != "" && extra != diag {
				diag = strings.TrimSpace(diag + " " + extra)
				if st == "" && code == 0 {
					st, code = statusAndCode(extra)
				}
			}
		}
		status := r.status
		action := r.action
		if action == "" {
			action = "failed"
			if strings.HasPrefix(status, "4.") {
				action = "delayed"
			}
		}
		// The remote server's own status, quoted with its reply code, says
		// more than the reporting server's summary.
		if st != "" && code != 0 && (status == "" || st[0] == status[0]) {
			status = st
		} else if st != "" && (status == "" || strings.HasSuffix(status, ".0.0") && st[0] == status[0]) {
			status = st
		}
		if action == "failed" && strings.HasPrefix(status, "2.") {
			action = "delivered"
		}
		out = append(out, newFailure(rcpt, r.original, action, status, code, diag, r.remoteMTA, text))
	}
	return out
}

// hasFailureWords: the diagnostic says something beyond a number.
func hasFailureWords(s string) bool {
	n := 0
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && strings.IndexFunc(f, func(r rune) bool { return r >= 'A' && r <= 'z' }) >= 0 {
			n++
		}
	}
	return n >= 2
}
