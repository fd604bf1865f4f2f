// Package metrics defines the importer's Prometheus series: what the workers
// count as they apply chunks and finish imports, and what the producer reads
// from PostgreSQL when scraped.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userimport/userimport/internal/lifecycle"
)

// Importer holds the workers' series. A nil *Importer counts nothing, so that
// tests and tools need not build one.
type Importer struct {
	records        *prometheus.CounterVec
	rejects        *prometheus.CounterVec
	chunkDuration  *prometheus.HistogramVec
	importDuration *prometheus.HistogramVec
	emails         *prometheus.CounterVec
	throttled      *prometheus.CounterVec
}

// NewImporter registers the workers' series with reg.
func NewImporter(reg prometheus.Registerer) *Importer {
	m := &Importer{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "userimport_records_total",
			Help: "Records applied, by tenant and outcome (created, updated, unchanged, rejected).",
		}, []string{"tenant", "outcome"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "userimport_rejects_total",
			Help: "Rejected records by the column at fault (record: the record as a whole).",
		}, []string{"column"}),
		chunkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "userimport_chunk_duration_seconds",
			Help:    "Time to read, validate and apply one chunk, by result (applied, retry, failed).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"result"}),
		importDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "userimport_import_duration_seconds",
			Help:    "Time from an import's creation to its result, by kind (upload, event, retry, feed, local).",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}, []string{"kind"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "userimport_emails_total",
			Help: "Result e-mails by result (sent, failed).",
		}, []string{"result"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "userimport_tenant_throttled_total",
			Help: "Chunks put back because their tenant had TENANT_CHUNK_LIMIT chunks in flight.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.records, m.rejects, m.chunkDuration, m.importDuration, m.emails, m.throttled)
	// The closed label sets are present at 0 from the start, so that rate()
	// and increase() see the first event: a series born at 1 shows no
	// increase, and the dashboard's quantiles of the first import would be NaN.
	for _, r := range []string{"sent", "failed"} {
		m.emails.WithLabelValues(r)
	}
	for _, r := range []string{"applied", "redelivered", "retry", "failed"} {
		m.chunkDuration.WithLabelValues(r)
	}
	for _, k := range lifecycle.Kinds() {
		m.importDuration.WithLabelValues(string(k))
	}
	return m
}

// ChunkOutcome is what applying a chunk did.
type ChunkOutcome struct {
	Tenant                                string
	Created, Updated, Unchanged, Rejected int
	// RejectedColumns names the column at fault of each rejection, one entry
	// per rejected record and column.
	RejectedColumns []string
	// Redelivered: the chunk had been applied before (a task run again, or
	// handed on from a worker that stopped heartbeating after it committed):
	// nothing was written, and its duration is not an applied chunk's.
	Redelivered bool
}

// ChunkApplied counts an applied chunk.
func (m *Importer) ChunkApplied(o ChunkOutcome, took time.Duration) {
	if m == nil {
		return
	}
	for _, c := range [...]struct {
		outcome string
		n       int
	}{{"created", o.Created}, {"updated", o.Updated}, {"unchanged", o.Unchanged}, {"rejected", o.Rejected}} {
		if c.n > 0 {
			m.records.WithLabelValues(o.Tenant, c.outcome).Add(float64(c.n))
		}
	}
	for _, c := range o.RejectedColumns {
		m.rejects.WithLabelValues(c).Inc()
	}
	result := "applied"
	if o.Redelivered {
		result = "redelivered"
	}
	m.chunkDuration.WithLabelValues(result).Observe(took.Seconds())
}

// ChunkFailed counts a chunk that failed; final says it will not be retried.
func (m *Importer) ChunkFailed(took time.Duration, final bool) {
	if m == nil {
		return
	}
	result := "retry"
	if final {
		result = "failed"
	}
	m.chunkDuration.WithLabelValues(result).Observe(took.Seconds())
}

// ImportDone counts an import that reached its result.
func (m *Importer) ImportDone(kind lifecycle.Kind, took time.Duration) {
	if m == nil {
		return
	}
	m.importDuration.WithLabelValues(string(kind)).Observe(took.Seconds())
}

// EmailSent counts a result e-mail, sent when err is nil.
func (m *Importer) EmailSent(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.emails.WithLabelValues("failed").Inc()
		return
	}
	m.emails.WithLabelValues("sent").Inc()
}

// Throttled counts a chunk put back because its tenant was at its limit.
func (m *Importer) Throttled(tenant string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(tenant).Inc()
}

// ImportStats are the imports as PostgreSQL has them, over all tenants.
type ImportStats struct {
	ByState map[lifecycle.ImportState]int
	// OldestUnfinished is the age of the oldest import not yet finished,
	// rejected or failed; 0 when there is none.
	OldestUnfinished time.Duration
}

// ImportStatsFunc reads the import stats (postgres.Store.ImportStats).
type ImportStatsFunc func(ctx context.Context) (ImportStats, error)

// importsCollector reads the imports' states at each scrape: the numbers are
// PostgreSQL's, so every producer reports the same and none keeps state.
type importsCollector struct {
	stats          ImportStatsFunc
	byState, stuck *prometheus.Desc
}

// NewImportsCollector returns the collector of userimport_imports and
// userimport_import_oldest_unfinished_seconds.
func NewImportsCollector(stats ImportStatsFunc) prometheus.Collector {
	return &importsCollector{
		stats: stats,
		byState: prometheus.NewDesc("userimport_imports",
			"Imports by state, over all tenants.", []string{"state"}, nil),
		stuck: prometheus.NewDesc("userimport_import_oldest_unfinished_seconds",
			"Age of the oldest import that has not reached its result; 0 when none.", nil, nil),
	}
}

func (c *importsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byState
	ch <- c.stuck
}

func (c *importsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.byState, err)
		return
	}
	for _, state := range lifecycle.ImportStates() { // every state, even at 0
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(s.ByState[state]), string(state))
	}
	ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, s.OldestUnfinished.Seconds())
}
