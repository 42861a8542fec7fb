package tls

import (
	"testing"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/transporttest"
)

func BenchmarkThroughput(b *testing.B) {
	server, client := transporttest.TLSConfigs(b, "modern")
	srv, err := New(Config{ServerTLS: server})
	if err != nil {
		b.Fatal(err)
	}
	cli, err := New(Config{ClientTLS: client})
	if err != nil {
		b.Fatal(err)
	}
	transporttest.BenchmarkThroughput(b, srv, cli, InnerMTU(transport.DefaultPathMTU)+transport.WireGuardOverhead)
}
