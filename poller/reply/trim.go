package reply

import (
	"regexp"
	"strings"
)

// A logical line is one or more physical lines of the input: a reply header
// wrapped over several lines ("On Mon, 1 Mar 2023,\n X <x@y> wrote:") is
// joined into one so that it can be recognised.
type logical struct {
	first, last int // physical lines first..last inclusive
	text        string
	kind        byte
}

var (
	reReplyAtEnd       = regexp.MustCompile(`^b[^t]+t[et]*$`)
	reTextAtEnd        = regexp.MustCompile(`t[et]*$`)
	reEmbeddedNoQuote  = regexp.MustCompile(`te*b[^q]*$`)
	reEmbeddedQuote    = regexp.MustCompile(`te*b[eqbh]*$`)
	reQuoteAtEnd       = regexp.MustCompile(`t?e*[qbe]+$`)
	reDelimiterInReply = regexp.MustCompile(`^e*t[^d]*te*b`)
	sigDashesRe        = regexp.MustCompile(`^[ \t]*--[ \t]*$`)
	reHeaderSpan       = regexp.MustCompile(`h+[ht]+h+e`)
	reHeaderBlock      = regexp.MustCompile(`t[eq]*h{3,}`)
	reTrailingQuote    = regexp.MustCompile(`[eq]+$`)
)

