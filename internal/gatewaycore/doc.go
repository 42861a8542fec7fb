// Package gatewaycore is what site-to-site (s2s) and point-to-site
// (p2s/gateway) gateways share: the gateway's TLS identity and the
// watching of its peers' certificates, a control server that admits
// connections into bounded slots, the refusal record with its rate-limited
// log, the WireGuard peers behind a small interface with one owner per
// key, the advertised data-plane endpoints, hardened HTTP listeners, and
// which configuration fields a reload can apply.
//
// # Admission
//
// A control connection goes through two kinds of slots. From accept until
// its TLS handshake completes (the peer has proved its certificate) it
// holds a handshake slot: there are Limits.Handshakes of them, at most
// Limits.PerSource per source (an IPv4 address or an IPv6 /64), and
// Limits.Reserved more kept for priority sources (the configured remote
// gateways' addresses), and the handshake must end within
// Limits.HandshakeTimeout. Then it holds a session slot (Limits.Sessions)
// for as long as its control session runs. A connection that finds no
// slot is closed at once and recorded as a refusal; so a stranger holding
// thousands of idle connections holds only PerSource slots for at most
// HandshakeTimeout each, and never a session slot.
//
// # Refusals
//
// Every refusal is kept in one ring of RefusalsKept entries for the
// status, counted by reason for the metrics, and logged at most once per
// reason per interval, with the count of those not logged since.
package gatewaycore
