package bounce

import (
	"regexp"
	"strings"
)

// bodyText is the message's own readable text: text parts outside the
// attached original, plain preferred over HTML.
func bodyText(m *parsed) string {
	var plain, html []string
	for _, p := range m.parts {
		if p.inOriginal {
			continue
		}
		switch {
		case p.mediaType == "text/plain" || p.mediaType == "text/enriched" || p.mediaType == "text/x-aol":
			plain = append(plain, p.text())
		case strings.Contains(p.mediaType, "html"):
			html = append(html, p.text())
		}
	}
	if len(plain) == 0 {
		plain = html
	}
	return strings.Join(plain, "\n")
}

// bounceText is the report's own words: bodyText cut where a copy of the
// original message begins.
func bounceText(m *parsed) string {
	t := strings.ReplaceAll(bodyText(m), "\r\n", "\n")
	if i := originalStart(t); i >= 0 {
		t = t[:i]
	}
	return t
}

// originalMarkerWords: one of these is in every originalMarker match.
var originalMarkerWords = []string{"message", "original", "copy", "received: from", "returned", "enclosed", "forwarded", "unsent", "mail follows"}

// containsAnyFold reports whether s holds one of the lower-case words,
// ignoring case: a cheap test before a costly case-insensitive pattern.
func containsAnyFold(s string, words []string) bool {
	lower := strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// Lines that introduce the copy of the original in text bounces.
var originalMarker = regexp.MustCompile(`(?im)^[ \t]*(?:` +
	`-+ ?this is a copy of the message|` +
	`-+ ?below this line is a copy of the message|` +
	`-+ ?original message follows|` +
	`-+ ?original message headers? follows?|` +
	`-+ ?(?:the )?original message|` +
	`-+ ?returned message|` +
	`-+ ?message headers? follows|` +
	`-+ ?the header of the original message|` +
	`-+ ?undelivered message|` +
	`-+ ?(?:the )?following is a copy|` +
	`-+ ?copy of the message|` +
	`-+ ?returned mail follows|` +
	`-+ ?unsent message (?:below|follows)|` +
	`original message follows|original mail as follows|` +
	`-+ ?message text follows|` +
	`-+ ?enclosed (?:is|are) (?:a copy|the)|` +
	`original message headers:|` +
	`-+ ?forwarded message|` +
	`content-type: message/rfc822|` +
	`received: from [^\n]+\n(?:[ \t][^\n]*\n)*(?:[\w-]+: |[ \t])` +
	`)`)

// originalStart is where the copy of the original begins in t, or -1.
func originalStart(t string) int {
	if !containsAnyFold(t, originalMarkerWords) {
		return -1 // most mail: no need to run the marker pattern
	}
	loc := originalMarker.FindStringIndex(t)
	if loc == nil {
		return -1
	}
	// A marker in the first line is the whole body: keep some text.
	return loc[0]
}

var (
	statusPattern = regexp.MustCompile(`(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.(?:\s|$)|$)`)
	codeStatus    = regexp.MustCompile(`(?:^|[^\d.\-])([245][0-5]\d)(?:[ \-]+#?|\s*\()([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.(?:\s|$)|$)`)
	codeAlone     = regexp.MustCompile(`(?:^|[\s(\[:#"'<>])([45][0-5]\d)(?:[ \-]|$|\)|:|,)`)
	codeAfterWord = regexp.MustCompile(`(?i)(?:said|error|reply|code|returned|response|smtp)\W{0,3}([245][0-5]\d)\b`)
)

// statusAndCode reads the first failure status and reply code in s; the
// status is "" when s has none, the code 0.
func statusAndCode(s string) (status string, code int) {
	for _, m := range codeStatus.FindAllStringSubmatch(s, -1) {
		if m[1][0] == m[2][0] && m[1][0] != '2' {
			return m[2], atoi(m[1])
		}
	}
	for _, m := range statusPattern.FindAllStringSubmatch(s, -1) {
		if m[1][0] != '2' {
			status = m[1]
			break
		}
	}
	for _, m := range codeAfterWord.FindAllStringSubmatch(s, -1) {
		if m[1][0] != '2' && (status == "" || status[0] == m[1][0]) {
			return status, atoi(m[1])
		}
	}
	for _, m := range codeAlone.FindAllStringSubmatch(s, -1) {
		if status == "" || status[0] == m[1][0] {
			return status, atoi(m[1])
		}
	}
	return status, 0
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
