// Package audit proves whether a TLS endpoint meets a tlspolicy.Profile, the
// way testssl.sh or sslscan would, but fast enough for CI and with a verdict
// per check.
//
// Run probes the endpoint with hand-built ClientHellos (package hello), so it
// can ask about what crypto/tls refuses to offer: SSL 3.0, TLS 1.0 and 1.1,
// every TLS 1.2-and-earlier suite of the IANA registry (package suites), each
// TLS 1.3 suite, each key exchange group (classical, ffdhe and the hybrid
// post-quantum ones), server-enforced suite order, secure renegotiation and
// TLS compression. The certificate chain is read from the clear-text
// Certificate message of a TLS 1.2 handshake, or through crypto/tls for a
// TLS 1.3-only server, and verified by the audit itself: key, signature
// algorithm, validity, host name, chain order, trust and OCSP staple.
//
// Suites are enumerated like sslscan does: offer a list, remove the suite the
// server chose, offer again until it declines. The registry is split in
// chunks that are enumerated concurrently. All probes share one bound on
// concurrency and each has its own timeout, so an endpoint that stalls, closes
// mid-handshake, answers garbage or alerts on everything ends in an error or
// a verdict, never a hang.
//
// # JSON document (schema "intransit.tls-audit/v1")
//
// The Report marshals to one object; fields are never omitted (except
// protocols[].answer and certificate.trust_error, present only when there is
// something to say) and lists are never null:
//
//	schema         "intransit.tls-audit/v1"
//	target         "HOST:PORT" as given
//	server_name    name sent as SNI (unless an IP) and checked on the certificate
//	profile        profile name the verdicts are taken against
//	started_at     RFC 3339 time the audit started (UTC)
//	duration_ms    wall time of the audit
//	probes         number of connections made
//	compliant      true when no check failed
//	protocols[]    {name "TLS 1.2", code "0x0303", accepted, answer (why not accepted)}
//	cipher_suites[] accepted suites, one entry per protocol version:
//	               {protocol, code "0xc02f", name (IANA), key_exchange, cipher,
//	                forward_secret, aead, weaknesses[], allowed}
//	server_order   {protocol (empty when untested), enforced,
//	                chacha20_follows_client (enforced, except that a client
//	                listing ChaCha20 before AES-GCM gets ChaCha20)}
//	groups[]       accepted groups: {name, code, tls13, tls12 (ECDHE in a TLS
//	               1.2-or-earlier handshake), legacy_protocol (the version
//	               of that handshake, "" when tls12 is false), hybrid_pq, allowed}
//	certificate    null when no chain could be read, else
//	               {source "handshake"|"crypto/tls", chain[] {subject, issuer,
//	                dns_names[], ip_addresses[], key_type, key_bits,
//	                signature_algorithm, not_before, not_after, days_left},
//	                hostname_match, chain_in_order, trusted, trust_error, ocsp_stapled}
//	renegotiation  {applicable (false for TLS 1.3 only), secure}
//	dhe_bits       prime size of finite-field DHE, 0 when no DHE suite is accepted
//	compression    true when the server accepted DEFLATE
//	checks[]       {id, status "pass"|"fail"|"info", detail}
//
// Check IDs are stable: protocol.<ver> (ver is ssl3.0, tls1.0 ... tls1.3),
// protocol.allowed, suite.<ver>.<code>, group.<name>, group.hybrid-pq (only
// for profiles that require it), server-order, dhe-params (only when a DHE
// suite is accepted), renegotiation, compression,
// certificate (only when the chain could not be read), certificate.key,
// certificate.signature, certificate.validity, certificate.expiry (fails
// when a certificate of the chain expires within the warning window, 30 days
// unless set), certificate.hostname,
// certificate.chain-order, certificate.trust, certificate.ocsp-staple, and
// probes (fails when a probe timed out or got garbage after the audit
// started, so results may be incomplete).
package audit
