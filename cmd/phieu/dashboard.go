package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const serveHelp = `Serves the dashboard read-only, on http.listen (127.0.0.1:8470 by
default), without running any job: for looking at a campaign while the
daemon runs elsewhere, or at a copy of the database. Operators sign in
with the accounts of http.operators or a token of http.token_file; the IT
liaison's role sees counts, failures and the outbox, never answers. No
action (accepting a response, pausing a campaign) is possible here:
phieu run serves the same pages with them. GET /healthz and /metrics
(Prometheus) need no sign-in and name nobody.`

// ServeCommand is "phieu serve".
type ServeCommand struct {
	noArgs
	m      *Main
	config configFlag
}

func (c *ServeCommand) flags(fs *flag.FlagSet) { c.config.register(fs) }

// Run serves until interrupted.
func (c *ServeCommand) Run(ctx context.Context) error {
	db, cfg, err := c.m.openStore(c.config)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "" {
		return store.Errorf(store.EINVALID, "http.listen is empty in %s: there is nowhere to serve", configName(cfg))
	}
	srv, err := c.m.newDashboard(cfg, db, dashboardOptions{readOnly: true})
	if err != nil {
		return err
	}
	if err := srv.Open(); err != nil {
		return fmt.Errorf("http: %w (http.listen in %s)", err, configName(cfg))
	}
	defer srv.Close()
	fmt.Fprintf(c.m.Stderr, "phieu serve: store %s, dashboard (read-only) on %s (Ctrl-C to stop)\n", db.Path(), srv.URL())
	<-ctx.Done()
	return nil
}

// dashboardOptions is what differs between the commands that serve the
// dashboard.
type dashboardOptions struct {
	readOnly bool         // phieu serve
	health   http.Handler // the daemon's job states for /healthz; nil: a database check
	metrics  *web.Metrics // the daemon's job metrics; nil: the store's counts only
}

// newDashboard builds the web server the config describes, over an open
// database.
func (m *Main) newDashboard(cfg *Config, db *sqlite.DB, opts dashboardOptions) (*web.Server, error) {
	users := make([]web.User, 0, len(cfg.HTTP.Operators))
	for _, op := range cfg.HTTP.Operators {
		role, err := op.role()
		if err != nil {
			return nil, fmt.Errorf("http.operators: %s: %w", op.Name, err)
		}
		users = append(users, web.User{Name: op.Name, PasswordHash: op.PasswordHash, Role: role})
	}
	var tokens map[string]web.Role
	if cfg.HTTP.TokenFile != "" {
		var err error
		if tokens, err = cfg.readTokens(); err != nil {
			return nil, store.Errorf(store.EINVALID, "http.token_file: %v", err)
		}
	}
	if len(users) == 0 && len(tokens) == 0 {
		m.Logger.Warn("the dashboard has no account: add http.operators or http.token_file to sign in", "config", configName(cfg))
	}
	secret, err := m.loadSecret(cfg)
	if err != nil {
		return nil, err
	}
	return web.NewServer(web.Config{
		Addr:        cfg.HTTP.Listen,
		AllowRemote: cfg.HTTP.AllowRemote,
		DB:          db,
		Users:       users,
		Tokens:      tokens,
		SessionKey:  sessionKey(secret),
		ReadOnly:    opts.readOnly,
		Location:    configLocation(cfg),
		Now:         m.Now,
		Logger:      m.Logger,
		Health:      opts.health,
		Metrics:     opts.metrics,
	})
}

// sessionKey derives the key that signs dashboard sessions from the
// installation secret, so that rotating the secret signs everyone out and
// the key itself is never stored.
func sessionKey(secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("phieu dashboard session key v1"))
	return mac.Sum(nil)
}

const hashPasswordHelp = `Reads a password (asked for twice on a terminal, else the first line
of standard input) and prints its bcrypt hash, for the password_hash of an
account under http.operators in phieu.yaml. The password itself is stored
nowhere.`

// HashPasswordCommand is "phieu hash-password".
type HashPasswordCommand struct {
	noArgs
	m     *Main
	Stdin io.Reader
}

func (c *HashPasswordCommand) flags(fs *flag.FlagSet) {}

// Run prints the hash.
func (c *HashPasswordCommand) Run(ctx context.Context) error {
	password, err := c.read()
	if err != nil {
		return err
	}
	if len([]rune(password)) < 10 {
		return store.Errorf(store.EINVALID, "hash-password: the password is shorter than 10 characters")
	}
	if len(password) > 72 {
		return store.Errorf(store.EINVALID, "hash-password: bcrypt uses at most 72 bytes; choose a shorter password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	fmt.Fprintln(c.m.Stdout, string(hash))
	return nil
}

func (c *HashPasswordCommand) read() (string, error) {
	in := c.Stdin
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.m.Stderr, "Mật khẩu: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.m.Stderr)
		if err != nil {
			return "", fmt.Errorf("hash-password: %w", err)
		}
		fmt.Fprint(c.m.Stderr, "Nhập lại: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.m.Stderr)
		if err != nil {
			return "", fmt.Errorf("hash-password: %w", err)
		}
		if string(first) != string(again) {
			return "", store.Errorf(store.EINVALID, "hash-password: the two passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("hash-password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
