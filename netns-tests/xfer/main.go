// Command xfer moves a stream of pseudo-random bytes over one TCP
// connection and prints its length and SHA-256, so that a test compares
// what left one host with what arrived at the other.
//
//	xfer recv --listen ADDR:PORT            # prints "bytes=N sha256=HEX" at EOF
//	xfer send --to ADDR:PORT --bytes N      # prints the same for what it sent
//
// Both ends give up after --timeout (default 120s).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: xfer recv|send [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("xfer "+os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "", "recv: address to listen on")
	to := fs.String("to", "", "send: address to connect to")
	n := fs.Int64("bytes", 0, "send: number of bytes")
	seed := fs.Uint64("seed", 1, "send: seed of the pseudo-random stream")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "recv":
		err = recv(ctx, *listen)
	case "send":
		err = send(ctx, *to, *n, *seed)
	default:
		err = fmt.Errorf("unknown mode %q: want recv or send", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xfer:", err)
		os.Exit(1)
	}
}

func recv(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("listening")
	if dl, ok := ctx.Deadline(); ok {
		_ = ln.(*net.TCPListener).SetDeadline(dl)
	}
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	h := sha256.New()
	got, err := io.Copy(h, c)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", got, err)
	}
	fmt.Printf("bytes=%d sha256=%s\n", got, hex.EncodeToString(h.Sum(nil)))
	return nil
}

func send(ctx context.Context, addr string, n int64, seed uint64) error {
	if n <= 0 {
		return errors.New("--bytes must be positive")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var sent int64
	for sent < n {
		chunk := buf[:min(int64(len(buf)), n-sent)]
		_, _ = src.Read(chunk)
		h.Write(chunk)
		if _, err := c.Write(chunk); err != nil {
			return fmt.Errorf("after %d bytes: %w", sent, err)
		}
		sent += int64(len(chunk))
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	// Wait for the receiver to close, so that every byte was read.
	_, _ = io.Copy(io.Discard, c)
	fmt.Printf("bytes=%d sha256=%s\n", sent, hex.EncodeToString(h.Sum(nil)))
	return nil
}
