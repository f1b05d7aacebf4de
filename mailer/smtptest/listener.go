package smtptest

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// listener numbers connections and plays StageConnect, which go-smtp
// cannot: a broken greeting, a stall before it, a refusal past MaxConns.
// Each new connection is handled on its own goroutine, so a stalled one
// does not hold up the others; the ones that pass are handed to go-smtp
// through Accept.
type listener struct {
	net.Listener // the TCP listener
	s            *Server
	tls          *tls.Config // set for implicit TLS

	ready chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup // serve and the admit goroutines

	mu   sync.Mutex
	live map[*conn]struct{}
}

func newListener(raw net.Listener, s *Server) *listener {
	l := &listener{Listener: raw, s: s, ready: make(chan net.Conn), done: make(chan struct{}), live: map[*conn]struct{}{}}
	l.wg.Add(1) // serve; taken here so Close can wait even before serve starts
	return l
}

func (l *listener) serve() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.Close()
			return
		}
		l.wg.Add(1)
		go l.admit(c)
	}
}

func (l *listener) admit(raw net.Conn) {
	defer l.wg.Done()
	s := l.s
	s.mu.Lock()
	s.conns++
	n := s.conns
	full := s.opts.MaxConns > 0 && s.open >= s.opts.MaxConns
	if !full {
		s.open++
	}
	s.mu.Unlock()

	c := &conn{Conn: raw, n: n, l: l, counted: !full}
	l.mu.Lock()
	l.live[c] = struct{}{}
	l.mu.Unlock()
	var nc net.Conn = c
	if l.tls != nil {
		nc = tls.Server(c, l.tls)
	}
	if full {
		refuse(nc, 421, "4.7.0", "Too many connections")
		return
	}
	r := s.decide(Step{Stage: StageConnect, Conn: n})
	switch {
	case r.Drop:
		nc.Close()
		return
	case r.Code >= 300:
		refuse(nc, r.Code, r.Enhanced, r.Text)
		return
	}
	select {
	case l.ready <- nc:
	case <-l.done:
		nc.Close()
	}
}

// refuse writes a greeting that is not 220 and closes the connection.
func refuse(c net.Conn, code int, enhanced, text string) {
	if text == "" {
		text = "Service not available"
	}
	if enhanced != "" {
		text = enhanced + " " + text
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%d %s\r\n", code, text)
	c.Close()
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.Listener.Close()
	})
	return nil
}

// closeAll closes every connection still open, including any go-smtp took
// from Accept but has not registered yet.
func (l *listener) closeAll() {
	l.mu.Lock()
	live := make([]*conn, 0, len(l.live))
	for c := range l.live {
		live = append(live, c)
	}
	l.mu.Unlock()
	for _, c := range live {
		c.Close()
	}
}

// conn is an accepted TCP connection with its number. TLS, implicit or
// after STARTTLS, wraps it, so the number survives the upgrade.
type conn struct {
	net.Conn
	n       int
	l       *listener
	counted bool // against MaxConns
	once    sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.live, c)
		c.l.mu.Unlock()
		if c.counted {
			c.l.s.mu.Lock()
			c.l.s.open--
			c.l.s.mu.Unlock()
		}
	})
	return err
}

// connNumber finds the number of a connection go-smtp hands back.
func connNumber(c net.Conn) int {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if nc, ok := c.(*conn); ok {
		return nc.n
	}
	return 0
}
