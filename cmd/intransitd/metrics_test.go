package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestRegistryServesControlMetrics scrapes the daemon's registry as the
// metrics listener serves it: the control channel's metrics are there.
// (Labelled counters appear once a session counts into them; the
// site-to-site netns tests scrape those from a running daemon.)
func TestRegistryServesControlMetrics(t *testing.T) {
	reg, _, ctrl, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if ctrl == nil {
		t.Fatal("no control metrics")
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"# TYPE intransit_control_psk_rotation_seconds histogram", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
