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
// Everything a Device does happens in the network namespace of the calling
// process: open it in a process that runs in the namespace it serves.
package tunnel
