package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/internal/etcdconn"
	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/p2s/store/storetest"
)

// backend gives each test its own key prefix on the cluster.
func backend(c *etcdtest.Cluster, opts Options) storetest.Backend {
	return storetest.Backend{Shared: true, New: func(t *testing.T) func() p2s.Store {
		o := opts
		o.Prefix = fmt.Sprintf("/%s/", t.Name())
		return func() p2s.Store { return New(c.Client(), o) }
	}}
}

func TestContract(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	storetest.Run(t, backend(c, Options{}))
}

// TestContractTLSWithTimedLeases runs the contract over TLS with client
// certificates from an intransit PKI, dialed as the daemon dials, with
// every lease bound to an etcd lease.
func TestContractTLSWithTimedLeases(t *testing.T) {
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	cfg := etcdconn.Config{Endpoints: c.Endpoints(), CA: files.CA, Cert: files.ClientCert, Key: files.ClientKey}
	storetest.Run(t, storetest.Backend{Shared: true, New: func(t *testing.T) func() p2s.Store {
		o := Options{Prefix: fmt.Sprintf("/%s/", t.Name()), LeaseIdle: time.Hour}
		return func() p2s.Store {
			cl, err := etcdconn.Dial(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cl.Close() })
			return New(cl, o)
		}
	}})
}

// TestWithoutClientCertificateRefused shows the cluster of the TLS test
// refuses a client without a certificate from the PKI.
func TestWithoutClientCertificateRefused(t *testing.T) {
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	other, _ := etcdtest.NewPKITLS(t) // another PKI's gateway certificate
	cfg := etcdconn.Config{Endpoints: c.Endpoints(), CA: files.CA, Cert: other.ClientCert, Key: other.ClientKey, DialTimeout: 2 * time.Second}
	cl, err := etcdconn.Dial(context.Background(), cfg, nil)
	if err != nil {
		return // refused at dial
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := New(cl, Options{Prefix: "/x/"}).Leases(ctx); err == nil {
		t.Fatal("a client certificate of another PKI was let in")
	}
}

// TestIdleLeasesExpireInEtcd shows leases reclaimed by etcd's own timers,
// with no gateway sweeping: an idle client's lease and its address go, a
// static device's lease stays.
func TestIdleLeasesExpireInEtcd(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	ctx := context.Background()
	s := New(c.Client(), Options{Prefix: "/ttl/", LeaseIdle: time.Second})
	idle := p2s.Lease{Client: "laptop", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1")}, Updated: time.Now()}
	static := p2s.Lease{Client: p2s.StaticLeasePrefix + "printer", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.2")}, Updated: time.Now()}
	for _, l := range []p2s.Lease{idle, static} {
		if err := s.CreateLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := s.Lease(wait, "laptop")
		if errors.Is(err, p2s.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("the idle lease did not expire: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("idle lease (1 s) removed by etcd after %v", time.Since(start).Round(time.Millisecond))
	if _, err := s.Lease(ctx, static.Client); err != nil {
		t.Fatalf("the static device's lease: %v", err)
	}
	if err := s.CreateLease(ctx, p2s.Lease{Client: "other", Addresses: idle.Addresses}); err != nil {
		t.Fatalf("the expired lease's address is not free: %v", err)
	}
}

// TestTouchRenewsTheEtcdLease shows a touch restarting the etcd lease of a
// client's lease (its remaining time goes back up), and a touch of a lease
// that is gone passing it over.
func TestTouchRenewsTheEtcdLease(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	ctx := context.Background()
	cl := c.Client()
	s := New(cl, Options{Prefix: "/touch/", LeaseIdle: time.Hour})
	if err := s.CreateLease(ctx, p2s.Lease{Client: "laptop", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1")}, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	remaining := func() int64 {
		t.Helper()
		resp, err := cl.Get(ctx, "/touch/p2s/leases/laptop")
		if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
			t.Fatalf("lease key: %+v %v; want one key bound to an etcd lease", resp, err)
		}
		ttl, err := cl.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
		if err != nil {
			t.Fatal(err)
		}
		return ttl.TTL
	}
	// etcd counts lease time in whole seconds: let two go by.
	before := remaining()
	time.Sleep(2100 * time.Millisecond)
	aged := remaining()
	if aged >= before {
		t.Fatalf("the etcd lease did not run down: %d s then %d s", before, aged)
	}
	if err := s.TouchLeases(ctx, time.Now(), "laptop"); err != nil {
		t.Fatal(err)
	}
	if touched := remaining(); touched <= aged {
		t.Fatalf("a touch left the etcd lease at %d s (was %d s)", touched, aged)
	}
	if _, err := cl.Delete(ctx, "/touch/p2s/leases/laptop"); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchLeases(ctx, time.Now(), "laptop"); err != nil {
		t.Fatalf("touching a lease that is gone: %v", err)
	}
}
