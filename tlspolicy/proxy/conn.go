package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
)

// bufferedConn is the connection under the TLS side of the proxy. Reads go
// through a buffer, so that the TLS layer above, which asks for about one
// record at a time, costs one read system call per buffer rather than one
// per record. Writes made inside gathered are collected and sent with one
// system call, so that a large write, which TLS cuts into 16 KiB records,
// is not one system call per record. It starts with bytes already read.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	wmu     sync.Mutex // guards gather and pending; writers come from both copy directions
	gather  bool
	pending []byte
}

func newBufferedConn(c net.Conn, prefix []byte, size int) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(io.MultiReader(bytes.NewReader(prefix), c), size)}
}

// Read reads through the buffer.
func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Write sends b, or collects it while a gathered write runs.
func (c *bufferedConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.gather {
		c.pending = append(c.pending, b...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// gathered runs write with the connection's writes collected, then sends
// them in one system call. An error of that send is returned when write
// itself succeeded; the TLS connection is then unusable and must be closed.
func (c *bufferedConn) gathered(write func() error) error {
	c.wmu.Lock()
	c.gather = true
	c.wmu.Unlock()
	err := write()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.gather = false
	if len(c.pending) > 0 {
		_, werr := c.Conn.Write(c.pending)
		c.pending = c.pending[:0]
		if err == nil {
			err = werr
		}
	}
	return err
}

// CloseWrite closes the write half of the connection under it, when it has
// one (a TCP connection); a refusal's alert is then the last thing the peer
// reads.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
