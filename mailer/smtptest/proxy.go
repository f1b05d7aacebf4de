package smtptest

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// ProxyFaults is what a Proxy does to the bytes a server sends back; the
// zero value forwards them untouched.
type ProxyFaults struct {
	// ByteDelay trickles the server's bytes one at a time, waiting this
	// long after each: a slow server or link.
	ByteDelay time.Duration
	// CutAfter closes the connection once this many bytes of the server's
	// answer were forwarded, counted from the first occurrence of CutAt
	// (from the first byte when CutAt is empty): a connection dropped in
	// the middle of a reply such as an IMAP FETCH.
	CutAfter int
	CutAt    []byte
}

// Proxy is a TCP proxy on 127.0.0.1 in front of any test server (SMTP or
// IMAP), faulting the server-to-client direction. Each new connection
// takes the faults set at the moment it is accepted.
type Proxy struct {
	Addr string
	Host string
	Port int

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	faults ProxyFaults
	conns  []net.Conn
	cuts   int
}

// StartProxy forwards 127.0.0.1:0 to target with faults until the test ends.
func StartProxy(tb testing.TB, target string, faults ProxyFaults) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, faults: faults}
	host, port, _ := net.SplitHostPort(p.Addr)
	p.Host = host
	p.Port, _ = strconv.Atoi(port)
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.Close)
	return p
}

// SetFaults changes the faults of the connections accepted from now on.
func (p *Proxy) SetFaults(f ProxyFaults) {
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
}

// Cuts returns how many connections CutAfter closed.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Close stops accepting and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close() // the target is down: so is the proxy
			continue
		}
		p.mu.Lock()
		faults := p.faults
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if _, werr := server.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.forward(server, client, faults)
			client.Close()
			server.Close()
		}()
	}
}

// forward copies the server's bytes to the client with faults.
func (p *Proxy) forward(server, client net.Conn, f ProxyFaults) {
	buf := make([]byte, 32<<10)
	counting := len(f.CutAt) == 0
	var seen []byte // the tail of what was read, to find CutAt across reads
	left := f.CutAfter
	for {
		n, err := server.Read(buf)
		chunk := buf[:n]
		if f.CutAfter > 0 && n > 0 {
			if !counting {
				seen = append(seen, chunk...)
				if i := bytes.Index(seen, f.CutAt); i >= 0 {
					counting = true
					// Only what follows CutAt in this read counts.
					start := max(0, len(chunk)-(len(seen)-i))
					if _, werr := client.Write(chunk[:start]); werr != nil {
						return
					}
					chunk = chunk[start:]
				} else if len(seen) > len(f.CutAt) {
					seen = seen[len(seen)-len(f.CutAt):]
				}
			}
			if counting && len(chunk) >= left {
				client.Write(chunk[:left])
				p.mu.Lock()
				p.cuts++
				p.mu.Unlock()
				return
			}
			if counting {
				left -= len(chunk)
			}
		}
		if f.ByteDelay > 0 {
			for i := range chunk {
				if _, werr := client.Write(chunk[i : i+1]); werr != nil {
					return
				}
				time.Sleep(f.ByteDelay)
			}
		} else if len(chunk) > 0 {
			if _, werr := client.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
