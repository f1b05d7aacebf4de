package answers

import (
	"strings"
	"sync"
	"unicode"

	"github.com/phieu/phieu/store/vn"
)

// foldTable maps the precomposed Latin letters (U+00C0–U+024F and
// U+1E00–U+1EFF, which hold every Vietnamese letter) to what vn.Fold makes
// of them; built once, so that folding a line allocates only its result.
var foldTable = sync.OnceValue(func() map[rune]string {
	m := map[rune]string{}
	for _, span := range [][2]rune{{0xC0, 0x24F}, {0x1E00, 0x1EFF}} {
		for r := span[0]; r <= span[1]; r++ {
			m[r] = vn.Fold(string(r))
		}
	}
	return m
})

// fold is vn.Fold without its per-call transformer: lower case, no
// diacritics, đ as d, every run of other characters as one space, trimmed.
func fold(s string) string {
	table := foldTable()
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		var out string
		switch {
		case r < 0x80:
			switch {
			case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				out = string(r)
			case r >= 'A' && r <= 'Z':
				out = string(r + 'a' - 'A')
			}
		case unicode.Is(unicode.Mn, r):
			continue // a combining mark of decomposed text
		default:
			if f, ok := table[r]; ok {
				out = f
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				out = string(unicode.ToLower(r))
			}
		}
		if out == "" {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteString(out)
	}
	return b.String()
}
