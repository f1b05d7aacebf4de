package reply

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CaseResult is the outcome of one corpus case.
type CaseResult struct {
	File      string
	Category  string
	OK        bool // visible text matches the expected trimmed text
	ElidedOK  bool // elided text matches the expected elided text (when given)
	HasElided bool
	Got, Want string
	Err       error
}

// CategoryScore counts the cases of one category.
type CategoryScore struct {
	Name          string
	Cases, Passed int
	ElidedCases   int
	ElidedPassed  int
}

// Scorecard is the result of running Trim over a reply corpus.
type Scorecard struct {
	Dir        string
	Cases      []CaseResult
	Categories []CategoryScore
	Total      int
	Passed     int
}

// Accuracy is the fraction of cases whose visible text matched.
func (s *Scorecard) Accuracy() float64 {
	if s.Total == 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.Total)
}

// Score runs Trim over a reply corpus laid out as
// dir/labels.tsv (columns file, input_path, expected_trimmed_path,
// expected_elided_path, category, ...) with paths relative to dir, and
// compares strings.TrimSpace of the visible text with that of the expected
// trimmed text.
func Score(dir string) (*Scorecard, error) {
	f, err := os.Open(filepath.Join(dir, "labels.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := &Scorecard{Dir: dir}
	cats := map[string]*CategoryScore{}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<16), 1<<20)
	var col map[string]int
	for s.Scan() {
		row := strings.Split(strings.TrimRight(s.Text(), "\r"), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range row {
				col[strings.TrimSpace(name)] = i
			}
			for _, need := range []string{"file", "input_path", "expected_trimmed_path"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("%s: labels.tsv has no %q column", dir, need)
				}
			}
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		if get("file") == "" {
			continue
		}
		r := CaseResult{File: get("file"), Category: get("category")}
		if r.Category == "" {
			r.Category = "(none)"
		}
		in, err := os.ReadFile(filepath.Join(dir, get("input_path")))
		if err == nil {
			var want []byte
			want, err = os.ReadFile(filepath.Join(dir, get("expected_trimmed_path")))
			if err == nil {
				vis, eli := Trim(string(in))
				r.Got = strings.TrimSpace(vis)
				r.Want = strings.TrimSpace(string(want))
				r.OK = r.Got == r.Want
				if p := get("expected_elided_path"); p != "" {
					if we, e := os.ReadFile(filepath.Join(dir, p)); e == nil {
						r.HasElided = true
						r.ElidedOK = strings.TrimSpace(eli) == strings.TrimSpace(string(we))
					}
				}
			}
		}
		r.Err = err
		c := cats[r.Category]
		if c == nil {
			c = &CategoryScore{Name: r.Category}
			cats[r.Category] = c
		}
		c.Cases++
		sc.Total++
		if r.OK {
			c.Passed++
			sc.Passed++
		}
		if r.HasElided {
			c.ElidedCases++
			if r.ElidedOK {
				c.ElidedPassed++
			}
		}
		sc.Cases = append(sc.Cases, r)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, c := range cats {
		sc.Categories = append(sc.Categories, *c)
	}
	sort.Slice(sc.Categories, func(i, j int) bool { return sc.Categories[i].Name < sc.Categories[j].Name })
	return sc, nil
}

// WriteTable writes a per-category table, the total, and the failing cases.
func (s *Scorecard) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-32s %6s %6s %7s %8s\n", "category", "cases", "exact", "pct", "elided")
	elT, elP := 0, 0
	for _, c := range s.Categories {
		fmt.Fprintf(w, "%-32s %6d %6d %6.1f%% %4d/%-3d\n", c.Name, c.Cases, c.Passed, pct(c.Passed, c.Cases), c.ElidedPassed, c.ElidedCases)
		elT += c.ElidedCases
		elP += c.ElidedPassed
	}
	fmt.Fprintf(w, "%-32s %6d %6d %6.1f%% %4d/%-3d\n", "TOTAL", s.Total, s.Passed, pct(s.Passed, s.Total), elP, elT)
	for _, r := range s.Cases {
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "ERROR %s: %v\n", r.File, r.Err)
		case !r.OK:
			fmt.Fprintf(w, "FAIL  %s\n", r.File)
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
