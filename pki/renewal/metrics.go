package renewal

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/status"
)

// Collector exports the expiry of the certificates a process depends on:
//
//	intransit_certificate_expiry_seconds{certificate}  seconds until it expires (negative once expired)
//	intransit_certificate_warning{certificate}         1 while its status carries a warning (expiring, expired, renewal failing)
//	intransit_certificate_renewals{certificate}        renewals done since the process started
type Collector struct {
	certs                    func(now time.Time) []status.Certificate
	expiry, warning, renewed *prometheus.Desc
}

// NewCollector exports what certs reports at each scrape; certificate
// names must be unique.
func NewCollector(certs func(now time.Time) []status.Certificate) *Collector {
	l := []string{"certificate"}
	return &Collector{
		certs:   certs,
		expiry:  prometheus.NewDesc("intransit_certificate_expiry_seconds", "Seconds until the certificate expires (negative once expired).", l, nil),
		warning: prometheus.NewDesc("intransit_certificate_warning", "1 while the certificate expires within 30 days without being renewed, has expired, or its renewal fails.", l, nil),
		renewed: prometheus.NewDesc("intransit_certificate_renewals", "Renewals of the certificate since the process started.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiry
	ch <- c.warning
	ch <- c.renewed
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, cert := range c.certs(now) {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, cert.NotAfter.Sub(now).Seconds(), cert.Name)
		warn := 0.0
		if cert.Warning != "" {
			warn = 1
		}
		ch <- prometheus.MustNewConstMetric(c.warning, prometheus.GaugeValue, warn, cert.Name)
		ch <- prometheus.MustNewConstMetric(c.renewed, prometheus.GaugeValue, float64(cert.Renewals), cert.Name)
	}
}
