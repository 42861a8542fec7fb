// Command httpload runs parallel HTTPS clients against one URL for a
// bounded time and prints what they got as JSON, so that a test loads a
// gateway's public endpoint from a namespace of its own.
//
//	httpload --url https://192.0.2.1:8445/p2s/v1/ca --ca ca.pem --clients 16 --duration 10s
//
// Each client keeps one connection (--new-conns: a new TLS handshake per
// request) and waits --interval between its requests. Exit status 2 when
// it could not run.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// result is the JSON printed at the end.
type result struct {
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	Statuses   map[string]int `json:"statuses"`
	FirstError string         `json:"first_error,omitempty"`
}

func main() {
	url := flag.String("url", "", "URL to GET")
	caFile := flag.String("ca", "", "CA bundle to verify the server with (PEM)")
	clients := flag.Int("clients", 16, "parallel clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to run (at most 5m)")
	interval := flag.Duration("interval", 0, "pause of each client between its requests")
	newConns := flag.Bool("new-conns", false, "a new connection (TLS handshake) per request")
	from := flag.String("from", "", "comma-separated local addresses; client i connects from the i-th (modulo their number), as separate hosts would")
	flag.Parse()
	if *url == "" || *caFile == "" || *clients < 1 || *clients > 1024 || *duration <= 0 || *duration > 5*time.Minute {
		fmt.Fprintln(os.Stderr, "httpload: --url and --ca are required; 1..1024 clients, a duration up to 5m")
		os.Exit(2)
	}
	var sources []net.IP
	for _, a := range strings.Split(*from, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		ip := net.ParseIP(a)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "httpload: --from: %q is not an IP address\n", a)
			os.Exit(2)
		}
		sources = append(sources, ip)
	}
	pemCAs, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCAs) {
		fmt.Fprintln(os.Stderr, "httpload: no certificate in", *caFile)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var (
		mu  sync.Mutex
		res = result{Statuses: map[string]int{}}
		wg  sync.WaitGroup
	)
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: *newConns, MaxConnsPerHost: 1}
			if len(sources) > 0 {
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sources[i%len(sources)]}, Timeout: 10 * time.Second}
				tr.DialContext = d.DialContext
			}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				status, err := get(ctx, hc, *url)
				mu.Lock()
				if ctx.Err() == nil || err == nil {
					res.Requests++
					if err != nil {
						res.Errors++
						if res.FirstError == "" {
							res.FirstError = err.Error()
						}
					} else {
						res.Statuses[status]++
					}
				}
				mu.Unlock()
				if *interval > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(*interval):
					}
				}
			}
		}()
	}
	wg.Wait()
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return "", err
	}
	return resp.Status, nil
}
