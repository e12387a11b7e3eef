package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/serverset"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// metrics are the daemon's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The children of requests and duration that observe used, by their labels: looking
	// one up in its vector hashes the label values, on every operation.
	counters  sync.Map // opStatus → prometheus.Counter
	durations sync.Map // handler.Op → prometheus.Observer
}

// opStatus is the labels of a requests counter.
type opStatus struct {
	op     handler.Op
	status handler.Status
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phpsessd_requests_total", Help: "Protocol operations served, by operation and status.",
		}, []string{"op", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phpsessd_request_duration_seconds", Help: "Time to serve a protocol operation, lock waits included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is handler.Config.Observe.
func (m *metrics) observe(op handler.Op, status handler.Status, took time.Duration) {
	key := opStatus{op, status}
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.requests.WithLabelValues(op.String(), status.String()))
	}
	c.(prometheus.Counter).Inc()
	d, ok := m.durations.Load(op)
	if !ok {
		d, _ = m.durations.LoadOrStore(op, m.duration.WithLabelValues(op.String()))
	}
	d.(prometheus.Observer).Observe(took.Seconds())
}

// poolStats is what the metrics read of the store's connections.
type poolStats interface {
	// PoolStat counts the connection pool's connections now.
	PoolStat() pgsess.PoolStat
	// LockStat counts the lock connections' work since the store opened (zero when
	// the store has none).
	LockStat() pgsess.LockStat
	// DecodeFailures counts the writes whose data did not decode for the decoded
	// column (zero when it is off).
	DecodeFailures() uint64
}

// serverHealth is what the metrics read of the database servers' state.
type serverHealth interface {
	// Health returns every server's state, in the order of session_pgsql.db.
	Health() []serverset.Health
}

// pinger is the store as /healthz checks it.
type pinger interface {
	// Ping reports whether the database answers and the table is usable.
	Ping(ctx context.Context) error
}

// watch adds gauges read from the server and the store at scrape time.
func (m *metrics) watch(srv *handler.Server, store interface {
	poolStats
	serverHealth
}) {
	m.reg.MustRegister(serversCollector{store})
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phpsessd_connections", Help: "PHP client connections open."},
			func() float64 { return float64(srv.Stats().Connections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phpsessd_locked_sessions", Help: "Sessions locked or awaited in this daemon."},
			func() float64 { return float64(srv.Stats().LockedIDs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phpsessd_connections_refused_total",
			Help: "PHP client connections refused because session_pgsql.max_clients were open."},
			func() float64 { return float64(srv.Stats().Refused) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phpsessd_db_connections", Help: "Database connections in the pool."},
			func() float64 { return float64(store.PoolStat().Conns) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phpsessd_lock_batches_total",
			Help: "Batches sent on the advisory lock connections."},
			func() float64 { return float64(store.LockStat().Batches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phpsessd_lock_batch_jobs_total",
			Help: "Lock takes, writes and releases sent in those batches (divided by the batches: the mean batch size)."},
			func() float64 { return float64(store.LockStat().Jobs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phpsessd_decode_failures_total",
			Help: "Writes whose session data did not decode for the decoded column (stored as sent, sess_decoded NULL)."},
			func() float64 { return float64(store.DecodeFailures()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phpsessd_lock_reconnects_total",
			Help: "Advisory lock connections opened again after they dropped, losing the locks they held."},
			func() float64 { return float64(store.LockStat().Reconnects) }),
	)
}

// serveMetrics serves /metrics, /healthz (200 when the database answers, else 503) and
// Go's profiles under /debug/pprof/ on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, m *metrics, store pinger, log zerolog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	// Profiles for finding where the daemon spends its time (go tool pprof).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "database unreachable\n", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info().Str("metrics_listen", ln.Addr().String()).Msg("serving /metrics and /healthz")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serversCollector reports each database server's state at scrape time, labelled with
// the server (its connection string, password redacted).
type serversCollector struct{ store serverHealth }

var (
	serverUpDesc = prometheus.NewDesc("phpsessd_server_up",
		"1 while the daemon uses the database server, 0 while it is down and its sessions go to the next live server.",
		[]string{"server"}, nil)
	serverSwitchesDesc = prometheus.NewDesc("phpsessd_server_switches_total",
		"Changes of a database server's state: to down (its sessions moved to the next live server) or to up (they went home).",
		[]string{"server", "to"}, nil)
)

func (c serversCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- serverUpDesc
	ch <- serverSwitchesDesc
}

func (c serversCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.store.Health() {
		up := 0.0
		if h.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(serverUpDesc, prometheus.GaugeValue, up, h.Server)
		ch <- prometheus.MustNewConstMetric(serverSwitchesDesc, prometheus.CounterValue, float64(h.Downs), h.Server, "down")
		ch <- prometheus.MustNewConstMetric(serverSwitchesDesc, prometheus.CounterValue, float64(h.Ups), h.Server, "up")
	}
}
