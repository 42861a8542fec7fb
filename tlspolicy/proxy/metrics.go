package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts what flows through a proxy.
type Metrics struct {
	bytes *prometheus.CounterVec
	open  prometheus.Gauge
	total prometheus.Counter
}

// NewMetrics creates the proxy metrics and registers them with reg:
// intransit_tls_proxy_bytes_total{direction}, intransit_tls_proxy_open_connections
// and intransit_tls_proxy_connections_total.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_tls_proxy_bytes_total",
			Help: "Bytes forwarded by the proxy; in flows from the accepting side to the target, out flows back.",
		}, []string{"direction"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "intransit_tls_proxy_open_connections",
			Help: "Connections the proxy holds open now.",
		}),
		total: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "intransit_tls_proxy_connections_total",
			Help: "Connections accepted by the proxy's listener.",
		}),
	}
	for _, c := range []prometheus.Collector{m.bytes, m.open, m.total} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) opened() {
	if m != nil {
		m.open.Inc()
		m.total.Inc()
	}
}

func (m *Metrics) closed() {
	if m != nil {
		m.open.Dec()
	}
}

func (m *Metrics) transferred(direction string, n int) {
	if m != nil && n > 0 {
		m.bytes.WithLabelValues(direction).Add(float64(n))
	}
}

// StatusHandler serves /metrics (Prometheus text from g) and /status (the
// proxy's Status as JSON).
func (p *Proxy) StatusHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p.Status())
	})
	return mux
}
