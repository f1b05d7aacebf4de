package store

import (
	"regexp"
	"strings"
)

// FailureClass is the kind of a delivery failure, from an SMTP reply during
// sending or from a bounce that arrived later. The IT liaison's digest groups
// by it; whether a failure is hard follows from the class and the status.
type FailureClass string

const (
	ClassUserUnknown     FailureClass = "user_unknown"      // the address does not exist
	ClassMailboxFull     FailureClass = "mailbox_full"      // over quota
	ClassMailboxDisabled FailureClass = "mailbox_disabled"  // locked, suspended, disabled
	ClassHostUnknown     FailureClass = "host_unknown"      // the domain or server does not exist or accept mail
	ClassMessageTooLarge FailureClass = "message_too_large" // over the receiver's size limit
	ClassSenderRejected  FailureClass = "sender_rejected"   // our server or domain is refused: SPF, DKIM, DMARC, PTR, reputation, relaying, TLS/auth required
	ClassContentRejected FailureClass = "content_rejected"  // spam, virus, policy or content filters
	ClassThrottled       FailureClass = "throttled"         // rate limits, too many connections
	ClassExpired         FailureClass = "expired"           // the mail system gave up after retrying
	ClassRemoteError     FailureClass = "remote_error"      // the receiving system failed
	ClassOther           FailureClass = "other"
)

// FailureClasses lists every class, in the order digests show them.
var FailureClasses = []FailureClass{
	ClassUserUnknown, ClassHostUnknown, ClassMailboxDisabled, ClassMailboxFull,
	ClassMessageTooLarge, ClassSenderRejected, ClassContentRejected,
	ClassThrottled, ClassExpired, ClassRemoteError, ClassOther,
}

// ClassifyFailure names a failure from the SMTP reply code, the enhanced
// status code ("5.1.1", may be empty) and the server's text. The text is
// read first, because servers often pair a precise message with a vague or
// wrong status (5.7.1 for "user unknown", 5.0.0 for anything); a specific
// status decides when the text says nothing known; the reply code is the
// last resort.
func ClassifyFailure(code int, status, text string) FailureClass {
	status = strings.TrimSpace(status)
	t := normalizeFailureText(text)
	if status == "" {
		status = statusInText(t)
	}
	c := classifyFailure(code, status, t)
	switch {
	case c == ClassHostUnknown && strings.HasPrefix(status, "4.") && !definitelyNoMail(t):
		// A DNS failure that may pass: the network, not a missing domain.
		c = ClassRemoteError
	case (c == ClassUserUnknown || c == ClassHostUnknown || c == ClassOther) && rejectedAtMailFrom(t):
		// Refused at MAIL FROM: it is our address or domain that failed.
		c = ClassSenderRejected
	case c == ClassUserUnknown && rejectedAtData(t):
		// Accepted at RCPT, refused after the content: a filter.
		c = ClassContentRejected
	}
	return c
}

func classifyFailure(code int, status, t string) FailureClass {
	switch status {
	case "5.7.23", "5.7.24", "5.7.25", "5.7.26", "5.7.27", "5.7.7", "5.7.8":
		// Authentication results (RFC 7372): the text around them often
		// mentions spam, but the status is what failed.
		if c := classFromStatus(status); c != "" {
			return c
		}
	}
	if c := classFromText(t, failurePatterns); c != "" {
		return c
	}
	if c := classFromStatus(status); c != "" {
		return c
	}
	if c := classFromText(t, genericFailurePatterns); c != "" {
		return c
	}
	if gaveUpAfterAttempts.MatchString(t) {
		return ClassExpired
	}
	if c := classFromText(t, weakFailurePatterns); c != "" {
		return c
	}
	if c := classFromStatusSubject(status); c != "" {
		return c
	}
	switch code {
	case 421:
		return ClassThrottled
	case 450, 451:
		return ClassRemoteError
	case 452:
		return ClassMailboxFull
	case 552:
		return ClassMessageTooLarge
	case 553:
		return ClassUserUnknown
	}
	return ClassOther
}

