// Package smtptest runs an in-process SMTP server (emersion/go-smtp) on
// 127.0.0.1 for tests of phieu's mailer. A test scripts its answer at any
// stage (any code, a stall, a dropped connection, a broken greeting), turns
// on STARTTLS or implicit TLS with a test CA, AUTH, or DSN, and reads back
// exactly what the server received.
package smtptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/phieu/phieu/store/endpoint/testcert"
)

// Stage is a point of the conversation a Script can answer.
type Stage string

const (
	// StageConnect is a new connection, before the greeting. A Code of 300
	// or more is sent as the greeting and the connection closed; Stall
	// delays the greeting; Drop closes the connection without a word.
	StageConnect Stage = "connect"
	// StageAuth is an AUTH exchange, before the credentials are checked.
	StageAuth Stage = "auth"
	StageMail Stage = "mail"
	StageRcpt Stage = "rcpt"
	// StageBody is the first line of the message arriving (Step.Data holds
	// it), while the client is still sending the rest. SMTP has no reply
	// in the middle of a body, so only Drop (cut the connection mid-DATA)
	// and Stall (stop reading for a while) apply; Code is ignored.
	StageBody Stage = "body"
	// StageData is the reply after the whole body (the final ".") has been
	// read; Step.Data holds the message. Drop here closes the connection
	// after the body and before the reply, so the client cannot know
	// whether the message was taken.
	StageData Stage = "data"
)

// Step is what the client just did; a Script decides the reply.
type Step struct {
	Stage Stage
	Conn  int    // 1-based connection number
	N     int    // 1-based count of this stage over the server's life
	User  string // AUTH username (auth)
	From  string // MAIL FROM (mail, rcpt, body, data)
	To    string // RCPT TO (rcpt), the first recipient (body, data)
	Data  []byte // the first line (body) or the whole message (data)
}

// Reply is a scripted answer. The zero Reply accepts.
type Reply struct {
	Code     int           // a refusal such as 450 or 550; 0 accepts
	Enhanced string        // "4.7.0"; omitted when empty
	Text     string        // defaults to "Scripted reply"
	Stall    time.Duration // wait before answering; Close cuts it short
	Drop     bool          // close the connection instead of answering
	// Queued, at data: the message is received before the reply is
	// written, as a real MTA commits its queue file first; a client gone
	// during Stall, or cut off by Drop, then has delivered a message it
	// never heard about.
	Queued bool
}

// Script decides the reply to each step. It runs on the connection's
// goroutine, so it may block that connection (and only that one).
type Script func(Step) Reply

// TLSMode is how the server offers TLS.
type TLSMode int

const (
	TLSNone            TLSMode = iota
	TLSStartTLS                // STARTTLS offered, optional
	TLSRequireStartTLS         // MAIL (530 5.7.0) and AUTH refused before STARTTLS
	TLSImplicit                // TLS from the first byte
)

// Options configure a Server.
type Options struct {
	Script Script
	TLS    TLSMode
	// UntrustedCert makes the server present a certificate signed by a CA
	// other than the one in CAPEM, for "bad certificate" tests.
	UntrustedCert bool
	// Auth (username -> password), when non-nil, offers AUTH PLAIN and
	// LOGIN and requires it before MAIL (530 5.7.0). Wrong credentials get
	// 535 5.7.8. Without TLS, AUTH is allowed only in TLSNone mode.
	Auth map[string]string
	// DSN advertises DSN and records RET, ENVID and NOTIFY.
	DSN bool
	// MaxConns, when positive, greets connections beyond that many open
	// ones with "421 4.7.0" and closes them, without asking the Script.
	MaxConns int
	// Domain is the EHLO domain; the default is "mx.binhson.gov.test".
	Domain string
}

// Message is one message the server accepted (DATA answered 250).
type Message struct {
	Conn       int
	From       string
	To         []string
	Return     string              // DSN RET ("HDRS", "FULL") or ""
	EnvelopeID string              // DSN ENVID or ""
	Notify     map[string][]string // recipient -> DSN NOTIFY values; nil without any
	Data       []byte              // the message as received, CRLF line ends
	Header     mail.Header         // nil if the message does not parse
	Auth       string              // username authenticated on the connection
	TLS        bool                // whether the connection was under TLS
}

