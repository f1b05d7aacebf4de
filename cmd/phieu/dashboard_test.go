package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestHTTPConfigValidation(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("mật khẩu dài đủ"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	private := filepath.Join(dir, "tokens")
	if err := os.WriteFile(private, []byte("# đầu mối CNTT\nliaison 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "tokens-shared")
	if err := os.WriteFile(shared, []byte("liaison 0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "tokens-short")
	if err := os.WriteFile(short, []byte("operator abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		want       []string // "" for valid
	}{
		{"Operators", "http:\n  operators:\n    - {name: lan.nt, password_hash: '" + string(hash) + "'}\n    - {name: cntt, password_hash: '" + string(hash) + "', role: liaison}\n  token_file: " + private + "\n", nil},
		{"NoDashboard", "http:\n  listen: \"\"\n", nil},
		{"RemoteRefused", "http:\n  listen: 0.0.0.0:8470\n", []string{"phieu.yaml:2:11: http.listen: 0.0.0.0:8470 is not this machine only"}},
		{"RemoteAllowed", "http:\n  listen: 0.0.0.0:8470\n  allow_remote: true\n", nil},
		{"PlainPassword", "http:\n  operators:\n    - {name: lan.nt, password_hash: matkhau123}\n", []string{"http.operators.0.password_hash: is not a bcrypt hash"}},
		{"UnknownRole", "http:\n  operators:\n    - {name: lan.nt, password_hash: '" + string(hash) + "', role: admin}\n", []string{`http.operators.0.role: "admin" is not operator or liaison`}},
		{"NameTwice", "http:\n  operators:\n    - {name: lan.nt, password_hash: '" + string(hash) + "'}\n    - {name: lan.nt, password_hash: '" + string(hash) + "'}\n", []string{`http.operators.1.name: "lan.nt" is given twice`}},
		{"TokenFileReadableByOthers", "http:\n  token_file: " + shared + "\n", []string{"is readable by others (mode 0644): chmod 600 it"}},
		{"TokenTooShort", "http:\n  token_file: " + short + "\n", []string{"tokens-short:1: the token is shorter than 32 characters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ReadConfigFile(writeConfig(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, &errb
	c := &HashPasswordCommand{m: m, Stdin: strings.NewReader("Sở Nội vụ 2026\n")}
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("Sở Nội vụ 2026")); err != nil {
		t.Errorf("the printed hash %q does not verify: %v", hash, err)
	}
	if strings.Contains(out.String()+errb.String(), "Sở Nội vụ 2026") {
		t.Error("the password was printed")
	}
	c = &HashPasswordCommand{m: m, Stdin: strings.NewReader("ngắn\n")}
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "shorter than 10") {
		t.Errorf("a short password: %v", err)
	}
}

// TestServeReadOnly signs in to `phieu serve` with a token from the token
// file and finds the campaign, and no way to change anything.
func TestServeReadOnly(t *testing.T) {
	dir, _, _ := sampleWithServers(t)
	addr := freeLoopbackAddr(t)
	token := "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte("operator "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	editConfig(t, dir, func(s string) string {
		return strings.Replace(s, "listen: 127.0.0.1:8470", "listen: "+addr+"\n  token_file: tokens", 1)
	})
	config := filepath.Join(dir, "phieu.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb lockedBuffer
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, &errb
	go func() { done <- m.Main(ctx, []string{"serve", "--config", config}) }()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve: exit %d\n%s", code, errb.String())
		}
	}()
	base := "http://" + addr
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen on %s: %v\n%s", addr, err, errb.String())
		}
		time.Sleep(20 * time.Millisecond) // waiting for a listener, not a schedule
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}

	client, overview := signIn(t, base+"/", token)
	page := readPage(t)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	if !strings.Contains(overview, "PAR2025") || !strings.Contains(overview, "Tỷ lệ") {
		t.Errorf("the overview after signing in:\n%s", overview)
	}
	if strings.Contains(overview, "Tạm dừng") {
		t.Error("read-only: the overview offers to pause")
	}
	outbox := page(client.Get(base + "/outbox?campaign=PAR2025"))
	if strings.Contains(outbox, "action=\"/outbox/pause\"") {
		t.Error("read-only: the outbox page has a pause/resume form")
	}
	token2 := csrf.FindStringSubmatch(outbox)
	form := url.Values{"campaign": {"PAR2025"}}
	if token2 != nil {
		form.Set("csrf", token2[1])
	}
	resp, err := client.PostForm(base+"/outbox/pause", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("pause through phieu serve: %s, want 403", resp.Status)
	}
	if got := mustRun(t, "", "campaign", "show", "--config", config, "PAR2025"); strings.Contains(got, "paused") {
		t.Errorf("the campaign was paused through a read-only dashboard:\n%s", got)
	}
}

// readPage returns a reader of whole responses that fails the test on a
// transport error.
func readPage(t *testing.T) func(*http.Response, error) string {
	return func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
}

// signIn signs in to the dashboard at base ("http://host:port/") with an
// access token through the sign-in form, as a browser would, and returns
// the client holding the session and the page it landed on.
func signIn(t *testing.T, base, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	page := readPage(t)
	login := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page(client.Get(base + "login")))
	if login == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	return client, page(client.PostForm(base+"login", url.Values{"csrf": {login[1]}, "token": {token}}))
}
