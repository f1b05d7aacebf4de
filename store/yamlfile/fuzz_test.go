package yamlfile_test

import (
	"errors"
	"testing"

	"github.com/phieu/phieu/store/yamlfile"
)

// FuzzParse: whatever the bytes, Parse returns a positioned *Errors or a
// Doc, never panics, and Pos never points outside the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: a\nsmtp:\n  host: x\n  port: 25\nlist:\n  - code: A\n",
		"smtp: [\n",
		"a: &a [1,2]\nb: &b [*a,*a]\nc: [*b,*b]\n",
		"name: a\nname: b\n",
		"smtp:\n\thost: x\n",
		"!!binary name: x\n",
		"--- !x\n- a\n",
		"list: {code: A}\n",
		"\ufeffname: a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c conf
		doc, err := yamlfile.Parse("f.yaml", data, &c)
		if err != nil {
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("unpositioned error %T: %v", err, err)
			}
			return
		}
		lines := 1
		for _, b := range data {
			if b == '\n' {
				lines++
			}
		}
		for _, key := range []string{"name", "smtp.host", "smtp.port", "list[0].code", "nope.deeper"} {
			if line, _ := doc.Pos(key); line < 0 || line > lines {
				t.Fatalf("Pos(%s) = line %d of %d", key, line, lines)
			}
		}
	})
}
