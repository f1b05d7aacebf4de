package store

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with an input file, where a person can find it:
// a YAML file names a line and column number, a roster a row and the column's
// header as written.
type Problem struct {
	File    string
	Line    int    // 1-based line or row; 0: the whole file
	Col     int    // 1-based column number; 0: the whole line
	Column  string // column header, shown instead of Col when set
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Line == 0:
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	case p.Column != "":
		return fmt.Sprintf("%s:%d:%s: %s", p.File, p.Line, p.Column, p.Message)
	case p.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
}

// Problems is every problem found in an input file, reported together so
// that a person fixes the file once. Its code is EINVALID.
type Problems struct {
	List []Problem
}

func (e *Problems) Error() string { return strings.Join(e.Lines(), "\n") }

// Unwrap gives the error its code.
func (e *Problems) Unwrap() error { return &Error{Code: EINVALID, Message: "invalid input file"} }

// Add records a problem.
func (e *Problems) Add(p Problem) { e.List = append(e.List, p) }

// Lines returns one printable line per problem in file order.
func (e *Problems) Lines() []string {
	sort.SliceStable(e.List, func(i, j int) bool {
		a, b := e.List[i], e.List[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := make([]string, len(e.List))
	for i, p := range e.List {
		out[i] = p.String()
	}
	return out
}

// Err returns e if it holds any problem, else nil.
func (e *Problems) Err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	return e
}
