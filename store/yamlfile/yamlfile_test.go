package yamlfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/phieu/phieu/store/yamlfile"
)

type conf struct {
	Name string `yaml:"name"`
	SMTP struct {
		Host string `yaml:"host"`
		Port int    `yaml:"port"`
	} `yaml:"smtp"`
	List []struct {
		Code string `yaml:"code"`
	} `yaml:"list"`
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"UnknownKey", "name: a\nsmtp:\n  hots: x\n", `f.yaml:3:3: unknown key "hots"`},
		{"WrongType", "smtp:\n  port: abc\n", "f.yaml:2:9: port: text where a whole number was expected"},
		{"Syntax", "name: [a, b\n", "f.yaml:1:"},
		{"Tab", "smtp:\n\thost: x\n", "f.yaml:2:1: tab used for indentation"},
		{"Empty", "  \n", "f.yaml: file is empty"},
		{"DuplicateKey", "name: a\nname: b\n", "f.yaml:2:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c conf
			_, err := yamlfile.Parse("f.yaml", []byte(tc.in), &c)
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse = %v, want *Errors", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestPosAndErrorf(t *testing.T) {
	in := "name: a\nsmtp:\n  host: mail.test\n  port: 25\nlist:\n  - code: C1\n  - code: C2\n"
	var c conf
	d, err := yamlfile.Parse("f.yaml", []byte(in), &c)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][2]int{
		"smtp.port":    {4, 9},
		"list[1].code": {7, 11},
		"smtp.missing": {3, 7}, // falls back to the parent mapping's position
		"nothing":      {0, 0},
	} {
		line, col := d.Pos(path)
		if [2]int{line, col} != want {
			t.Errorf("Pos(%q) = %d:%d, want %d:%d", path, line, col, want[0], want[1])
		}
	}
	d.Errorf("list[1].code", "second %s", "problem")
	d.Errorf("smtp.port", "first problem")
	if got, want := d.Err().Error(), "f.yaml:4:9: first problem\nf.yaml:7:11: second problem"; got != want {
		t.Errorf("Err() = %q, want %q", got, want)
	}
}

// TestLibraryPanicIsAnError keeps the input fuzzing found that crashes the
// YAML library: it must come back as a problem, not a panic.
func TestLibraryPanicIsAnError(t *testing.T) {
	in := "groups: !000000000000000000\n0000000000000000000000000000000000000000000000000000000000000\n    -0000\n"
	var v struct {
		Groups []string `yaml:"groups"`
	}
	_, err := yamlfile.Parse("f.yaml", []byte(in), &v)
	if err == nil || !strings.HasPrefix(err.Error(), "f.yaml") {
		t.Fatalf("Parse = %v, want a positioned problem", err)
	}
}
