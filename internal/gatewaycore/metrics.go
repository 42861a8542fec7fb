package gatewaycore

import "github.com/prometheus/client_golang/prometheus"

// AdmissionCollector exports the slots a control Server has taken, read
// at scrape time:
//
//	<prefix>control_handshakes   connections in their TLS handshake
//	<prefix>control_sessions     connections past it, in their session
//
// Refusals are counted by the gateways' own refusals_total{reason}.
type AdmissionCollector struct {
	s                    *Server
	handshakes, sessions *prometheus.Desc
}

// NewAdmissionCollector returns the collector of s, its metric names
// starting with prefix ("intransit_s2s_").
func NewAdmissionCollector(prefix string, s *Server) *AdmissionCollector {
	return &AdmissionCollector{s: s,
		handshakes: prometheus.NewDesc(prefix+"control_handshakes", "Control connections in their TLS handshake.", nil, nil),
		sessions:   prometheus.NewDesc(prefix+"control_sessions", "Control connections past their TLS handshake, in their session.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *AdmissionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.handshakes
	ch <- c.sessions
}

// Collect implements prometheus.Collector.
func (c *AdmissionCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.s.Occupancy()
	ch <- prometheus.MustNewConstMetric(c.handshakes, prometheus.GaugeValue, float64(o.Handshakes))
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(o.Sessions))
}
