package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/phieu/phieu/store/yamlfile"
)

// FuzzParseConfig: any phieu.yaml is read and validated to a config or to
// positioned problems, never a panic or an error without its file.
func FuzzParseConfig(f *testing.F) {
	sample, err := os.ReadFile("samples/phieu.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	for _, s := range []string{
		"smtp:\n  host: mail.binhson.gov.test\n  port: 587\n  tls: starttls\n  username: u\n  password_env: PHIEU_X\n",
		"imap:\n  file_mode: copy\n  folders: {bounces: INBOX}\n",
		"daemon:\n  send: \"@every 2m\"\n  poll: \"*/5 * * * *\"\nhttp:\n  listen: 0.0.0.0:8470\n  allow_remote: true\n",
		"a: &a [1]\nb: [*a, *a]\n",
		"\ufeffstore:\n  path: phieu.db\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "phieu.yaml")
		cfg, err := ParseConfig(path, data)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			return
		}
		var errs *yamlfile.Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 {
			t.Fatalf("unpositioned error %T: %v", err, err)
		}
		for _, p := range errs.List {
			if p.File != path && p.File != "built-in defaults" {
				t.Fatalf("problem names %q, not the file: %v", p.File, p)
			}
		}
	})
}
