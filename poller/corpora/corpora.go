// Package corpora finds the labelled real-message corpora (bounces and
// replies written by other people's mail software) that the accuracy tests
// and `phieu bench accuracy` read. They live outside the repository, in
// ../shared/corpora, and are never copied into it.
package corpora

import (
	"os"
	"path/filepath"
)

// Find returns the folder of one corpus ("bounces" or "replies"), the one
// holding labels.tsv: under $PHIEU_CORPORA (which may also name the corpus
// itself), else under the first shared/corpora found walking up from the
// working directory. "" when there is none.
func Find(name string) string {
	if d := os.Getenv("PHIEU_CORPORA"); d != "" {
		for _, c := range []string{filepath.Join(d, name), d} {
			if hasLabels(c) {
				return c
			}
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if c := filepath.Join(dir, "shared", "corpora", name); hasLabels(c) {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func hasLabels(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "labels.tsv"))
	return err == nil
}
