package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"intransit/p2s/client"
)

// The demo's laptop: on a link of its own to the WAN router, it enrolls
// with gateway B and connects to it point-to-site.
const (
	demoLaptopWAN  = "198.51.101.2"
	demoLaptopPool = "10.9.0.0/24"
	demoP2SControl = 8444
	demoP2SUDP     = 51821
	demoP2SEnroll  = 8445
)

// p2sSection is gateway B's point-to-site configuration: enrollment with
// the demo's CA, one address pool and one split-tunnel group, udp only
// (quic and tls on 443 serve site-to-site on this gateway).
func (d *demoNet) p2sSection(f *demoFiles, wan string) string {
	run := filepath.Join(d.dir, "gw-b", "run")
	return fmt.Sprintf(`p2s:
  listen: {control: "%s:%d", udp: "%s:%d"}
  enroll: %s:%d
  admin_socket: %s
  pki: {dir: %s, passphrase_file: %s}
  pools: [%s]
  groups: [{name: staff}]
`, wan, demoP2SControl, wan, demoP2SUDP, wan, demoP2SEnroll, filepath.Join(run, "p2s.sock"), f.pkiDir, f.pass, demoLaptopPool)
}

// laptopJoins runs the point-to-site stage: gateway B invites the laptop
// (a one-time token), the laptop enrolls (its key never leaves it, only a
// CSR) and connects; it returns the connected client's status.
func (d *demoNet) laptopJoins(ctx context.Context, self, gwWAN string) (*client.Status, error) {
	adminSock := filepath.Join(d.dir, "gw-b", "run", "p2s.sock")
	out, err := d.run(ctx, "gwb", self, "p2s", "invite", "laptop", "--group", "staff", "--expires", "10m",
		"--socket", adminSock, "--output", "json")
	if err != nil {
		return nil, fmt.Errorf("intransit p2s invite: %w\n%s\n%s", err, out, d.logs())
	}
	var inv struct{ Token string }
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.Token == "" {
		return nil, fmt.Errorf("intransit p2s invite printed %q: %v", out, err)
	}
	fmt.Fprintln(d.w, "   gateway B: intransit p2s invite laptop --group staff --expires 10m (a one-time token)")
	profiles := filepath.Join(d.dir, "laptop")
	enrollURL := fmt.Sprintf("https://%s:%d", gwWAN, demoP2SEnroll)
	// The token travels in a file (0600), never on a command line.
	tokenFile := filepath.Join(d.dir, "laptop-token")
	if err := os.WriteFile(tokenFile, []byte(inv.Token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	out, err = d.run(ctx, "laptop", self, "p2s", "enroll", enrollURL, "--token-file", tokenFile, "--dir", profiles)
	if err != nil {
		return nil, fmt.Errorf("intransit p2s enroll: %w\n%s\n%s", err, out, d.logs())
	}
	if err := os.Remove(tokenFile); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	fmt.Fprintf(d.w, "   laptop:    intransit p2s enroll %s --token-file token (key made on the laptop, a CSR sent)\n", enrollURL)
	fmt.Fprint(d.w, indent(indent(strings.TrimSpace(out))))
	// DNS off: the namespaces share this machine's /etc/resolv.conf.
	d.start("laptop", filepath.Join(d.dir, "laptop.log"), self, "p2s", "connect", "--dir", profiles, "--dns", "off")
	fmt.Fprintln(d.w, "   laptop:    intransit p2s connect")
	deadline := time.Now().Add(20 * time.Second)
	last := "no status yet"
	for time.Now().Before(deadline) {
		st, err := client.GetStatus(ctx, filepath.Join(profiles, client.DefaultProfile))
		switch {
		case err != nil:
			last = err.Error()
		case st.State == client.StateConnected && st.Transport != "":
			return st, nil
		default:
			last = fmt.Sprintf("%s %s %s", st.State, st.Reason, st.Detail)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	log, _ := os.ReadFile(filepath.Join(d.dir, "laptop.log"))
	return nil, fmt.Errorf("the laptop did not connect within 20s (%s)\n--- laptop log:\n%s%s", last, log, d.logs())
}
