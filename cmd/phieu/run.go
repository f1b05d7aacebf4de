package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/mailer"
	"github.com/phieu/phieu/poller"
	"github.com/phieu/phieu/reminders"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

const runHelp = `Runs phieu as a daemon: on the schedules of the daemon section of the
config (in the config's timezone) it delivers the outbox, reads the survey
mailbox, plans reminders and unit-head digests, sends the IT liaison the
day's delivery failures (liaison.mailbox) and gives back expired leases. On start it catches up once: whatever became due while it was down
is planned once, and a round whose late window has passed is skipped for
the next. One daemon per database. GET /healthz on http.listen reports
each job's last run and error. Ctrl-C (SIGINT) or SIGTERM stops taking new
work, lets running jobs finish (at most daemon.shutdown_timeout; an
interrupted send is reclaimed on the next start, never lost) and exits 0.`

// RunCommand is "phieu run".
type RunCommand struct {
	noArgs
	m      *Main
	config configFlag
	once   bool
	only   string
}

func (c *RunCommand) flags(fs *flag.FlagSet) {
	c.config.register(fs)
	fs.BoolVar(&c.once, "once", false, "run every job once (the start-up catch-up), then exit: for a system cron or a first look")
	fs.StringVar(&c.only, "jobs", "", "with --once, the `jobs` to run, comma-separated (housekeeping, plan, send, poll, liaison_digest)")
}

