package imaptest

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
)

// Restart stops the server, cutting every connection, and serves the same
// mailboxes again on the same port, as a mail server restarting does:
// messages, UIDs and UIDVALIDITY are kept.
func (s *Server) Restart() error {
	s.srv.Close()
	var ln net.Listener
	var err error
	// The port is free once the old listener is closed; give the kernel
	// a moment if it is not yet.
	for range 50 {
		if ln, err = net.Listen("tcp", s.Addr()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("imaptest: restart: %w", err)
	}
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	s.srv, s.ln = imapserver.New(s.sopts), ln
	go s.srv.Serve(ln)
	return nil
}