// Server is a running test server.
type Server struct {
	Addr     string // "127.0.0.1:port"
	Host     string
	Port     int
	CAPEM    []byte         // the test CA, PEM (TLS modes only)
	CAFile   string         // CAPEM written to a file (TLS modes only)
	CertPool *x509.CertPool // holds CAPEM (TLS modes only)

	opts     Options
	srv      *smtp.Server
	ln       *listener
	closed   chan struct{} // closed by Close; ends stalls
	once     sync.Once
	closeErr error
	inflight sync.WaitGroup // script calls under way

	mu       sync.Mutex
	shut     bool
	script   Script
	conns    int // accepted so far
	open     int // open now, for MaxConns
	counts   map[Stage]int
	steps    []Step
	received []Message
	changed  chan struct{} // closed and replaced when received grows
}

// Start starts a server on 127.0.0.1:0 and closes it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Domain == "" {
		opts.Domain = "mx.binhson.gov.test"
	}
	var tlsConfig *tls.Config
	var caPEM []byte
	if opts.TLS != TLSNone {
		var cert tls.Certificate
		caPEM, cert = testcert.New(tb, opts.Domain, opts.UntrustedCert)
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s, err := listen(opts, tlsConfig)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		s.inflight.Wait() // no Script runs after the test
	})
	if caPEM != nil {
		s.CAPEM = caPEM
		s.CertPool = x509.NewCertPool()
		s.CertPool.AppendCertsFromPEM(caPEM)
		s.CAFile = filepath.Join(tb.TempDir(), "ca.pem")
		if err := os.WriteFile(s.CAFile, caPEM, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// New starts a server on 127.0.0.1:0 outside a test, for `phieu demo`; the
// caller closes it. It serves plain SMTP only: the test certificates are
// made for a test (use Start for TLS).
func New(opts Options) (*Server, error) {
	if opts.TLS != TLSNone {
		return nil, errors.New("smtptest: New serves plain SMTP only; use Start for TLS")
	}
	if opts.Domain == "" {
		opts.Domain = "mx.binhson.gov.test"
	}
	return listen(opts, nil)
}

// listen starts serving: tlsConfig is the server's certificate for the TLS
// modes, nil for TLSNone.
func listen(opts Options, tlsConfig *tls.Config) (*Server, error) {
	s := &Server{
		opts:    opts,
		script:  opts.Script,
		closed:  make(chan struct{}),
		counts:  map[Stage]int{},
		changed: make(chan struct{}),
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	s.Addr = raw.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	s.ln = newListener(raw, s)
	if opts.TLS == TLSImplicit {
		s.ln.tls = tlsConfig
	}

	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = opts.Domain
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are what tests script
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.EnableDSN = opts.DSN
	s.srv.AllowInsecureAuth = opts.TLS == TLSNone
	if opts.TLS == TLSStartTLS || opts.TLS == TLSRequireStartTLS {
		s.srv.TLSConfig = tlsConfig
	}
	go s.ln.serve()
	go s.srv.Serve(s.ln)
	return s, nil
}

// Close stops the server, closes every connection and cuts short every
// stall. It is idempotent, and a Script may call it.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.shut = true
		s.mu.Unlock()
		close(s.closed)
		s.closeErr = s.srv.Close()
		s.ln.Close() // Serve may not have taken the listener yet
		s.ln.closeAll()
		s.ln.wg.Wait()
	})
	return s.closeErr
}

// SetScript replaces the script; nil accepts everything.
func (s *Server) SetScript(f Script) {
	s.mu.Lock()
	s.script = f
	s.mu.Unlock()
}

// Received returns what was accepted, in order.
func (s *Server) Received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.received...)
}

// WaitReceived waits until at least n messages were accepted and returns
// them all. When ctx ends first it returns what there is and ctx.Err().
func (s *Server) WaitReceived(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.received) >= n {
			out := append([]Message(nil), s.received...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Received(), ctx.Err()
		}
	}
}

// Conns returns the number of connections accepted so far.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Steps returns every step seen, without message data, in order.
func (s *Server) Steps() []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Step(nil), s.steps...)
}

// decide records a step and returns the script's reply, after any stall.
// Once the server is closed it answers Drop without asking the script.
func (s *Server) decide(st Step) Reply {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return Reply{Drop: true}
	}
	s.counts[st.Stage]++
	st.N = s.counts[st.Stage]
	rec := st
	rec.Data = nil
	s.steps = append(s.steps, rec)
	script := s.script
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	var r Reply
	if script != nil {
		r = script(st)
	}
	if r.Stall > 0 {
		t := time.NewTimer(r.Stall)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
		}
	}
	select {
	case <-s.closed:
		r.Drop = true
	default:
	}
	return r
}

func (s *Server) accept(m Message) {
	s.mu.Lock()
	s.received = append(s.received, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}