// Trim splits a plain-text reply into what the person wrote (visible) and
// everything else (elided): quoted originals, reply headers such as
// "On ... wrote:" or "Vào ... đã viết:", Outlook header blocks
// ("From:/Sent:/To:/Subject:", "Từ:/Gửi:/Đến:/Tiêu đề:"), forwarded and
// original message markers, signatures after a delimiter line ("-- ") and
// mobile footers ("Sent from my iPhone", "Gửi từ iPhone của tôi").
//
// Both results are made of whole lines of text, unchanged: the visible
// text keeps its own blank lines and wording, and elided keeps quoted lines
// with their "> " markers, so that a caller looking for answers a person
// typed inside the quoted questionnaire can read them from elided (and must
// strip the markers itself). Lines are joined with "\n" ("\r\n" and lone
// "\r" are read as line ends); leading and trailing blank lines are dropped
// from both results.
//
// The rules are a port in spirit of Discourse's email_reply_trimmer: each
// line is classified (text, empty, quote, delimiter, signature, reply
// header, quoted-message header) and the shape of the resulting sequence
// decides what is kept.
func Trim(text string) (visible, elided string) {
	if strings.TrimSpace(text) == "" {
		return "", ""
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	phys := strings.Split(text, "\n")
	lines := group(phys)

	pattern := make([]byte, len(lines))
	for i := range lines {
		pattern[i] = lines[i].kind
	}
	keep := make([]int, len(lines)) // indexes into lines, in order
	for i := range keep {
		keep[i] = i
	}
	p := string(pattern)

	// cut keeps the first n entries.
	cut := func(n int) {
		p = p[:n]
		keep = keep[:n]
	}
	// drop removes every entry of kind k.
	drop := func(k byte) {
		var np []byte
		var nk []int
		for i := 0; i < len(p); i++ {
			if p[i] != k {
				np = append(np, p[i])
				nk = append(nk, keep[i])
			}
		}
		p = string(np)
		keep = nk
	}

	// Everything after the first delimiter line ("-- ", "_____") goes,
	// unless the delimiter is inside the reply: a separator other than the
	// signature dashes, followed by text that runs on to a reply header.
	for {
		i := strings.IndexByte(p, kindDelimiter)
		if i < 0 {
			break
		}
		if !sigDashesRe.MatchString(lines[keep[i]].text) && reDelimiterInReply.MatchString(p[i+1:]) {
			b := []byte(p)
			b[i] = kindText
			p = string(b)
			continue
		}
		cut(i)
		break
	}
	// Mobile footers go wherever they are.
	drop(kindSignature)

	hadEmbedded := strings.IndexByte(p, kindEmbedded) >= 0

	// The reply is at the end, after the quote.
	if reReplyAtEnd.MatchString(p) {
		i := reTextAtEnd.FindStringIndex(p)[0]
		p = p[i:]
		keep = keep[i:]
	}
	// A reply header not followed by a quote: keep what is before it.
	if loc := reEmbeddedNoQuote.FindStringIndex(p); loc != nil {
		cut(loc[0] + 1)
	}
	// A reply header followed by a quote that ends the message: keep what
	// is before it. Text after the quote is the person's (a reply written
	// below a quote, or answers between quoted questions), so it stays.
	if loc := reEmbeddedQuote.FindStringIndex(p); loc != nil {
		cut(loc[0] + 1)
	}
	// Some text before a quote that ends the message: drop the quote.
	if loc := reQuoteAtEnd.FindStringIndex(p); loc != nil {
		cut(loc[0] + 1)
	}
	drop(kindEmbedded)

	// Headers of a quoted message spanning several lines.
	if loc := reHeaderSpan.FindStringIndex(p); loc != nil {
		b := []byte(p)
		for i := loc[0]; i < loc[1]; i++ {
			b[i] = kindHeader
		}
		p = string(b)
	}
	// One or two header-like lines on their own are the person's own text
	// ("Từ: 2020", "Đến: 2023", "A: Có"): quoted-message headers come in
	// blocks of three or more (From, Sent, To, Subject).
	{
		b := []byte(p)
		for i := 0; i < len(b); {
			if b[i] != kindHeader {
				i++
				continue
			}
			j := i
			for j < len(b) && b[j] == kindHeader {
				j++
			}
			if j-i < 3 || !realHeaderBlock(lines, keep[i:j]) {
				for k := i; k < j; k++ {
					b[k] = kindText
				}
			}
			i = j
		}
		p = string(b)
	}
	// At least three header lines after some text: keep what is before.
	if loc := reHeaderBlock.FindStringIndex(p); loc != nil {
		cut(loc[0] + 1)
	}
	drop(kindHeader)

	hasText := strings.IndexByte(p, kindText) >= 0
	// Trailing quotes go when the person wrote something.
	if hasText {
		if loc := reTrailingQuote.FindStringIndex(p); loc != nil {
			cut(loc[0])
		}
	} else if hadEmbedded {
		// Only a quoted message under a reply header: nothing was written.
		cut(0)
	}

	kept := make([]bool, len(phys))
	for _, li := range keep {
		for j := lines[li].first; j <= lines[li].last; j++ {
			kept[j] = true
		}
	}
	var vis, eli []string
	for i, l := range phys {
		if kept[i] {
			vis = append(vis, l)
		} else {
			eli = append(eli, l)
		}
	}
	return tidy(vis), tidy(eli)
}

var subjectRe = regexp.MustCompile(`(?i)^[ \t*]*(Subject|Objet|Betreff|Asunto|Assunto|Oggetto|Onderwerp|Ämne|Emne|Тема|主题|主旨|Tiêu đề|Chủ đề)[ \t*]*[:：]`)

// realHeaderBlock reports whether header-like lines are the header of a
// quoted message: such a block names an address or a subject, where a
// person's own "Từ: 2020 / Đến: 2023 / Ngày: ..." answers do not.
func realHeaderBlock(lines []logical, idx []int) bool {
	for _, i := range idx {
		if strings.Contains(lines[i].text, "@") || subjectRe.MatchString(lines[i].text) {
			return true
		}
	}
	return false
}

// tidy joins lines, dropping leading and trailing blank lines and trailing
// white space.
func tidy(ls []string) string {
	for len(ls) > 0 && isEmpty(ls[0]) {
		ls = ls[1:]
	}
	for len(ls) > 0 && isEmpty(ls[len(ls)-1]) {
		ls = ls[:len(ls)-1]
	}
	return strings.TrimRight(strings.Join(ls, "\n"), " \t\u00a0")
}

// group classifies physical lines into logical ones, joining wrapped reply
// headers and protecting fenced code blocks.
func group(phys []string) []logical {
	cl := make([]string, len(phys))
	for i, l := range phys {
		cl[i] = clean(l)
	}
	// nextCodeClose[i] and nextEnclosedClose[i]: the first line after i
	// that closes a fenced code block or an enclosed quote, or -1.
	nextCodeClose := make([]int, len(phys))
	nextEnclosedClose := make([]int, len(phys))
	code, enc := -1, -1
	for i := len(phys) - 1; i >= 0; i-- {
		nextCodeClose[i], nextEnclosedClose[i] = code, enc
		if codeCloseRe.MatchString(cl[i]) {
			code = i
		}
		if enclosedCloseRe.MatchString(cl[i]) {
			enc = i
		}
	}
	var out []logical
	for i := 0; i < len(phys); i++ {
		// A fenced code block is text, whatever its lines look like.
		if codeOpenRe.MatchString(cl[i]) {
			if end := nextCodeClose[i]; end > 0 {
				for j := i; j <= end; j++ {
					out = append(out, logical{first: j, last: j, text: cl[j], kind: kindText})
				}
				i = end
				continue
			}
		}
		// Lines between ">>>>>>>>" and "<<<<<<<<" are quoted.
		if enclosedOpenRe.MatchString(cl[i]) {
			if end := nextEnclosedClose[i]; end > 0 {
				for j := i; j <= end; j++ {
					out = append(out, logical{first: j, last: j, text: cl[j], kind: kindQuote})
				}
				i = end
				continue
			}
		}
		k := classify(cl[i])
		if k == kindText || k == kindQuote || k == kindEmbedded {
			if last, joined := joinWrapped(cl, i); last > i {
				out = append(out, logical{first: i, last: last, text: joined, kind: kindEmbedded})
				i = last
				continue
			}
		}
		out = append(out, logical{first: i, last: i, text: cl[i], kind: k})
	}
	return out
}

// endsHeader reports whether a joined header line looks finished: it ends
// with a colon or with the verb ("wrote", "đã viết").
var endsHeaderRe = regexp.MustCompile(`(?i)([:：]|wrote|writes|said|says|schrieb|schreef|geschreven|skrev|écrit|escribió|escreveu|scritto|napisał(\(a\))?|написал|пише|写道|viết|작성)[ \t.>\-]*$`)

// mayStartHeader is a cheap test for the first line of a wrapped header.
func mayStartHeader(s string) bool {
	if onDateStartRe.MatchString(s) {
		return strings.ContainsAny(s, "0123456789")
	}
	if containsAny(s, "wrote", "schrieb", "đã viết") {
		return true
	}
	return year4Re.MatchString(s) && containsAny(s, "<", "@", "пользователь", "GMT")
}

// joinWrapped tries to read a reply header wrapped over lines i..last (at
// most five lines), as clients wrap "On <date>, <someone> <address> wrote:".
func joinWrapped(cl []string, i int) (last int, joined string) {
	if len(cl[i]) > 300 || !mayStartHeader(cl[i]) {
		return i, ""
	}
	if isJoinable(cl[i]) && endsHeaderRe.MatchString(cl[i]) {
		return i, ""
	}
	j := strings.TrimRight(cl[i], " \t")
	for k := 1; k <= 4 && i+k < len(cl); k++ {
		next := cl[i+k]
		if isDelimiter(next) || isOnDateWrote(next) || onDateStartRe.MatchString(next) || anyMatch(forwardRes, next) {
			break
		}
		part := strings.TrimSpace(next)
		if part == "" {
			continue
		}
		j += " " + part
		if len(j) > 500 {
			break
		}
		if isJoinable(j) && endsHeaderRe.MatchString(j) {
			return i + k, j
		}
	}
	return i, ""
}