// definitelyNoMail: the domain says it takes no mail (RFC 7505 null MX).
func definitelyNoMail(t string) bool {
	for _, p := range []string{"null mx", "no mx found", "receive email", "receive mail", "accept mail"} {
		if strings.Contains(t, p) {
			return true
		}
	}
	return false
}

var gaveUpAfterAttempts = regexp.MustCompile(`\b(?:failed|after|gave up after) \d+ (?:delivery )?attempts`)

func rejectedAtMailFrom(t string) bool {
	return strings.Contains(t, "after mail from") || strings.Contains(t, "in reply to mail from")
}

func rejectedAtData(t string) bool {
	return strings.Contains(t, "end of data") || strings.Contains(t, "after data") || strings.Contains(t, "in reply to data") ||
		strings.Contains(t, ">>> data")
}

// Hard reports whether a failure of this class with this status means the
// address will not work without a person fixing something: the member is
// marked "address failed" and not retried. A temporary (4.x.x) status is
// never hard; without a status, the class alone decides.
func (c FailureClass) Hard(status string) bool {
	status = strings.TrimSpace(status)
	if strings.HasPrefix(status, "4") || strings.HasPrefix(status, "2") {
		return false
	}
	switch c {
	case ClassUserUnknown, ClassHostUnknown, ClassMailboxDisabled:
		return true
	}
	return false
}

// failurePattern is a class and the phrases (lower case, spaces collapsed)
// of a server's text that mean it.
type failurePattern struct {
	class   FailureClass
	phrases []string
}

