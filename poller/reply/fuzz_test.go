package reply

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func FuzzTrim(f *testing.F) {
	f.Add("Có ạ.\n\nOn Wed, Mar 1, 2023 at 9:15 AM X <x@y.test> wrote:\n> q\n")
	f.Fuzz(func(t *testing.T, in string) {
		vis, eli := Trim(in)
		// Nothing is lost or invented: every non-empty input line is in
		// exactly one of the two results.
		norm := strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\r", "\n")
		if got, want := countLines(vis)+countLines(eli), countLines(norm); got != want {
			t.Fatalf("visible+elided have %d non-empty lines, input %d\nvisible %q\nelided %q", got, want, vis, eli)
		}
		if strings.Contains(vis, "\r") || strings.Contains(eli, "\r") {
			t.Fatalf("carriage return left in output")
		}
		// Trimming is stable: trimming the visible text again keeps it,
		// unless Trim is asked about an empty reply.
		if vis != "" && utf8.ValidString(in) {
			if again, _ := Trim(vis); strings.TrimSpace(again) == "" {
				t.Fatalf("re-trimming %q removed everything", vis)
			}
		}
	})
}

func countLines(s string) int {
	if s == "" {
		return 0
	}
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if !isEmpty(l) {
			n++
		}
	}
	return n
}

func FuzzBodyText(f *testing.F) {
	f.Add([]byte("Content-Type: text/plain; charset=utf-8\r\n\r\nCó\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := BodyText(raw)
		if err != nil {
			if s != "" {
				t.Fatalf("text %q returned with error %v", s, err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			t.Fatalf("empty text without error")
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8: %q", s)
		}
		if strings.Contains(s, "\r") {
			t.Fatalf("carriage return in %q", s)
		}
		if !norm.NFC.IsNormalString(s) {
			t.Fatalf("not NFC: %q", s)
		}
		Trim(s)
	})
}
