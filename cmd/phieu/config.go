package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
	"github.com/phieu/phieu/store/yamlfile"
)

// DefaultConfigName is the config file looked for in the working directory.
const DefaultConfigName = "phieu.yaml"

// Config is the daemon's configuration file (phieu.yaml).
type Config struct {
	// Path is the file the config came from, "" for built-in defaults.
	// Relative paths inside the file are relative to its directory.
	Path string `yaml:"-"`

	Store StoreConfig `yaml:"store"`
	// SecretFile holds the per-installation secret that keys message
	// references; created on first use, kept outside the database so a copy
	// of the database alone cannot forge or link them. $PHIEU_SECRET
	// overrides it.
	SecretFile string       `yaml:"secret_file"`
	Timezone   string       `yaml:"timezone"`
	SMTP       SMTPConfig   `yaml:"smtp"`
	IMAP       IMAPConfig   `yaml:"imap"`
	HTTP       HTTPConfig   `yaml:"http"`
	Log        LogConfig    `yaml:"log"`
	Daemon     DaemonConfig `yaml:"daemon"`
	// Liaison is the IT department's liaison: the daily digest of delivery
	// failures goes there. No mailbox: no digest.
	Liaison LiaisonConfig `yaml:"liaison"`
	// Integrity sets when alike answers of a unit are flagged as a cluster.
	Integrity IntegrityConfig `yaml:"integrity"`

	doc *yamlfile.Doc // positions of the keys, for Validate
}

// StoreConfig locates the database.
type StoreConfig struct {
	Path string `yaml:"path"`
}

