package vn_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phieu/phieu/store/vn"
)

// FuzzFold: Fold matches column headers and answer codes typed in any
// form; Key and Compare order names. For any input, Fold is idempotent and
// yields valid lower-case text without diacritics, and Key agrees with
// Compare.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"Họ và tên", "HỌ VÀ TÊN", "ho_va_ten", "Đơn vị (*)", "Thư điện tử\u00a0", "Nguye\u0302\u0303n", "\xff\xfe", "\ufeffEmail", "Ǆ\u0345\u0307"} {
		f.Add(s, "Nguyễn Văn An")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		fa := vn.Fold(a)
		if !utf8.ValidString(fa) && utf8.ValidString(a) {
			t.Fatalf("Fold(%q) = %q, not valid UTF-8", a, fa)
		}
		if again := vn.Fold(fa); again != fa {
			t.Fatalf("Fold is not idempotent: %q → %q → %q", a, fa, again)
		}
		if fa != strings.TrimSpace(fa) || strings.Contains(fa, "  ") {
			t.Fatalf("Fold(%q) = %q keeps stray spaces", a, fa)
		}
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // collation is only asked of text
		}
		c := vn.Compare(a, b)
		k := bytes.Compare(vn.Key(a), vn.Key(b))
		if c != k {
			t.Fatalf("Compare(%q, %q) = %d but the keys compare %d", a, b, c, k)
		}
		if vn.Compare(b, a) != -c {
			t.Fatalf("Compare is not antisymmetric on %q, %q", a, b)
		}
	})
}
