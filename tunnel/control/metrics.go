package control

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts control sessions and PSK rotations. One Metrics may be
// shared by every session of a daemon; the role label tells initiators and
// responders apart. A nil *Metrics counts nothing.
type Metrics struct {
	established *prometheus.CounterVec
	ended       *prometheus.CounterVec
	rotations   *prometheus.CounterVec
	rotationRTT prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg:
// intransit_control_sessions_established_total{role},
// intransit_control_sessions_ended_total{role,reason,by} (by: local, peer,
// or connection; reason: a Reason name, "context" or "connection"),
// intransit_control_psk_rotations_total{role} and
// intransit_control_psk_rotation_seconds (initiator: proposal to ack).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		established: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_control_sessions_established_total",
			Help: "Control sessions that completed the Hello exchange and admission.",
		}, []string{"role"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_control_sessions_ended_total",
			Help: "Control sessions that ended, by reason code and by which side ended them.",
		}, []string{"role", "reason", "by"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intransit_control_psk_rotations_total",
			Help: "Post-quantum PSKs installed.",
		}, []string{"role"}),
		rotationRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "intransit_control_psk_rotation_seconds",
			Help:    "Time from a PSK proposal to its acknowledgement, on the initiator.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.established, m.ended, m.rotations, m.rotationRTT} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) sessionEstablished(role Role) {
	if m != nil {
		m.established.WithLabelValues(role.String()).Inc()
	}
}

func (m *Metrics) pskInstalled(role Role) {
	if m != nil {
		m.rotations.WithLabelValues(role.String()).Inc()
	}
}

func (m *Metrics) rotationDone(seconds float64) {
	if m != nil {
		m.rotationRTT.Observe(seconds)
	}
}

func (m *Metrics) sessionEnded(ctx context.Context, role Role, err error) {
	if m == nil {
		return
	}
	reason, by := "connection", "connection"
	var se *SessionError
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		reason, by = "context", "local"
	case errors.As(err, &se):
		reason, by = se.Reason.String(), "local"
		if se.Remote {
			by = "peer"
		}
	}
	m.ended.WithLabelValues(role.String(), reason, by).Inc()
}