// failurePatterns are read before the status: the first match wins, so the
// more specific meanings come first.
var failurePatterns = []failurePattern{
	{ClassExpired, []string{
		"delivery time expired", "message expired", "delivery expired", "envelope expired", "queue.expired",
		"could not be delivered within", "was not delivered within", "exceeded the maximum time", "too long in queue",
		"queue lifetime", "maximum delivery time", "no delivery within", "failed for too long", "hết thời gian",
	}},
	{ClassMessageTooLarge, []string{
		"message too large", "message too big", "message is too large", "message is too big", "mesg too big",
		"message size exceeds", "message size limit", "exceeds size limit", "size exceeds", "exceeds the maximum size",
		"exceeds maximum size", "exceeded maximum size", "maximum message size", "message length exceeds",
		"email is too large", "too large for this", "message file too big",
		"the message was too large", "exceeds the size limit", "size limit exceeded", "thư quá lớn", "vượt quá kích thước",
	}},
	{ClassMailboxFull, []string{
		"mailbox full", "mailbox is full", "mailbox was full", "mail box full", "mailbox has exceeded", "mailbox exceeded",
		"mailbox exceeds", "mailbox size limit", "over quota", "overquota", "over the quota", "quota exceeded", "exceeded quota",
		"exceeds quota", "exceeded storage", "exceeded its storage", "storage quota", "mailfolder is full",
		"mail folder is full", "disk quota", "inbox is full", "full mailbox", "mailbox is over",
		"not enough storage space in the mailbox", "insufficient mailbox storage", "too many messages in",
		"mailbox quota", "hộp thư đầy", "hộp thư đã đầy", "hộp thư bị đầy", "vượt quá dung lượng", "hết dung lượng",
	}},
	{ClassMailboxDisabled, []string{
		"account disabled", "account is disabled", "account has been disabled", "account has been suspended",
		"account is suspended", "account suspended", "mailbox disabled", "mailbox is disabled", "mailbox has been disabled",
		"disabled recipient", "recipient disabled", "address disabled", "mailbox is inactive", "mailbox inactive",
		"inactive mailbox", "inactive account", "account is inactive", "account inactive", "deactivated",
		"is not active", "no longer active", "account is locked", "account has been locked", "mailbox is locked",
		"mailbox locked", "temporary locked", "temporarily locked", "locked account", "disabled account", "suspended account",
		"account has been terminated", "account expired", "account is blocked", "account has been blocked",
		"mailbox is frozen", "this account has been disabled", "user account is expired", "recipient suspended",
		"account closed", "mailbox closed", "hộp thư bị khóa", "tài khoản bị khóa", "tài khoản đã bị khóa",
		"hộp thư đã bị khóa", "tạm ngừng", "tạm ngưng", "vô hiệu hóa", "vô hiệu hoá",
	}},
	{ClassHostUnknown, []string{
		"host unknown", "unknown host", "host not found", "domain not found", "no such domain", "domain does not exist",
		"domain doesn't exist", "domain may not exist", "domain name not found", "host or domain name not found",
		"name or service not known", "nxdomain", "no mx record", "no mx for", "no mx found", "null mx",
		"couldn't find any host", "could not find any host", "couldn't find a mail exchanger", "mail exchanger",
		"no smtp service", "unknown domain", "domain is not configured", "unrouteable mail domain", "no route for domain",
		"does not accept mail", "doesn't accept mail", "not accept mail", "does not receive mail", "not accepting mail",
		"not accepting network messages", "domain is not reachable", "domain not reachable", "domain has been disabled",
		"invalid domain", "domain could not be found", "non-existent domain", "dns lookup failure", "lookup failure",
		"no valid mx", "dns error", "doesn't receive email", "does not receive email", "tên miền không tồn tại", "máy chủ không tồn tại",
	}},
	{ClassUserUnknown, []string{
		"user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient", "no such address",
		"no such person", "no such local user", "no such account", "user not found", "recipient not found",
		"mailbox not found", "address not found", "account not found", "unknown recipient", "recipient unknown",
		"invalid recipient", "recipient invalid", "invalid mailbox", "mailbox is not valid", "not a valid mailbox",
		"unknown address", "address unknown", "unknown local part", "unknown or illegal alias", "user doesn't exist",
		"user does not exist", "user not exist", "mailbox does not exist", "mailbox doesn't exist", "account does not exist",
		"address does not exist", "recipient does not exist", "account that you tried to reach does not exist",
		"t have an account", "this user doesn't have a", "this user does not have a", "no mailbox here by that name",
		"recipnotfound", "recipient not recognized", "name is not recognized", "is not a valid user", "invalid address",
		"address rejected: user", "unrouteable address", "user invalid", "bad destination mailbox", "not our customer",
		"no longer with", "not listed in", "addressee unknown", "no mailbox by that name", "mailbox unavailable",
		"user reject", "destination address rejected", "rejected recipient", "no valid recipients",
		"mailbox not available", "mailbox is unavailable", "unknown mailbox", "undeliverable address", "address is invalid",
		"does not exist here", "non-existent user", "nonexistent user", "has moved", "no longer available",
		"not a known user", "recipient address rejected: access denied", "check if address is correct",
		"invalid user", "hộp thư không tồn tại", "địa chỉ không tồn tại", "địa chỉ thư không tồn tại",
		"người nhận không tồn tại", "tài khoản không tồn tại", "người dùng không tồn tại",
	}},
	{ClassThrottled, []string{
		"rate limit", "ratelimit", "rate-limit", "too many connections", "too many concurrent", "too many messages",
		"too many recipients", "too many sessions", "connection limit", "throttl", "too fast", "slow down",
		"sending rate", "receiving mail at a rate", "unusual rate", "exceeded the rate", "too many requests",
		"frequency limit", "connections from your host", "quá nhiều",
	}},
	{ClassSenderRejected, []string{
		"blacklist", "black list", "blocklist", "block list", "blocklisted", "blacklisted", "dnsbl", "rbl", "spamhaus",
		"spamcop", "sorbs", "barracuda", "reputation", "user complaints", "listed at", "listed on", "listed in", "is listed",
		"banned sending ip", "client host blocked", "ip blocked", "blocked ip", "ip source bloquee", "refused to talk to me",
		"relay access denied", "relaying denied", "relay denied", "relay not permitted",
		"not permitted to relay", "unable to relay", "relaying not allowed", "we do not relay", "relay not allowed",
		"not allowed to relay", "no relaying", "relaying disallowed", "relay quota",
	}},
	{ClassContentRejected, []string{
		"virus", "malware", "infected", "trojan", "phishing", "spam", "junk mail", "unsolicited", "bulk mail",
		"content filter", "content rejected", "message content", "content policy", "message rejected as",
		"filtered", "not rfc", "rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "rfc 822", "rfc822 compliant",
		"header error", "message header", "malformed message", "malformed header", "invalid header", "header field",
		"multiple addresses in from", "bare lf", "prohibited attachment", "attachment", "dangerous", "suspicious",
		"policy violation", "policy reasons", "recipient preferences", "media error", "thư rác",
	}},
	{ClassSenderRejected, []string{
		"spf", "dkim", "dmarc", "sender policy framework", "domainkeys", "authentication failure", "not authenticated",
		"authentication required", "must be authenticated", "authentication is required", "unauthenticated",
		"authentication information", "smtp authentication", "fails to pass", "reverse dns", "reverse lookup", "rdns",
		"ptr record", "no ptr", "ptr lookup", "reverse hostname", "dns hostname", "hostname does not resolve",
		"cannot find your hostname", "mismatches client ip", "helo", "ehlo", "starttls", "tls required",
		"must issue a starttls", "encryption required", "requires tls", "tls is required", "sender address rejected",
		"sender rejected", "sender denied", "sender verify failed", "sender verification", "domain of sender",
		"sender domain", "your ip", "invalid ip", "client host", "please use the smtp server",
		"use the smtp server of your", "dial-up", "dynamic ip", "residential",
	}},
}

