package mailer

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// pacer spaces sends across all connections: hard caps per minute and per
// hour (government servers cap bulk senders and do not publish by how
// much), and an adaptive slowdown when the server pushes back. A throttling
// reply pauses everyone, then sending resumes at half speed and recovers
// gradually while the server accepts.
type pacer struct {
	mu    sync.Mutex
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	minute, hour *window

	gap         time.Duration // extra spacing imposed after throttling; 0 when recovered
	next        time.Time     // earliest next send
	pausedUntil time.Time
	backoff     time.Duration // the last pause's length
	successes   int           // since the last change of gap
}

const (
	throttleFirstPause = 30 * time.Second
	throttleMaxPause   = 10 * time.Minute
	throttleMinGap     = 100 * time.Millisecond
	throttleMaxGap     = time.Minute
	recoverEvery       = 20 // successes before the gap shrinks
)

func newPacer(perMinute, perHour int, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	p := &pacer{now: now, sleep: sleep}
	if perMinute > 0 {
		p.minute = newWindow(perMinute, time.Minute)
	}
	if perHour > 0 {
		p.hour = newWindow(perHour, time.Hour)
	}
	return p
}

// wait blocks until one more message may go out, and counts it.
func (p *pacer) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := p.now()
		at := latest(p.pausedUntil, p.next, p.minute.availableAt(now), p.hour.availableAt(now))
		if !at.After(now) {
			p.minute.add(now)
			p.hour.add(now)
			p.next = now.Add(p.gap)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if err := p.sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
}

// throttled records a throttling reply and returns when sending resumes.
func (p *pacer) throttled() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Before(p.pausedUntil) {
		return p.pausedUntil // several connections hit the same wall
	}
	p.backoff = min(max(p.backoff*2, throttleFirstPause), throttleMaxPause)
	p.pausedUntil = now.Add(p.backoff)
	p.gap = min(max(p.gap*2, throttleMinGap), throttleMaxGap)
	p.successes = 0
	return p.pausedUntil
}

// succeeded records an accepted message; every recoverEvery in a row shrink
// the gap by a quarter until it is gone.
func (p *pacer) succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gap == 0 {
		return
	}
	p.successes++
	if p.successes < recoverEvery {
		return
	}
	p.successes = 0
	p.gap = p.gap * 3 / 4
	if p.gap < throttleMinGap/4 {
		p.gap, p.backoff = 0, 0
	}
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// window is a sliding-window cap: at most limit sends in any span of length
// size. It keeps the times of the last limit sends in a ring.
type window struct {
	size  time.Duration
	times []time.Time
	head  int // index of the oldest
	n     int
}

func newWindow(limit int, size time.Duration) *window {
	return &window{size: size, times: make([]time.Time, limit)}
}

func (w *window) availableAt(now time.Time) time.Time {
	if w == nil || w.n < len(w.times) {
		return now
	}
	return w.times[w.head].Add(w.size)
}

func (w *window) add(t time.Time) {
	if w == nil {
		return
	}
	if w.n < len(w.times) {
		w.times[(w.head+w.n)%len(w.times)] = t
		w.n++
		return
	}
	w.times[w.head] = t
	w.head = (w.head + 1) % len(w.times)
}

// RetryPolicy says when a message that met a temporary failure is tried
// again: exponential backoff with jitter, given up after MaxAge.
type RetryPolicy struct {
	Base   time.Duration // first delay, default 5m
	Max    time.Duration // longest delay, default 2h
	MaxAge time.Duration // give up this long after the message was queued, default 72h
	Jitter float64       // ± fraction of the delay, default 0.2
}

// DefaultRetryPolicy suits government servers that defer for minutes to
// hours (greylisting, full mailboxes being emptied).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: 5 * time.Minute, Max: 2 * time.Hour, MaxAge: 72 * time.Hour, Jitter: 0.2}
}

// Delay returns the wait before the attempt after attempts failures.
func (p RetryPolicy) Delay(attempts int, rnd func() float64) time.Duration {
	d := p.Base
	for i := 1; i < attempts && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d += time.Duration((rnd()*2 - 1) * p.Jitter * float64(d))
	}
	return d
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

var jitterRand = rand.Float64
