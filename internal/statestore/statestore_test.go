package statestore

import (
	"context"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/pki/store"
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

// TestOneMemberOfThreeKilled kills the leader of a 3-member cluster under
// two gateways' stores: leases, token redemptions, issuance and revocation go
// on, and the other gateway's revocation watch sees the revocation.
func TestOneMemberOfThreeKilled(t *testing.T) {
	ctx := context.Background()
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, TLS: tlsOpts})
	cfg := daemonconfig.Store{Backend: daemonconfig.StoreEtcd, Etcd: &daemonconfig.EtcdStore{
		Endpoints: c.Endpoints(), CA: files.CA, Cert: files.ClientCert, Key: files.ClientKey, Prefix: "/three/",
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
	if err := gw1.PKI.PutCertificate(ctx, storetest.Record(1, "laptop", "client", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	feed := storetest.Watch(t, gw2.PKI.(store.RevocationWatcher), 0)
	if err := gw1.P2S.PutToken(ctx, p2s.Token{ID: "tk", Name: "laptop", Group: "g", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	leader := c.Leader()
	killed := time.Now()
	c.Kill(leader)
	op, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := gw1.P2S.CreateLease(op, p2s.Lease{Client: "laptop", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1")}, Updated: time.Now()}); err != nil {
		t.Fatalf("lease with a member down: %v", err)
	}
	t.Logf("first write committed %v after the leader of three members was killed", time.Since(killed).Round(time.Millisecond))
	if _, err := gw2.P2S.RedeemToken(op, "tk", time.Now(), func(p2s.Token) error { return nil }, "01"); err != nil {
		t.Fatalf("enrollment with a member down: %v", err)
	}
	if err := gw2.PKI.PutCertificate(op, storetest.Record(2, "laptop", "client", time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("issuance with a member down: %v", err)
	}
	revoked := time.Now()
	if _, err := gw1.PKI.Revoke(op, big.NewInt(1), time.Now(), store.ReasonKeyCompromise); err != nil {
		t.Fatalf("revocation with a member down: %v", err)
	}
	if r := storetest.Next(t, feed); r.Serial.Int64() != 1 {
		t.Fatalf("watch: %+v", r)
	}
	t.Logf("revocation on gateway 1 reached gateway 2's watch in %v with a member down", time.Since(revoked).Round(time.Microsecond))
	if l, err := gw2.P2S.Lease(op, "laptop"); err != nil || l.Addresses[0] != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("lease read by the other gateway: %+v %v", l, err)
	}
}
