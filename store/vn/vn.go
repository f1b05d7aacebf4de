// Package vn holds Vietnamese text conventions phieu needs in more than one
// place: diacritic-insensitive matching of column headers, collation of names
// in Vietnamese letter order, and date formats.
package vn

import (
	"bytes"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Fold lower-cases s, removes every diacritic (tone marks and the hooks of
// ă â ê ô ơ ư), turns đ into d and folds white space and punctuation, so that
// "Họ và tên", "HO VA TEN" and "ho_va_ten" compare equal.
func Fold(s string) string {
	// Bytes that are not UTF-8 fold to a separator, like punctuation: left
	// in, they made the transform fail and the rest of s stay unfolded.
	s = strings.ToValidUTF8(s, " ")
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.Map(func(r rune) rune {
		switch r {
		case 'đ', 'Đ':
			return 'd'
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return ' '
	}, out)
	return strings.Join(strings.Fields(out), " ")
}

// NFC returns s in Unicode normalization form C. Text from Windows-1258
// (which writes tones as combining marks) and from macOS file names arrives
// decomposed; stored text is always composed so equal names compare equal.
func NFC(s string) string { return norm.NFC.String(s) }

// collators are not safe for concurrent use; keep a few around.
var collators = sync.Pool{New: func() any { return collate.New(language.Vietnamese) }}

// Key returns a binary sort key for s in Vietnamese collation: comparing keys
// with bytes.Compare orders the strings as a Vietnamese reader expects
// ("Anh" < "Ánh" < "Bảo", "Dũng" < "Đức"). Keys can be stored and indexed.
func Key(s string) []byte {
	c := collators.Get().(*collate.Collator)
	defer collators.Put(c)
	var buf collate.Buffer
	return bytes.Clone(c.KeyFromString(&buf, s))
}

// Compare compares two strings in Vietnamese collation.
func Compare(a, b string) int {
	c := collators.Get().(*collate.Collator)
	defer collators.Put(c)
	return c.CompareString(a, b)
}

// CompareNames orders people the Vietnamese way: by tên (given name), then họ
// (family name), then tên đệm (middle names).
func CompareNames(givenA, familyA, middleA, givenB, familyB, middleB string) int {
	if c := Compare(givenA, givenB); c != 0 {
		return c
	}
	if c := Compare(familyA, familyB); c != 0 {
		return c
	}
	return Compare(middleA, middleB)
}

// FormatDate writes t's date as dd/mm/yyyy in t's location.
func FormatDate(t time.Time) string { return t.Format("02/01/2006") }

// FormatDateTime writes "15:04 ngày 02/01/2006".
func FormatDateTime(t time.Time) string {
	return t.Format("15:04") + " ngày " + t.Format("02/01/2006")
}
