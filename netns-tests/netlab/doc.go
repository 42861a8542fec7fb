// Package netlab builds throw-away network topologies in Linux network
// namespaces for end-to-end tests: hosts, veth links, switches (bridges),
// routers and NAT, addresses and routes, impairments (random loss, rate
// limits, MTU changes, dropped ICMP "fragmentation needed"), firewall rules
// that block a protocol or port, commands and long-running processes inside a
// host, and packet captures read back from pcap files.
//
// A Lab belongs to one test. Every namespace it creates is named
// "it-<pid>-<random>-<host>" so that runs never collide, and everything is
// torn down by t.Cleanup, which the testing package runs even when the test
// fails or panics. New also sweeps namespaces left behind by earlier runs whose
// process no longer exists (a run killed with SIGKILL cannot clean up after
// itself).
//
// The harness drives the kernel through the ip, nft, tc, iptables and
// tcpdump commands (Debian packages iproute2, nftables, iptables, tcpdump),
// each invocation checked and reported with its output on error.
// It needs root; RequireRoot skips a test with one line when not root and
// fails it when the environment says CI=true.
//
// A typical two-host test:
//
//	lab := netlab.New(t)
//	a, b := lab.Host("a"), lab.Host("b")
//	l := lab.Link(a, b)
//	l.A.AddAddr("192.0.2.1/24")
//	l.B.AddAddr("192.0.2.2/24")
//	a.MustRun("ping", "-c1", "-W2", "192.0.2.2")
//
// Code that must run inside a host goes in its own process (Host.Run,
// Host.Start): namespaces belong to OS threads, and a Go program moves
// goroutines between threads, so switching the test process itself into a
// namespace is unsafe.
package netlab
