package store_test

import (
	"testing"

	"github.com/phieu/phieu/store"
)

// FuzzParseDate: dates come from roster cells and campaign files typed by
// people. A date that parses must print back as itself and reparse equal.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"31/12/2026", "1/7/2025", "2026-02-28", "29.02.2024", "31/02/2026", "00/00/0000", " 01/01/1900 ", "9999999999999999999/1/2026"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := store.ParseDate(s)
		if err != nil {
			return
		}
		back, err := store.ParseDate(d.String())
		if err != nil || back != d {
			t.Fatalf("%q parsed as %v, which reparses as %v, %v", s, d, back, err)
		}
		if iso, err := store.ParseDate(d.ISO()); err != nil || iso != d {
			t.Fatalf("%q: ISO %s reparses as %v, %v", s, d.ISO(), iso, err)
		}
	})
}

// FuzzParseClock: times of day from campaign files ("08:00", "8h", "21h30").
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"08:00", "8h", "21h30", "23:59", "24:00", "7:", "-1:30", "08:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := store.ParseClock(s)
		if err != nil {
			return
		}
		if c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 {
			t.Fatalf("%q parsed as %+v", s, c)
		}
	})
}
