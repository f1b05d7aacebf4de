package reply

import (
	"regexp"
	"strings"
)

// Line kinds. Each line of a reply is given one letter; the trimming rules
// in Trim are then expressed as regular expressions over the string of
// letters (the "pattern"), in the manner of Discourse's email_reply_trimmer.
const (
	kindDelimiter = 'd' // a line made only of separator characters: "--", "_____"
	kindEmbedded  = 'b' // a reply or forward header: "On ... wrote:", "-----Original Message-----"
	kindEmpty     = 'e' // a blank line
	kindHeader    = 'h' // a header of a quoted message: "From: ...", "Từ: ..."
	kindQuote     = 'q' // a "> " quoted line
	kindSignature = 's' // a mobile footer: "Sent from my iPhone", "Gửi từ iPhone của tôi"
	kindText      = 't' // anything else: what the person wrote
)

// ci compiles a case-insensitive pattern.
func ci(s string) *regexp.Regexp { return regexp.MustCompile(`(?i)` + s) }

// lead is what may precede a reply header on its line (quote markers, dashes).
const lead = `^[ \t<>\-]*`

// tail is what may follow a reply header on its line.
const tail = `[ \t.:：>\-]*$`

// onDateWroteRes match "On <date>, <someone> wrote:" in many languages. They
// are also tried on two to four joined lines, because clients wrap them.
var onDateWroteRes = []*regexp.Regexp{
	// Chinese: 在 2016年12月12日，下午8:45，X <x@y> 写道：
	ci(lead + `在\s.+?写道` + tail),
	// Dutch
	ci(lead + `Op\s.+?(het\svolgende\sgeschreven|schreef[^:]*)` + tail),
	// English
	ci(lead + `In message\s.+?writes` + tail),
	ci(lead + `(On|At)\s.+?(wrote|writes|says|said)` + tail),
	// French
	ci(lead + `Le\s.+?(nous\sa\sdit|a\s+écrit)` + tail),
	// German
	ci(lead + `Am\s.+?(schrieben\sSie|geschrieben|schrieb[^:]*)` + tail),
	// Italian
	ci(lead + `Il\s.+?ha\sscritto` + tail),
	// Polish, Slovak
	ci(lead + `(Dnia|Dňa)\s.+?napisał(\(a\))?` + tail),
	// Portuguese
	ci(lead + `Em\s.+?escreveu` + tail),
	// Spanish
	ci(lead + `El\s.+?(escribió|escribio)` + tail),
	// Swedish, Norwegian, Danish
	ci(lead + `(Den|På)\s.+?(skrev|skrev\sföljande)[^:]*` + tail),
	// Vietnamese: "Vào Th 4, 01/03/2023 lúc 09:15, X <x@y> đã viết:",
	// "Vào lúc 09:15 ngày 01/03/2023, X đã viết:"
	ci(lead + `(Vào|Lúc|Ngày)\s.+?(đã\s+viết|viết)` + tail),
}

// onDateStartRe is the start of a possibly wrapped onDateWroteRes header.
var onDateStartRe = ci(lead + `(On|At|In message|Le|Am|Il|Dnia|Dňa|Em|El|Op|Den|På|在|Vào|Lúc|Ngày)\s`)

// dateSomeoneWroteRes match headers that may be wrapped after the date:
// "суббота, 14 марта 2015 г. пользователь X написал:".
var dateSomeoneWroteRes = []*regexp.Regexp{
	ci(`\d{4}.{1,80}пользователь.{0,80}написал:`),
	ci(`\d{4}.{1,80}napisał\(a\):`),
	ci(`\d{4}.{1,80}пише:`),
	ci(`\d{4}.{1,80}написал(а)?:`),
}

// dateSomeoneEmailRe: "2015-10-18 0:17 GMT+03:00 X <x@y>:",
// "вт, 5 янв. 2016 г. в 23:39, X <x@y>:", "2023年3月1日(水) 9:15 X <x@y>:",
// "2023년 3월 1일 (수) 오전 9:15, X <x@y>님이 작성:"
var dateSomeoneEmailRe = regexp.MustCompile(`\d{4}.{1,80}\s?<\s*(mailto:)?[^@<>\s"']+@[^@<>.\s"']+\.[^@<>\s"']+\s*>(님이 작성)?[:：]?\s*$`)

