package statestore

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/pki/store/storetest"
)

func TestBolt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, daemonconfig.Store{Backend: daemonconfig.StoreBolt}, dir, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.PKI != nil {
		t.Error("bolt opened a PKI store; the PKI keeps its own file")
	}
	if err := s.P2S.PutClient(ctx, p2s.Client{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p2s", "p2s.db")); err != nil {
		t.Fatalf("the bolt file is not in the state directory: %v", err)
	}
}

// TestEtcdSharedByTwoGateways opens the etcd stores twice, as two gateways
// with their own client certificates would: what one writes, the other
// reads.
func TestEtcdSharedByTwoGateways(t *testing.T) {
	ctx := context.Background()
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	cfg := daemonconfig.Store{Backend: daemonconfig.StoreEtcd, Etcd: &daemonconfig.EtcdStore{
		Endpoints: c.Endpoints(), CA: files.CA, Cert: files.ClientCert, Key: files.ClientKey, Prefix: "/gw/",
	}}
	gw1, err := Open(ctx, cfg, t.TempDir(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw1.Close()
	gw2, err := Open(ctx, cfg, t.TempDir(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw2.Close()
	l := p2s.Lease{Client: "laptop", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1")}, Updated: time.Now()}
	if err := gw1.P2S.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := gw2.P2S.Lease(ctx, "laptop"); err != nil || got.Addresses[0] != l.Addresses[0] {
		t.Fatalf("the other gateway reads %+v, %v", got, err)
	}
	if err := gw2.PKI.PutCertificate(ctx, storetest.Record(9, "gw", "gateway", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if recs, _, err := gw1.PKI.RevocationsSince(ctx, 0); err != nil || len(recs) != 0 {
		t.Fatalf("feed: %v %v", recs, err)
	}
}

func TestEtcdUnreachableFailsAtOpen(t *testing.T) {
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	ep := c.Endpoints()[0]
	c.Kill(0)
	cfg := daemonconfig.Store{Backend: daemonconfig.StoreEtcd, Etcd: &daemonconfig.EtcdStore{
		Endpoints: []string{ep}, CA: files.CA, Cert: files.ClientCert, Key: files.ClientKey, Prefix: "/gw/",
		DialTimeout: daemonconfig.Duration{Duration: time.Second},
	}}
	_, err := Open(context.Background(), cfg, t.TempDir(), time.Hour, nil)
	if err == nil || !strings.Contains(err.Error(), ep) {
		t.Fatalf("open with the cluster down: %v, want an error naming %s", err, ep)
	}
}
