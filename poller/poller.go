// Package poller reads the survey mailbox over IMAP: it classifies every
// message that arrives (bounces, delays, auto-replies, complaints, replies),
// ties it to what phieu sent, reads answers out of replies, and files
// phieu's messages into its own folders. Mail that is not phieu's is never
// touched: not moved, not flagged, not marked as read.
//
// Each message is stored in its own transaction together with the mailbox
// checkpoint, so a crash re-reads at most the message in hand, and the
// store recognises a message it has seen (Message-ID and content hash).
package poller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/phieu/phieu/store"
)

// Store is what the poller reads and writes.
type Store interface {
	store.InboundService
	store.IntegrityService
	FindOutbox(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxMessage, int, error)
}

// Poller polls one survey mailbox.
type Poller struct {
	Config    Config
	Store     Store
	Campaigns store.CampaignService
	Logger    *slog.Logger
	Now       func() time.Time
	// Sleep waits between polls of a server without IDLE; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	PollInterval time.Duration // without IDLE; default 2m
	IdleTimeout  time.Duration // re-issue IDLE this often; default 25m (servers drop idle clients at 30)
	ResendAfter  time.Duration // after "mailbox full"; default 24h
	ResendMax    int           // resends per member; 0: 3, negative: none
	Workers      int           // parallel analysis; default GOMAXPROCS
	FetchBatch   int           // messages per FETCH, filed after each; default 200
	// Integrity says when alike answers of a unit are flagged as a
	// cluster; zero: store.DefaultClusterPolicy().
	Integrity store.ClusterPolicy

	senderDomains map[string]bool
	mu            sync.Mutex
	campaigns     map[string]*store.Campaign // per poll, under mu
	bases         answerBases                // the cluster check's answer distributions
}

// Stats counts what one poll did.
type Stats struct {
	Fetched    int
	Stored     int
	Duplicates int
	Ignored    int // not phieu's: left untouched
	Filed      int
	Review     int
	Responses  int
	Queued     int // receipts, correction requests and resends put in the outbox
	Kinds      map[store.InboundKind]int
}

func (s *Stats) add(o Stats) {
	s.Fetched += o.Fetched
	s.Stored += o.Stored
	s.Duplicates += o.Duplicates
	s.Ignored += o.Ignored
	s.Filed += o.Filed
	s.Review += o.Review
	s.Responses += o.Responses
	s.Queued += o.Queued
	for k, n := range o.Kinds {
		if s.Kinds == nil {
			s.Kinds = map[store.InboundKind]int{}
		}
		s.Kinds[k] += n
	}
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Poller) matcher() Matcher { return Matcher{Lookup: p.Store} }

// Poll connects, reads everything new once, and disconnects.
func (p *Poller) Poll(ctx context.Context) (Stats, error) {
	conn, err := Dial(ctx, p.Config, p.logger())
	if err != nil {
		return Stats{}, err
	}
	defer conn.Close()
	return p.PollConn(ctx, conn)
}

