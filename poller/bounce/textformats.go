package bounce

import (
	"regexp"
	"strings"
)

// Plain-text bounces (qmail, Exim, Sendmail, Exchange, Domino, Gmail,
// Yahoo, Courier, MDaemon...) all list the failed addresses near the
// server's reply. Rather than one parser per format, textFailures finds the
// addresses that are not the sender's and reads the text around each.

var daemonLocal = regexp.MustCompile(`(?i)^(post_master|mailer-daemon|mailer_daemon|maildaemon|postmaster|mail-daemon|mdaemon|mail\.delivery|mailerdaemon|bounces?|nobody|mail-delivery|double-bounce|root|mailadmin|mailsystem|mail_system)$`)
var listManager = regexp.MustCompile(`(?i)^owner-|-(?:admin|owner|request|bounces?)$`)
var daemonName = regexp.MustCompile(`(?i)mail delivery|mailer.daemon|postmaster|delivery (?:status|subsystem|system)|mail system|system administrator|nondelivery|mail administrator|mailmaster|post office`)

// isDaemonSender: the message comes from a mail system, not a person.
func isDaemonSender(m *parsed) bool {
	from := m.header.Get("From")
	for _, a := range addressList(headerText(m.header, "From")) {
		local, _, _ := strings.Cut(a, "@")
		if daemonLocal.MatchString(local) || listManager.MatchString(local) {
			return true
		}
	}
	if daemonName.MatchString(from) {
		return true
	}
	rp := strings.TrimSpace(m.header.Get("Return-Path"))
	return rp == "<>" || strings.Contains(strings.ToLower(rp), "mailer-daemon")
}

var bounceSubjectPattern = regexp.MustCompile(`undeliver|undelivered|not delivered|delivery (?:status notification|failure|failed|has failed|problem|notification|report)|` +
	`mail delivery|failure notice|returned mail|return(?:ed|ing) message|delivery fail|failed delivery|could not (?:be )?deliver|` +
	`non.?delivery|nondeliverable|non remis|unzustellbar|notificaci[oó]n|error sending|mail system error|message (?:not delivered|delivery failed)|` +
	`delayed mail|warning: could not send|delivery delay|rejected|bounced?|mail failure|permanent error|delivery error|` +
	`loop alert|mail loop|loop detected|thư không gửi được|không gửi được|không thể gửi|returned to sender|sending failed|failure delivery|mail could not`)

// bounceSubject: the subject is one a mail system gives its failure reports.
// The pattern is lower case and matched against lower-cased text: (?i)
// folds every rune, several times slower, and this runs on every message.
// bounceSubjectWords are in every match, for a cheap test first: the
// pattern's long alternation costs about 100 µs even on a short subject.
func bounceSubject(s string) bool {
	lower := strings.ToLower(s)
	for _, w := range bounceSubjectWords {
		if strings.Contains(lower, w) {
			return bounceSubjectPattern.MatchString(lower)
		}
	}
	return false
}

var bounceSubjectWords = []string{"deliver", "mail", "fail", "return", "non", "unzustellbar", "notificaci", "error", "delay",
	"warning", "reject", "bounce", "loop", "gửi", "sender"}

var failurePhrase = regexp.MustCompile(`could not be delivered|couldn't be delivered|could not deliver|couldn't deliver|` +
	`was not delivered|wasn't delivered|not been delivered|delivery (?:has |to the following recipients? )?failed|failed permanently|permanent (?:fatal )?errors?|` +
	`the following addresses? (?:had|failed)|delivery (?:errors|problems)|duplicated message-id|loop detected|` +
	`address(?:es)?\)? failed|undeliverable|undelivered|unable to deliver|failed to deliver|delivery failure|` +
	`did not reach|does not like recipient|returned mail|message delivery|delivery status|non.?delivery|rejected|` +
	`user unknown|unknown user|no such (?:user|mailbox|address)|mailbox (?:is )?full|over quota|host unknown|` +
	`smtp error|remote host said|said: [45]\d\d|error.{0,30}\b[45]\d\d\b|\b[45]\d\d[ -][45]\.\d|` +
	`delivery (?:is )?delayed|has been delayed|still (?:being )?retried|will (?:continue|keep) trying|` +
	`không thể gửi|không gửi được|không tồn tại`)