// genericFailurePatterns are read after a specific status.
var genericFailurePatterns = []failurePattern{
	{ClassExpired, []string{
		"retry timeout exceeded", "retry time not reached for any host", "in the queue too long", "gave up",
		"giving up", "did not accept our requests to connect",
	}},
	{ClassRemoteError, []string{
		"system error", "internal error", "server error", "local error", "mailer error", "unknown mailer",
		"mail system", "temporary failure", "temporary error", "service unavailable", "service not available",
		"currently unavailable", "service refused", "connection timed out", "timed out", "timeout",
		"connection refused", "connection reset", "connection closed", "lost connection", "network", "routing loop",
		"mail loop", "loops back", "loop", "hop count", "too many hops", "insufficient system storage", "disk full",
		"disk space", "file system full", "i/o error", "command died", "procmail", "pipe to", "not reachable",
		"unreachable", "socket error", "insufficient permission", "duplicated message-id", "lỗi hệ thống",
	}},
	{ClassUserUnknown, []string{"recipient address rejected", "address rejected"}},
	{ClassContentRejected, []string{"policy", "violates", "violation", "content", "banned", "nội dung"}},
	{ClassSenderRejected, []string{
		"sender address", "access denied", "mail from", "ip address", "not allowed to send", "permission to post",
		"no permission", "not have permission", "auth capability", "send mail as", "blocked",
		"denied", "refused", "rejected", "not authorized", "not permitted", "bị chặn", "từ chối",
	}},
}

// weakFailurePatterns are read only when nothing else matched.
var weakFailurePatterns = []failurePattern{
	{ClassUserUnknown, []string{"not exist", "invalid", "unknown", "không tồn tại"}},
	{ClassRemoteError, []string{"error", "failure", "failed", "temporarily", "try again later", "lỗi"}},
}

