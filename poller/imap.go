package poller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/endpoint"
)

// Filing modes: what happens to phieu's messages once processed. Mail that
// is not phieu's is never touched in any mode.
const (
	FileMove = "move" // MOVE into phieu's folders; COPY + flag where the server has no MOVE
	FileCopy = "copy" // COPY into phieu's folders and flag the original
	FileFlag = "flag" // leave in place, flag only
)

// ProcessedFlag marks a message phieu has processed, in the copy and flag
// modes (and where a MOVE is not possible). Never \Deleted, never \Seen.
const ProcessedFlag = imap.Flag("$PhieuProcessed")

// Folders are where phieu files what it processed, "/"-separated: the
// server's own hierarchy separator replaces "/".
type Folders struct {
	Bounces     string // bounces, delay and success notices, complaints
	Replies     string
	AutoReplies string
	Unmatched   string // phieu's mail it could not tie to a message or member
}

// DefaultFolders are the folders phieu creates unless configured.
func DefaultFolders() Folders {
	return Folders{Bounces: "phieu/Bounces", Replies: "phieu/Replies", AutoReplies: "phieu/AutoReplies", Unmatched: "phieu/Unmatched"}
}

func (f Folders) all() []string { return []string{f.Bounces, f.Replies, f.AutoReplies, f.Unmatched} }

// Config is the survey mailbox and how to reach it.
type Config struct {
	Host       string
	Port       int
	TLS        string // endpoint.TLSStartTLS, TLSImplicit or TLSNone (loopback only)
	CAFile     string
	ServerName string
	Username   string
	Password   string // never logged
	Auth       string // "login" (default) or "plain" (AUTHENTICATE PLAIN)
	Mailbox    string // default INBOX
	Folders    Folders
	FileMode   string // FileMove (default), FileCopy or FileFlag

	DialTimeout time.Duration // default 30s
}

func (c Config) withDefaults() Config {
	if c.Mailbox == "" {
		c.Mailbox = "INBOX"
	}
	def := DefaultFolders()
	for _, p := range []struct {
		dst *string
		def string
	}{
		{&c.Folders.Bounces, def.Bounces}, {&c.Folders.Replies, def.Replies},
		{&c.Folders.AutoReplies, def.AutoReplies}, {&c.Folders.Unmatched, def.Unmatched},
	} {
		if *p.dst == "" {
			*p.dst = p.def
		}
	}
	if c.FileMode == "" {
		c.FileMode = FileMove
	}
	if c.TLS == "" {
		c.TLS = endpoint.TLSStartTLS
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 30 * time.Second
	}
	return c
}

// Validate checks the configuration before any connection.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Host == "" || c.Port <= 0 || c.Port > 65535 {
		return store.Errorf(store.EINVALID, "imap: host and port are required (got %q:%d)", c.Host, c.Port)
	}
	if err := endpoint.CheckTLSMode("imap", c.TLS, c.Host); err != nil {
		return err
	}
	switch c.FileMode {
	case FileMove, FileCopy, FileFlag:
	default:
		return store.Errorf(store.EINVALID, "imap: file mode %q is not move, copy or flag", c.FileMode)
	}
	switch strings.ToLower(c.Auth) {
	case "", "login", "plain":
	default:
		return store.Errorf(store.EINVALID, "imap: auth %q is not login or plain", c.Auth)
	}
	for _, f := range c.Folders.all() {
		if strings.EqualFold(f, c.Mailbox) {
			return store.Errorf(store.EINVALID, "imap: folder %q is the mailbox phieu reads", f)
		}
	}
	return nil
}

// Account names the mailbox's owner and server, for checkpoints.
func (c Config) Account() string {
	return c.Username + "@" + c.Host + ":" + strconv.Itoa(c.Port)
}

// Conn is a logged-in IMAP connection with the survey mailbox selected.
type Conn struct {
	cfg    Config
	client *imapclient.Client
	logger *slog.Logger
	delim  rune

	UIDValidity uint32
	UIDNext     uint32

	mu      sync.Mutex
	newMail chan struct{} // signalled on EXISTS
	stop    func() bool
}

