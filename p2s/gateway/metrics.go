package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/gatewaycore"
	"intransit/tunnel/transport/multi"
	"intransit/tunnel/transport/registry"
)

// Collector exports the gateway's point-to-site state as Prometheus
// metrics, read at scrape time. Nothing is labelled by client, so that
// thousands of laptops do not make thousands of series:
//
//	intransit_p2s_clients{transport}       connected clients by transport in use
//	intransit_p2s_static_devices           devices with static profiles
//	intransit_p2s_leases                   addresses leased
//	intransit_p2s_pool_size                clients the pools can serve
//	intransit_p2s_connects_total           client sessions established
//	intransit_p2s_leases_reclaimed_total   leases of idle clients released
//	intransit_p2s_refusals_total{reason}   clients refused, by reason
//	intransit_p2s_rx_bytes_total           WireGuard bytes from connected clients
//	intransit_p2s_tx_bytes_total           WireGuard bytes to connected clients
//	intransit_p2s_control_handshakes       control connections in their TLS handshake
//	intransit_p2s_control_sessions         control connections in their session
//
// and the data-plane transports' counters (multi.Collector, gateway="p2s").
type Collector struct {
	g                                                                 *Gateway
	clients, statics, leases, size, connects, reclaimed, refs, rx, tx *prometheus.Desc
	transports                                                        *multi.Collector
	admission                                                         *gatewaycore.AdmissionCollector
}

// NewCollector returns the collector of g; register it with a registry.
func NewCollector(g *Gateway) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("intransit_p2s_"+name, help, labels, nil)
	}
	return &Collector{g: g, transports: multi.NewCollector(g.bind, "p2s"), admission: gatewaycore.NewAdmissionCollector("intransit_p2s_", g.ctrl),
		clients:   d("clients", "Connected point-to-site clients, by data-plane transport in use (none: no handshake yet).", "transport"),
		statics:   d("static_devices", "Devices with static wg-quick profiles."),
		leases:    d("leases", "Tunnel addresses leased."),
		size:      d("pool_size", "Clients the address pools can serve."),
		connects:  d("connects_total", "Client sessions established."),
		reclaimed: d("leases_reclaimed_total", "Address leases of clients idle for longer than lease_idle, released."),
		refs:      d("refusals_total", "Clients refused, by reason.", "reason"),
		rx:        d("rx_bytes_total", "WireGuard bytes received from the connected clients."),
		tx:        d("tx_bytes_total", "WireGuard bytes sent to the connected clients."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.clients, c.statics, c.leases, c.size, c.connects, c.reclaimed, c.refs, c.rx, c.tx} {
		ch <- d
	}
	c.transports.Describe(ch)
	c.admission.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.admission.Collect(ch)
	st := c.g.Status()
	by := map[string]int{"none": 0}
	for _, name := range registry.Names() {
		by[name] = 0
	}
	var rx, tx uint64
	for _, cl := range st.Clients {
		t := cl.Transport
		if t == "" {
			t = "none"
		}
		by[t]++
		rx += cl.RxBytes
		tx += cl.TxBytes
	}
	for t, n := range by {
		ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(n), t)
	}
	ch <- prometheus.MustNewConstMetric(c.statics, prometheus.GaugeValue, float64(len(st.Statics)))
	ch <- prometheus.MustNewConstMetric(c.leases, prometheus.GaugeValue, float64(st.Leases))
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(st.PoolSize))
	ch <- prometheus.MustNewConstMetric(c.rx, prometheus.CounterValue, float64(rx))
	ch <- prometheus.MustNewConstMetric(c.tx, prometheus.CounterValue, float64(tx))
	c.g.mu.Lock()
	connects, reclaimed := c.g.connects, c.g.reclaimed
	c.g.mu.Unlock()
	refused := c.g.refusals.Counts()
	ch <- prometheus.MustNewConstMetric(c.connects, prometheus.CounterValue, float64(connects))
	ch <- prometheus.MustNewConstMetric(c.reclaimed, prometheus.CounterValue, float64(reclaimed))
	for reason, n := range refused {
		ch <- prometheus.MustNewConstMetric(c.refs, prometheus.CounterValue, float64(n), reason)
	}
	c.transports.Collect(ch)
}