// Watch polls, then waits for new mail (IDLE, or PollInterval where the
// server has no IDLE) and polls again, until ctx ends. A lost connection is
// re-dialled after a pause; each poll's stats go to report.
func (p *Poller) Watch(ctx context.Context, report func(Stats)) error {
	backoff := 5 * time.Second
	for {
		err := p.watchConn(ctx, report)
		if ctx.Err() != nil {
			return nil
		}
		if store.ErrorCode(err) == store.EINVALID {
			return err
		}
		p.logger().Warn("imap connection lost; reconnecting", "err", err, "after", backoff)
		if err := p.sleep(ctx, backoff); err != nil {
			return nil
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func (p *Poller) watchConn(ctx context.Context, report func(Stats)) error {
	conn, err := Dial(ctx, p.Config, p.logger())
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		st, err := p.PollConn(ctx, conn)
		if report != nil && st.Fetched > 0 {
			report(st)
		}
		if err != nil {
			return err
		}
		wait := p.IdleTimeout
		if wait <= 0 {
			wait = 25 * time.Minute
		}
		if !conn.CanIdle() {
			wait = p.PollInterval
			if wait <= 0 {
				wait = 2 * time.Minute
			}
		}
		if err := conn.WaitForMail(ctx, wait, p.sleep); err != nil {
			return err
		}
	}
}

func (p *Poller) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PollConn reads everything new on an open connection.
func (p *Poller) PollConn(ctx context.Context, conn *Conn) (Stats, error) {
	var st Stats
	p.mu.Lock()
	p.campaigns = nil // campaigns may change between polls
	p.mu.Unlock()
	if err := p.loadSenderDomains(ctx); err != nil {
		return st, err
	}
	cfg := p.Config.withDefaults()
	cp, err := p.Store.FindCheckpoint(ctx, cfg.Account(), cfg.Mailbox)
	if err != nil {
		return st, err
	}
	if cp.UIDValidity != conn.UIDValidity {
		if cp.UIDValidity != 0 {
			// The server renumbered the mailbox: read it all again; the
			// store recognises every message already processed.
			p.logger().Warn("imap UIDVALIDITY changed: rescanning the mailbox", "mailbox", cfg.Mailbox,
				"was", cp.UIDValidity, "now", conn.UIDValidity)
		}
		cp.UIDValidity, cp.LastUID = conn.UIDValidity, 0
		if err := p.Store.SaveCheckpoint(ctx, cp); err != nil {
			return st, err
		}
	}
	if err := conn.EnsureFolders(); err != nil {
		return st, err
	}
	// Filing interrupted by a crash or a lost connection: finish it first.
	if n, err := p.fileStored(ctx, conn, cp); err != nil {
		return st, err
	} else {
		st.Filed += n
	}
	uids, err := conn.SearchAfter(cp.LastUID)
	if err != nil {
		return st, err
	}
	batch := p.FetchBatch
	if batch <= 0 {
		batch = 1000
	}
	for len(uids) > 0 {
		chunk := uids[:min(batch, len(uids))]
		uids = uids[len(chunk):]
		cst, err := p.processChunk(ctx, conn, cp, chunk)
		st.add(cst)
		if err != nil {
			return st, err
		}
		n, err := p.fileStored(ctx, conn, cp)
		st.Filed += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

type job struct {
	f   *Fetched
	a   *Analysis
	d   *Decision
	err error
	// unreadable: the bytes are not a message; err says why.
	unreadable bool
	done       chan struct{}
}

// processChunk fetches the messages and stores them in UID order, while
// workers analyse the ones behind: parsing is the costly part.
func (p *Poller) processChunk(ctx context.Context, conn *Conn, cp *store.Checkpoint, uids []uint32) (Stats, error) {
	st := Stats{Kinds: map[store.InboundKind]int{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	where := *cp // the workers' copy: store advances cp as it goes
	// The store's statements take a context that cannot be cancelled
	// (go-sqlite3 starts a goroutine per statement to watch a cancellable
	// one): cancelling stops the loop between messages instead, so a
	// message's transaction is never interrupted half way.
	sctx := context.WithoutCancel(ctx)
	work := make(chan *job, 2*workers)
	ordered := make(chan *job, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.a, j.err = analyzeReport(j.f.Raw)
				if j.err != nil {
					j.unreadable = true
				} else if j.d, j.err = p.Decide(sctx, j.a, j.f, &where); j.err != nil {
					j.err = fmt.Errorf("uid %d: %w", j.f.UID, j.err)
				}
				close(j.done)
			}
		}()
	}
	fetchErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		fetchErr <- conn.Fetch(uids, func(f *Fetched) error {
			j := &job{f: f, done: make(chan struct{})}
			select {
			case work <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case ordered <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	var err error
	for j := range ordered {
		<-j.done
		if err != nil {
			continue // drain
		}
		st.Fetched++
		if err = ctx.Err(); err == nil {
			err = p.store(sctx, cp, j, &st)
		}
		if err != nil {
			cancel()
		}
	}
	wg.Wait()
	if ferr := <-fetchErr; err == nil && ferr != nil && !errors.Is(ferr, context.Canceled) {
		err = ferr
	}
	if err == nil && len(uids) > 0 && cp.LastUID < uids[len(uids)-1] {
		// The chunk ended with mail that is not phieu's: move past it.
		cp.LastUID = uids[len(uids)-1]
		err = p.Store.SaveCheckpoint(ctx, cp)
	}
	return st, err
}

// store decides about one analysed message and stores it with the
// checkpoint advance.
func (p *Poller) store(ctx context.Context, cp *store.Checkpoint, j *job, st *Stats) error {
	log := p.logger().With("uid", j.f.UID)
	switch {
	case j.unreadable:
		// Not a message at all: nothing phieu can claim, so it stays where
		// it is; but it may be someone's answer mangled on the way, so a
		// person is asked to look at it, and the mail after it is read on.
		log.Warn("unreadable message left in place for review", "err", j.err)
		sum := sha256.Sum256(j.f.Raw)
		m := &store.InboundMessage{Account: cp.Account, Mailbox: cp.Mailbox, UIDValidity: cp.UIDValidity, UID: j.f.UID,
			ContentHash: hex.EncodeToString(sum[:]), Size: len(j.f.Raw), Kind: store.InboundOther,
			Review: fmt.Sprintf("thư không đọc được (%v): để nguyên trong %s (UID %d), cần người xem", j.err, cp.Mailbox, j.f.UID)}
		next := *cp
		next.LastUID = j.f.UID
		if _, err := p.Store.RecordInbound(ctx, m, &next); err != nil {
			return fmt.Errorf("uid %d: %w", j.f.UID, err)
		}
		*cp = next
		st.Stored++
		st.Review++
		st.Kinds[m.Kind]++
		return nil
	case j.err != nil:
		return j.err
	}
	d := j.d
	if d.Ignore {
		st.Ignored++
		return nil
	}
	if err := d.Finish(ctx); err != nil {
		return fmt.Errorf("uid %d: %w", j.f.UID, err)
	}
	m := d.Message
	next := *cp
	next.LastUID = j.f.UID
	dup, err := p.Store.RecordInbound(ctx, m, &next)
	if err != nil {
		return fmt.Errorf("uid %d: %w", j.f.UID, err)
	}
	*cp = next
	if dup {
		st.Duplicates++
		if j.f.Processed() && m.Folder != "" {
			// This very copy was filed before (copy or flag mode).
			if err := p.Store.MarkFiled(ctx, cp.Account, cp.Mailbox, cp.UIDValidity, []uint32{j.f.UID}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := d.Stored(ctx); err != nil {
		// The response is stored and waits for review if a flag was due
		// (its status says so); only the flag's own row is missing.
		return fmt.Errorf("uid %d: integrity: %w", j.f.UID, err)
	}
	st.Stored++
	st.Kinds[m.Kind]++
	if m.Review != "" {
		st.Review++
	}
	if m.Response != nil {
		st.Responses++
	}
	st.Queued += len(m.Enqueue)
	log.Debug("inbound", "kind", m.Kind, "campaign", m.CampaignCode, "match", m.Match, "folder", m.Folder, "review", m.Review)
	return nil
}

// fileStored files every stored message of this mailbox not filed yet.
func (p *Poller) fileStored(ctx context.Context, conn *Conn, cp *store.Checkpoint) (int, error) {
	pending, err := p.Store.PendingFilings(ctx, cp.Account, cp.Mailbox, cp.UIDValidity)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	byFolder := map[string][]*store.InboundMessage{}
	var order []string
	for _, m := range pending {
		if _, ok := byFolder[m.Folder]; !ok {
			order = append(order, m.Folder)
		}
		byFolder[m.Folder] = append(byFolder[m.Folder], m)
	}
	filed := 0
	for _, folder := range order {
		ms := byFolder[folder]
		uids := make([]uint32, len(ms))
		for i, m := range ms {
			uids[i] = m.UID
		}
		present, err := conn.Existing(uids)
		if err != nil {
			return filed, err
		}
		if err := conn.File(present, folder); err != nil {
			return filed, err
		}
		if err := p.Store.MarkFiled(ctx, cp.Account, cp.Mailbox, cp.UIDValidity, uids); err != nil {
			return filed, err
		}
		filed += len(ms)
	}
	return filed, nil
}

// loadSenderDomains notes the domains phieu's Message-IDs use, to spot
// replies to phieu's mail that match nothing stored.
func (p *Poller) loadSenderDomains(ctx context.Context) error {
	cs, err := p.Campaigns.FindCampaigns(ctx)
	if err != nil {
		return err
	}
	p.senderDomains = map[string]bool{}
	for _, c := range cs {
		p.senderDomains[store.MailboxDomain(c.SenderAddress)] = true
	}
	return nil
}
