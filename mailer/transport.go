// Package mailer delivers phieu's outbox through the province's official
// mail server: a pipeline of small stages (claim, check, render, pace, send,
// record) in the manner of Alertmanager's notifier, over go-mail's SMTP
// client, one connection reused for many messages, a few in parallel.
package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
)

// TLS modes of a server connection.
const (
	TLSStartTLS = endpoint.TLSStartTLS
	TLSImplicit = endpoint.TLSImplicit
	TLSNone     = endpoint.TLSNone
)

// Config is the official mail server and how phieu may use it.
type Config struct {
	Host       string
	Port       int
	TLS        string // TLSStartTLS, TLSImplicit or TLSNone
	CAFile     string // PEM of the CA that signed the server's certificate, added to the system pool
	ServerName string // the name on the certificate, if not Host
	Username   string
	Password   string // never logged
	Auth       string // plain, login, cram-md5, or "" to pick from what the server offers
	HeloName   string // "" for the host name of this machine
	// NoPipelining sends one command at a time even to a server that
	// offers PIPELINING (for servers that offer it and get it wrong).
	NoPipelining bool

	Connections int // parallel connections, default 2
	PerMinute   int // 0: no cap
	PerHour     int // 0: no cap

	DialTimeout    time.Duration // default 30s
	CommandTimeout time.Duration // each command and the DATA transfer; default 2m
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Connections <= 0 {
		out.Connections = 2
	}
	if out.DialTimeout <= 0 {
		out.DialTimeout = 30 * time.Second
	}
	if out.CommandTimeout <= 0 {
		out.CommandTimeout = 2 * time.Minute
	}
	if out.TLS == "" {
		out.TLS = TLSStartTLS
	}
	return out
}

// Error is a failed step of an SMTP conversation: where it failed, and what
// the server said, if anything.
type Error struct {
	Stage  store.SMTPStage
	Code   int    // SMTP reply code; 0 when the server said nothing (network, TLS, timeout)
	Status string // enhanced status code, "4.7.0"
	Text   string // the server's text, or the local error
	Err    error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		s := fmt.Sprintf("smtp %s: %d", e.Stage, e.Code)
		if e.Status != "" {
			s += " " + e.Status
		}
		return s + " " + e.Text
	}
	return fmt.Sprintf("smtp %s: %s", e.Stage, e.Text)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports a 5xx reply: trying again will not help.
func (e *Error) Permanent() bool { return e.Code >= 500 }

// Connection reports an error of the connection rather than of one message:
// dialing, TLS, greeting, login, or a conversation cut without a reply. The
// sender counts these to notice that the server is down.
func (e *Error) Connection() bool {
	switch e.Stage {
	case store.StageDial, store.StageTLS, store.StageHelo, store.StageAuth:
		return true
	}
	return e.Code == 0 || e.Code == 421
}

// NeedsPerson reports an error that retrying cannot fix: a refused login
// or sender address, a certificate that does not verify, no STARTTLS or no
// usable login method. The sender stops at once (and does not lock the
// account with repeated wrong passwords).
func (e *Error) NeedsPerson() bool {
	switch e.Stage {
	case store.StageAuth, store.StageMail:
		return e.Permanent() || e.Code == 0 && e.Err == nil
	case store.StageTLS:
		var verify *tls.CertificateVerificationError
		var unknown x509.UnknownAuthorityError
		var hostname x509.HostnameError
		var invalid x509.CertificateInvalidError
		return e.Err == nil || errors.As(e.Err, &verify) || errors.As(e.Err, &unknown) ||
			errors.As(e.Err, &hostname) || errors.As(e.Err, &invalid) || e.Permanent()
	}
	return false
}

// throttleText is how servers say "slow down" in words; rateText is the
// part of it that stays unambiguous when the status names one mailbox.
var (
	throttleText = regexp.MustCompile(`(?i)too many|\brate\b|throttl|limit|try again later|slow down|quá nhiều|vượt`)
	rateText     = regexp.MustCompile(`(?i)too many|\brate\b|throttl|slow down|quá nhiều`)
)

