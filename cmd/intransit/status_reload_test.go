package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
)

func TestStatusShowsLastReload(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		reload status.Reload
		want   string
	}{
		{status.Reload{}, ""},
		{status.Reload{At: at}, "reload    applied 2026-12-04T12:00:00Z\n"},
		{status.Reload{At: at, Refused: "path_mtu: this change needs a restart"}, "reload    refused 2026-12-04T12:00:00Z: path_mtu: this change needs a restart\n"},
	} {
		var b bytes.Buffer
		rep := &status.Report{Time: at, Gateway: status.Gateway{LastReload: tc.reload}}
		if err := writeStatus(&b, rep); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, l := range strings.SplitAfter(b.String(), "\n") {
			if strings.HasPrefix(l, "reload ") {
				got = l
			}
		}
		if got != tc.want {
			t.Errorf("reload %+v: line %q, want %q", tc.reload, got, tc.want)
		}
	}
}
