// Package web serves the operator dashboard: server-rendered Vietnamese
// pages over the store (campaign overview, unit tree, delivery failures,
// review queue, outbox), /healthz and Prometheus /metrics.
//
// The pages name officials and carry the operator's decisions, so the
// server listens on loopback unless told otherwise, every page needs a
// signed session, every form carries a CSRF token, and every response has
// a Content-Security-Policy that allows no script at all. The dashboard
// needs none: it is plain HTML and one stylesheet, embedded in the binary
// (package templates/web), and works without a network. No page shows an
// answer value to anyone.
package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
	"github.com/phieu/phieu/store/sqlite"
	webtemplates "github.com/phieu/phieu/templates/web"
)

// Role is what a signed-in person may see and do.
type Role string

const (
	// RoleOperator sees every page and may act: accept or reject a
	// response, pause or resume a campaign.
	RoleOperator Role = "operator"
	// RoleLiaison is the IT liaison's read-only view: the overview, unit
	// counts (no names), delivery failures and the outbox.
	RoleLiaison Role = "liaison"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOperator || r == RoleLiaison }

// Label is the role's Vietnamese name.
func (r Role) Label() string {
	if r == RoleLiaison {
		return "cán bộ kỹ thuật (chỉ xem)"
	}
	return "người điều hành"
}

// User is a dashboard account.
type User struct {
	Name         string
	PasswordHash string // bcrypt
	Role         Role
}

// DefaultAddr is where the dashboard listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// sessionLifetime is how long a sign-in lasts, in real time.
const sessionLifetime = 12 * time.Hour

// Config is what a Server needs.
type Config struct {
	// Addr is the listen address, DefaultAddr when empty. Only a loopback
	// address unless AllowRemote (then put a TLS reverse proxy in front:
	// session cookies are marked Secure).
	Addr        string
	AllowRemote bool
	DB          *sqlite.DB // opened by the caller, who also closes it
	Users       []User
	// Tokens are static access tokens (from a root-only file), each with
	// its role; compared in constant time. Each must be at least 16 bytes.
	Tokens map[string]Role
	// SessionKey signs session and flash cookies: at least 32 bytes.
	SessionKey []byte
	// ReadOnly serves no actions (phieu serve): buttons are hidden and
	// every POST but signing in and out is refused with 403.
	ReadOnly bool
	Location *time.Location   // where times are shown; Asia/Ho_Chi_Minh when nil
	Now      func() time.Time // the campaign clock (countdowns); time.Now when nil
	// RealNow is the wall clock sessions expire by and sign-in backoff
	// counts on, whatever Now says (the demo runs Now fast); time.Now when
	// nil.
	RealNow func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics // nil: NewMetrics(DB)
	// Health, when set, answers /healthz once the database has answered
	// (the daemon's job states); nil: "ok".
	Health http.Handler
}

// Server is the dashboard.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	metrics *Metrics

	campaigns store.CampaignService
	units     store.UnitService
	outbox    store.OutboxService
	inbound   store.InboundService
	audit     store.AuditService
	dash      store.DashboardService

	users  map[string]User
	tokens []tokenEntry
	logins *loginThrottle
	// dummyHash is checked for unknown names, so that a wrong name costs
	// as much time as a wrong password and names cannot be probed.
	dummyHash []byte

	pages   map[string]*template.Template
	handler http.Handler

	mu  sync.Mutex
	ln  net.Listener
	srv *http.Server
}

// tokenEntry is a token's digest: comparing digests of equal length keeps
// the comparison constant-time whatever the length of what was typed.
type tokenEntry struct {
	digest [sha256.Size]byte
	role   Role
}

