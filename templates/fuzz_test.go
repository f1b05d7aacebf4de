package templates_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phieu/phieu/templates"
)

// FuzzLoad: a campaign's override directory holding one file of any
// content loads or is refused with an error naming the file; a set that
// loads renders or fails with an error, never a panic. Seeds are the
// default templates themselves.
func FuzzLoad(f *testing.F) {
	names, err := filepath.Glob("default/*.tmpl")
	if err != nil || len(names) == 0 {
		f.Fatalf("no default templates: %v", err)
	}
	for i, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), string(b))
	}
	f.Add(uint8(0), "{{define \"signature\"}}{{.Campaign.Nope}}{{end}}")
	f.Add(uint8(1), "{{if .Respondent}}")
	f.Fuzz(func(t *testing.T, which uint8, src string) {
		name := filepath.Base(names[int(which)%len(names)])
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := templates.Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), name) && !strings.Contains(err.Error(), "common.") {
				t.Fatalf("error does not name %s: %v", name, err)
			}
			return
		}
		// Rendering an operator's template is as bounded as the template:
		// {{range 1000000000}} is valid and slow, so loops are not rendered.
		if strings.Contains(src, "range") || strings.Contains(src, "template") || strings.Contains(src, "block") {
			return
		}
		for _, k := range templates.Kinds {
			d := data(nil)
			if strings.HasSuffix(string(k), "digest") {
				d.Digest = digestData()
			}
			set.Render(k, d) // an error is the template's business; a panic would be ours
		}
	})
}
