package tlspolicy

import (
	"crypto/tls"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts accepted handshakes and refusals. One Metrics may be shared
// by several configs; the role label tells servers and clients apart.
type Metrics struct {
	handshakes *prometheus.CounterVec
	refusals   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg:
// intransit_tls_handshakes_total{role,profile,version,suite,group,resumed} and
// intransit_tls_refusals_total{role,profile,reason}.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_tls_handshakes_total",
			Help: "TLS handshakes accepted by the policy, by negotiated version, cipher suite and key exchange group.",
		}, []string{"role", "profile", "version", "suite", "group", "resumed"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_tls_refusals_total",
			Help: "TLS connections refused by the policy, by reason code.",
		}, []string{"role", "profile", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.handshakes, m.refusals} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) handshake(role, profile string, cs tls.ConnectionState) {
	if m == nil {
		return
	}
	resumed := "false"
	if cs.DidResume {
		resumed = "true"
	}
	m.handshakes.WithLabelValues(role, profile, VersionName(cs.Version), SuiteName(cs.CipherSuite), GroupName(cs.CurveID), resumed).Inc()
}

// Refused counts a refusal. The policy calls it for its own refusals; a
// listener calls it for refusals it decides itself (plaintext, handshake).
func (m *Metrics) Refused(role, profile string, reason Reason) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(role, profile, string(reason)).Inc()
}