// someoneWroteOnDateRes: "X <x@y> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:"
var someoneWroteOnDateRes = []*regexp.Regexp{
	regexp.MustCompile(`^.+\bwrote\b\s+\bon\b.+[^:]+:\s*$`),
	regexp.MustCompile(`^.+\bschrieb\b\s+\bam\b.+[^:]+:\s*$`),
	regexp.MustCompile(`^.+\sđã viết (vào|lúc)\s.+:\s*$`),
}

// embeddedRes match a single line that starts a quoted or forwarded message.
// A rule is a regular expression with a cheap pre-test: the line must
// contain one of need (compared in lower case), when need is given.
type rule struct {
	need []string
	re   *regexp.Regexp
}

// embeddedRules match a single line that starts a quoted message.
var embeddedRules = []rule{
	// "Op 10 dec. 2015 18:35 schreef X <x@y>:", "Am 18.09.2013 um 16:24 schrieb X <x@y>:",
	// "Den 15. jun. 2016 kl. 20.42 skrev X <x@y>:"
	{[]string{"schreef", "schrieb", "skrev"}, regexp.MustCompile(`^[ \t>]*(Op|Am|Den|søn\.|man\.|tir\.|ons\.|tor\.|fre\.|lør\.)\s.+\s(schreef|schrieb|skrev)\s[^:]+:`)},
	// "2016-03-03 17:21 GMT+01:00 Some One"
	{[]string{"gmt"}, regexp.MustCompile(`^[ \t>]*20\d\d-\d\d-\d\d \d\d:\d\d GMT\+\d\d:\d\d [\pL\pN_ \t]+$`)},
	// "X via Discourse Meta wrote:"
	{[]string{" via "}, regexp.MustCompile(`^.+ via .+ (wrote|schrieb):?[ \t]*$`)},
	// "Some One <x@y> wrote:", "Gavin (g@example.com) wrote:"
	{[]string{"wrote"}, regexp.MustCompile(`^.+\b[\w.+-]+@[\w.-]+\.\w{2,}\b.+wrote:?\s*$`)},
	// Korean and Japanese without a date on the line.
	{[]string{"님이 작성"}, regexp.MustCompile(`님이 작성:?\s*$`)},
	{[]string{"書きました"}, regexp.MustCompile(`(さんは書きました|が書きました)[:：]?\s*$`)},
	// "Posted by mpalmer on 01/21/2016"
	{[]string{"posted by"}, ci(`^[ \t>]*Posted by .+ on \d{2}/\d{2}/\d{4}$`)},
}

func matchRules(rules []rule, s, lower string) bool {
	for _, r := range rules {
		if r.need != nil && !containsAny(lower, r.need...) {
			continue
		}
		if r.re.MatchString(s) {
			return true
		}
	}
	return false
}

// forwardRes match forwarded and original message markers.
var forwardRes = []*regexp.Regexp{
	ci(`^[ \t>]*Begin forwarded message:`),
	ci(`^[ \t>]*Début du message (transféré|réexpédié)\s?:`),
	ci(`^[ \t>]*(Bắt đầu tin nhắn được chuyển tiếp|Bắt đầu thư được chuyển tiếp)\s?:`),
	ci(`^[ \t>*]*-{2,}[ \t]*(Forwarded|Original|Reply) (Message|mail)[ \t]*-{2,}`),
	ci(`^[ \t>*]*-{2,}[ \t]*(Message transféré|Message d'origine|Message original)[ \t]*-{2,}`),
	ci(`^[ \t>*]*-{2,}[ \t]*(Ursprüngliche Nachricht|Weitergeleitete Nachricht)[ \t]*-{2,}`),
	ci(`^[ \t>*]*-{2,}[ \t]*(Mensaje original|Mensaje reenviado)[ \t]*-{2,}`),
	ci(`^[ \t>*]*-{2,}[ \t]*(原始邮件|原始郵件|转发的邮件|轉寄的郵件)[ \t]*-{2,}`),
	ci(`^[ \t>*]*-{2,}[ \t]*(Thư gốc|Tin nhắn gốc|Thư đã chuyển tiếp|Thư chuyển tiếp|Tin nhắn đã chuyển tiếp|Tin nhắn chuyển tiếp|Thư được chuyển tiếp|Thư trả lời)[ \t]*-{2,}`),
}

