// Package imaptest runs go-imap's in-memory IMAP server on 127.0.0.1 for
// tests and `phieu bench poll`: a real IMAP conversation, no disk, no
// network beyond loopback.
package imaptest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Options shape the server.
type Options struct {
	Username, Password string // default "khaosat" / "matkhau"
	NoMove             bool   // do not offer MOVE (phieu must COPY and flag)
	NoIdle             bool   // do not offer IDLE (phieu must poll)
	Mailboxes          []string
	// TLS is "" (plain), "starttls" or "tls" (implicit), with Cert.
	TLS  string
	Cert tls.Certificate
}

// Server is a running in-memory IMAP server.
type Server struct {
	Host               string
	Port               int
	Username, Password string

	User *imapmemserver.User
	srv  *imapserver.Server
	ln   net.Listener
	// What Restart needs to serve the same mailboxes again.
	sopts     *imapserver.Options
	tlsConfig *tls.Config // implicit TLS, nil otherwise
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Username == "" {
		opts.Username, opts.Password = "khaosat", "matkhau"
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(opts.Username, opts.Password)
	for _, name := range append([]string{"INBOX"}, opts.Mailboxes...) {
		if err := user.Create(name, nil); err != nil {
			return nil, fmt.Errorf("imaptest: create %s: %w", name, err)
		}
	}
	mem.AddUser(user)
	// No UIDPLUS: go-imap's client cannot parse the COPYUID the in-memory
	// server sends with it.
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}, imap.CapMove: {}}
	if opts.NoMove {
		delete(caps, imap.CapMove)
	}
	if opts.NoIdle {
		delete(caps, imap.CapIdle)
	}
	sopts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: opts.TLS == "", // loopback only
		Logger:       log.New(io.Discard, "", 0),
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{opts.Cert}, MinVersion: tls.VersionTLS12}
	if opts.TLS == "starttls" {
		sopts.TLSConfig = tlsConfig
		caps[imap.CapStartTLS] = struct{}{}
	}
	srv := imapserver.New(sopts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: %w", err)
	}
	if opts.TLS == "tls" {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go srv.Serve(ln)
	addr := ln.Addr().(*net.TCPAddr)
	s := &Server{Host: "127.0.0.1", Port: addr.Port, Username: opts.Username, Password: opts.Password,
		User: user, srv: srv, ln: ln, sopts: sopts}
	if opts.TLS == "tls" {
		s.tlsConfig = tlsConfig
	}
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Append adds a message to a mailbox, unread unless flags say otherwise,
// received now.
func (s *Server) Append(mailbox string, raw []byte, flags ...imap.Flag) error {
	return s.AppendAt(mailbox, raw, time.Now(), flags...)
}

// AppendAt adds a message the server received at t.
func (s *Server) AppendAt(mailbox string, raw []byte, t time.Time, flags ...imap.Flag) error {
	_, err := s.User.Append(mailbox, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Flags: flags, Time: t})
	return err
}

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// Message is what a test checks of a stored message.
type Message struct {
	UID     uint32
	Flags   []imap.Flag
	Subject string
}

// Seen reports whether the message is marked as read.
func (m Message) Seen() bool { return m.Has(imap.FlagSeen) }

// Has reports whether the message carries the flag.
func (m Message) Has(flag imap.Flag) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(string(f), string(flag)) { // servers may fold keyword case
			return true
		}
	}
	return false
}

// List returns the messages of a mailbox over a client connection,
// without changing any flag.
func (s *Server) List(mailbox string) ([]Message, error) {
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		return nil, err
	}
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		if ierr, ok := err.(*imap.Error); ok && ierr.Type == imap.StatusResponseTypeNo {
			return nil, nil // empty mailbox
		}
		return nil, err
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{UID: uint32(m.UID), Flags: m.Flags}
		if m.Envelope != nil {
			out[i].Subject = m.Envelope.Subject
		}
	}
	return out, nil
}

// Recreate deletes the mailbox and creates it again holding the same
// messages: the server gives it a new UIDVALIDITY, as after a restore.
func (s *Server) Recreate(mailbox string) error {
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		return err
	}
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return err
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return err
	}
	if err := c.Unselect().Wait(); err != nil {
		return err
	}
	if err := s.User.Delete(mailbox); err != nil {
		return err
	}
	if err := s.User.Create(mailbox, nil); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := s.Append(mailbox, m.BodySection[0].Bytes, m.Flags...); err != nil {
			return err
		}
	}
	return nil
}
