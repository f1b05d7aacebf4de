package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Date is a civil date with no time or zone: a holiday, a validity bound. It
// prints and parses as dd/mm/yyyy, the way Vietnamese documents write dates.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads dd/mm/yyyy (also d/m/yyyy and dd-mm-yyyy, as spreadsheets
// export them) or ISO yyyy-mm-dd.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	var parts []string
	iso := false
	switch {
	case strings.Count(s, "/") == 2:
		parts = strings.Split(s, "/")
	case strings.Count(s, "-") == 2:
		parts = strings.Split(s, "-")
		iso = len(parts[0]) == 4
	case strings.Count(s, ".") == 2:
		parts = strings.Split(s, ".")
	default:
		return Date{}, fmt.Errorf("%q is not a date (write dd/mm/yyyy)", s)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return Date{}, fmt.Errorf("%q is not a date (write dd/mm/yyyy)", s)
		}
		nums[i] = n
	}
	d := Date{Year: nums[2], Month: time.Month(nums[1]), Day: nums[0]}
	if iso {
		d = Date{Year: nums[0], Month: time.Month(nums[1]), Day: nums[2]}
	}
	if d.Year < 1900 || d.Year > 2200 || !d.valid() {
		return Date{}, fmt.Errorf("%q is not a real date (write dd/mm/yyyy)", s)
	}
	return d, nil
}

func (d Date) valid() bool {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as dd/mm/yyyy.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%02d/%02d/%04d", d.Day, int(d.Month), d.Year)
}

// ISO formats d as yyyy-mm-dd, the form stored in the database (it sorts).
func (d Date) ISO() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// In returns the first instant of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Before reports whether d is strictly earlier than o.
func (d Date) Before(o Date) bool { return d.ISO() < o.ISO() }

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// Weekday returns d's day of the week.
func (d Date) Weekday() time.Weekday { return d.In(time.UTC).Weekday() }
