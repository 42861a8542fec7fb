package gatewaycore

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/testutil/certs"
)

// testServer runs a Server on a loopback listener whose Serve holds every
// session until the test ends, and reports each served connection. The
// listener's first Accept fails (EMFILE): the server must go on.
type testServer struct {
	srv    *Server
	addr   string
	ref    *Refusals
	served chan *tls.Conn
	client *tls.Config
}

// failingListener fails its first Accept as a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	once sync.Once
}

func (l *failingListener) Accept() (net.Conn, error) {
	var fail bool
	l.once.Do(func() { fail = true })
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func startServer(t *testing.T, lim Limits, priority func(netip.Addr) bool) *testServer {
	t.Helper()
	ca := certs.NewCA(t, "admission test CA")
	srvLeaf := ca.Issue(certs.LeafOptions{CommonName: "gw", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cliLeaf := ca.Issue(certs.LeafOptions{CommonName: "peer"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), ref: NewRefusals(slog.New(slog.DiscardHandler), "refused", time.Second),
		served: make(chan *tls.Conn, 16),
		client: &tls.Config{Certificates: []tls.Certificate{cliLeaf.TLS()}, RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}}
	ctx, cancel := context.WithCancel(context.Background())
	ts.srv = NewServer(ServerConfig{Listener: &failingListener{Listener: ln}, Limits: lim, Priority: priority, Refusals: ts.ref,
		TLS: &tls.Config{Certificates: []tls.Certificate{srvLeaf.TLS()}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
		Serve: func(ctx context.Context, c *tls.Conn) {
			ts.served <- c
			<-ctx.Done()
			c.Close()
		}})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ts.srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ts
}

// dialFrom opens a TCP connection from a local loopback address (Linux
// routes all of 127/8 to lo), which sends nothing.
func (ts *testServer) dialFrom(t *testing.T, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// handshakeFrom completes a TLS handshake from local.
func (ts *testServer) handshakeFrom(t *testing.T, local string) (*tls.Conn, error) {
	t.Helper()
	tc := tls.Client(ts.dialFrom(t, local), ts.client)
	return tc, tc.Handshake()
}

// closedByServer waits until the server closes c.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			t.Fatalf("connection not closed by the server: %v", err)
		}
	}
}

// refusedFor waits for the next refusal and returns its reason.
func (ts *testServer) lastReason(t *testing.T) string {
	t.Helper()
	l := ts.ref.List()
	if len(l) == 0 {
		t.Fatal("no refusal recorded")
	}
	return l[len(l)-1].Reason
}

func TestAdmissionPerSource(t *testing.T) {
	ts := startServer(t, Limits{PerSource: 2, Handshakes: 10}, nil)
	ts.dialFrom(t, "127.0.0.2")
	ts.dialFrom(t, "127.0.0.2")
	third := ts.dialFrom(t, "127.0.0.2")
	closedByServer(t, third)
	if got := ts.lastReason(t); got != ReasonSourceLimit {
		t.Errorf("third connection from one source refused for %q, want %q", got, ReasonSourceLimit)
	}
	// Another source still gets in and through the handshake.
	if _, err := ts.handshakeFrom(t, "127.0.0.3"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	<-ts.served
	if n := ts.ref.Counts()[ReasonSourceLimit]; n != 1 {
		t.Errorf("%d source_limit refusals counted, want 1", n)
	}
}

func TestAdmissionReservedForPriority(t *testing.T) {
	prio := netip.MustParseAddr("127.0.0.1")
	ts := startServer(t, Limits{Handshakes: 1, PerSource: 1, Reserved: 1}, func(a netip.Addr) bool { return a == prio })
	ts.dialFrom(t, "127.0.0.2") // holds the only general slot
	other := ts.dialFrom(t, "127.0.0.3")
	closedByServer(t, other)
	if got := ts.lastReason(t); got != ReasonBusy {
		t.Errorf("stranger refused for %q, want %q", got, ReasonBusy)
	}
	if _, err := ts.handshakeFrom(t, "127.0.0.1"); err != nil {
		t.Fatalf("the priority source was kept out: %v", err)
	}
	<-ts.served
	if o := ts.srv.Occupancy(); o.Sessions != 1 {
		t.Errorf("occupancy %+v, want one session", o)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewAdmissionCollector("test_", ts.srv))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	if got["test_control_handshakes"] != 1 || got["test_control_sessions"] != 1 {
		t.Errorf("admission metrics %v, want one handshake (the stranger's) and one session", got)
	}
}

func TestAdmissionHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Limits{HandshakeTimeout: 50 * time.Millisecond, PerSource: 1}, nil)
	idle := ts.dialFrom(t, "127.0.0.2")
	closedByServer(t, idle)
	if got := ts.lastReason(t); got != ReasonHandshakeTimeout {
		t.Errorf("idle connection refused for %q, want %q", got, ReasonHandshakeTimeout)
	}
	// Its slot is free again: the same source gets through.
	if _, err := ts.handshakeFrom(t, "127.0.0.2"); err != nil {
		t.Fatalf("the source's slot was not freed: %v", err)
	}
	<-ts.served
}

func TestAdmissionSessionSlots(t *testing.T) {
	ts := startServer(t, Limits{Sessions: 1}, nil)
	if _, err := ts.handshakeFrom(t, "127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	<-ts.served
	second, err := ts.handshakeFrom(t, "127.0.0.3")
	if err == nil {
		// TLS 1.3: the client finishes before the server has decided.
		closedByServer(t, second)
	}
	if got := ts.lastReason(t); got != ReasonSessionsFull {
		t.Errorf("second session refused for %q, want %q", got, ReasonSessionsFull)
	}
	if o := ts.srv.Occupancy(); o.Sessions != 1 || o.Handshakes != 0 {
		t.Errorf("occupancy %+v, want one session and no handshake", o)
	}
}

func TestAdmissionTLSRefusal(t *testing.T) {
	ts := startServer(t, Limits{}, nil)
	stranger := certs.NewCA(t, "another CA").Issue(certs.LeafOptions{CommonName: "stranger"})
	cfg := ts.client.Clone()
	cfg.Certificates = []tls.Certificate{stranger.TLS()}
	raw := ts.dialFrom(t, "127.0.0.2")
	// TLS 1.3: the client may finish before the server refuses.
	_ = tls.Client(raw, cfg).Handshake()
	// The server records the refusal before it closes the connection.
	_, _ = io.Copy(io.Discard, raw)
	if got := ts.lastReason(t); got == "" || got == ReasonHandshakeTimeout {
		t.Errorf("a certificate from another CA refused for %q", got)
	}
}

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	} {
		if got := sourceOf(netip.MustParseAddr(tc.addr)); got.String() != tc.want {
			t.Errorf("sourceOf(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if sourceOf(netip.Addr{}).IsValid() {
		t.Error("a missing address is a source")
	}
}