// looksLikeFailure: a mail system is reporting a failed or delayed delivery.
func looksLikeFailure(m *parsed, text string) bool {
	if m.header.Get("X-Failed-Recipients") != "" {
		return true
	}
	subject := headerText(m.header, "Subject")
	daemon, bounceSubj := isDaemonSender(m), bounceSubject(subject)
	switch {
	case !daemon && !bounceSubj:
		return false // most mail: no need to scan the body
	case daemon && bounceSubj:
		return true
	}
	if !failurePhrase.MatchString(strings.ToLower(text)) {
		return false
	}
	return daemon || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(subject)), "re:")
}

var delayPhrase = regexp.MustCompile(`(?i)delivery (?:is |has been )?delayed|has been delayed|delayed mail|still (?:being )?retried|will (?:continue|keep) (?:trying|to try)|` +
	`will be retried|will retry|warning message only|not yet been delivered|could not send message for past|delivery delay|still trying|` +
	`delivery attempts will continue|this is a warning|temporarily deferred|no action is required on your part`)
var gaveUpPhrase = regexp.MustCompile(`(?i)giving up|gave up|permanent|could not be delivered|failed permanently|will not be retried|too long|expired|not be able to deliver`)

// isDelayText: the report says delivery is still being tried.
func isDelayText(t string) bool {
	return delayPhrase.MatchString(t) && !gaveUpPhrase.MatchString(t)
}

var (
	mailFromAddr  = regexp.MustCompile(`(?i)(?:mail from|envelope-from|sender|from)\s*[:=]?\s*<?([^\s<>@]+@[^\s<>]+)`)
	notRcptLine   = regexp.MustCompile(`(?i)^\s*(?:message-id|in-reply-to|references|received|return-path|from|reply-to|sender|x-[\w-]+|dkim-signature|authentication-results)\s*:`)
	addrOnLine    = regexp.MustCompile(`(?i)^[\s>*\-]*(?:[45]\d\d[ \-]+(?:[45]\.\d{1,3}\.\d{1,3}\s+)?)?(?:(?:rcpt to|to|recipient|recipients|address|original-recipient|final-recipient|for|failed recipient|destination)\s*:?\s*)?(?:rfc822;\s*)?(?:"[^"]*"\s*)?<?([A-Za-z0-9!#$%&'*+/=?^_{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)>?`)
	reasonLine    = regexp.MustCompile(`(?i)said:|reason:|because|error|denied|reject|refused|unknown|not |no such|invalid|full|quota|failed|failure|blocked|expired|unable|exceed|timeout|timed out|disabled|locked|suspend|inactive|doesn't|does not|\b[45]\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b`)
	transcriptHdr = regexp.MustCompile(`(?i)^\s*(?:>>>|<<<)`)
)

// senderAddresses are the addresses of our side: never failed recipients.
func senderAddresses(m *parsed, o original, text string) map[string]bool {
	ex := map[string]bool{}
	for _, a := range headerAddresses(m.header, "To", "Cc", "From", "Reply-To", "Return-Path", "Sender", "Delivered-To", "X-Original-To", "Envelope-To") {
		ex[a] = true
	}
	for _, a := range o.senders {
		ex[a] = true
	}
	for _, sm := range mailFromAddr.FindAllStringSubmatch(text, -1) {
		ex[cleanAddress(sm[1])] = true
	}
	return ex
}

// textFailures reads the failed recipients of a plain-text report.
func textFailures(m *parsed, text string) []Failure {
	o := findOriginal(m)
	if fs := textFailuresExcluding(m, text, senderAddresses(m, o, text)); len(fs) > 0 {
		return fs
	}
	// People do send to themselves: with no other candidate, only the
	// envelope sender named in a transcript is excluded.
	ex := map[string]bool{}
	for _, sm := range mailFromAddr.FindAllStringSubmatch(text, -1) {
		if strings.HasPrefix(strings.ToLower(sm[0]), "mail from") {
			ex[cleanAddress(sm[1])] = true
		}
	}
	return textFailuresExcluding(m, text, ex)
}

