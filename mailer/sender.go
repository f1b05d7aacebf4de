package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phieu/phieu/store"
)

// AlertSMTPDown is the alert raised when the server keeps refusing
// connections, TLS or logins.
const AlertSMTPDown = "smtp_down"

// Sender delivers the outbox. Each message goes through the same stages:
// claim (committed before any byte goes out), check (CheckSend: answered,
// bad address, paused, late...), pace (caps and throttling), render and
// compose, send, and record (committed in groups; a connection sends its next
// message only once the previous result is durable, so a crash resends at
// most one message per connection).
type Sender struct {
	Outbox    store.OutboxService
	Campaigns store.CampaignService
	Transport *Transport
	Composer  *Composer
	Logger    *slog.Logger
	Now       func() time.Time
	// Sleep waits for the pacer and for deferred messages; tests replace it
	// with one that advances their clock.
	Sleep func(context.Context, time.Duration) error
	Owner string // lease owner: unique per process
	Retry RetryPolicy
	Lease time.Duration // default 30m
	Batch int           // messages per claim, default 16 per connection
	// MaxConnectionFailures in a row stop the sender and raise an alert
	// (default 5).
	MaxConnectionFailures int
	// Progress, if set, is called after every recorded group of results.
	Progress func(Stats)
	// StateCheckEvery is how stale a campaign's state (a pause) may be
	// when a message goes out: default 100ms of wall time; negative: read
	// it for every message.
	StateCheckEvery time.Duration

	pacer     *pacer
	connFails atomic.Int32
}

// Stats counts what a Deliver call did.
type Stats struct {
	Claimed, Sent, Deferred, Throttled, Failed, Suppressed, Held int
}

// DeliverOptions bound one Deliver call.
type DeliverOptions struct {
	// Wait keeps Deliver going while some message becomes due within Wait
	// (one deferred by throttling, say) instead of returning as soon as
	// nothing is due.
	Wait time.Duration
	// Limit stops after this many messages were claimed (0: no limit).
	Limit int
}

// errRecord stops a Deliver call: results could not be recorded.
var errRecord = errors.New("record results")

// DownError stops a Deliver call: the server keeps failing at Stage.
type DownError struct {
	Failures int
	Last     *Error
}

func (e *DownError) Error() string {
	return fmt.Sprintf("smtp server unusable after %d failures in a row; last: %v", e.Failures, e.Last)
}

func (e *DownError) Unwrap() error { return e.Last }

