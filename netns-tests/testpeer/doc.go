// Package testpeer is the tunnel endpoint the end-to-end tests run inside a
// network namespace: its configuration file, its control protocol, and the
// test-side code that builds, starts and drives it.
//
// The endpoint is a separate process (cmd/testpeer, started with "ip netns
// exec"), not code in the test process, because TUN and socket creation
// happen in the namespace of the calling thread and wireguard-go opens
// sockets from goroutines of its own: only a process that lives entirely
// inside the namespace puts everything there.
//
// The process reads a YAML Config (keys, addresses, routes, transport,
// peers), opens a tunnel.Device, and serves a control socket (a Unix socket
// in the test's temporary directory, reachable from every namespace since
// the file system is shared): one JSON Request per connection, one JSON
// Response back. Through it a test adds, updates and removes peers while
// traffic flows, and reads counters and handshake times.
//
// The daemon intransitd will replace this endpoint in later tests; it stays
// small on purpose.
package testpeer