// Headers of a quoted message, Outlook style. A value with a date (digits)
// is required after the date labels, any word after the others.
var headerRes = []*regexp.Regexp{
	ci(`^[ \t*]*(Sendt|Sent|Date|Le|Gesendet|Enviada em|Enviado|Enviado el|Fecha|Data|Datum|Skickat|Envoyé|Отправлено|Дата|发送时间|發送時間|日期|時間|Ngày gửi|Ngày|Thời gian gửi|Thời gian|Đã gửi|Gửi lúc|Gửi ngày)[ \t*]*[:：].*\d+`),
	ci(`^[ \t*]*(Fra|Til|Emne|From|To|Cc|Bcc|Reply-To|Subject|De|Expéditeur|À|A|Destinataire|Répondre à|Objet|Von|An|Betreff|Para|Assunto|Asunto|Da|Risposta|Oggetto|Van|Beantwoorden - Aan|Aan|Onderwerp|Från|Till|Ämne|От|Кому|Тема|Копия|发件人|收件人|抄送|主题|寄件者|收件者|主旨|Từ|Gửi|Gửi tới|Gửi đến|Đến|Tới|Người gửi|Người nhận|Đồng gửi|Bản sao|Tiêu đề|Chủ đề|Trả lời tới)[ \t*]*[:：].*[\pL\pN_]+`),
}

// Mobile and webmail footers.
var signatureRes = []*regexp.Regexp{
	// Chinese
	ci(`^[ \t]*從我的 iPhone 傳送`),
	ci(`^[ \t]*发自我的\s?(iPhone|iPad|手机)`),
	// English
	ci(`^[ \t]*[\pL\pN_]+ from mobile`),
	ci(`^[ \t]*[(<]*Sent (from|via|with|by) .+[)>]*`),
	ci(`^[ \t]*From my .{1,20}`),
	ci(`^[ \t]*Get Outlook for `),
	// French
	ci(`^[ \t]*Envoyé depuis (mon|Yahoo Mail)`),
	// German
	ci(`^[ \t]*Von meinem .+ gesendet`),
	ci(`^[ \t]*Diese Nachricht wurde von .+ gesendet`),
	// Italian
	ci(`^[ \t]*Inviato da `),
	// Norwegian
	ci(`^[ \t]*Sendt fra min `),
	// Portuguese
	ci(`^[ \t]*Enviado do meu `),
	// Spanish
	ci(`^[ \t]*Enviado desde mi `),
	// Dutch
	ci(`^[ \t]*Verzonden met `),
	ci(`^[ \t]*Verstuurd vanaf mijn `),
	// Swedish
	ci(`^[ \t]*från min `),
	// Vietnamese: "Gửi từ iPhone của tôi", "Được gửi từ điện thoại Samsung Galaxy",
	// "Tải Outlook cho Android"
	ci(`^[ \t]*(Gửi|Được gửi|Đã gửi) từ .{0,60}(của tôi|iPhone|iPad|Android|Samsung|Galaxy|điện thoại|di động|Outlook|Mail|Thư|Windows|thiết bị|Zalo|Yahoo|BlackBerry)`),
	ci(`^[ \t]*(Tải|Nhận|Tải xuống) Outlook cho `),
}

// signatureRe is signatureRes as one expression, for speed.
var signatureRe = combine(signatureRes)

// combine joins expressions of the form (?i)^[ \t]*X into one.
func combine(res []*regexp.Regexp) *regexp.Regexp {
	const prefix = `(?i)^[ \t]*`
	parts := make([]string, len(res))
	for i, r := range res {
		src := r.String()
		if !strings.HasPrefix(src, prefix) {
			panic("reply: cannot combine " + src)
		}
		parts[i] = "(?:" + strings.TrimPrefix(src, prefix) + ")"
	}
	return regexp.MustCompile(prefix + "(?:" + strings.Join(parts, "|") + ")")
}

