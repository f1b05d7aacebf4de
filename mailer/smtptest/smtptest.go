// Package smtptest runs an in-process SMTP server (emersion/go-smtp) on
// 127.0.0.1 for tests of phieu's mailer. A test scripts its answer at any
// stage (any code, a stall, a dropped connection, a broken greeting), turns
// on STARTTLS or implicit TLS with a test CA, AUTH, or DSN, and reads back
// exactly what the server received.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage is a point of the conversation a Script can answer.
type Stage string

const (
	StageConnect Stage = "connect" // before the greeting
	StageAuth    Stage = "auth"
	StageMail    Stage = "mail"
	StageRcpt    Stage = "rcpt"
	StageData    Stage = "data" // the reply after the body
)

// Step is what the client just did.
type Step struct {
	Stage Stage
	Conn  int    // 1-based connection number
	N     int    // 1-based count of this stage over the server's life
	From  string // MAIL FROM (mail, rcpt, data)
	To    string // RCPT TO (rcpt), the first recipient (data)
	Data  []byte // the message (data only)
}

// Reply is a scripted answer; the zero Reply accepts.
type Reply struct {
	Code     int
	Enhanced string // "4.7.0"
	Text     string
	Stall    time.Duration // wait before answering (cut short by Close)
	Drop     bool          // close the connection instead of answering; at data, after the body, before the reply
}

// Script decides the reply to each step.
type Script func(Step) Reply

// TLSMode is how the server offers TLS.
type TLSMode int

const (
	TLSNone            TLSMode = iota
	TLSStartTLS                // STARTTLS offered, optional
	TLSRequireStartTLS         // MAIL refused (530 5.7.0) before STARTTLS
	TLSImplicit                // TLS from the first byte
)

// Options configure a Server.
type Options struct {
	Script Script
	TLS    TLSMode
	// UntrustedCert presents a certificate that CAPEM did not sign.
	UntrustedCert bool
	// Auth, when set, offers AUTH PLAIN and LOGIN and requires it before MAIL.
	Auth   map[string]string
	DSN    bool   // advertise DSN
	Domain string // default mx.binhson.gov.test
}

// Message is one message the server accepted.
type Message struct {
	Conn       int
	From       string
	To         []string
	Return     string // DSN RET
	EnvelopeID string // DSN ENVID
	Notify     map[string][]string
	Data       []byte
	Header     mail.Header
	Auth       string
	TLS        bool
}

// Server is a running test server.
type Server struct {
	Addr     string
	Host     string
	Port     int
	CAPEM    []byte
	CAFile   string
	CertPool *x509.CertPool

	srv    *smtp.Server
	ln     net.Listener
	closed chan struct{}
	once   sync.Once
	opts   Options

	mu       sync.Mutex
	script   Script
	conns    int
	counts   map[Stage]int
	steps    []Step
	received []Message
	changed  chan struct{} // closed and replaced when received grows
}

// Start starts a server on 127.0.0.1:0 and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Domain == "" {
		opts.Domain = "mx.binhson.gov.test"
	}
	s := &Server{opts: opts, script: opts.Script, closed: make(chan struct{}), counts: map[Stage]int{}, changed: make(chan struct{})}
	var tlsConfig *tls.Config
	if opts.TLS != TLSNone {
		ca, cert := newCertificates(tb, opts.Domain, opts.UntrustedCert)
		s.CAPEM = ca
		s.CertPool = x509.NewCertPool()
		s.CertPool.AppendCertsFromPEM(ca)
		s.CAFile = filepath.Join(tb.TempDir(), "ca.pem")
		if err := os.WriteFile(s.CAFile, ca, 0o644); err != nil {
			tb.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if opts.TLS == TLSImplicit {
		ln = tls.NewListener(ln, tlsConfig)
	}
	s.ln = &listener{Listener: ln, s: s}
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)

	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = opts.Domain
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are what tests script
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.EnableDSN = opts.DSN
	s.srv.AllowInsecureAuth = opts.TLS == TLSNone || opts.TLS == TLSImplicit
	if opts.TLS == TLSStartTLS || opts.TLS == TLSRequireStartTLS {
		s.srv.TLSConfig = tlsConfig
	}
	go s.srv.Serve(s.ln)
	tb.Cleanup(func() { s.Close() })
	return s
}

// Close stops the server and cuts short every stall. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.ln.Close() // Serve may not have taken the listener yet
		err = s.srv.Close()
	})
	return err
}

// SetScript replaces the script.
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

// WaitReceived waits until n messages were accepted.
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

// Conns returns the number of connections accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Steps returns every step seen, without message data.
func (s *Server) Steps() []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Step(nil), s.steps...)
}

// decide records a step and returns the script's reply, after any stall.
func (s *Server) decide(st Step) Reply {
	s.mu.Lock()
	s.counts[st.Stage]++
	st.N = s.counts[st.Stage]
	rec := st
	rec.Data = nil
	s.steps = append(s.steps, rec)
	script := s.script
	s.mu.Unlock()
	if script == nil {
		return Reply{}
	}
	r := script(st)
	if r.Stall > 0 {
		t := time.NewTimer(r.Stall)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
		}
	}
	return r
}