// Dial connects, logs in and selects the survey mailbox. ctx bounds the
// whole connection: cancelling it closes the connection.
func Dial(ctx context.Context, cfg Config, logger *slog.Logger) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Conn{cfg: cfg, logger: logger, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		Dialer: &net.Dialer{Timeout: cfg.DialTimeout},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case c.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	type dialed struct {
		client *imapclient.Client
		err    error
	}
	done := make(chan dialed, 1)
	go func() {
		var d dialed
		d.client, d.err = DialClient(cfg, opts)
		if d.err == nil {
			if d.err = d.client.WaitGreeting(); d.err != nil {
				d.client.Close()
			}
		}
		done <- d
	}()
	var d dialed
	select {
	case d = <-done:
	case <-ctx.Done():
		go func() {
			if d := <-done; d.client != nil {
				d.client.Close()
			}
		}()
		return nil, fmt.Errorf("imap %s: %w", addr, ctx.Err())
	}
	if d.err != nil {
		return nil, fmt.Errorf("imap %s: connect: %w", addr, d.err)
	}
	c.client = d.client
	c.stop = context.AfterFunc(ctx, func() { c.client.Close() })
	if err := c.login(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.selectMailbox(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialClient connects to the server the way cfg says (implicit TLS,
// STARTTLS or plain, verifying the certificate against the system's CAs
// plus cfg.CAFile) and returns the client before login. opts may carry
// handlers; its TLS configuration is set here.
func DialClient(cfg Config, opts *imapclient.Options) (*imapclient.Client, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	if cfg.TLS != endpoint.TLSNone {
		var err error
		if opts.TLSConfig, err = endpoint.ClientTLS("imap", cfg.Host, cfg.CAFile, cfg.ServerName); err != nil {
			return nil, err
		}
	}
	switch cfg.TLS {
	case endpoint.TLSImplicit:
		return imapclient.DialTLS(addr, opts)
	case endpoint.TLSStartTLS:
		return imapclient.DialStartTLS(addr, opts)
	default:
		return imapclient.DialInsecure(addr, opts)
	}
}

func (c *Conn) login() error {
	if c.cfg.Username == "" {
		return store.Errorf(store.EINVALID, "imap: username is required")
	}
	var err error
	if strings.EqualFold(c.cfg.Auth, "plain") {
		err = c.client.Authenticate(sasl.NewPlainClient("", c.cfg.Username, c.cfg.Password))
	} else {
		err = c.client.Login(c.cfg.Username, c.cfg.Password).Wait()
	}
	if err != nil {
		return fmt.Errorf("imap login as %s: %w", c.cfg.Username, err)
	}
	return nil
}

func (c *Conn) selectMailbox() error {
	data, err := c.client.Select(c.cfg.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap select %s: %w", c.cfg.Mailbox, err)
	}
	c.UIDValidity, c.UIDNext = data.UIDValidity, uint32(data.UIDNext)
	list, err := c.client.List("", "", nil).Collect()
	if err == nil && len(list) > 0 && list[0].Delim != 0 {
		c.delim = list[0].Delim
	} else {
		c.delim = '/'
	}
	return nil
}

// Close logs out and closes the connection.
func (c *Conn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	if c.client == nil {
		return nil
	}
	c.client.Logout().Wait()
	return c.client.Close()
}

// CanIdle reports whether the server offers IDLE.
func (c *Conn) CanIdle() bool { return c.client.Caps().Has(imap.CapIdle) }

// CanMove reports whether the server offers MOVE.
func (c *Conn) CanMove() bool { return c.client.Caps().Has(imap.CapMove) }

// Fetched is one message as the server holds it.
type Fetched struct {
	UID          uint32
	Flags        []imap.Flag
	InternalDate time.Time // when the server received it
	Raw          []byte
}

// Processed reports whether phieu already flagged the message.
func (f *Fetched) Processed() bool {
	for _, fl := range f.Flags {
		if strings.EqualFold(string(fl), string(ProcessedFlag)) {
			return true
		}
	}
	return false
}

// SearchAfter returns the UIDs above after, ascending.
func (c *Conn) SearchAfter(after uint32) ([]uint32, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(after+1), 0) // after+1:*
	data, err := c.client.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap search: %w", err)
	}
	var out []uint32
	for _, u := range data.AllUIDs() {
		// "n:*" also matches the last message when every UID is below n.
		if uint32(u) > after {
			out = append(out, uint32(u))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Existing returns those of uids still in the mailbox: a retried filing
// must not name messages already moved (some servers answer a MOVE of
// nothing with an empty, unparsable COPYUID).
func (c *Conn) Existing(uids []uint32) ([]uint32, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	data, err := c.client.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap search: %w", err)
	}
	out := make([]uint32, 0, len(uids))
	for _, u := range data.AllUIDs() {
		out = append(out, uint32(u))
	}
	return out, nil
}

// Fetch streams the messages with these UIDs, without marking any as read
// (BODY.PEEK[]). fn runs for each, in the server's order; no other command
// may be issued from it.
func (c *Conn) Fetch(uids []uint32, fn func(*Fetched) error) error {
	if len(uids) == 0 {
		return nil
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	cmd := c.client.Fetch(set, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var ferr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		f, err := readFetched(msg)
		if err != nil {
			ferr = fmt.Errorf("imap fetch: %w", err)
			break
		}
		if err := fn(f); err != nil {
			ferr = err
			break
		}
	}
	if err := cmd.Close(); err != nil && ferr == nil {
		ferr = fmt.Errorf("imap fetch: %w", err)
	}
	return ferr
}

// readFetched reads one message of a FETCH response. A connection cut in
// the middle of the message's literal ends it early without an error from
// the client library, so the bytes read are checked against the size the
// server announced: a message cut short must not be taken for a whole one
// (read as someone else's mail, and passed over for good).
func readFetched(msg *imapclient.FetchMessageData) (*Fetched, error) {
	f := &Fetched{}
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			f.UID = uint32(it.UID)
		case imapclient.FetchItemDataFlags:
			f.Flags = it.Flags
		case imapclient.FetchItemDataInternalDate:
			f.InternalDate = it.Time
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			raw, err := io.ReadAll(it.Literal)
			if err != nil {
				return nil, err
			}
			if int64(len(raw)) != it.Literal.Size() {
				return nil, fmt.Errorf("uid %d: message cut short after %d of %d bytes", f.UID, len(raw), it.Literal.Size())
			}
			f.Raw = raw
		}
	}
	if f.UID == 0 {
		return nil, errors.New("a message without its UID (response cut short)")
	}
	return f, nil
}

// folderName turns a "/"-separated folder into the server's hierarchy.
func (c *Conn) folderName(folder string) string {
	if c.delim == '/' || c.delim == 0 {
		return folder
	}
	return strings.ReplaceAll(folder, "/", string(c.delim))
}

// EnsureFolders creates phieu's folders that do not exist yet, parents
// first.
func (c *Conn) EnsureFolders() error {
	if c.cfg.FileMode == FileFlag {
		return nil
	}
	existing := map[string]bool{}
	list, err := c.client.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("imap list: %w", err)
	}
	for _, l := range list {
		existing[l.Mailbox] = true
	}
	for _, f := range c.cfg.Folders.all() {
		parts := strings.Split(f, "/")
		for i := range parts {
			name := c.folderName(strings.Join(parts[:i+1], "/"))
			if existing[name] {
				continue
			}
			if err := c.client.Create(name, nil).Wait(); err != nil {
				var ierr *imap.Error
				if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeAlreadyExists {
					return fmt.Errorf("imap create %s: %w", name, err)
				}
			}
			existing[name] = true
		}
	}
	return nil
}

// File files the messages into folder by the configured mode. The
// originals are never deleted: MOVE is one atomic step on the server, and
// without it the original stays, flagged.
func (c *Conn) File(uids []uint32, folder string) error {
	if len(uids) == 0 {
		return nil
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	mode := c.cfg.FileMode
	if mode == FileMove && !c.CanMove() {
		mode = FileCopy
	}
	switch mode {
	case FileMove:
		if _, err := c.client.Move(set, c.folderName(folder)).Wait(); err != nil {
			return fmt.Errorf("imap move to %s: %w", folder, err)
		}
		return nil
	case FileCopy:
		if _, err := c.client.Copy(set, c.folderName(folder)).Wait(); err != nil {
			return fmt.Errorf("imap copy to %s: %w", folder, err)
		}
	}
	if err := c.client.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{ProcessedFlag}}, nil).Close(); err != nil {
		return fmt.Errorf("imap flag: %w", err)
	}
	return nil
}

// WaitForMail returns when the server announces new mail (IDLE), after max,
// or when ctx ends. Servers without IDLE: it returns after max (the
// caller's polling interval), through sleep so tests need not wait.
func (c *Conn) WaitForMail(ctx context.Context, max time.Duration, sleep func(context.Context, time.Duration) error) error {
	if !c.CanIdle() {
		return sleep(ctx, max)
	}
	idle, err := c.client.Idle()
	if err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	select {
	case <-c.newMail:
	case <-timer.C:
	case <-ctx.Done():
	case <-c.client.Closed():
		// The server went away (a restart): reconnect now, not when the
		// IDLE would have ended, up to max later, deaf meanwhile.
		return errors.New("imap idle: the server closed the connection")
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	return ctx.Err()
}
