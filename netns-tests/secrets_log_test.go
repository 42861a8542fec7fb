package netnstests

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/p2s/client"
	"intransit/tunnel"
)

// TestDebugLogsHoldNoSecretsP2S runs a gateway and a laptop at debug level
// through a reload that turns debug on, an enrollment, a connect and the
// session's PSK rotation, then searches everything both wrote (and what
// enroll printed) for key material: the WireGuard private keys of the
// gateway and the laptop, the TLS private keys, the enrollment token and
// its secret, the PKI passphrase, any PEM private key, and any 32-byte
// value in base64 that is no known public key, or in hex (the forms of
// WireGuard keys and PSKs). None may appear.
func TestDebugLogsHoldNoSecretsP2S(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.top = "log_level: info\n"
	l.config = l.writeConfig()
	l.start()
	if strings.Contains(l.gw.proc.Output(), "level=DEBUG") {
		t.Fatalf("debug lines at log_level info:\n%s", l.gw.proc.Output())
	}
	// Debug is turned on by a reload, not a restart.
	l.top = "log_level: debug\n"
	l.config = l.writeConfig()
	if err := l.gw.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.gw.proc.Output(), "log level changed") {
		if time.Now().After(deadline) {
			t.Fatalf("log_level: debug not applied by the reload within 10 s:\n%s", l.gw.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}

	lp := l.addLaptop("dora")
	token := l.invite("dora", "1h")
	enrollOut, err := lp.enroll(token)
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, l.gw.proc.Output())
	}
	lp.proc = lp.host.Start(l.cli, "p2s", "connect", "--dir", lp.dir, "--dns", "resolv.conf", "--resolv-conf", lp.resolv, "--log-level", "debug")
	// Epoch 1 is the session's first rotation (propose, answer, commit).
	st := lp.wait(45*time.Second, "connected with a rotated PSK", func(st *client.Status) bool { return connected(st) && st.PSKEpoch >= 1 })
	if !lp.ping(p2sSiteHost) {
		t.Errorf("the laptop cannot reach the site host at debug level\n%s", lp.proc.Output())
	}
	t.Logf("laptop connected over %s, PSK epoch %d", st.Transport, st.PSKEpoch)

	var s secrets
	s.wgKey(t, "gateway's site-to-site WireGuard key", filepath.Join(l.dir, "state", "wireguard.key"))
	s.wgKey(t, "gateway's point-to-site WireGuard key", filepath.Join(l.dir, "state", "p2s", "wireguard.key"))
	profile := filepath.Join(lp.dir, client.DefaultProfile)
	s.wgKey(t, "laptop's WireGuard key", filepath.Join(profile, client.WireGuardFile))
	s.tlsKey(t, "gateway's TLS key", l.key)
	s.tlsKey(t, "laptop's TLS key", filepath.Join(profile, client.KeyFile))
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		t.Fatalf("token %q: want 4 parts", token)
	}
	s.add(token, "the enrollment token")
	s.add(parts[2], "the enrollment token's secret")
	s.add(pkitest.Passphrase, "the PKI passphrase")
	s.check(t, map[string]string{"gateway": l.gw.proc.Output(), "laptop": lp.proc.Output(), "enroll": enrollOut}, "gateway", "laptop")
}

// TestDebugLogsHoldNoSecretsS2S runs two site-to-site gateways at debug
// level through connect and several PSK rotations (one every 2 s) and
// searches their output as TestDebugLogsHoldNoSecretsP2S does.
func TestDebugLogsHoldNoSecretsS2S(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	l.cfgA.rotation, l.cfgB.rotation = "2s", "2s"
	debug := func(path string) string {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("log_level: debug\n"); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := startGateway(t, l.gwA, l.bin, debug(l.cfgA.write(t, l.pki, l.dirA)))
	b := startGateway(t, l.gwB, l.bin, debug(l.cfgB.write(t, l.pki, l.dirB)))
	first := a.waitUp("site-b", 30*time.Second)
	start := time.Now()
	last := a.waitPeer("site-b", 30*time.Second, "three more PSK rotations", func(p status.Peer) bool { return p.PSKEpoch >= first.PSKEpoch+3 })
	t.Logf("PSK epoch %d to %d in %.1f s", first.PSKEpoch, last.PSKEpoch, time.Since(start).Seconds())

	var s secrets
	s.wgKey(t, "gateway A's WireGuard key", filepath.Join(l.dirA, "state", "wireguard.key"))
	s.wgKey(t, "gateway B's WireGuard key", filepath.Join(l.dirB, "state", "wireguard.key"))
	s.tlsKey(t, "gateway A's TLS key", l.cfgA.key)
	s.tlsKey(t, "gateway B's TLS key", l.cfgB.key)
	s.check(t, map[string]string{"gateway A": a.proc.Output(), "gateway B": b.proc.Output()}, "gateway A", "gateway B")
}

// secrets is what must not appear in logs, and the public keys that may.
type secrets struct {
	texts  map[string]string // text -> what it is
	public map[string]bool   // WireGuard public keys (base64)
}

func (s *secrets) add(text, what string) {
	if s.texts == nil {
		s.texts, s.public = map[string]string{"PRIVATE KEY": "a PEM private key"}, map[string]bool{}
	}
	s.texts[text] = what
}

// wgKey adds the WireGuard private key in path (base64 and hex) and
// allows its public key.
func (s *secrets) wgKey(t *testing.T, what, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := tunnel.ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s.add(k.Base64(), what+" (base64)")
	s.add(hex.EncodeToString(k[:]), what+" (hex)")
	s.public[k.PublicKey().String()] = true
}

// tlsKey adds every 40-character run of the base64 of the PEM key in path,
// and its hex start.
func (s *secrets) tlsKey(t *testing.T, what, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	enc := base64.StdEncoding.EncodeToString(blk.Bytes)
	for i := 0; i+40 <= len(enc); i += 40 {
		s.add(enc[i:i+40], what)
	}
	s.add(hex.EncodeToString(blk.Bytes)[:64], what+" (hex)")
}

var (
	base64Key = regexp.MustCompile(`[A-Za-z0-9+/]{43}=`)
	hexKey    = regexp.MustCompile(`[0-9a-fA-F]{64}`)
)

// check searches each log for the secrets, for 32-byte base64 values that
// are no known public key and for 32-byte hex values; the logs named in
// debug must hold debug lines (or the search proves nothing).
func (s *secrets) check(t *testing.T, logs map[string]string, debug ...string) {
	t.Helper()
	for _, who := range debug {
		n := strings.Count(logs[who], "level=DEBUG")
		t.Logf("%s: %d debug lines, %d bytes searched", who, n, len(logs[who]))
		if n == 0 {
			t.Errorf("%s wrote no debug line at debug level:\n%s", who, logs[who])
		}
	}
	for who, out := range logs {
		for text, what := range s.texts {
			if strings.Contains(out, text) {
				t.Errorf("%s's output holds %s", who, what)
			}
		}
		for _, m := range base64Key.FindAllString(out, -1) {
			if b, err := base64.StdEncoding.DecodeString(m); err == nil && len(b) == 32 && !s.public[m] {
				t.Errorf("%s's output holds a 32-byte base64 value that is no known public key (a PSK or a private key?): %s", who, m)
			}
		}
		for _, m := range hexKey.FindAllString(out, -1) {
			t.Errorf("%s's output holds a 32-byte hex value (the UAPI form of a key or PSK): %s", who, m)
		}
	}
}