// classFromStatus is the meaning of a specific enhanced status (RFC 3463,
// 5248); it returns "" for the vague ones (x.0.0, 5.7.1...).
func classFromStatus(status string) FailureClass {
	s := status
	if len(s) < 5 || (s[0] != '4' && s[0] != '5') {
		return ""
	}
	switch s[1:] {
	case ".1.1", ".1.0", ".1.3", ".1.4", ".1.6", ".1.5":
		return ClassUserUnknown
	case ".4.7", ".4.8":
		return ClassExpired
	case ".4.1", ".4.2":
		if s[0] == '4' {
			return ClassExpired // no answer, bad connection: reported when retries ran out
		}
		return "" // 5.4.1 is also Microsoft's "recipient access denied"
	case ".1.2", ".1.10", ".4.4", ".3.2", ".7.27":
		return ClassHostUnknown
	case ".2.1", ".7.13":
		return ClassMailboxDisabled
	case ".2.2":
		return ClassMailboxFull
	case ".2.3", ".3.4":
		return ClassMessageTooLarge
	case ".1.7", ".1.8", ".7.0", ".7.7", ".7.8", ".7.9", ".7.10", ".7.11", ".7.14", ".7.15", ".7.16", ".7.17",
		".7.18", ".7.19", ".7.20", ".7.21", ".7.22", ".7.23", ".7.24", ".7.25", ".7.26", ".7.30", ".5.1", ".7.6":
		return ClassSenderRejected
	case ".7.2", ".7.3", ".7.12", ".7.28", ".6.0", ".6.1", ".6.2", ".6.3", ".6.4", ".6.5", ".6.6", ".6.7", ".6.8", ".6.9", ".6.10":
		return ClassContentRejected
	case ".2.4", ".3.0", ".3.1", ".3.3", ".3.5", ".4.0", ".4.3", ".4.5", ".4.6":
		return ClassRemoteError
	case ".7.5":
		return ClassRemoteError
	}
	return ""
}

// classFromStatusSubject reads only the subject digit of a vague status.
func classFromStatusSubject(status string) FailureClass {
	if len(status) < 3 || status[1] != '.' {
		return ""
	}
	switch status[2] {
	case '1':
		return ClassUserUnknown
	case '6':
		return ClassContentRejected
	case '7':
		return ClassSenderRejected
	case '3', '4':
		return ClassRemoteError
	}
	return ""
}

func classFromText(t string, patterns []failurePattern) FailureClass {
	if t == "" {
		return ""
	}
	for _, p := range patterns {
		for _, ph := range p.phrases {
			if strings.Contains(t, ph) {
				return p.class
			}
		}
	}
	return ""
}

