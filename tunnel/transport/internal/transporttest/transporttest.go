// Package transporttest holds what the quic and tls transport tests share:
// TLS configurations built by tlspolicy from test certificates, a receiver
// that drains a Bind's ReceiveFuncs, and the contract suite that every
// connection-oriented transport.Bind must pass.
package transporttest

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
	"intransit/tunnel/transport"
)

// ServerName is the name in the test gateway certificate.
const ServerName = "gw.transport.test"

// TLSConfigs returns a gateway's server configuration and a client
// configuration that trusts it, both built by tlspolicy under the named
// built-in profile, with mutual certificate authentication.
func TLSConfigs(t testing.TB, profile string) (server, client *tls.Config) {
	t.Helper()
	ca := certs.NewCA(t, "transport test CA")
	gw := ca.Issue(certs.LeafOptions{CommonName: ServerName, DNSNames: []string{ServerName}})
	cl := ca.Issue(certs.LeafOptions{CommonName: "laptop.transport.test"})
	prof, err := tlspolicy.Builtin(profile)
	if err != nil {
		t.Fatal(err)
	}
	cas := &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(ca.Cert)}
	server, err = tlspolicy.ServerConfig(tlspolicy.Options{
		Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: gw.TLS()}, CAs: cas,
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err = tlspolicy.ClientConfig(tlspolicy.Options{
		Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: cl.TLS()}, CAs: cas, ServerName: ServerName,
	})
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// Message returns a message of size bytes (at least 8) that looks like a
// WireGuard data message and carries seq.
func Message(seq uint32, size int) []byte {
	m := make([]byte, size)
	binary.LittleEndian.PutUint32(m, 4)
	binary.LittleEndian.PutUint32(m[4:], seq)
	for i := 8; i < size; i++ {
		m[i] = byte(seq) + byte(i)
	}
	return m
}

// Seq returns the sequence number of a Message and whether its body is
// intact.
func Seq(m []byte) (uint32, bool) {
	if len(m) < 8 || binary.LittleEndian.Uint32(m) != 4 {
		return 0, false
	}
	seq := binary.LittleEndian.Uint32(m[4:])
	for i := 8; i < len(m); i++ {
		if m[i] != byte(seq)+byte(i) {
			return seq, false
		}
	}
	return seq, true
}

// Received is one message a Receiver got.
type Received struct {
	Msg []byte
	EP  conn.Endpoint
}

// Receiver drains every ReceiveFunc of an opened Bind into C, the way the
// device does, and fails the test if a ReceiveFunc returns any error but
// net.ErrClosed (the device would stop reading on it).
type Receiver struct {
	C  chan Received
	wg sync.WaitGroup
}

// Receive starts draining fns; Wait returns once all returned.
func Receive(t testing.TB, b transport.Bind, fns []conn.ReceiveFunc) *Receiver {
	r := &Receiver{C: make(chan Received, 1<<16)}
	for _, fn := range fns {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			bufs := make([][]byte, b.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 65535)
			}
			sizes := make([]int, len(bufs))
			eps := make([]conn.Endpoint, len(bufs))
			for {
				n, err := fn(bufs, sizes, eps)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("ReceiveFunc returned %v; the device would stop receiving", err)
					return
				}
				if n < 1 || n > len(bufs) {
					t.Errorf("ReceiveFunc returned n=%d for %d buffers", n, len(bufs))
					return
				}
				for i := range n {
					if sizes[i] == 0 {
						continue
					}
					select {
					case r.C <- Received{Msg: append([]byte(nil), bufs[i][:sizes[i]]...), EP: eps[i]}:
					default:
						t.Errorf("test receiver overflow")
						return
					}
				}
			}
		}()
	}
	return r
}

// Wait waits for every ReceiveFunc to return.
func (r *Receiver) Wait() { r.wg.Wait() }

// Expect reads from r until every sequence number in [from, to) has
// arrived intact, failing the test after timeout. It returns the endpoint
// of the last message.
func (r *Receiver) Expect(t testing.TB, from, to uint32, timeout time.Duration) conn.Endpoint {
	t.Helper()
	seen := make(map[uint32]bool, to-from)
	var ep conn.Endpoint
	deadline := time.After(timeout)
	for len(seen) < int(to-from) {
		select {
		case m := <-r.C:
			seq, ok := Seq(m.Msg)
			if !ok {
				t.Fatalf("message %d arrived corrupted (%d bytes)", seq, len(m.Msg))
			}
			if seq >= from && seq < to {
				seen[seq] = true
			}
			ep = m.EP
		case <-deadline:
			t.Fatalf("after %v: %d of the %d messages %d..%d arrived", timeout, len(seen), to-from, from, to-1)
		}
	}
	return ep
}

// Pump sends Message(base), Message(base+1)... to ep every 20 ms until one
// of them arrives on r (returning its endpoint) or timeout passes (failing
// the test); other messages arriving meanwhile are discarded. It exercises
// lazy dialing and redialing, which need sends to make progress.
func Pump(t testing.TB, b transport.Bind, ep conn.Endpoint, r *Receiver, size int, base uint32, timeout time.Duration) conn.Endpoint {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := base; time.Now().Before(deadline); seq++ {
		if err := b.Send([][]byte{Message(seq, size)}, ep); err != nil {
			t.Fatalf("Send to %s: %v", ep.DstToString(), err)
		}
	wait:
		for {
			select {
			case m := <-r.C:
				got, ok := Seq(m.Msg)
				if !ok {
					t.Fatalf("message arrived corrupted")
				}
				if got >= base && got <= seq {
					return m.EP
				}
			case <-tick.C:
				break wait
			}
		}
	}
	t.Fatalf("no message reached the peer within %v", timeout)
	return nil
}

// Drain discards what r has queued.
func (r *Receiver) Drain() {
	for {
		select {
		case <-r.C:
		default:
			return
		}
	}
}