func textFailuresExcluding(m *parsed, text string, exclude map[string]bool) []Failure {
	lines := strings.Split(text, "\n")

	var order []string
	leadAt := map[int]string{} // line -> the address it starts with
	occ := map[string][]int{}
	lead := map[string]bool{}
	add := func(a string, i int, leading bool) {
		a = cleanAddress(a)
		if a == "" || exclude[a] || !strings.Contains(a, "@") {
			return
		}
		local, _, _ := strings.Cut(a, "@")
		if daemonLocal.MatchString(local) && local != "postmaster" {
			return
		}
		if _, ok := occ[a]; !ok {
			order = append(order, a)
		}
		if n := len(occ[a]); n == 0 || occ[a][n-1] != i {
			occ[a] = append(occ[a], i)
		}
		if leading {
			lead[a] = true
		}
	}
	for _, v := range m.header.Values("X-Failed-Recipients") {
		for _, a := range addressList(v) {
			add(a, -1, true)
		}
	}
	for i, l := range lines {
		if notRcptLine.MatchString(l) {
			continue
		}
		if sm := addrOnLine.FindStringSubmatch(l); sm != nil && !transcriptHdr.MatchString(l) {
			add(sm[1], i, true)
			leadAt[i] = cleanAddress(sm[1])
		}
		for _, a := range addrPattern.FindAllString(l, -1) {
			add(a, i, false)
		}
	}
	// Addresses only mentioned inside another recipient's text (a forward
	// target, a contact address) are not failures when some are listed.
	var rcpts []string
	for _, a := range order {
		if lead[a] {
			rcpts = append(rcpts, a)
		}
	}
	if len(rcpts) == 0 {
		rcpts = order
	}
	if len(rcpts) == 0 {
		return nil
	}
	if len(rcpts) > maxRecipients {
		rcpts = rcpts[:maxRecipients]
	}
	general := firstDiagnostic(text)
	isRcpt := map[string]bool{}
	for _, a := range rcpts {
		isRcpt[a] = true
	}
	var out []Failure
	for _, a := range rcpts {
		diag := ""
		best := -1
		// Another recipient's line ends this one's text.
		stop := func(j int) bool { r, ok := leadAt[j]; return ok && r != a && isRcpt[r] }
		for _, i := range occ[a] {
			if i < 0 {
				continue
			}
			b := block(lines, i, stop)
			st, code := statusAndCode(b)
			score := 0
			if reasonLine.MatchString(strings.Replace(b, a, "", -1)) {
				score = 1
			}
			if st != "" || code != 0 {
				score = 2
			}
			if score > best {
				best, diag = score, b
			}
		}
		if best < 2 && general != "" && !strings.Contains(diag, general) {
			if len(rcpts) == 1 || best < 1 {
				diag = strings.TrimSpace(diag + " " + general)
			}
		}
		st, code := statusAndCode(diag)
		out = append(out, newFailure(a, "", actionFor(st, text), st, code, diag, "", text))
	}
	return out
}

// block is the recipient's line and the ones after it, up to a blank line
// or the next recipient's line.
func block(lines []string, i int, stop func(int) bool) string {
	var b []string
	b = append(b, strings.TrimSpace(lines[i]))
	for j := i + 1; j < len(lines) && j < i+12; j++ {
		l := strings.TrimSpace(lines[j])
		if l == "" {
			if len(b) == 1 && j+1 < len(lines) && !stop(j+1) && strings.TrimSpace(lines[j+1]) != "" && reasonLine.MatchString(lines[j+1]) {
				continue // "address\n\n  reason" layouts
			}
			break
		}
		if stop(j) || strings.HasPrefix(l, "---") {
			break
		}
		b = append(b, l)
	}
	return strings.Join(b, " ")
}

