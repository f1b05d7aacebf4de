package store

import (
	"fmt"
	"strings"
)

// ImportOptions tune an import.
type ImportOptions struct {
	// DryRun validates and computes the summary, then rolls back.
	DryRun bool
	// Prune acts on stored respondents missing from the file: those who took
	// part in a campaign are marked inactive, the others deleted. Without it
	// they are only counted, so importing one unit's list never touches the
	// rest of the province.
	Prune bool
}

// ImportSummary says what an import changed (or would change, on a dry run).
type ImportSummary struct {
	Added       int
	Updated     int
	Unchanged   int
	Missing     int // stored but not in the file
	Deactivated int // missing and pruned, kept as inactive: took part in a campaign
	Deleted     int // missing and pruned, never took part
	Reactivated int // inactive, back in the file
}

func (s ImportSummary) String() string {
	out := fmt.Sprintf("added %d, updated %d, unchanged %d, missing from file %d", s.Added, s.Updated, s.Unchanged, s.Missing)
	if s.Deactivated+s.Deleted+s.Reactivated > 0 {
		out += fmt.Sprintf(" (deactivated %d, deleted %d, reactivated %d)", s.Deactivated, s.Deleted, s.Reactivated)
	}
	return out
}

// ImportIssue is one problem found during import. Index is the position of
// the row in the slice given to the store (-1 for a problem with no row);
// Field is one of the Field* constants. The importer turns both into
// FILE:ROW:COLUMN.
type ImportIssue struct {
	Index   int
	Field   string
	Message string
	// Other is the index of another row the problem involves (the first row
	// with the same mailbox, say), or -1. The importer appends "(row N)".
	Other int
}

// ImportError carries every problem an import found. Nothing was written.
type ImportError struct {
	Issues []ImportIssue
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import refused: %d problem(s)", len(e.Issues))
	for i, is := range e.Issues {
		if i == 5 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; row %d %s: %s", is.Index, is.Field, is.Message)
	}
	return b.String()
}

// Add records a problem.
func (e *ImportError) Add(index int, field, format string, args ...any) {
	e.Issues = append(e.Issues, ImportIssue{Index: index, Field: field, Message: fmt.Sprintf(format, args...), Other: -1})
}

// AddRelated records a problem that involves another row too.
func (e *ImportError) AddRelated(index, other int, field, format string, args ...any) {
	e.Issues = append(e.Issues, ImportIssue{Index: index, Field: field, Message: fmt.Sprintf(format, args...), Other: other})
}

// AddValidation records every field error of err (from Validate) at index.
func (e *ImportError) AddValidation(index int, err error) {
	if v, ok := err.(ValidationError); ok {
		for _, f := range v {
			e.Issues = append(e.Issues, ImportIssue{Index: index, Field: f.Field, Message: f.Message, Other: -1})
		}
		return
	}
	if err != nil {
		e.Issues = append(e.Issues, ImportIssue{Index: index, Message: err.Error(), Other: -1})
	}
}

// Err returns e if it holds any issue, else nil.
func (e *ImportError) Err() error {
	if e == nil || len(e.Issues) == 0 {
		return nil
	}
	return e
}