func (r Reply) err() error {
	if r.Code == 0 {
		return nil
	}
	e := &smtp.SMTPError{Code: r.Code, Message: r.Text}
	if r.Enhanced != "" {
		var ec smtp.EnhancedCode
		for i, p := range strings.SplitN(r.Enhanced, ".", 3) {
			ec[i], _ = strconv.Atoi(p)
		}
		e.EnhancedCode = ec
	} else {
		e.EnhancedCode = smtp.NoEnhancedCode
	}
	if e.Message == "" {
		e.Message = "scripted reply"
	}
	return e
}

// listener numbers connections and plays StageConnect faults, which go-smtp
// cannot: a broken greeting or a stall before it.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.mu.Lock()
		l.s.conns++
		n := l.s.conns
		l.s.mu.Unlock()
		r := l.s.decide(Step{Stage: StageConnect, Conn: n})
		switch {
		case r.Drop:
			c.Close()
			continue
		case r.Code != 0:
			fmt.Fprintf(c, "%d %s %s\r\n", r.Code, r.Enhanced, cmp(r.Text, "Service not available"))
			c.Close()
			continue
		}
		return &numberedConn{Conn: c, n: n}, nil
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type numberedConn struct {
	net.Conn
	n int
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	n := 0
	raw := c.Conn()
	if nc, ok := raw.(*numberedConn); ok {
		n = nc.n
	} else if tc, ok := raw.(*tls.Conn); ok {
		if nc, ok := tc.NetConn().(*numberedConn); ok {
			n = nc.n
		}
	}
	return &session{s: b.s, c: c, conn: n}, nil
}

type session struct {
	s    *Server
	c    *smtp.Conn
	conn int
	user string
	msg  Message
}

func (ss *session) tls() bool {
	_, ok := ss.c.TLSConnectionState()
	return ok
}

func (ss *session) drop() error {
	ss.c.Conn().Close()
	return errors.New("smtptest: connection dropped by script")
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Auth == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if ss.s.opts.TLS == TLSRequireStartTLS && !ss.tls() {
			return &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required"}
		}
		r := ss.s.decide(Step{Stage: StageAuth, Conn: ss.conn, From: user})
		if r.Drop {
			return ss.drop()
		}
		if err := r.err(); err != nil {
			return err
		}
		if want, ok := ss.s.opts.Auth[user]; !ok || want != pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unsupported mechanism"}
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check      func(user, pass string) error
	user       string
	step       int
	credential bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(resp) > 0 { // initial response carries the user name
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.opts.TLS == TLSRequireStartTLS && !ss.tls() {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if ss.s.opts.Auth != nil && ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	r := ss.s.decide(Step{Stage: StageMail, Conn: ss.conn, From: from})
	if r.Drop {
		return ss.drop()
	}
	if err := r.err(); err != nil {
		return err
	}
	ss.msg = Message{Conn: ss.conn, From: from, Notify: map[string][]string{}, Auth: ss.user, TLS: ss.tls()}
	if opts != nil {
		ss.msg.Return, ss.msg.EnvelopeID = string(opts.Return), opts.EnvelopeID
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	r := ss.s.decide(Step{Stage: StageRcpt, Conn: ss.conn, From: ss.msg.From, To: to})
	if r.Drop {
		return ss.drop()
	}
	if err := r.err(); err != nil {
		return err
	}
	ss.msg.To = append(ss.msg.To, to)
	if opts != nil && len(opts.Notify) > 0 {
		for _, n := range opts.Notify {
			ss.msg.Notify[to] = append(ss.msg.Notify[to], string(n))
		}
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	first := ""
	if len(ss.msg.To) > 0 {
		first = ss.msg.To[0]
	}
	// The body is read whole before the script decides, so a Drop here
	// cuts the connection after the final "." and before the reply: the
	// client cannot know whether the message was taken.
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	reply := ss.s.decide(Step{Stage: StageData, Conn: ss.conn, From: ss.msg.From, To: first, Data: data})
	if reply.Drop {
		return ss.drop()
	}
	if err := reply.err(); err != nil {
		return err
	}
	ss.msg.Data = data
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		ss.msg.Header = m.Header
	}
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, ss.msg)
	close(ss.s.changed)
	ss.s.changed = make(chan struct{})
	ss.s.mu.Unlock()
	ss.msg = Message{}
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }

// newCertificates makes a CA and a server certificate it signed, valid for
// 127.0.0.1, localhost and domain. untrusted signs the server certificate
// with a second CA the returned PEM does not hold.
func newCertificates(tb testing.TB, domain string, untrusted bool) (caPEM []byte, cert tls.Certificate) {
	tb.Helper()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"phieu tests"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			tb.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	ca, caKey, caPEM := newCA("phieu test CA")
	if untrusted {
		ca, caKey, _ = newCA("some other CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost", domain}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
