package tunnel

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestPublicKeyRFC7748(t *testing.T) {
	// RFC 7748 section 6.1, Alice.
	var priv PrivateKey
	hex.Decode(priv[:], []byte("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	want := "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
	pub := priv.PublicKey()
	if got := hex.EncodeToString(pub[:]); got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
	back, err := ParsePublicKey(pub.String())
	if err != nil || back != pub {
		t.Fatalf("round trip of %s: %v, %v", pub, back, err)
	}
}

func TestGeneratedKeysAreClampedAndDistinct(t *testing.T) {
	a, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.PublicKey() == b.PublicKey() {
		t.Fatal("two generated keys are equal")
	}
	if a[0]&7 != 0 || a[31]&128 != 0 || a[31]&64 == 0 {
		t.Errorf("key not clamped: first %08b last %08b", a[0], a[31])
	}
	back, err := ParsePrivateKey(a.Base64())
	if err != nil || back != a {
		t.Errorf("private key round trip failed: %v", err)
	}
}

func TestSecretKeysNeverPrint(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	psk, _ := GeneratePresharedKey()
	var logs bytes.Buffer
	l := slog.New(slog.NewTextHandler(&logs, nil))
	l.Info("keys", "priv", priv, "psk", psk)
	printed := fmt.Sprintf("%v %s %+v", priv, psk, struct{ K PrivateKey }{priv}) + logs.String()
	for _, secret := range []string{priv.Base64(), psk.Base64(), hex.EncodeToString(priv[:]), hex.EncodeToString(psk[:])} {
		if strings.Contains(printed, secret) {
			t.Fatalf("secret key printed: %s", printed)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, in := range []string{"", "not base64!", "AAAA", strings.Repeat("A", 43) + "=="} {
		_, err := ParsePrivateKey(in)
		if err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted it", in)
			continue
		}
		if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("error quotes the (possibly secret) input: %v", err)
		}
	}
}
