package multi

import (
	"github.com/prometheus/client_golang/prometheus"

	"intransit/tunnel/transport/internal/linkbind"
)

// linkStats is what the connection-oriented transports (quic, tls) count.
type linkStats interface {
	LinkStats() linkbind.Stats
}

// Collector exports the counters of a Bind's connection-oriented members as
// Prometheus metrics, read at scrape time, labelled by the gateway that
// owns the Bind (s2s, p2s: a constant label, so that the collectors of both
// gateways register side by side) and the transport:
//
//	intransit_transport_dropped_total{gateway,transport}      messages dropped on a full send queue
//	intransit_transport_unreachable_total{gateway,transport}  messages for a peer with no connection, on a Bind that cannot dial
//	intransit_transport_dials_total{gateway,transport}        connections dialed
//	intransit_transport_dial_failures_total{gateway,transport}
//	intransit_transport_accepted_total{gateway,transport}     connections accepted
//	intransit_transport_handshake_failures_total{gateway,transport}  incoming connections refused
type Collector struct {
	b                                                           *Bind
	dropped, unreachable, dials, dialFailures, accepted, hsFail *prometheus.Desc
}

// NewCollector returns the collector of b, owned by gateway.
func NewCollector(b *Bind, gateway string) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("intransit_transport_"+name, help, []string{"transport"}, prometheus.Labels{"gateway": gateway})
	}
	return &Collector{b: b,
		dropped:      d("dropped_total", "WireGuard messages dropped on a full per-connection send queue."),
		unreachable:  d("unreachable_total", "WireGuard messages dropped for a peer with no connection, by a transport that only accepts (the peer left it)."),
		dials:        d("dials_total", "Data-plane connections dialed."),
		dialFailures: d("dial_failures_total", "Data-plane dials that failed."),
		accepted:     d("accepted_total", "Data-plane connections accepted."),
		hsFail:       d("handshake_failures_total", "Incoming data-plane connections refused in their handshake."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dropped, c.unreachable, c.dials, c.dialFailures, c.accepted, c.hsFail} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.b.members {
		ls, ok := m.Bind.(linkStats)
		if !ok {
			continue
		}
		st := ls.LinkStats()
		name := m.Bind.Scheme()
		for _, v := range []struct {
			d *prometheus.Desc
			n uint64
		}{{c.dropped, st.Dropped}, {c.unreachable, st.Unreachable}, {c.dials, st.Dials}, {c.dialFailures, st.DialFailures},
			{c.accepted, st.Accepted}, {c.hsFail, st.HandshakeFailures}} {
			ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n), name)
		}
	}
}
