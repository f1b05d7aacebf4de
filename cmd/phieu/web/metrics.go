package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// Metrics is what /metrics exposes: counts read from the database at each
// scrape (so they are right whichever process wrote them, and survive
// restarts) and the daemon's job timings. It has its own registry: two
// servers in one process (tests, the demo) never collide.
type Metrics struct {
	registry *prometheus.Registry

	jobDuration    *prometheus.HistogramVec
	jobRuns        *prometheus.CounterVec
	jobLastSuccess *prometheus.GaugeVec
}

// NewMetrics returns metrics over db.
func NewMetrics(db *sqlite.DB) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phieu_job_duration_seconds", Help: "How long each run of a daemon job took.",
			// From a poll of an empty mailbox to a send batch throttled by
			// the official server.
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900},
		}, []string{"job"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phieu_job_runs_total", Help: "Runs of each daemon job by result (ok, error).",
		}, []string{"job", "result"}),
		jobLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phieu_job_last_success_timestamp_seconds", Help: "When each daemon job last finished without error (Unix time).",
		}, []string{"job"}),
	}
	m.registry.MustRegister(m.jobDuration, m.jobRuns, m.jobLastSuccess,
		&storeCollector{dash: sqlite.NewDashboardService(db)},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveJob records one run of a daemon job that started at started
// (the daemon's clock) and took took (negative: unknown, no duration is
// observed, as for a batch read through IMAP IDLE). A nil Metrics records
// nothing.
func (m *Metrics) ObserveJob(job string, started time.Time, took time.Duration, err error) {
	if m == nil {
		return
	}
	if took >= 0 {
		m.jobDuration.WithLabelValues(job).Observe(took.Seconds())
	}
	if err != nil {
		m.jobRuns.WithLabelValues(job, "error").Inc()
		return
	}
	m.jobRuns.WithLabelValues(job, "ok").Inc()
	m.jobLastSuccess.WithLabelValues(job).Set(float64(started.Add(max(took, 0)).UnixNano()) / 1e9)
}

// Handler serves the metrics in Prometheus' text format. A collector that
// fails leaves its series out; the rest are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// storeCollector reads the counts at scrape time. Every known label value
// is exported, zero included, so a series does not vanish when its count
// drops to nothing.
type storeCollector struct {
	dash store.DashboardService
}

var (
	descDBUp      = prometheus.NewDesc("phieu_db_up", "1 if the database answered the last scrape's queries, else 0.", nil, nil)
	descOutbox    = prometheus.NewDesc("phieu_outbox_messages", "Outbox messages by state, all campaigns.", []string{"state"}, nil)
	descAttempts  = prometheus.NewDesc("phieu_smtp_attempts", "SMTP attempts recorded, by result (sent, deferred, failed), all campaigns.", []string{"result"}, nil)
	descFailures  = prometheus.NewDesc("phieu_delivery_failures", "Delivery failures recorded, by class, all campaigns.", []string{"class"}, nil)
	descResponses = prometheus.NewDesc("phieu_responses", "Responses by status, all campaigns.", []string{"status"}, nil)
	descMembers   = prometheus.NewDesc("phieu_members", "Campaign members by status, all campaigns.", []string{"status"}, nil)
)

// responseStatuses lists every response status, for zero-valued series.
var responseStatuses = []store.ResponseStatus{
	store.ResponseCounted, store.ResponsePartial, store.ResponseLate, store.ResponseNeedsReview,
	store.ResponseSuperseded, store.ResponseRejected,
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDBUp, descOutbox, descAttempts, descFailures, descResponses, descMembers} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.dash.DashboardCounts(ctx, "")
	if err != nil {
		// A broken database is a value to alert on, not a failed scrape.
		ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, 1)
	emit(ch, descOutbox, store.OutboxStates, counts.Outbox)
	emit(ch, descAttempts, []store.OutboxState{store.OutboxSent, store.OutboxDeferred, store.OutboxFailed}, counts.Attempts)
	emit(ch, descFailures, store.FailureClasses, counts.Failures)
	emit(ch, descResponses, responseStatuses, counts.Responses)
	emit(ch, descMembers, store.MemberStatuses, counts.Members)
}

// emit sends one gauge per known label value, then any value the database
// holds that this version does not know.
func emit[K ~string](ch chan<- prometheus.Metric, desc *prometheus.Desc, known []K, counts map[K]int) {
	seen := map[K]bool{}
	for _, k := range known {
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[k]), string(k))
	}
	for k, n := range counts {
		if !seen[k] {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), string(k))
		}
	}
}