// NewServer checks cfg and builds the dashboard; Open starts listening.
func NewServer(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("web: no database")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := checkAddr(cfg.Addr, cfg.AllowRemote); err != nil {
		return nil, err
	}
	if len(cfg.SessionKey) < 32 {
		return nil, store.Errorf(store.EINVALID, "web: the session key must be at least 32 bytes, got %d", len(cfg.SessionKey))
	}
	if cfg.Location == nil {
		cfg.Location = (&store.Campaign{}).Loc()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RealNow == nil {
		cfg.RealNow = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		logger:    cfg.Logger,
		metrics:   cfg.Metrics,
		campaigns: sqlite.NewCampaignService(cfg.DB),
		units:     sqlite.NewUnitService(cfg.DB),
		audit:     sqlite.NewAuditService(cfg.DB),
		dash:      sqlite.NewDashboardService(cfg.DB),
		users:     map[string]User{},
		logins:    newLoginThrottle(cfg.RealNow),
	}
	// The dashboard enqueues nothing, so its outbox needs no references.
	outbox := sqlite.NewOutboxService(cfg.DB, nil)
	s.outbox, s.inbound = outbox, sqlite.NewInboundService(cfg.DB, outbox)
	if s.metrics == nil {
		s.metrics = NewMetrics(cfg.DB)
	}
	cost := bcrypt.DefaultCost
	for _, u := range cfg.Users {
		if u.Name == "" {
			return nil, store.Errorf(store.EINVALID, "web: a user has no name")
		}
		if _, dup := s.users[u.Name]; dup {
			return nil, store.Errorf(store.EINVALID, "web: user %q is given twice", u.Name)
		}
		if !u.Role.Valid() {
			return nil, store.Errorf(store.EINVALID, "web: user %q: role %q is not operator or liaison", u.Name, u.Role)
		}
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, store.Errorf(store.EINVALID, "web: user %q: the password hash is not a bcrypt hash", u.Name)
		}
		cost = c
		s.users[u.Name] = u
	}
	for token, role := range cfg.Tokens {
		if len(token) < 16 {
			return nil, store.Errorf(store.EINVALID, "web: an access token is shorter than 16 characters")
		}
		if !role.Valid() {
			return nil, store.Errorf(store.EINVALID, "web: an access token's role %q is not operator or liaison", role)
		}
		s.tokens = append(s.tokens, tokenEntry{digest: sha256.Sum256([]byte(token)), role: role})
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.dummyHash = dummy
	if s.pages, err = parsePages(s.funcs()); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// checkAddr refuses an address that is not this machine's unless remote
// access was asked for.
func checkAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return store.Errorf(store.EINVALID, "web: listen address %q is not host:port", addr)
	}
	if !allowRemote && !endpoint.IsLoopback(host) {
		return store.Errorf(store.EINVALID, "web: refusing to listen on %s: not a loopback address (127.0.0.1, ::1, localhost); put a TLS reverse proxy in front and allow remote access", addr)
	}
	return nil
}

// Handler returns the dashboard's handler, security headers included.
func (s *Server) Handler() http.Handler { return s.handler }

// Open listens on the configured address and serves in the background.
func (s *Server) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("web: already open")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("dashboard stopped serving", "err", err)
		}
	}(s.srv)
	s.logger.Info("dashboard listening", "url", "http://"+ln.Addr().String(), "read_only", s.cfg.ReadOnly)
	return nil
}

// URL returns the address the dashboard serves on, "" before Open.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops serving: requests under way get up to five seconds to
// finish. It is safe to call more than once, and before Open.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}

// routes maps paths to handlers, inside the security headers.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webtemplates.FS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) { files.ServeHTTP(w, r) })
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics.Handler())

	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	mux.Handle("GET /{$}", s.page(RoleLiaison, s.overview))
	mux.Handle("GET /units", s.page(RoleLiaison, s.unitsPage))
	mux.Handle("GET /units/{code}", s.page(RoleLiaison, s.unitPage))
	mux.Handle("GET /failures", s.page(RoleLiaison, s.failuresPage))
	mux.Handle("GET /failures/{id}", s.page(RoleLiaison, s.failurePage))
	mux.Handle("GET /review", s.page(RoleOperator, s.reviewPage))
	mux.Handle("POST /review/{id}/accept", s.action(s.acceptResponse))
	mux.Handle("POST /review/{id}/reject", s.action(s.rejectResponse))
	mux.Handle("GET /integrity", s.page(RoleOperator, s.integrityPage))
	mux.Handle("GET /outbox", s.page(RoleLiaison, s.outboxPage))
	mux.Handle("POST /outbox/pause", s.action(s.pauseCampaign))
	mux.Handle("POST /outbox/resume", s.action(s.resumeCampaign))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusNotFound, "Không tìm thấy trang này.")
	})
	return securityHeaders(mux)
}

// contentSecurityPolicy allows the stylesheet and inline SVG, and nothing
// that runs: a name or subject that slipped past escaping could still
// not execute.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "public, max-age=3600")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// healthz answers "ok" once the database answers a query; 503 otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.dash.Ping(ctx); err != nil {
		s.logger.Error("health check: database", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "database unavailable")
		return
	}
	if s.cfg.Health != nil {
		s.cfg.Health.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}
