package bounce

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message"
)

// RFC 3834 and the vendors' own headers that mark an automatic answer.
var autoReplyHeaders = []struct{ key, value string }{
	{"X-Autoreply", ""}, {"X-Autorespond", ""}, {"X-Autoresponder", ""}, {"X-Auto-Reply", ""},
	{"X-Mail-Autoreply", ""}, {"X-Vacation", ""}, {"X-Autoreply-From", ""}, {"X-Ms-Exchange-Inbox-Rules-Loop", ""},
	{"Precedence", "auto_reply"}, {"X-Precedence", "auto_reply"},
}

var (
	autoReplySubject = regexp.MustCompile(`out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|respon[sd]er)|autoreply|vacation|away from (?:the )?office|` +
		`^away\b|away until|on leave|abwesenheit|absence|absent|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch|` +
		`trả lời tự động|tự động trả lời|thư trả lời tự động|vắng mặt|nghỉ phép|đi công tác|không có mặt`)
	autoReplyBody = regexp.MustCompile(`i am (?:currently )?(?:out of (?:the )?office|away|on (?:vacation|leave|holiday))|i'm (?:currently )?(?:out of (?:the )?office|away|on (?:vacation|leave|holiday))|` +
		`i (?:am|will be) (?:currently )?(?:out|away) (?:of|from|until)|(?:out of|away from) the office (?:until|from|on)|` +
		`limited access to (?:my )?e-?mail|will respond (?:to you )?(?:up)?on my return|when i return|` +
		`tôi đang đi công tác|tôi đang nghỉ phép|tôi đang vắng mặt|tôi vắng mặt|tôi đang nghỉ|tôi sẽ trả lời .{0,40}(?:khi|sau khi) (?:trở về|quay lại)|` +
		`đây là thư trả lời tự động|thư trả lời tự động|trả lời tự động`)
)

// autoReplyBodyWords: one of these is in every autoReplyBody match.
var autoReplyBodyWords = []string{"i am", "i'm", "i will be", "out of", "away from", "limited access", "will respond", "when i return",
	"tôi", "trả lời tự động"}

// AutoReplyReason says why a message is an automatic answer (vacation,
// out of office), or "" when it is not one. Call it only on messages that
// are not delivery reports: bounces carry Auto-Submitted too.
func AutoReplyReason(h message.Header, body string) string {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); strings.HasPrefix(v, "auto-replied") {
		return "Auto-Submitted: " + v
	}
	for _, x := range autoReplyHeaders {
		v := h.Get(x.key)
		if v == "" && !h.Has(x.key) {
			continue
		}
		if x.value == "" || strings.EqualFold(strings.TrimSpace(v), x.value) {
			return x.key + ": " + strings.TrimSpace(v)
		}
	}
	subject := headerText(h, "Subject")
	// The patterns are lower case and matched against lower-cased text:
	// (?i) folds every rune of every line, several times slower.
	if m := autoReplySubject.FindString(strings.ToLower(subject)); m != "" {
		return "subject: " + m
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))), "auto-") || IsAutomated(h) || len(body) < 4000 {
		if lines := strings.ToLower(firstLines(body, 15)); containsAnyFold(lines, autoReplyBodyWords) {
			if m := autoReplyBody.FindString(lines); m != "" {
				return "text: " + m
			}
		}
	}
	return ""
}

// IsAutomated: the header shows a program sent the message (RFC 3834
// Auto-Submitted, bulk or list precedence, list headers, a null sender).
func IsAutomated(h message.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk", "auto_reply":
		return true
	}
	for _, k := range []string{"List-Id", "List-Unsubscribe", "List-Post", "X-Auto-Response-Suppress", "Feedback-Id", "X-Campaign", "X-Report-Abuse"} {
		if h.Has(k) {
			return true
		}
	}
	if strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return true
	}
	local, _, _ := strings.Cut(strings.ToLower(firstAddress(h.Get("From"))), "@")
	return daemonLocal.MatchString(local) || strings.HasPrefix(local, "noreply") || strings.HasPrefix(local, "no-reply") || strings.HasPrefix(local, "donotreply")
}

func firstAddress(s string) string {
	if l := addressList(s); len(l) > 0 {
		return l[0]
	}
	return ""
}

// firstLines is the start of a body, where people say they are away,
// before any quoted text.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), ">") {
			break
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