// Throttling reports a reply that says the server wants us to slow down:
// 421 (closing), 4.7.x (policy, including rate limits), 450/451/452 when
// the enhanced status is not about the recipient's mailbox, or words that
// say so. A 4.1.x/4.2.x reply is about one mailbox (busy, full, greylisted:
// "try again later", "size limit") and pauses nothing else, unless its
// words speak of a rate.
func (e *Error) Throttling() bool {
	if e.Code < 400 || e.Code >= 500 {
		return false
	}
	if e.Code == 421 || strings.HasPrefix(e.Status, "4.7.") {
		return true
	}
	if strings.HasPrefix(e.Status, "4.2.") || strings.HasPrefix(e.Status, "4.1.") {
		return rateText.MatchString(e.Text)
	}
	if throttleText.MatchString(e.Text) {
		return true
	}
	switch e.Code {
	case 450, 451, 452:
		// No mailbox status: 4.3.x/4.4.5/4.5.3 (system or recipients) or
		// none: the server as a whole is pushing back.
		return true
	}
	return false
}

var enhancedRE = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})\b`)

// smtpError turns what go-mail's client returned at stage into an *Error.
func smtpError(stage store.SMTPStage, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	out := &Error{Stage: stage, Err: err, Text: err.Error()}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		out.Code = tp.Code
		out.Text = strings.TrimSpace(tp.Msg)
		if m := enhancedRE.FindString(out.Text); m != "" && m[0] == strconv.Itoa(tp.Code)[0] {
			out.Status = m
			out.Text = strings.TrimSpace(out.Text[len(m):])
		}
	}
	if errors.Is(err, io.EOF) {
		out.Text = "the server closed the connection"
	}
	return out
}

// Transport opens connections to the mail server.
type Transport struct {
	cfg Config
	tls *tls.Config
}

// NewTransport checks cfg and prepares TLS: verification is always on; a CA
// file adds the province's internal CA to the system's.
func NewTransport(cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if cfg.Host == "" || cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, store.Errorf(store.EINVALID, "smtp: host and port are required (got %q:%d)", cfg.Host, cfg.Port)
	}
	if err := endpoint.CheckTLSMode("smtp", cfg.TLS, cfg.Host); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg}
	if cfg.TLS != TLSNone {
		tc, err := endpoint.ClientTLS("smtp", cfg.Host, cfg.CAFile, cfg.ServerName)
		if err != nil {
			return nil, err
		}
		t.tls = tc
	}
	return t, nil
}

// Config returns the transport's configuration with defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// Conn is one open, greeted and logged-in connection.
type Conn struct {
	t      *Transport
	conn   net.Conn
	client *smtp.Client
	dsn    bool
	stop   func() bool
	tls    bool
	broken bool // the conversation is out of step: close, do not reuse
	// pipelining: the server takes MAIL, RCPT and DATA in one write (RFC
	// 2920), which saves two round trips per message.
	pipelining bool
}

// Broken reports whether the connection must be closed rather than reused.
func (c *Conn) Broken() bool { return c.broken }

// Dial connects, greets, secures and logs in. Cancelling ctx closes the
// connection at once, whatever it is doing.
func (t *Transport) Dial(ctx context.Context) (*Conn, error) {
	addr := net.JoinHostPort(t.cfg.Host, strconv.Itoa(t.cfg.Port))
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Stage: store.StageDial, Text: err.Error(), Err: err}
	}
	c := &Conn{t: t, conn: raw}
	c.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(e *Error) (*Conn, error) {
		c.Close()
		return nil, e
	}
	if t.cfg.TLS == TLSImplicit {
		tc := tls.Client(raw, t.tls)
		raw.SetDeadline(time.Now().Add(t.cfg.CommandTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(&Error{Stage: store.StageTLS, Text: err.Error(), Err: err})
		}
		c.conn, c.tls = tc, true
	}
	c.conn.SetDeadline(time.Now().Add(t.cfg.CommandTimeout))
	client, err := smtp.NewClient(c.conn, t.cfg.Host)
	if err != nil {
		return fail(smtpError(store.StageHelo, err))
	}
	c.client = client
	helo := t.cfg.HeloName
	if helo == "" {
		helo, _ = os.Hostname()
	}
	if helo != "" {
		if err := client.Hello(helo); err != nil {
			return fail(smtpError(store.StageHelo, err))
		}
	}
	if t.cfg.TLS == TLSStartTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return fail(&Error{Stage: store.StageTLS, Text: "the server does not offer STARTTLS, and tls: starttls requires it"})
		}
		if err := client.StartTLS(t.tls); err != nil {
			return fail(smtpError(store.StageTLS, err))
		}
		c.tls = true
	}
	if t.cfg.Username != "" {
		c.conn.SetDeadline(time.Now().Add(t.cfg.CommandTimeout))
		auth, err := c.auth()
		if err != nil {
			return fail(err.(*Error))
		}
		if err := client.Auth(auth); err != nil {
			return fail(smtpError(store.StageAuth, err))
		}
	}
	c.dsn, _ = client.Extension("DSN")
	c.pipelining, _ = client.Extension("PIPELINING")
	c.pipelining = c.pipelining && !t.cfg.NoPipelining
	return c, nil
}

func (c *Conn) auth() (smtp.Auth, error) {
	cfg := c.t.cfg
	mech := strings.ToLower(cfg.Auth)
	if mech == "" {
		_, offered := c.client.Extension("AUTH")
		offered = " " + strings.ToUpper(offered) + " "
		switch {
		case strings.Contains(offered, " PLAIN "):
			mech = "plain"
		case strings.Contains(offered, " LOGIN "):
			mech = "login"
		case strings.Contains(offered, " CRAM-MD5 "):
			mech = "cram-md5"
		default:
			return nil, &Error{Stage: store.StageAuth, Text: fmt.Sprintf("the server offers no login method phieu knows (AUTH%s)", strings.TrimRight(offered, " "))}
		}
	}
	// The password goes out only under TLS, or to this machine.
	allowPlain := c.tls || endpoint.IsLoopback(cfg.Host)
	switch mech {
	case "plain":
		return smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host, allowPlain), nil
	case "login":
		return smtp.LoginAuth(cfg.Username, cfg.Password, cfg.Host, allowPlain), nil
	case "cram-md5":
		return smtp.CRAMMD5Auth(cfg.Username, cfg.Password), nil
	}
	return nil, &Error{Stage: store.StageAuth, Text: fmt.Sprintf("auth %q is not plain, login or cram-md5", cfg.Auth)}
}

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	From string
	To   string
	// EnvelopeID is sent as the DSN ENVID, with RET=HDRS and
	// NOTIFY=FAILURE,DELAY, when the server offers DSN: bounces then name
	// the message whatever the remote server does to its headers.
	EnvelopeID string
}

// Send sends one message on the connection. After an error with a reply
// code the connection stays usable (it has been reset); after one without,
// it must be closed.
//
// ready, if not nil, is called once the envelope commands are on their way
// and before any of the message itself: a message is delivered only by its
// body, so the sender waits there for its previous result to be recorded,
// while the server answers the commands. When ready fails (that result
// could not be recorded), the body is not sent: the connection is closed
// mid-transaction, the server keeps nothing, and Send returns the error.
func (c *Conn) Send(env Envelope, msg []byte, ready func() error) error {
	if ready == nil {
		ready = func() error { return nil }
	}
	timeout := c.t.cfg.CommandTimeout
	c.conn.SetDeadline(time.Now().Add(timeout))
	if c.pipelining {
		return c.sendPipelined(env, msg, ready)
	}
	if c.dsn && env.EnvelopeID != "" {
		// go-mail's client adds " RET=<this>" to MAIL FROM when the server
		// offers DSN and has no ENVID option: carry ENVID in the same slot.
		// The id is our base32 reference, valid xtext as it is.
		c.client.SetDSNMailReturnOption("HDRS ENVID=" + env.EnvelopeID)
		c.client.SetDSNRcptNotifyOption("FAILURE,DELAY")
	} else {
		c.client.SetDSNMailReturnOption("")
		c.client.SetDSNRcptNotifyOption("")
	}
	if err := c.client.Mail(env.From); err != nil {
		return c.reset(smtpError(store.StageMail, err))
	}
	if err := c.client.Rcpt(env.To); err != nil {
		return c.reset(smtpError(store.StageRcpt, err))
	}
	if err := ready(); err != nil {
		return c.notSent(err)
	}
	return c.data(msg)
}

// notSent abandons the transaction before the message's body: without its
// final dot the server keeps nothing, and the connection is not reused.
func (c *Conn) notSent(err error) error {
	c.broken = true
	return &Error{Stage: store.StageData, Text: "not sent: " + err.Error(), Err: err}
}

// sendPipelined sends MAIL, RCPT and DATA in one write and reads the three
// replies in order (RFC 2920). The first refusal is the one reported, at its
// stage; the connection stays usable after a reset.
func (c *Conn) sendPipelined(env Envelope, msg []byte, ready func() error) error {
	if err := validAddress(env.From); err != nil {
		return &Error{Stage: store.StageMail, Text: err.Error(), Err: err}
	}
	if err := validAddress(env.To); err != nil {
		return &Error{Stage: store.StageRcpt, Text: err.Error(), Err: err}
	}
	mailParams, rcptParams := "", ""
	if c.dsn && env.EnvelopeID != "" {
		mailParams = " RET=HDRS ENVID=" + env.EnvelopeID
		rcptParams = " NOTIFY=FAILURE,DELAY"
	}
	text := c.client.Text
	w := text.W
	fmt.Fprintf(w, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>%s\r\nDATA\r\n", env.From, mailParams, env.To, rcptParams)
	if err := w.Flush(); err != nil {
		c.broken = true
		return smtpError(store.StageMail, err)
	}
	if err := ready(); err != nil {
		return c.notSent(err)
	}
	var first *Error
	dataAccepted := false
	for _, r := range []struct {
		stage store.SMTPStage
		code  int
	}{{store.StageMail, 250}, {store.StageRcpt, 25}, {store.StageData, 354}} {
		_, _, err := text.ReadResponse(r.code)
		if err == nil {
			dataAccepted = r.stage == store.StageData
			continue
		}
		e := smtpError(r.stage, err)
		if e.Code == 0 || e.Code == 421 {
			c.broken = true
			if first == nil {
				first = e
			}
			return first
		}
		if first == nil {
			first = e
		}
	}
	if first != nil {
		if dataAccepted {
			// Refused before DATA, yet DATA was accepted: end an empty
			// message, which the server discards for want of recipients.
			w.WriteString(".\r\n")
			if err := w.Flush(); err != nil {
				c.broken = true
				return first
			}
			text.ReadResponse(0)
		}
		return c.reset(first)
	}
	return c.body(msg)
}

func validAddress(a string) error {
	if a == "" || strings.ContainsAny(a, "<>\r\n \t") {
		return fmt.Errorf("%q is not a mailbox", a)
	}
	return nil
}

// data sends DATA, one command at a time, and the message.
func (c *Conn) data(msg []byte) error {
	text := c.client.Text
	id, err := text.Cmd("DATA")
	if err != nil {
		c.broken = true
		return smtpError(store.StageData, err)
	}
	text.StartResponse(id)
	_, _, err = text.ReadResponse(354)
	text.EndResponse(id)
	if err != nil {
		return c.reset(smtpError(store.StageData, err))
	}
	return c.body(msg)
}

// body writes the message after a 354 and reads the reply to its end. The
// message is dot-stuffed here in one pass over whole lines and written
// straight to the connection's buffer: go-mail's writer (textproto's
// DotWriter) examines every byte, which cost a third of the time of sending
// a message.
func (c *Conn) body(msg []byte) error {
	text := c.client.Text
	if err := writeDotStuffed(text.W, msg); err != nil {
		c.broken = true
		return smtpError(store.StageData, err)
	}
	if err := text.W.Flush(); err != nil {
		c.broken = true
		return smtpError(store.StageData, err)
	}
	if _, _, err := text.ReadResponse(250); err != nil {
		e := smtpError(store.StageData, err)
		c.broken = e.Code == 0 || e.Code == 421
		return e
	}
	return nil
}

// writeDotStuffed writes msg as the body of DATA (RFC 5321 4.5.2): CRLF
// line ends, a line starting with "." gets another, and the final ".".
func writeDotStuffed(w *bufio.Writer, msg []byte) error {
	line := 0
	for line < len(msg) {
		end := bytes.IndexByte(msg[line:], '\n')
		next := len(msg)
		if end >= 0 {
			next = line + end + 1
		}
		l := msg[line:next]
		if l[0] == '.' {
			w.WriteByte('.')
		}
		body := bytes.TrimRight(l, "\r\n")
		w.Write(body)
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		line = next
	}
	_, err := w.WriteString(".\r\n")
	return err
}

// reset returns the server to a clean state after a refused command, so the
// connection serves the next message.
func (c *Conn) reset(e *Error) *Error {
	if e.Code == 0 || e.Code == 421 {
		c.broken = true
		return e
	}
	if err := c.client.Reset(); err != nil {
		c.broken = true
		e.Err = errors.Join(e.Err, err)
	}
	return e
}

// Close says QUIT when it can and closes the connection.
func (c *Conn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	if c.client != nil {
		c.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.client.Quit(); err == nil {
			return nil
		}
	}
	return c.conn.Close()
}