// init fills in defaults; Deliver calls it.
func (s *Sender) init() {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Sleep == nil {
		s.Sleep = sleepContext
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Retry == (RetryPolicy{}) {
		s.Retry = DefaultRetryPolicy()
	}
	if s.Lease <= 0 {
		s.Lease = 30 * time.Minute
	}
	if s.Batch <= 0 {
		s.Batch = 16 * s.Transport.Config().Connections
	}
	if s.MaxConnectionFailures <= 0 {
		s.MaxConnectionFailures = 5
	}
	if s.Composer == nil {
		s.Composer = NewComposer()
	}
	if s.Owner == "" {
		s.Owner = fmt.Sprintf("phieu-%d", time.Now().UnixNano())
	}
	if s.pacer == nil {
		cfg := s.Transport.Config()
		s.pacer = newPacer(cfg.PerMinute, cfg.PerHour, s.Now, s.Sleep)
	}
}

type campaignState struct {
	state store.CampaignState
	read  time.Time // wall clock: freshness, not schedule
}

// campaignState returns the campaign's state, read at most StateCheckEvery
// ago, so that a pause stops sending within that time without a query per
// message.
func (r *run) campaignState(code string) (store.CampaignState, error) {
	every := r.s.StateCheckEvery
	if every == 0 {
		every = 100 * time.Millisecond
	}
	r.statesMu.Lock()
	cs, ok := r.states[code]
	r.statesMu.Unlock()
	if ok && every > 0 && time.Since(cs.read) < every {
		return cs.state, nil
	}
	state, err := r.s.Campaigns.FindCampaignState(r.ctx, code)
	if err != nil {
		return "", err
	}
	r.statesMu.Lock()
	r.states[code] = campaignState{state: state, read: time.Now()}
	r.statesMu.Unlock()
	return state, nil
}

type job struct {
	msg      *store.OutboxMessage
	campaign *store.Campaign
}

type commitReq struct {
	result *store.OutboxResult
	done   chan error
}

// run holds the state of one Deliver call.
type run struct {
	s        *Sender
	ctx      context.Context
	fatal    context.CancelCauseFunc
	jobs     chan job
	commits  chan commitReq
	inflight atomic.Int64
	settled  chan struct{} // pinged after each recorded result

	statesMu sync.Mutex
	states   map[string]campaignState
	resolved atomic.Bool // open alerts resolved in this run

	mu    sync.Mutex
	stats Stats
}

// Deliver sends what is due, until nothing is (see DeliverOptions.Wait), ctx
// ends, or the server is down (a *DownError). Results already obtained are
// recorded even when ctx ends.
func (s *Sender) Deliver(ctx context.Context, opts DeliverOptions) (Stats, error) {
	s.init()
	ctx, fatal := context.WithCancelCause(ctx)
	defer fatal(nil)
	conns := s.Transport.Config().Connections
	r := &run{s: s, ctx: ctx, fatal: fatal, jobs: make(chan job), commits: make(chan commitReq, conns),
		settled: make(chan struct{}, 1), states: map[string]campaignState{}}
	committed := make(chan struct{})
	go func() { defer close(committed); r.commitLoop() }()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() { defer wg.Done(); r.work() }()
	}
	err := r.dispatch(opts)
	close(r.jobs)
	wg.Wait()
	close(r.commits)
	<-committed
	r.mu.Lock()
	stats := r.stats
	r.mu.Unlock()
	if err != nil {
		return stats, err
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		var down *DownError
		if errors.As(cause, &down) || !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			return stats, cause
		}
	}
	return stats, nil
}

