// Package endpoint holds what the SMTP sender and the IMAP poller share about
// reaching a mail server: the TLS modes, the loopback rule for plain
// connections, and a verifying TLS configuration with an optional CA file.
package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"

	"github.com/phieu/phieu/store"
)

// TLS modes of a server connection.
const (
	TLSStartTLS = "starttls" // plain connect, STARTTLS required before anything else
	TLSImplicit = "tls"      // TLS from the first byte (465 for SMTP, 993 for IMAP)
	TLSNone     = "none"     // only for a server on this machine
)

// IsLoopback reports whether host names this machine, the only place a
// connection without TLS is allowed to go.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// CheckTLSMode refuses an unknown mode, and "none" for a remote host: a
// password must never cross the network in clear. proto prefixes errors.
func CheckTLSMode(proto, mode, host string) error {
	switch mode {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !IsLoopback(host) {
			return store.Errorf(store.EINVALID, "%s: tls: none is allowed only for a server on this machine, not %s", proto, host)
		}
	default:
		return store.Errorf(store.EINVALID, "%s: tls %q is not starttls, tls or none", proto, mode)
	}
	return nil
}

// ClientTLS returns a verifying TLS configuration for host: the system's
// roots plus caFile's certificates (a province's own CA), checked against
// serverName when the certificate names another host than the one dialed.
func ClientTLS(proto, host, caFile, serverName string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, store.Errorf(store.EINVALID, "%s: ca_file: %v", proto, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, store.Errorf(store.EINVALID, "%s: ca_file %s holds no PEM certificate", proto, caFile)
		}
	}
	if serverName == "" {
		serverName = host
	}
	return &tls.Config{ServerName: serverName, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