// normalizeFailureText lower-cases the text and collapses white space.
func normalizeFailureText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// statusInText finds an enhanced status code ("5.1.1") in a server's text.
func statusInText(t string) string {
	for i := 0; i+5 <= len(t); i++ {
		c := t[i]
		if c != '4' && c != '5' || t[i+1] != '.' {
			continue
		}
		if i > 0 && (isDigit(t[i-1]) || t[i-1] == '.') {
			continue
		}
		j := i + 2
		k := j
		for k < len(t) && k-j < 3 && isDigit(t[k]) {
			k++
		}
		if k == j || k >= len(t) || t[k] != '.' {
			continue
		}
		m := k + 1
		n := m
		for n < len(t) && n-m < 3 && isDigit(t[n]) {
			n++
		}
		if n == m || n < len(t) && (isDigit(t[n]) || t[n] == '.' && n+1 < len(t) && isDigit(t[n+1])) {
			continue
		}
		return t[i:n]
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Explain says in Vietnamese what the failure means and what to do about it,
// for the IT liaison's digest and `phieu inspect`.
func (c FailureClass) Explain() (meaning, action string) {
	if e, ok := failureExplanations[c]; ok {
		return e[0], e[1]
	}
	return failureExplanations[ClassOther][0], failureExplanations[ClassOther][1]
}

// Label is the class's short Vietnamese name.
func (c FailureClass) Label() string {
	if l, ok := failureLabels[c]; ok {
		return l
	}
	return failureLabels[ClassOther]
}

// HeadAdvice is what a unit head can do about a member's failed mail, for
// the non-response digest: only an address or a mailbox is in their hands;
// the rest is the IT department's, and the head is told so.
func (c FailureClass) HeadAdvice() string {
	switch c {
	case ClassUserUnknown, ClassHostUnknown:
		return "Đề nghị cung cấp địa chỉ thư đúng"
	case ClassMailboxFull:
		return "Đề nghị nhắc cán bộ xóa bớt thư; thư mời sẽ được gửi lại"
	case ClassMailboxDisabled:
		return "Đề nghị kiểm tra hộp thư của cán bộ còn hoạt động, hoặc cung cấp địa chỉ mới"
	default:
		return "Bộ phận kỹ thuật đang xử lý"
	}
}

var failureLabels = map[FailureClass]string{
	ClassUserUnknown:     "hộp thư không tồn tại",
	ClassMailboxFull:     "hộp thư đầy",
	ClassMailboxDisabled: "hộp thư bị khóa",
	ClassHostUnknown:     "tên miền hoặc máy chủ nhận không tồn tại",
	ClassMessageTooLarge: "thư quá lớn",
	ClassSenderRejected:  "máy chủ nhận từ chối máy chủ gửi",
	ClassContentRejected: "nội dung thư bị bộ lọc chặn",
	ClassThrottled:       "bị giới hạn tốc độ gửi",
	ClassExpired:         "hết thời gian thử gửi lại",
	ClassRemoteError:     "lỗi ở hệ thống nhận",
	ClassOther:           "lỗi khác",
}

var failureExplanations = map[FailureClass][2]string{
	ClassUserUnknown: {"Địa chỉ hộp thư không tồn tại trên máy chủ nhận.",
		"Kiểm tra lại địa chỉ trong danh sách; cán bộ có thể đã nghỉ hưu, chuyển công tác hoặc đổi hộp thư. Sửa địa chỉ rồi nhập lại danh sách."},
	ClassMailboxFull: {"Hộp thư của người nhận đã đầy.",
		"Đề nghị người nhận xóa bớt thư; phieu sẽ tự gửi lại thư mời sau một thời gian."},
	ClassMailboxDisabled: {"Hộp thư bị khóa, tạm ngừng hoặc vô hiệu hóa.",
		"Đề nghị quản trị hệ thống thư công vụ mở lại tài khoản, hoặc cập nhật hộp thư mới của cán bộ."},
	ClassHostUnknown: {"Tên miền hoặc máy chủ nhận không tồn tại, hoặc không nhận thư.",
		"Kiểm tra phần sau dấu @ của địa chỉ và bản ghi MX/DNS của tên miền."},
	ClassMessageTooLarge: {"Thư vượt quá kích thước máy chủ nhận cho phép.",
		"Giảm kích thước thư (bỏ tệp đính kèm) hoặc đề nghị máy chủ nhận nâng giới hạn."},
	ClassSenderRejected: {"Máy chủ nhận từ chối máy chủ hoặc tên miền gửi (SPF, DKIM, DMARC, PTR, danh sách chặn, chuyển tiếp, yêu cầu TLS/xác thực).",
		"Cán bộ kỹ thuật kiểm tra bản ghi SPF/DKIM/DMARC, PTR, danh sách chặn của máy chủ thư công vụ và cấu hình TLS, xác thực."},
	ClassContentRejected: {"Bộ lọc thư rác, virus hoặc chính sách nội dung của máy chủ nhận đã chặn thư.",
		"Đề nghị máy chủ nhận đưa địa chỉ gửi khảo sát vào danh sách cho phép; kiểm tra nội dung và liên kết trong thư."},
	ClassThrottled: {"Máy chủ nhận giới hạn tốc độ hoặc số kết nối.",
		"Giảm tốc độ gửi (per_minute, per_hour); phieu sẽ tự gửi lại."},
	ClassExpired: {"Hệ thống thư đã thử gửi nhiều lần trong nhiều ngày rồi bỏ cuộc.",
		"Kiểm tra máy chủ nhận có hoạt động và kết nối được không; gửi lại khi đã khắc phục."},
	ClassRemoteError: {"Hệ thống nhận gặp lỗi (mạng, máy chủ, ổ đĩa).",
		"Thường tự khắc phục; nếu lặp lại, liên hệ quản trị máy chủ nhận."},
	ClassOther: {"Lỗi chưa phân loại được.",
		"Xem nội dung lỗi máy chủ trả về bên dưới."},
}