// dispatch claims batches and hands them to the connections.
func (r *run) dispatch(opts DeliverOptions) error {
	s := r.s
	claimed := 0
	for {
		if r.ctx.Err() != nil {
			return nil
		}
		n := s.Batch
		if opts.Limit > 0 {
			n = min(n, opts.Limit-claimed)
			if n <= 0 {
				return nil
			}
		}
		msgs, err := s.Outbox.ClaimOutbox(r.ctx, s.Owner, n, s.Lease)
		if err != nil {
			if r.ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(msgs) == 0 {
			// What is in flight may come back deferred and due soon.
			if !r.waitInflight() {
				return nil
			}
			if opts.Wait <= 0 {
				return nil
			}
			at, ok, err := s.Outbox.NextOutboxDue(r.ctx)
			if err != nil {
				return err
			}
			now := s.Now()
			if !ok || at.Sub(now) > opts.Wait {
				return nil
			}
			if d := at.Sub(now); d > 0 {
				s.Logger.Info("waiting for deferred messages", "until", at)
				if err := s.Sleep(r.ctx, d); err != nil {
					return nil
				}
			}
			continue
		}
		claimed += len(msgs)
		r.count(func(st *Stats) { st.Claimed += len(msgs) })
		campaigns := map[string]*store.Campaign{}
		for i, m := range msgs {
			c, ok := campaigns[m.CampaignCode]
			if !ok {
				// Fresh for every batch: a pause takes effect within one.
				if c, err = s.Campaigns.FindCampaignByCode(r.ctx, m.CampaignCode); err != nil {
					r.releaseRest(msgs[i:], "sender stopped")
					if r.ctx.Err() != nil {
						return nil
					}
					return err
				}
				campaigns[m.CampaignCode] = c
			}
			r.inflight.Add(1)
			select {
			case r.jobs <- job{msg: m, campaign: c}:
			case <-r.ctx.Done():
				r.inflight.Add(-1)
				r.releaseRest(msgs[i:], "sender stopped")
				return nil
			}
		}
	}
}

// waitInflight waits until every handed-out message is recorded; false if
// the run ends first.
func (r *run) waitInflight() bool {
	for r.inflight.Load() > 0 {
		select {
		case <-r.settled:
		case <-r.ctx.Done():
			return false
		}
	}
	return true
}

// releaseRest gives claimed messages back unsent, with a context that
// outlives the run's so the release is recorded even on shutdown.
func (r *run) releaseRest(msgs []*store.OutboxMessage, reason string) {
	if len(msgs) == 0 {
		return
	}
	results := make([]*store.OutboxResult, len(msgs))
	for i, m := range msgs {
		results[i] = &store.OutboxResult{ID: m.ID, Event: store.EventRelease, Reason: reason}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := r.s.Outbox.CompleteOutbox(ctx, r.s.Owner, results); err != nil {
		// Their lease expires and the next start reclaims them.
		r.s.Logger.Error("release claimed messages", "count", len(msgs), "err", err)
	}
}

func (r *run) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// commitLoop records results in groups: it takes what is waiting, commits it
// in one transaction, and answers every waiting connection.
func (r *run) commitLoop() {
	ctx := context.WithoutCancel(r.ctx)
	for first := range r.commits {
		group := []commitReq{first}
	more:
		for len(group) < 256 {
			select {
			case c, ok := <-r.commits:
				if !ok {
					break more
				}
				group = append(group, c)
			default:
				break more
			}
		}
		results := make([]*store.OutboxResult, len(group))
		for i, c := range group {
			results[i] = c.result
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := r.s.Outbox.CompleteOutbox(cctx, r.s.Owner, results)
		cancel()
		if err == nil {
			r.count(func(st *Stats) {
				for _, res := range results {
					switch res.Event {
					case store.EventSent:
						st.Sent++
					case store.EventDefer:
						st.Deferred++
						if res.Throttled {
							st.Throttled++
						}
					case store.EventFail:
						st.Failed++
					case store.EventSuppress:
						st.Suppressed++
					case store.EventRelease:
						st.Held++
					}
				}
			})
		}
		for _, c := range group {
			c.done <- err
		}
		if r.s.Progress != nil {
			r.mu.Lock()
			st := r.stats
			r.mu.Unlock()
			r.s.Progress(st)
		}
	}
}

// work is one connection's loop.
func (r *run) work() {
	var conn *Conn
	// pending holds the acknowledgements of results handed to the
	// committer and not yet durable. A connection prepares its next
	// message meanwhile, but sends nothing until they are all in: a crash
	// then resends at most one message per connection.
	var pending []chan error
	// settle fails when a result could not be recorded, here or on another
	// connection (a full disk): the message waiting for it must not go
	// out, or it would go again after the restart.
	settle := func() error {
		for _, done := range pending {
			if err := <-done; err != nil {
				r.fatal(fmt.Errorf("%w: %w", errRecord, err))
			}
			r.inflight.Add(-1)
			select {
			case r.settled <- struct{}{}:
			default:
			}
		}
		pending = pending[:0]
		if cause := context.Cause(r.ctx); errors.Is(cause, errRecord) {
			return cause
		}
		return nil
	}
	defer func() {
		settle()
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-r.jobs:
		default:
			// Idle: settle first, or the dispatcher, waiting for what is
			// in flight, would wait for us.
			settle()
			j, ok = <-r.jobs
		}
		if !ok {
			return
		}
		var res *store.OutboxResult
		if r.ctx.Err() != nil {
			res = &store.OutboxResult{ID: j.msg.ID, Event: store.EventRelease, Reason: "sender stopped"}
		} else if p, early := r.prepare(j); early != nil {
			res = early
		} else {
			res = r.transmit(&conn, j, p, settle)
			settle() // if transmit decided without sending
		}
		done := make(chan error, 1)
		r.commits <- commitReq{result: res, done: done}
		pending = append(pending, done)
	}
}

// prepared is a message ready to go out.
type prepared struct {
	data     []byte
	rendered time.Time // the clock when it was rendered (days left...)
	log      *slog.Logger
}

// check decides, now, whether m may go out (CheckSend with the campaign's
// current state); nil means send.
func (r *run) check(m *store.OutboxMessage, c *store.Campaign, log *slog.Logger) *store.OutboxResult {
	// The state is at most StateCheckEvery old: a pause stops the next
	// message, not the next batch.
	state, err := r.campaignState(m.CampaignCode)
	if err != nil {
		return &store.OutboxResult{ID: m.ID, Event: store.EventRelease, Reason: "campaign state: " + err.Error()}
	}
	cc := *c
	cc.State = state
	switch d, reason, at := store.CheckSend(m, &cc, r.s.Now()); d {
	case store.Suppress:
		log.Info("suppressed", "reason", reason)
		return &store.OutboxResult{ID: m.ID, Event: store.EventSuppress, Reason: reason}
	case store.Hold:
		return &store.OutboxResult{ID: m.ID, Event: store.EventRelease, NextAttemptAt: at, Reason: reason}
	}
	return nil
}

// prepare checks, renders and composes a message: everything but sending
// it, so it can run while the previous result is being committed. A non-nil
// result means the message is decided without sending.
func (r *run) prepare(j job) (*prepared, *store.OutboxResult) {
	s, m, c := r.s, j.msg, j.campaign
	log := s.Logger.With("campaign", m.CampaignCode, "outbox", m.ID, "kind", m.Kind, "respondent", m.RespondentID, "message_id", m.MessageID)
	if res := r.check(m, c, log); res != nil {
		return nil, res
	}
	p := &prepared{rendered: s.Now(), log: log}
	rendered, err := s.Composer.Render(m, c, p.rendered)
	if err != nil {
		// A template error hits every message alike: stop, send nothing.
		r.fatal(store.Errorf(store.EINVALID, "%v", err))
		return nil, &store.OutboxResult{ID: m.ID, Event: store.EventRelease, Reason: "template error"}
	}
	if p.data, err = Compose(m, c, rendered, p.rendered); err != nil {
		log.Error("compose", "err", err)
		return nil, &store.OutboxResult{ID: m.ID, Event: store.EventFail, Reason: err.Error()}
	}
	return p, nil
}

// transmit waits for a rate slot and sends a prepared message. settle
// waits until this connection's previous results are durable; Send calls it
// after the envelope commands and before the body.
func (r *run) transmit(conn **Conn, j job, p *prepared, settle func() error) *store.OutboxResult {
	s, m, c, log := r.s, j.msg, j.campaign, p.log
	if err := s.pacer.wait(r.ctx); err != nil {
		return &store.OutboxResult{ID: m.ID, Event: store.EventRelease, Reason: "sender stopped"}
	}
	// Checked again after waiting: the deadline or a reminder's window may
	// pass during a long pause, and the text (days left) may have aged.
	if res := r.check(m, c, log); res != nil {
		return res
	}
	if s.Now().Sub(p.rendered) > time.Minute {
		fresh, early := r.prepare(j)
		if early != nil {
			return early
		}
		p = fresh
	}
	data := p.data

	start := time.Now()
	if *conn == nil || (*conn).Broken() {
		if *conn != nil {
			(*conn).Close()
			*conn = nil
		}
		// Not cut by shutdown: a transaction under way finishes (each
		// command has its timeout) and its result is recorded, or the
		// server may have the message while the store says it was not
		// sent, and it goes twice. Stopping means taking no new message;
		// the daemon's shutdown timeout bounds the wait.
		nc, err := s.Transport.Dial(context.WithoutCancel(r.ctx))
		if err != nil {
			return r.connectionFailure(m, err.(*Error), start, log)
		}
		*conn = nc
	}
	env := Envelope{From: EnvelopeSender(m, c), To: m.To, EnvelopeID: m.Ref}
	err := (*conn).Send(env, data, settle)
	now := s.Now()
	attempt := &store.Attempt{At: now, Stage: store.StageData, Code: 250, Duration: time.Since(start)}
	if err == nil {
		attempt.Outcome, attempt.Text = store.OutboxSent, "accepted"
		s.pacer.succeeded()
		r.connectionOK()
		log.Debug("sent", "to", m.To)
		return &store.OutboxResult{ID: m.ID, Event: store.EventSent, Attempt: attempt}
	}
	e := err.(*Error)
	attempt.Stage, attempt.Code, attempt.Status, attempt.Text = e.Stage, e.Code, e.Status, e.Text
	log = log.With("stage", e.Stage, "smtp_code", e.Code, "smtp_status", e.Status)
	switch {
	case r.ctx.Err() != nil:
		// Cut off by shutdown: whether it went out is unknown, so it goes
		// again (at least once, never lost).
		attempt.Outcome = store.OutboxDeferred
		return &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: s.Now(), Reason: "interrupted by shutdown", Attempt: attempt,
			Interrupted: true}
	case e.Throttling():
		until := s.pacer.throttled()
		log.Warn("server is throttling; slowing down", "until", until, "text", e.Text)
		attempt.Outcome = store.OutboxDeferred
		return &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: until, Reason: "throttled: " + e.Error(), Attempt: attempt, Throttled: true}
	case e.Stage == store.StageMail || e.Connection():
		// The sender's side or the connection, not this message.
		return r.connectionFailure(m, e, start, log)
	case e.Permanent():
		r.connectionOK()
		attempt.Outcome = store.OutboxFailed
		log.Warn("refused", "text", e.Text)
		return &store.OutboxResult{ID: m.ID, Event: store.EventFail, Reason: e.Error(), Attempt: attempt}
	}
	r.connectionOK()
	attempt.Outcome = store.OutboxDeferred
	if age := now.Sub(m.CreatedAt); age > s.Retry.MaxAge {
		attempt.Outcome = store.OutboxFailed
		return &store.OutboxResult{ID: m.ID, Event: store.EventFail, Attempt: attempt,
			Reason: fmt.Sprintf("gave up after %d attempts over %s: %v", m.Attempts+1, age.Round(time.Minute), e)}
	}
	next := now.Add(s.Retry.Delay(m.Attempts+1, jitterRand))
	log.Info("deferred", "next_attempt", next, "text", e.Text)
	return &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: next, Reason: e.Error(), Attempt: attempt}
}

