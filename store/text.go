package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckText reports why s cannot be stored in a field that may end up in a mail
// header or a table cell: invalid UTF-8, or control characters. CR and LF are
// called out by name because they are how header injection starts.
func CheckText(s string) string {
	if !utf8.ValidString(s) {
		return "contains invalid UTF-8 (was the file saved in another encoding?)"
	}
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			return "contains a line break (CR/LF), which is not allowed in this field"
		case r == 0:
			return "contains a NUL byte"
		case unicode.IsControl(r) && r != '\t':
			return "contains a control character " + strings.TrimPrefix(strings.ToUpper(string(quoteRune(r))), "'")
		}
	}
	return ""
}

func quoteRune(r rune) string {
	const hex = "0123456789ABCDEF"
	return "U+" + string([]byte{hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF]})
}

// CleanText trims s and folds runs of white space (including non-breaking
// spaces that spreadsheets love) into single spaces.
func CleanText(s string) string {
	if isClean(s) {
		return s // the common case: no allocation
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u00a0' || r == '\u200b' || r == '\ufeff'
	}), " ")
}

// isClean reports whether CleanText would return s unchanged.
func isClean(s string) bool {
	prevSpace := true // a leading space is not clean
	for _, r := range s {
		space := r == ' '
		if (space && prevSpace) || (!space && (unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff')) {
			return false
		}
		prevSpace = space
	}
	return !prevSpace || s == ""
}

// SplitName splits a Vietnamese full name into họ (family name), tên đệm
// (middle names) and tên (given name): the first word, the words between, and
// the last word. "Nguyễn Thị Ánh" → "Nguyễn", "Thị", "Ánh". A one-word name is
// all tên.
func SplitName(full string) (family, middle, given string) {
	words := strings.Fields(full)
	switch len(words) {
	case 0:
		return "", "", ""
	case 1:
		return "", "", words[0]
	default:
		return words[0], strings.Join(words[1:len(words)-1], " "), words[len(words)-1]
	}
}

// utf8Len counts characters, not bytes: limits are for people.
func utf8Len(s string) int { return utf8.RuneCountInString(s) }
