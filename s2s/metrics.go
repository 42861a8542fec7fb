package s2s

import (
	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/gatewaycore"
	"intransit/internal/status"
	"intransit/tunnel/transport/multi"
)

// Collector exports a gateway's state as Prometheus metrics, read at
// scrape time:
//
//	intransit_s2s_peer_up{remote}                  1 while the tunnel is up
//	intransit_s2s_peer_rx_bytes_total{remote}      WireGuard bytes received
//	intransit_s2s_peer_tx_bytes_total{remote}      WireGuard bytes sent
//	intransit_s2s_peer_last_handshake_seconds{remote}  Unix time
//	intransit_s2s_peer_psk_epoch{remote}           PSK rotations in the session
//	intransit_s2s_peer_psk_age_seconds{remote}     age of the PSK in place
//	intransit_s2s_peer_sessions_total{remote}      sessions established
//	intransit_s2s_refusals_total{reason}           refused peers
//	intransit_s2s_control_handshakes               control connections in their TLS handshake
//	intransit_s2s_control_sessions                 control connections in their session
//
// and the data-plane transports' counters (multi.Collector, gateway="s2s").
type Collector struct {
	g                                                 *Gateway
	up, rx, tx, handshake, epoch, age, sessions, refs *prometheus.Desc
	transports                                        *multi.Collector
	admission                                         *gatewaycore.AdmissionCollector
}

// NewCollector returns the collector of g; register it with a registry.
func NewCollector(g *Gateway) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("intransit_s2s_"+name, help, labels, nil)
	}
	return &Collector{g: g, transports: multi.NewCollector(g.bind, "s2s"), admission: gatewaycore.NewAdmissionCollector("intransit_s2s_", g.ctrl),
		up:        d("peer_up", "1 while the tunnel to the remote gateway is up.", "remote"),
		rx:        d("peer_rx_bytes_total", "WireGuard bytes received from the remote gateway.", "remote"),
		tx:        d("peer_tx_bytes_total", "WireGuard bytes sent to the remote gateway.", "remote"),
		handshake: d("peer_last_handshake_seconds", "Unix time of the last WireGuard handshake.", "remote"),
		epoch:     d("peer_psk_epoch", "Epoch of the post-quantum PSK in place.", "remote"),
		age:       d("peer_psk_age_seconds", "Age of the post-quantum PSK in place.", "remote"),
		sessions:  d("peer_sessions_total", "Control sessions established with the remote gateway.", "remote"),
		refs:      d("refusals_total", "Peers refused, by reason.", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.rx, c.tx, c.handshake, c.epoch, c.age, c.sessions, c.refs} {
		ch <- d
	}
	c.transports.Describe(ch)
	c.admission.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.admission.Collect(ch)
	rep := c.g.Status()
	for _, p := range rep.Peers {
		up := 0.0
		if p.State == status.StateUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, p.Name)
		ch <- prometheus.MustNewConstMetric(c.rx, prometheus.CounterValue, float64(p.RxBytes), p.Name)
		ch <- prometheus.MustNewConstMetric(c.tx, prometheus.CounterValue, float64(p.TxBytes), p.Name)
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.CounterValue, float64(p.Sessions), p.Name)
		if !p.LastHandshake.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.handshake, prometheus.GaugeValue, float64(p.LastHandshake.Unix()), p.Name)
		}
		if p.PSKEpoch > 0 {
			ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(p.PSKEpoch), p.Name)
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, rep.Time.Sub(p.PSKInstalled).Seconds(), p.Name)
		}
	}
	for reason, n := range c.g.refusals.Counts() {
		ch <- prometheus.MustNewConstMetric(c.refs, prometheus.CounterValue, float64(n), reason)
	}
	c.transports.Collect(ch)
}