// ServerConfig is what SMTP and IMAP connections share.
type ServerConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	TLS          string `yaml:"tls"` // starttls, tls or none (loopback only)
	CAFile       string `yaml:"ca_file"`
	ServerName   string `yaml:"server_name"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// SMTPConfig is the official mail server phieu sends through.
type SMTPConfig struct {
	ServerConfig `yaml:",inline"`
	Auth         string `yaml:"auth"` // plain, login, cram-md5, or "" to pick from what the server offers
	HeloName     string `yaml:"helo_name"`
	Connections  int    `yaml:"connections"`
	PerMinute    int    `yaml:"per_minute"`
	PerHour      int    `yaml:"per_hour"`
	// A message the server defers is tried again after RetryFirst, the
	// wait doubling up to RetryMax, until GiveUpAfter from when it was
	// queued: servers differ (greylisting takes minutes, a full mailbox days).
	RetryFirst  string `yaml:"retry_first"`
	RetryMax    string `yaml:"retry_max"`
	GiveUpAfter string `yaml:"give_up_after"`
}

// IMAPConfig is the survey mailbox phieu reads.
type IMAPConfig struct {
	ServerConfig `yaml:",inline"`
	Mailbox      string        `yaml:"mailbox"`
	Auth         string        `yaml:"auth"`      // login (default) or plain
	FileMode     string        `yaml:"file_mode"` // move (default), copy or flag
	Folders      FoldersConfig `yaml:"folders"`
	// PollInterval is how often a server without IDLE is polled.
	PollInterval string `yaml:"poll_interval"`
	// IDLE makes "phieu run" keep a connection open and read new mail as
	// it arrives (IMAP IDLE, or every poll_interval where the server has
	// none) instead of polling on the daemon.poll schedule.
	IDLE bool `yaml:"idle"`
	// ResendAfter and Resends: after a "mailbox full" bounce the
	// invitation goes again this much later, at most this many times.
	ResendAfter string `yaml:"resend_after"`
	Resends     int    `yaml:"resends"`
}

// FoldersConfig names the folders phieu files its messages into.
type FoldersConfig struct {
	Bounces     string `yaml:"bounces"`
	Replies     string `yaml:"replies"`
	AutoReplies string `yaml:"auto_replies"`
	Unmatched   string `yaml:"unmatched"`
}

// LiaisonConfig names the IT liaison.
type LiaisonConfig struct {
	Name    string `yaml:"name"`
	Mailbox string `yaml:"mailbox"`
}

// DaemonConfig schedules the jobs of "phieu run", as cron specs in the
// config's timezone (five fields, or @every 2m, @daily...).
type DaemonConfig struct {
	Send         string `yaml:"send"`         // deliver what the outbox owes
	Poll         string `yaml:"poll"`         // read the survey mailbox
	Plan         string `yaml:"plan"`         // queue due reminders and head digests
	Housekeeping string `yaml:"housekeeping"` // give back expired leases
	// LiaisonDigest sends the IT liaison the failures since the last
	// digest, on working days (holidays of the campaign calendar skipped).
	LiaisonDigest string `yaml:"liaison_digest"`
	// ShutdownTimeout bounds how long Ctrl-C waits for running jobs.
	ShutdownTimeout string `yaml:"shutdown_timeout"`
}

// HTTPConfig is the dashboard and /healthz, /metrics: where they listen
// and who may sign in.
type HTTPConfig struct {
	// Listen is host:port; "" serves nothing. Only a loopback address
	// unless AllowRemote: the dashboard names people, and a reverse proxy
	// with TLS belongs in front of anything wider.
	Listen      string `yaml:"listen"`
	AllowRemote bool   `yaml:"allow_remote"`
	// Operators sign in with a name and a password, stored as a bcrypt
	// hash (phieu hash-password prints one).
	Operators []OperatorConfig `yaml:"operators"`
	// TokenFile holds access tokens, one "ROLE TOKEN" per line (# starts a
	// comment): for a liaison without an account, or a script. It must not
	// be readable by group or others.
	TokenFile string `yaml:"token_file"`
}

// OperatorConfig is one dashboard account.
type OperatorConfig struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
	Role         string `yaml:"role"` // operator (default) or liaison (read-only, failures and counts)
}

// LogConfig sets the structured log.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultConfig is what phieu uses with no config file: everything on this
// machine, nothing that could reach another.
func DefaultConfig() Config {
	return Config{
		Store:      StoreConfig{Path: "phieu.db"},
		SecretFile: "phieu.secret",
		Timezone:   store.DefaultLocation,
		SMTP: SMTPConfig{
			ServerConfig: ServerConfig{Host: "127.0.0.1", Port: 2525, TLS: "none"},
			Connections:  2,
			PerMinute:    60,
			PerHour:      1000,
			RetryFirst:   "5m",
			RetryMax:     "2h",
			GiveUpAfter:  "72h",
		},
		IMAP: IMAPConfig{
			ServerConfig: ServerConfig{Host: "127.0.0.1", Port: 1143, TLS: "none"},
			Mailbox:      "INBOX",
			FileMode:     "move",
			Folders: FoldersConfig{Bounces: "phieu/Bounces", Replies: "phieu/Replies",
				AutoReplies: "phieu/AutoReplies", Unmatched: "phieu/Unmatched"},
			PollInterval: "2m",
			ResendAfter:  "24h",
			Resends:      3,
		},
		HTTP: HTTPConfig{Listen: "127.0.0.1:8470"},
		Daemon: DaemonConfig{Send: "@every 1m", Poll: "@every 2m", Plan: "*/15 * * * *", Housekeeping: "30 3 * * *",
			LiaisonDigest: "0 17 * * 1-5", ShutdownTimeout: "30s"},
		Log: LogConfig{Level: "info", Format: "text"},
	}
}

// FindConfigPath returns the config file to read: the flag's value, else
// $PHIEU_CONFIG, else phieu.yaml in the working directory. explicit is false
// only in the last case, where a missing file means the built-in defaults.
func FindConfigPath(flagValue string) (path string, explicit bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if env := os.Getenv("PHIEU_CONFIG"); env != "" {
		return env, true
	}
	return DefaultConfigName, false
}

// ReadConfigFile reads the file at path over the defaults. Unknown keys,
// wrong types and syntax errors are reported as FILE:LINE:COL: message.
func ReadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig reads a config file's contents over the defaults; path names
// it in errors and anchors its relative paths.
func ParseConfig(path string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	doc, err := yamlfile.Parse(path, data, &cfg)
	if err != nil {
		return Config{}, err
	}
	cfg.Path = path
	cfg.doc = doc
	return cfg, nil
}

// Resolve returns p relative to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// Validate reports every problem, positioned at its key when the config came
// from a file. Secrets are checked for presence, never printed.
func (c *Config) Validate() error {
	doc := c.doc
	if doc == nil {
		doc = &yamlfile.Doc{Path: "built-in defaults"}
	}
	if strings.TrimSpace(c.Store.Path) == "" {
		doc.Errorf("store.path", "store.path: is required")
	}
	if strings.TrimSpace(c.SecretFile) == "" {
		doc.Errorf("secret_file", "secret_file: is required (it is created on first use)")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		doc.Errorf("timezone", "timezone: %q is not a known time zone (write Asia/Ho_Chi_Minh)", c.Timezone)
	}
	c.validateServer(doc, "smtp", c.SMTP.ServerConfig)
	c.validateServer(doc, "imap", c.IMAP.ServerConfig)
	switch strings.ToLower(c.SMTP.Auth) {
	case "", "plain", "login", "cram-md5":
	default:
		doc.Errorf("smtp.auth", "smtp.auth: %q is not plain, login or cram-md5", c.SMTP.Auth)
	}
	if c.SMTP.Connections < 1 || c.SMTP.Connections > 50 {
		doc.Errorf("smtp.connections", "smtp.connections: %d is not between 1 and 50", c.SMTP.Connections)
	}
	if c.SMTP.PerMinute < 0 || c.SMTP.PerHour < 0 {
		doc.Errorf("smtp.per_minute", "smtp.per_minute and smtp.per_hour cannot be negative")
	}
	retry := map[string]string{"retry_first": c.SMTP.RetryFirst, "retry_max": c.SMTP.RetryMax, "give_up_after": c.SMTP.GiveUpAfter}
	for _, key := range []string{"retry_first", "retry_max", "give_up_after"} {
		if d, err := time.ParseDuration(retry[key]); err != nil || d <= 0 {
			doc.Errorf("smtp."+key, "smtp.%s: %q is not a duration like 5m or 72h", key, retry[key])
		}
	}
	if strings.TrimSpace(c.IMAP.Mailbox) == "" {
		doc.Errorf("imap.mailbox", "imap.mailbox: is required (usually INBOX)")
	}
	switch strings.ToLower(c.IMAP.Auth) {
	case "", "login", "plain":
	default:
		doc.Errorf("imap.auth", "imap.auth: %q is not login or plain", c.IMAP.Auth)
	}
	switch c.IMAP.FileMode {
	case "move", "copy", "flag":
	default:
		doc.Errorf("imap.file_mode", "imap.file_mode: %q is not move, copy or flag", c.IMAP.FileMode)
	}
	for key, f := range map[string]string{"bounces": c.IMAP.Folders.Bounces, "replies": c.IMAP.Folders.Replies,
		"auto_replies": c.IMAP.Folders.AutoReplies, "unmatched": c.IMAP.Folders.Unmatched} {
		if strings.TrimSpace(f) == "" {
			doc.Errorf("imap.folders."+key, "imap.folders.%s: is required", key)
		} else if strings.EqualFold(f, c.IMAP.Mailbox) {
			doc.Errorf("imap.folders."+key, "imap.folders.%s: %q is the mailbox phieu reads", key, f)
		}
	}
	for key, v := range map[string]string{"poll_interval": c.IMAP.PollInterval, "resend_after": c.IMAP.ResendAfter} {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			doc.Errorf("imap."+key, "imap.%s: %q is not a duration like 2m or 24h", key, v)
		}
	}
	c.Integrity.validate(doc)
	if c.IMAP.Resends < 0 || c.IMAP.Resends > 10 {
		doc.Errorf("imap.resends", "imap.resends: %d is not between 0 and 10", c.IMAP.Resends)
	}
	c.validateHTTP(doc)
	for key, spec := range map[string]string{"send": c.Daemon.Send, "poll": c.Daemon.Poll, "plan": c.Daemon.Plan,
		"housekeeping": c.Daemon.Housekeeping, "liaison_digest": c.Daemon.LiaisonDigest} {
		if _, err := cron.ParseStandard(spec); err != nil {
			doc.Errorf("daemon."+key, "daemon.%s: %q is not a cron schedule (write \"*/15 * * * *\" or \"@every 2m\"): %v", key, spec, err)
		}
	}
	if c.Liaison.Mailbox != "" {
		if why := store.CheckMailbox(c.Liaison.Mailbox); why != "" {
			doc.Errorf("liaison.mailbox", "liaison.mailbox: %s", why)
		}
	}
	if d, err := time.ParseDuration(c.Daemon.ShutdownTimeout); err != nil || d <= 0 {
		doc.Errorf("daemon.shutdown_timeout", "daemon.shutdown_timeout: %q is not a duration like 30s", c.Daemon.ShutdownTimeout)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		doc.Errorf("log.level", "log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		doc.Errorf("log.format", "log.format: %q is not text or json", c.Log.Format)
	}
	return doc.Err()
}

func (c *Config) validateHTTP(doc *yamlfile.Doc) {
	if c.HTTP.Listen != "" {
		host, _, err := net.SplitHostPort(c.HTTP.Listen)
		switch {
		case err != nil:
			doc.Errorf("http.listen", "http.listen: %q is not host:port", c.HTTP.Listen)
		case !c.HTTP.AllowRemote && !endpoint.IsLoopback(host):
			doc.Errorf("http.listen", "http.listen: %s is not this machine only (127.0.0.1, ::1, localhost): put a TLS reverse proxy in front and set http.allow_remote: true", c.HTTP.Listen)
		}
	}
	seen := map[string]bool{}
	for i, op := range c.HTTP.Operators {
		key := fmt.Sprintf("http.operators.%d", i)
		if strings.TrimSpace(op.Name) == "" {
			doc.Errorf(key+".name", "%s.name: is required", key)
		} else if seen[op.Name] {
			doc.Errorf(key+".name", "%s.name: %q is given twice", key, op.Name)
		}
		seen[op.Name] = true
		if _, err := bcrypt.Cost([]byte(op.PasswordHash)); err != nil {
			doc.Errorf(key+".password_hash", "%s.password_hash: is not a bcrypt hash (phieu hash-password prints one)", key)
		}
		if _, err := op.role(); err != nil {
			doc.Errorf(key+".role", "%s.role: %v", key, err)
		}
	}
	if c.HTTP.TokenFile != "" {
		if _, err := c.readTokens(); err != nil {
			doc.Errorf("http.token_file", "http.token_file: %v", err)
		}
	}
}

// role is the account's dashboard role.
func (o OperatorConfig) role() (web.Role, error) {
	switch o.Role {
	case "", string(web.RoleOperator):
		return web.RoleOperator, nil
	case string(web.RoleLiaison):
		return web.RoleLiaison, nil
	}
	return "", fmt.Errorf("%q is not operator or liaison", o.Role)
}

// readTokens reads http.token_file: "ROLE TOKEN" lines. A token shorter
// than 32 characters, or a file others can read, is refused.
func (c *Config) readTokens() (map[string]web.Role, error) {
	path := c.Resolve(c.HTTP.TokenFile)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o): chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	tokens := map[string]web.Role{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: write ROLE TOKEN (operator or liaison, then the token)", path, i+1)
		}
		role, err := OperatorConfig{Role: fields[0]}.role()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		if len(fields[1]) < 32 {
			return nil, fmt.Errorf("%s:%d: the token is shorter than 32 characters (openssl rand -hex 16 makes one)", path, i+1)
		}
		tokens[fields[1]] = role
	}
	return tokens, nil
}

func (c *Config) validateServer(doc *yamlfile.Doc, key string, s ServerConfig) {
	switch {
	case strings.TrimSpace(s.Host) == "":
		doc.Errorf(key+".host", "%s.host: is required", key)
	case len(s.Host) > 253:
		// Not echoed: a damaged file can hold a host line of any length.
		doc.Errorf(key+".host", "%s.host: is longer than 253 characters, the longest a host name can be", key)
		return
	}
	if s.Port < 1 || s.Port > 65535 {
		doc.Errorf(key+".port", "%s.port: %d is not a port (1–65535)", key, s.Port)
	}
	switch s.TLS {
	case "starttls", "tls":
	case "none":
		if !endpoint.IsLoopback(s.Host) {
			doc.Errorf(key+".tls", "%s.tls: none is allowed only for a server on this machine (127.0.0.1, ::1, localhost), not %s: use starttls or tls", key, s.Host)
		}
	default:
		doc.Errorf(key+".tls", "%s.tls: %q is not starttls, tls or none", key, s.TLS)
	}
	if s.CAFile != "" {
		if _, err := os.Stat(c.Resolve(s.CAFile)); err != nil {
			doc.Errorf(key+".ca_file", "%s.ca_file: cannot read %s: %v", key, c.Resolve(s.CAFile), errors.Unwrap(err))
		}
	}
	if s.PasswordEnv != "" && s.PasswordFile != "" {
		doc.Errorf(key+".password_env", "%s: give password_env or password_file, not both", key)
	}
	if s.PasswordEnv != "" && os.Getenv(s.PasswordEnv) == "" {
		doc.Errorf(key+".password_env", "%s.password_env: the variable %s is not set", key, s.PasswordEnv)
	}
	if s.PasswordFile != "" {
		if _, err := os.ReadFile(c.Resolve(s.PasswordFile)); err != nil {
			doc.Errorf(key+".password_file", "%s.password_file: cannot read %s: %v", key, c.Resolve(s.PasswordFile), errors.Unwrap(err))
		}
	}
	if (s.PasswordEnv != "" || s.PasswordFile != "") && s.Username == "" {
		doc.Errorf(key+".username", "%s.username: is required when a password is given", key)
	}
}

// password returns a server's password from its variable or file, "" if
// none is configured. The value is never logged.
func (c *Config) password(s ServerConfig) (string, error) {
	switch {
	case s.PasswordEnv != "":
		v := os.Getenv(s.PasswordEnv)
		if v == "" {
			return "", fmt.Errorf("config: password variable %s is not set", s.PasswordEnv)
		}
		return v, nil
	case s.PasswordFile != "":
		data, err := os.ReadFile(c.Resolve(s.PasswordFile))
		if err != nil {
			return "", fmt.Errorf("config: password file: %w", err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	return "", nil
}

// RetryPolicy returns when deferred messages are tried again (the config
// is validated: the durations parse).
func (c *Config) RetryPolicy() mailer.RetryPolicy {
	p := mailer.DefaultRetryPolicy()
	p.Base, _ = time.ParseDuration(c.SMTP.RetryFirst)
	p.Max, _ = time.ParseDuration(c.SMTP.RetryMax)
	p.MaxAge, _ = time.ParseDuration(c.SMTP.GiveUpAfter)
	p.Max = max(p.Max, p.Base)
	return p
}

// SMTPPassword returns the SMTP password.
func (c *Config) SMTPPassword() (string, error) { return c.password(c.SMTP.ServerConfig) }

// IMAPPassword returns the IMAP password.
func (c *Config) IMAPPassword() (string, error) { return c.password(c.IMAP.ServerConfig) }