// jobState is what /healthz reports of one job.
type jobState struct {
	Schedule string    `json:"schedule"`
	Runs     int       `json:"runs"`
	LastRun  time.Time `json:"last_run,omitzero"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	LastErr  string    `json:"last_error,omitempty"`
	Result   string    `json:"result,omitempty"`
	Running  bool      `json:"running"`
}

// daemon runs named jobs and keeps their state for /healthz and /metrics.
type daemon struct {
	logger  *slog.Logger
	now     func() time.Time
	started time.Time
	metrics *web.Metrics

	mu   sync.Mutex
	jobs map[string]*jobState
}

// run runs one job, recording its outcome.
func (d *daemon) run(ctx context.Context, name string, fn func(ctx context.Context) (string, error)) {
	if ctx.Err() != nil {
		return // stopping: no new work
	}
	d.mu.Lock()
	st := d.jobs[name]
	if st.Running {
		// Its schedule came round while the start-up catch-up still runs
		// it: one run at a time.
		d.mu.Unlock()
		return
	}
	st.Running, st.LastRun = true, d.now()
	d.mu.Unlock()
	began := time.Now() // the job's real duration, whatever the injected clock says
	result, err := fn(ctx)
	if ctx.Err() == nil {
		d.metrics.ObserveJob(name, st.LastRun, time.Since(began), err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st.Running, st.Runs, st.Result = false, st.Runs+1, result
	if err != nil && ctx.Err() == nil {
		st.LastErr = err.Error()
		d.logger.Error("job failed", "job", name, "err", err)
		return
	}
	st.LastErr, st.LastOK = "", d.now()
	if result != "" {
		d.logger.Info("job done", "job", name, "result", result)
	}
}

// record notes a run of a job that runs on its own (the IDLE watch).
func (d *daemon) record(name, result string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.jobs[name]
	st.Runs++
	st.LastRun, st.Result = d.now(), result
	d.metrics.ObserveJob(name, st.LastRun, -1, err) // a batch read through IDLE: no duration of its own
	if err != nil {
		st.LastErr = err.Error()
		d.logger.Error("job failed", "job", name, "err", err)
		return
	}
	st.LastOK, st.LastErr = d.now(), ""
	d.logger.Info("job done", "job", name, "result", result)
}

// failed returns an error naming the jobs whose last run failed.
func (d *daemon) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for name, j := range d.jobs {
		if j.LastErr != "" {
			names = append(names, name+": "+j.LastErr)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("run: %s", strings.Join(names, "; "))
}

// ServeHTTP answers /healthz: 200 while no job's last run failed, 503
// otherwise, with each job's state.
func (d *daemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		http.NotFound(w, r)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	status := "ok"
	for _, j := range d.jobs {
		if j.LastErr != "" {
			status = "failing"
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(map[string]any{"status": status, "started": d.started, "jobs": d.jobs})
}

// cronLogger lets robfig/cron log through slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// Run runs the daemon until interrupted.
func (c *RunCommand) Run(ctx context.Context) error {
	db, cfg, outbox, err := c.m.openOutbox(c.config)
	if err != nil {
		return err
	}
	c.m.Logger = configLogger(cfg, c.m.Stderr) // a daemon logs what it does: log.level, log.format
	lock, err := lockFile(db.Path()+".daemon-lock", "runs on", db.Path())
	if err != nil {
		return err
	}
	c.m.closers = append(c.m.closers, lock)
	if err := c.m.auditConfig(ctx, db, cfg); err != nil {
		return err
	}
	sender, err := c.m.newSender(ctx, db, cfg, outbox)
	if err != nil {
		return err
	}
	p, err := c.m.newPoller(db, cfg, outbox)
	if err != nil {
		return err
	}
	campaigns := sqlite.NewCampaignService(db)
	planner := &reminders.Planner{Store: planStore{outbox, campaigns, sqlite.NewUnitService(db), sqlite.NewInboundService(db, outbox)},
		Now: c.m.Now, Logger: c.m.Logger}
	shutdown, _ := time.ParseDuration(cfg.Daemon.ShutdownTimeout)

	d := &daemon{logger: c.m.Logger, now: c.m.Now, started: c.m.Now(), jobs: map[string]*jobState{}, metrics: web.NewMetrics(db)}
	type job struct {
		name, spec string
		fn         func(ctx context.Context) (string, error)
	}
	jobs := []job{
		{"plan", cfg.Daemon.Plan, func(ctx context.Context) (string, error) {
			st, err := planner.Plan(ctx)
			return fmt.Sprintf("%d invitations, %d reminders, %d head digests, %d operator digests queued",
				st.Invitations, st.Reminders, st.Digests, st.Operator), err
		}},
		{"send", cfg.Daemon.Send, func(ctx context.Context) (string, error) {
			st, err := sender.Deliver(ctx, mailer.DeliverOptions{})
			result := fmt.Sprintf("%d sent, %d deferred, %d failed, %d suppressed", st.Sent, st.Deferred, st.Failed, st.Suppressed)
			// After each delivery: does sending look blocked?
			alerts, aerr := outbox.FindAlerts(ctx, true)
			if aerr == nil {
				var warned int
				if warned, aerr = planner.CheckSending(ctx, cfg.Liaison.Mailbox, cfg.Liaison.Name, alerts); warned > 0 {
					result += "; the IT liaison is warned that sending looks blocked"
				}
			}
			return result, errors.Join(err, aerr)
		}},
		{"poll", cfg.Daemon.Poll, func(ctx context.Context) (string, error) {
			st, err := p.Poll(ctx)
			return fmt.Sprintf("%d new, %d stored, %d responses, %d queued", st.Fetched, st.Stored, st.Responses, st.Queued), err
		}},
		{"liaison_digest", cfg.Daemon.LiaisonDigest, func(ctx context.Context) (string, error) {
			n, err := planner.PlanLiaisonDigest(ctx, cfg.Liaison.Mailbox, cfg.Liaison.Name)
			return fmt.Sprintf("%d digests queued", n), err
		}},
		{"housekeeping", cfg.Daemon.Housekeeping, func(ctx context.Context) (string, error) {
			n, err := outbox.ReclaimOutbox(ctx, false)
			return fmt.Sprintf("%d expired leases given back", n), err
		}},
	}
	for _, j := range jobs {
		d.jobs[j.name] = &jobState{Schedule: j.spec}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	where := "once"
	if !c.once {
		where = "no dashboard (http.listen is empty) (Ctrl-C to stop)"
	}
	if !c.once && cfg.HTTP.Listen != "" {
		srv, err := c.m.newDashboard(cfg, db, dashboardOptions{health: d, metrics: d.metrics})
		if err != nil {
			return err
		}
		if err := srv.Open(); err != nil {
			return fmt.Errorf("http: %w (http.listen in %s)", err, configName(cfg))
		}
		defer srv.Close()
		where = "dashboard on " + srv.URL() + ", health on " + srv.URL() + "/healthz (Ctrl-C to stop)"
	}

	loc := configLocation(cfg)
	logger := cronLogger{c.m.Logger}
	cr := cron.New(cron.WithLocation(loc), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	var pollEntry cron.EntryID
	for _, j := range jobs {
		id, err := cr.AddFunc(j.spec, func() { d.run(ctx, j.name, j.fn) })
		if err != nil {
			return fmt.Errorf("daemon.%s: %w", j.name, err)
		}
		if j.name == "poll" {
			pollEntry = id
		}
	}
	fmt.Fprintf(c.m.Stderr, "phieu run: store %s, %s\n", db.Path(), where)
	// Catch up once before the schedules take over: what became due while
	// the daemon was down is planned now (once), then delivered.
	// The liaison's daily digest keeps its hour: it is not caught up.
	catchUp := []string{"housekeeping", "plan", "send", "poll"}
	if c.only != "" {
		if !c.once {
			return usageErrorf("--jobs goes with --once")
		}
		catchUp = strings.Split(c.only, ",")
		for _, name := range catchUp {
			if d.jobs[name] == nil {
				return usageErrorf("--jobs: %q is not a job (housekeeping, plan, send, poll, liaison_digest)", name)
			}
		}
	}
	runJob := func(name string) {
		for _, j := range jobs {
			if j.name == name {
				d.run(ctx, j.name, j.fn)
			}
		}
	}
	if c.once {
		for _, name := range catchUp {
			runJob(name)
		}
		return d.failed()
	}
	// Housekeeping and planning are quick and feed sending; sending and
	// reading then go side by side, as a throttled send can take hours
	// and must not keep replies and bounces unread.
	runJob("housekeeping")
	runJob("plan")
	var catching sync.WaitGroup
	catching.Go(func() { runJob("send") })
	if cfg.IMAP.IDLE {
		// Mail is read as it arrives; the poll schedule is not used.
		cr.Remove(pollEntry)
	}
	catching.Go(func() {
		runJob("poll")
		if !cfg.IMAP.IDLE || ctx.Err() != nil {
			return
		}
		err := p.Watch(ctx, func(st poller.Stats) {
			d.record("poll", fmt.Sprintf("%d new, %d stored, %d responses, %d queued (IDLE)", st.Fetched, st.Stored, st.Responses, st.Queued), nil)
		})
		if err != nil {
			d.record("poll", "stopped", err) // a configuration problem: /healthz shows it
		}
	})
	cr.Start()
	<-ctx.Done()
	fmt.Fprintln(c.m.Stderr, "phieu run: stopping; waiting for running jobs")
	stopped := make(chan struct{})
	go func() {
		<-cr.Stop().Done()
		catching.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(shutdown):
		return errors.New("run: jobs still running after daemon.shutdown_timeout; an interrupted send is reclaimed on the next start")
	}
	return nil
}

// configLogger is the structured log the config asks for.
func configLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated with the config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// planStore is what the planner reads and writes, from the store's services.
type planStore struct {
	*sqlite.OutboxService
	*sqlite.CampaignService
	*sqlite.UnitService
	inbound *sqlite.InboundService
}

func (s planStore) FindInbound(ctx context.Context, f store.InboundFilter) ([]*store.InboundMessage, int, error) {
	return s.inbound.FindInbound(ctx, f)
}
