package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phieu/phieu/store/yamlfile"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "phieu.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSampleConfigIsValid(t *testing.T) {
	cfg, err := ReadConfigFile("samples/phieu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Resolve(cfg.Store.Path), filepath.Join("samples", "phieu.db"); got != want {
		t.Errorf("store path = %q, want %q (relative to the file)", got, want)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigProblems(t *testing.T) {
	t.Setenv("PHIEU_TEST_UNSET", "")
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"UnknownKey", "smtp:\n  hots: x\n", []string{`phieu.yaml:2:3: unknown key "hots"`}},
		{"WrongType", "smtp:\n  port: twenty-five\n", []string{"phieu.yaml:2:9: port: text where a whole number was expected"}},
		{"BadPortAndTLS", "smtp:\n  port: 70000\n  tls: ssl\n", []string{"phieu.yaml:2:9: smtp.port: 70000 is not a port", `phieu.yaml:3:8: smtp.tls: "ssl" is not starttls, tls or none`}},
		{"PlainTextToRemote", "imap:\n  host: mail.binhson.gov.test\n  tls: none\n", []string{"phieu.yaml:3:8: imap.tls: none is allowed only for a server on this machine"}},
		{"MissingCA", "smtp:\n  tls: starttls\n  ca_file: nope.pem\n", []string{"phieu.yaml:3:12: smtp.ca_file: cannot read"}},
		{"UnsetPasswordEnv", "smtp:\n  username: u\n  password_env: PHIEU_TEST_UNSET\n", []string{"phieu.yaml:3:17: smtp.password_env: the variable PHIEU_TEST_UNSET is not set"}},
		{"PasswordWithoutUser", "imap:\n  password_file: pw\n", []string{"imap.password_file: cannot read", "imap.username: is required when a password is given"}},
		{"BadIMAPReading", "imap:\n  file_mode: delete\n  folders:\n    bounces: INBOX\n  resend_after: soon\n  resends: 50\n", []string{
			`phieu.yaml:2:14: imap.file_mode: "delete" is not move, copy or flag`, `phieu.yaml:4:14: imap.folders.bounces: "INBOX" is the mailbox phieu reads`,
			`phieu.yaml:5:17: imap.resend_after: "soon" is not a duration`, "phieu.yaml:6:12: imap.resends: 50 is not between 0 and 10"}},
		{"BadRetry", "smtp:\n  retry_first: 0s\n  give_up_after: 3 days\n", []string{
			`phieu.yaml:2:16: smtp.retry_first: "0s" is not a duration like 5m`, `phieu.yaml:3:18: smtp.give_up_after: "3 days" is not a duration`}},
		{"BadLog", "log:\n  level: loud\n  format: xml\n", []string{`phieu.yaml:2:10: log.level: "loud" is not debug`, `phieu.yaml:3:11: log.format: "xml" is not text or json`}},
		{"BadListen", "http:\n  listen: 8470\n", []string{`phieu.yaml:2:11: http.listen: "8470" is not host:port`}},
		{"BadTimezone", "timezone: Asia/Hanoi\n", []string{`phieu.yaml:1:11: timezone: "Asia/Hanoi" is not a known time zone`}},
		{"Syntax", "smtp: [\n", []string{"phieu.yaml:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			cfg, err := ReadConfigFile(path)
			if err == nil {
				err = cfg.Validate()
			}
			var errs *yamlfile.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want *yamlfile.Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%s\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cr3t-mat-khau\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PHIEU_TEST_IMAP_PW", "another-s3cr3t")
	path := filepath.Join(dir, "phieu.yaml")
	body := "smtp:\n  username: u\n  password_file: pw\n  port: 0\nimap:\n  username: u\n  password_env: PHIEU_TEST_IMAP_PW\n  tls: bogus\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "", "config", "check", "--config", path)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Contains(out+errs, "s3cr3t") {
		t.Fatalf("a secret was printed:\n%s%s", out, errs)
	}
	cfg, err := ReadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.SMTPPassword(); err != nil || pw != "s3cr3t-mat-khau" {
		t.Errorf("SMTPPassword = %q, %v", pw, err)
	}
	if pw, err := cfg.IMAPPassword(); err != nil || pw != "another-s3cr3t" {
		t.Errorf("IMAPPassword = %q, %v", pw, err)
	}
}
