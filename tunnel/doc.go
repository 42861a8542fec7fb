// Package tunnel is the data plane: a WireGuard device (wireguard-go's
// protocol engine) on a real TUN interface, with its addresses, routes and
// MTU set through netlink, and its WireGuard messages carried by a
// conn.Bind (see tunnel/transport for the project's transports).
//
// Open creates the interface and starts the device; AddPeer, SetPeer and
// RemovePeer change peers at run time without touching the others; Peers
// reads per-peer counters and handshake times; Close removes the routes,
// the addresses and the interface.
//
// The TUN device uses the Linux offloads that wireguard-go knows (virtio-net
// header, TCP segmentation offload, UDP segmentation offload, and GRO on the
// write side): the kernel hands over up to 64 KiB segments and wireguard-go
// splits and coalesces them in batches, which is most of its speed.
// Config.DisableOffloads opens the device without the virtio-net header
// (one packet per read and write), for kernels whose offload paths
// misbehave.
//
// # Probes
//
// A probe is an ICMPv6 echo request carried inside the tunnel, from our
// probe address to the peer's (ProbeAddr: a unique local /48, the rest
// from a hash of the public key), and its echo reply. Every device answers
// the requests addressed to its own probe address and records the replies
// it gets, in userspace, between wireguard-go and the TUN interface: the
// kernel never sees either. Each peer's allowed IPs hold its probe address
// (added on every peer change, hidden from Peers), so wireguard-go routes
// a request to the peer and accepts the reply only from it. SendProbe
// sends one; LastProbeReply reports the newest answer.
//
// A reply is authenticated traffic in both directions: the request was
// decrypted by the peer, the reply by us, each with the session's keys,
// which no byte counter and no handshake initiation can prove (WireGuard's
// rx_bytes counts verified handshake initiations and responses too, and an
// initiation says nothing about whether the peer hears us). The reply
// carries the time its request was sent, so the path monitor
// (tunnel/transport.Monitor) can tell replies to requests sent before a
// change of transport from those sent after.
//
// The side that watches a path probes; the other side only answers. So a
// point-to-site gateway runs no timer per client: it answers each
// client's probe (one per second while the path answers, four per second
// while the client doubts it), which at 10,000 idle clients is 10,000
// small packets in and 10,000 out per second, each a WireGuard decryption
// and encryption of 56 bytes (an estimate, not measured here: a few
// percent of one core); a persistent keepalive from the gateway toward
// every client would cost as much and prove nothing to the client about
// its own direction. Each source gets at most 10 answers a second, and
// answers wait in a queue of at most 256 packets; beyond that they are
// dropped like any packet on a full queue. Anything else addressed to a
// device's probe address is dropped.
//
// Everything a Device does happens in the network namespace of the calling
// process: open it in a process that runs in the namespace it serves.
package tunnel
