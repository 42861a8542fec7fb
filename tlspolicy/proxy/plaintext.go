package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"intransit/tlspolicy"
)

// recordTypeHandshake is the first byte of every TLS ClientHello record.
const recordTypeHandshake = 0x16

// httpRefusal is the answer to an HTTP request sent to the TLS port.
const httpRefusal = "HTTP/1.1 400 Bad Request\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 46\r\n" +
	"\r\n" +
	"This port requires TLS: connect with https://\n"

// looksLikeHTTP reports whether the first bytes of a connection start an
// HTTP/1 request line.
func looksLikeHTTP(first []byte) bool {
	for _, m := range []string{"GET ", "HEAD", "POST", "PUT ", "DELE", "OPTI", "PATC", "CONN", "TRAC", "PRI "} {
		if bytes.HasPrefix(first, []byte(m)) {
			return true
		}
	}
	return false
}

// refusePlaintext answers an HTTP request with a short 400 saying TLS is
// required, closes any other plaintext connection, and logs the refusal.
func (p *Proxy) refusePlaintext(c net.Conn, first []byte) error {
	peer := c.RemoteAddr().String()
	if !looksLikeHTTP(first) {
		err := fmt.Errorf("plaintext that is not a TLS handshake (first bytes %q); closed", first)
		p.refuse(tlspolicy.ReasonPlaintext, peer, err)
		return err
	}
	err := fmt.Errorf("plaintext HTTP request (%q...); answered 400, TLS required", first)
	p.refuse(tlspolicy.ReasonPlaintext, peer, err)
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, werr := io.WriteString(c, httpRefusal); werr == nil {
		// Let the client read the answer before the connection goes: close
		// our half, then drain what it still sends, briefly, so the kernel
		// does not reset the connection under the response.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
	return err
}