func noStop(int) bool { return false }

// recipientText is what the text part says about one recipient of a DSN.
func recipientText(text, rcpt string) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	best := ""
	for i, l := range lines {
		if !strings.Contains(strings.ToLower(l), rcpt) {
			continue
		}
		b := block(lines, i, noStop)
		if st, code := statusAndCode(b); st != "" || code != 0 {
			return b
		}
		if best == "" && reasonLine.MatchString(strings.ReplaceAll(strings.ToLower(b), rcpt, "")) {
			best = b
		}
	}
	if best == "" {
		return firstDiagnostic(text)
	}
	return best
}

// firstDiagnostic is the first passage quoting a server reply, else the
// first sentence saying why delivery failed.
func firstDiagnostic(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if transcriptHdr.MatchString(l) && !strings.Contains(l, "<<<") {
			continue
		}
		if st, code := statusAndCode(l); st != "" || code >= 400 {
			return block(lines, i, noStop)
		}
	}
	for i, l := range lines {
		if reasonLine.MatchString(l) && !failurePhrase.MatchString(strings.ToLower(l)) {
			return block(lines, i, noStop)
		}
	}
	return ""
}

// Engine signatures: which software wrote a report, for the record.
var engineSigns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"Exchange", regexp.MustCompile(`(?i)x-ms-exchange|microsoft exchange|msexch|did not reach the following recipient|delivery has failed to these recipients|your message couldn't be delivered|x-mailer: internet mail service|office ?365|outlook\.com`)},
	{"Gmail", regexp.MustCompile(`(?i)google tried to deliver|mail delivery subsystem <mailer-daemon@google|mailer-daemon@googlemail\.com|gmail|the email account that you tried to reach`)},
	{"Yahoo", regexp.MustCompile(`(?i)yahoo`)},
	{"qmail", regexp.MustCompile(`(?i)this is the qmail-send program|qmail|does not like recipient|below this line is a copy of the message`)},
	{"Exim", regexp.MustCompile(`(?i)x-failed-recipients|this message was created automatically by mail delivery software|\(exim \d|exim`)},
	{"Postfix", regexp.MustCompile(`(?i)this is the mail system at host|postfix|zimbra`)},
	{"Sendmail", regexp.MustCompile(`(?i)the original message was received at|transcript of session follows|sendmail`)},
	{"Domino", regexp.MustCompile(`(?i)lotus domino|x-notes|notes/domino|lotus notes`)},
	{"Courier", regexp.MustCompile(`(?i)courier mail server|courier-mta|this is a delivery status notification from`)},
	{"MDaemon", regexp.MustCompile(`(?i)mdaemon`)},
	{"AmazonSES", regexp.MustCompile(`(?i)amazonses|amazon ses`)},
	{"OpenSMTPD", regexp.MustCompile(`(?i)opensmtpd|this is the mailer-daemon at`)},
}

// detectEngine names the format of a report; "" when unknown. The report's
// own words are read first, then its header.
func detectEngine(m *parsed, text string) string {
	var hb strings.Builder
	for _, k := range []string{"From", "Subject", "X-Mailer", "Message-Id", "X-Failed-Recipients"} {
		if v := m.header.Get(k); v != "" {
			hb.WriteString(k + ": " + v + "\n")
		}
	}
	for k := range m.header.Map() {
		if strings.HasPrefix(strings.ToLower(k), "x-ms-exchange") {
			hb.WriteString(k + "\n")
		}
	}
	for _, s := range []string{text, hb.String()} {
		for _, e := range engineSigns {
			if e.re.MatchString(s) {
				return e.name
			}
		}
	}
	return ""
}

// Google Groups refuses posts with a text in the poster's language and no
// server reply: only its links say what it is.
const googleGroupsDiagnostic = "Google Groups: the group may not exist, or the sender has no permission to post to it"

func isGoogleGroups(text string) bool {
	return strings.Contains(text, "groups.google.com") && !codeStatus.MatchString(text)
}