// connectionFailure defers the message (it is not at fault) and stops the
// run when the server has failed too often in a row, or refuses our login or
// our sender address: retrying those only locks accounts.
func (r *run) connectionFailure(m *store.OutboxMessage, e *Error, start time.Time, log *slog.Logger) *store.OutboxResult {
	s := r.s
	attempt := &store.Attempt{At: s.Now(), Stage: e.Stage, Code: e.Code, Status: e.Status, Text: e.Text,
		Duration: time.Since(start), Outcome: store.OutboxDeferred}
	res := &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: s.Now().Add(min(time.Minute, s.Retry.Base)),
		Reason: e.Error(), Attempt: attempt}
	if r.ctx.Err() != nil {
		res.Reason, res.Interrupted = "interrupted by shutdown", true
		return res
	}
	n := int(s.connFails.Add(1))
	log.Warn("connection failure", "stage", e.Stage, "smtp_code", e.Code, "failures", n, "err", e.Text)
	fatalNow := e.NeedsPerson()
	if n >= s.MaxConnectionFailures || fatalNow {
		down := &DownError{Failures: n, Last: e}
		alert := &store.Alert{Kind: AlertSMTPDown, Stage: e.Stage, Text: down.Error()}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		if err := s.Outbox.RaiseAlert(ctx, alert); err != nil {
			log.Error("raise alert", "err", err)
		}
		cancel()
		log.Error("stopping: the mail server is unusable", "stage", e.Stage, "err", e.Text)
		r.fatal(down)
	}
	return res
}

// connectionOK notes that the server answered a message: the failure count
// starts over and an open smtp_down alert is resolved, once per run.
func (r *run) connectionOK() {
	r.s.connFails.Store(0)
	if r.resolved.CompareAndSwap(false, true) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		defer cancel()
		if err := r.s.Outbox.ResolveAlerts(ctx, AlertSMTPDown, ""); err != nil {
			r.s.Logger.Error("resolve alerts", "err", err)
		}
	}
}
