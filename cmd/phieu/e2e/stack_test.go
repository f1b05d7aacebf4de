package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Submit sends raw as a mail client does: submission port, STARTTLS
// verified against the stack's CA, AUTH PLAIN as from.
func (s *Mailstack) Submit(from string, to []string, raw []byte) error {
	c, err := smtp.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Submission)))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("may-tram.binhson.gov.test"); err != nil {
		return err
	}
	if err := c.StartTLS(&tls.Config{RootCAs: s.pool, ServerName: s.ServerName}); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if err := c.Auth(smtp.PlainAuth("", from, s.Password, "127.0.0.1")); err != nil {
		return fmt.Errorf("auth %s: %w", from, err)
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("rcpt %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// Mailbox returns the messages Dovecot delivered to addr's INBOX, read
// from the Maildir (the suite runs as the user who started the stack).
func (s *Mailstack) Mailbox(t *testing.T, addr string) []*message {
	t.Helper()
	local, domain, _ := strings.Cut(addr, "@")
	var out []*message
	for _, sub := range []string{"new", "cur"} {
		d := filepath.Join(s.Dir, "mail", domain, local, sub)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue // not delivered to yet
		}
		for _, e := range ents {
			raw, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				continue // moved from new to cur meanwhile: read next time
			}
			m, err := parseMessage(raw)
			if err != nil {
				t.Fatalf("%s: %s: %v", addr, e.Name(), err)
			}
			m.File = filepath.Join(d, e.Name())
			out = append(out, m)
		}
	}
	return out
}

// message is a delivered message, decoded as a mail client shows it.
type message struct {
	File        string
	Raw         []byte
	Header      mail.Header
	Subject     string   // RFC 2047 decoded
	Text, HTML  string   // the first text/plain and text/html parts, decoded
	Types       []string // content types of the leaf parts, in order
	Attachments map[string][]byte
}

func parseMessage(raw []byte) (*message, error) {
	mm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m := &message{Raw: raw, Header: mm.Header, Attachments: map[string][]byte{}}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(mm.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	return m, m.walk(mm.Header.Get("Content-Type"), mm.Header.Get("Content-Transfer-Encoding"), mm.Header.Get("Content-Disposition"), mm.Body)
}

func (m *message) walk(ctype, cte, disp string, body io.Reader) error {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p); err != nil {
				return err
			}
		}
	}
	m.Types = append(m.Types, mt)
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s part: %w", mt, err)
	}
	if d, dp, err := mime.ParseMediaType(disp); err == nil && d == "attachment" {
		m.Attachments[dp["filename"]] = data
		return nil
	}
	switch {
	case mt == "text/plain" && m.Text == "":
		m.Text = string(data)
	case mt == "text/html" && m.HTML == "":
		m.HTML = string(data)
	}
	return nil
}

// daemon is "phieu run" as a child process.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	health string
	done   chan error
}

func startDaemon(t *testing.T, bin, config, health, logPath string, env []string) *daemon {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, cmd: cmd, health: health, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); log.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-d.done
		}
	})
	waitFor(t, 20*time.Second, "the daemon's /healthz", func() (bool, string) {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("the daemon exited at start: %v\n%s", err, tail(logPath))
		default:
		}
		h, err := d.healthz()
		return err == nil && h.Jobs["poll"].Runs > 0, fmt.Sprintf("%+v %v\n%s", h, err, tail(logPath))
	})
	return d
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

type jobState struct {
	Runs   int
	Result string
	Error  string
}

type healthz struct {
	Status string
	Jobs   map[string]jobState
}

func (d *daemon) healthz() (healthz, error) {
	var h healthz
	resp, err := httpClient.Get("http://" + d.health + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// stop signals the daemon and waits for it; SIGTERM must end it cleanly.
func (d *daemon) stop(sig os.Signal) error {
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case err := <-d.done:
		return err
	case <-time.After(40 * time.Second):
		d.cmd.Process.Kill()
		return fmt.Errorf("did not stop within 40 s of %v", sig)
	}
}

// waitFor polls cond until it holds; the daemon works on its own schedule
// with real servers, so the suite waits for effects, never for a time.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", limit, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 6000 {
		data = data[len(data)-6000:]
	}
	return string(data)
}