var (
	markdownLinkRe = regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`)
	delimiterRe    = regexp.MustCompile(`^[ \t]*[\-_,=+~#*ᐧ—–]+[ \t]*$`)
	// "> text", and Supercite-style "JD> text".
	quoteRe         = regexp.MustCompile(`^[ \t]*\pL{0,4}>`)
	enclosedOpenRe  = regexp.MustCompile(`^[ \t]*>{4,}[ \t]*$`)
	enclosedCloseRe = regexp.MustCompile(`^[ \t]*<{4,}[ \t]*$`)
	codeOpenRe      = regexp.MustCompile("^```")
	codeCloseRe     = regexp.MustCompile("^ {0,3}```[ \t]*$")
)

// clean prepares a line for matching: no-break and zero-width spaces become
// plain spaces or vanish, so that "On\u00a0Mon" still reads as a header.
func clean(line string) string {
	if !strings.ContainsAny(line, "\u00a0\u200b\u200c\u200d\ufeff\u202f\u3000\t\r") {
		return line
	}
	return strings.NewReplacer(
		"\u00a0", " ", "\u202f", " ", "\u3000", " ",
		"\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "",
		"\r", "",
	).Replace(line)
}

func isEmpty(line string) bool { return strings.TrimSpace(clean(line)) == "" }

func isDelimiter(line string) bool {
	s := strings.TrimSpace(line)
	if !delimiterRe.MatchString(s) {
		return false
	}
	// A lone bullet or hash is not a separator.
	return !(len(s) == 1 && strings.ContainsAny(s, "-*+#,"))
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, r := range res {
		if r.MatchString(s) {
			return true
		}
	}
	return false
}

func isSignature(line string) bool {
	if strings.Contains(line, "](") {
		line = markdownLinkRe.ReplaceAllString(line, "$1")
	}
	return signatureRe.MatchString(line)
}

// isOnDateWrote reports whether s is a whole "On <date>, X wrote:" header.
// A date has digits; requiring one keeps ordinary sentences such as
// "On reflection, he said:" from being taken for headers.
func isOnDateWrote(s string) bool {
	if len(s) > 400 || !strings.ContainsAny(s, "0123456789") || !onDateStartRe.MatchString(s) {
		return false
	}
	return anyMatch(onDateWroteRes, s)
}

func isEmbedded(line string) bool {
	if len(line) > 1000 {
		return false
	}
	if isJoinable(line) {
		return true
	}
	if strings.Contains(line, "--") || strings.Contains(line, ":") {
		if anyMatch(forwardRes, line) {
			return true
		}
	}
	return matchRules(embeddedRules, line, strings.ToLower(line))
}

// isJoinable reports whether s is a reply header of a kind that mail
// clients wrap over several lines.
func isJoinable(s string) bool {
	if len(s) > 1000 {
		return false
	}
	if isOnDateWrote(s) {
		return true
	}
	// Cheap tests first: the regular expressions below are costly.
	year := year4Re.MatchString(s)
	if year && containsAny(s, "написал", "napisał", "пише") && anyMatch(dateSomeoneWroteRes, s) {
		return true
	}
	if year && strings.Contains(s, "@") && strings.Contains(s, ">") && dateSomeoneEmailRe.MatchString(s) {
		return true
	}
	return containsAny(s, "wrote", "schrieb", "đã viết") && anyMatch(someoneWroteOnDateRes, s)
}

var year4Re = regexp.MustCompile(`\d{4}`)

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func isHeader(line string) bool {
	return len(line) <= 1000 && anyMatch(headerRes, line)
}

// classify gives the kind of one (cleaned) line.
func classify(line string) byte {
	switch {
	case isEmpty(line):
		return kindEmpty
	case isDelimiter(line):
		return kindDelimiter
	case isSignature(line):
		return kindSignature
	case isEmbedded(line):
		return kindEmbedded
	case isHeader(line):
		return kindHeader
	case quoteRe.MatchString(line):
		return kindQuote
	}
	return kindText
}
