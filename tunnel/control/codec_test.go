package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"intransit/tunnel/pqpsk"
)

func samples() []Message {
	key := [32]byte{1, 2, 3}
	return []Message{
		&Hello{Kind: KindGateway, WireGuardKey: key, KeySignature: bytes.Repeat([]byte{7}, 64),
			Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/48")},
			Transports: []Transport{
				{Name: "udp", Endpoint: netip.MustParseAddrPort("192.0.2.1:51820")},
				{Name: "quic", Endpoint: netip.MustParseAddrPort("[2001:db8::1]:443")},
			}},
		&Hello{Kind: KindClient, WireGuardKey: key, KeySignature: []byte{1}},
		&Assignment{
			Addresses:     []netip.Addr{netip.MustParseAddr("10.99.0.7"), netip.MustParseAddr("fd99::7")},
			Routes:        []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("0.0.0.0/0")},
			DNSServers:    []netip.Addr{netip.MustParseAddr("10.1.0.53")},
			SearchDomains: []string{"corp.example", "eu.corp.example"},
		},
		&RotatePropose{Epoch: 1, EncapsulationKey: bytes.Repeat([]byte{9}, pqpsk.EncapsulationKeySize)},
		&RotateAnswer{Epoch: 2, Ciphertext: bytes.Repeat([]byte{8}, pqpsk.CiphertextSize), Confirmation: bytes.Repeat([]byte{6}, 32)},
		&RotateCommit{Epoch: 3, Confirmation: bytes.Repeat([]byte{5}, 32)},
		&RotateAck{Epoch: 1 << 40},
		&Ping{Seq: 0},
		&Pong{Seq: 99},
		&Refusal{Reason: ReasonKeyBinding, Detail: "signature does not verify ✗"},
		&Close{Reason: ReasonRevoked, Detail: ""},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != Version || Type(b[1]) != m.Type() || int(binary.BigEndian.Uint16(b[2:])) != len(b)-HeaderSize {
				t.Fatalf("bad header % x", b[:HeaderSize])
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("decoded %+v, want %+v", got, m)
			}
			again, err := ReadMessage(bytes.NewReader(b))
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("ReadMessage: %+v, %v", again, err)
			}
		})
	}
}

// frame builds a raw frame around body.
func frame(version byte, t Type, body []byte) []byte {
	b := []byte{version, byte(t), 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)))
	return append(b, body...)
}

func helloBody(mutate func(*writer)) []byte {
	w := &writer{}
	w.u8(uint8(KindGateway))
	w.raw(make([]byte, 32))
	w.bytes16([]byte{1})
	mutate(w)
	return w.b
}

func TestDecodeRejects(t *testing.T) {
	pfx := func(fam byte, addr []byte, bits byte) func(*writer) {
		return func(w *writer) {
			w.u16(1)
			w.u8(fam)
			w.raw(addr)
			w.u8(bits)
			w.u8(0)
		}
	}
	v4 := []byte{10, 0, 0, 0}
	mapped := append(bytes.Repeat([]byte{0}, 10), 0xff, 0xff, 10, 0, 0, 1)
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"short", []byte{1, 7}, "shorter than the 4-byte header"},
		{"version 2", frame(2, TypePing, make([]byte, 8)), "protocol version 2"},
		{"unknown type", frame(1, 42, nil), "unknown message type 42"},
		{"type 0", frame(1, 0, nil), "unknown message type 0"},
		{"oversized", append([]byte{1, byte(TypePing), 0xff, 0xff}, make([]byte, 0xffff)...), "exceeds"},
		{"length mismatch", append(frame(1, TypePing, make([]byte, 8)), 0), "declares a 8-byte body but carries 9"},
		{"left over", frame(1, TypePing, make([]byte, 9)), "1 bytes left over"},
		{"truncated", frame(1, TypePing, make([]byte, 7)), "field seq: needs 8 bytes"},
		{"epoch 0", frame(1, TypeRotateAck, make([]byte, 8)), "epoch 0"},
		{"short key", frame(1, TypeRotatePropose, append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 100)...)), "encapsulation_key: needs 1216"},
		{"unknown reason", frame(1, TypeRefusal, []byte{0, 99, 0, 0}), "unknown reason code 99"},
		{"reason 0", frame(1, TypeClose, []byte{0, 0, 0, 0}), "unknown reason code 0"},
		{"bad utf8", frame(1, TypeRefusal, []byte{0, 1, 0, 2, 0xff, 0xfe}), "not valid UTF-8"},
		{"long detail", frame(1, TypeRefusal, append([]byte{0, 1, 0x02, 0x01}, make([]byte, 513)...)), "513 bytes, at most 512"},
		{"kind 3", frame(1, TypeHello, []byte{3}), "unknown peer kind 3"},
		{"no signature", frame(1, TypeHello, append([]byte{1}, make([]byte, 34)...)), "key_signature: 0 bytes"},
		{"host bits", frame(1, TypeHello, helloBody(pfx(4, []byte{10, 0, 0, 1}, 8))), "prefixes[0]: prefix 10.0.0.1/8 has host bits set"},
		{"bits too long", frame(1, TypeHello, helloBody(pfx(4, v4, 33))), "prefix length 33"},
		{"family 5", frame(1, TypeHello, helloBody(pfx(5, v4, 8))), "address family 5"},
		{"unspecified", frame(1, TypeAssignment, []byte{1, 4, 0, 0, 0, 0, 0, 0, 0, 0}), "addresses[0]: unspecified address 0.0.0.0"},
		{"mapped", frame(1, TypeHello, helloBody(pfx(6, mapped, 128))), "IPv4-mapped"},
		{"too many prefixes", frame(1, TypeHello, helloBody(func(w *writer) { w.u16(257) })), "prefixes: 257 entries, at most 256"},
		{"transport name", frame(1, TypeHello, helloBody(func(w *writer) {
			w.u16(0)
			w.u8(1)
			w.str8("UDP")
			w.addrPort(netip.MustParseAddrPort("192.0.2.1:1"))
		})), `transports[0].name: transport name "UDP"`},
		{"port 0", frame(1, TypeHello, helloBody(func(w *writer) {
			w.u16(0)
			w.u8(1)
			w.str8("udp")
			w.addr(netip.MustParseAddr("192.0.2.1"))
			w.u16(0)
		})), "transports[0].endpoint: port 0"},
		{"too many transports", frame(1, TypeHello, helloBody(func(w *writer) { w.u16(0); w.u8(17) })), "transports: 17 entries, at most 16"},
		{"no address", frame(1, TypeAssignment, []byte{0, 0, 0, 0, 0}), "no tunnel address assigned"},
		{"two v4", frame(1, TypeAssignment, []byte{2, 4, 10, 0, 0, 1, 4, 10, 0, 0, 2, 0, 0, 0, 0}), "addresses[1]: second address 10.0.0.2 of the same family"},
		{"bad domain", frame(1, TypeAssignment, append([]byte{1, 4, 10, 0, 0, 1, 0, 0, 0, 1, 4}, "a..b"...)), "search_domains[0]: DNS name \"a..b\""},
		{"domain hyphen", frame(1, TypeAssignment, append([]byte{1, 4, 10, 0, 0, 1, 0, 0, 0, 1, 4}, "-a.b"...)), "label starting with '-'"},
		{"domain byte", frame(1, TypeAssignment, append([]byte{1, 4, 10, 0, 0, 1, 0, 0, 0, 1, 3}, "a b"...)), "byte ' ' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.frame)
			if err == nil {
				t.Fatal("decoded")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxDetail+1)
	tests := []struct {
		m    Message
		want string
	}{
		{&RotatePropose{Epoch: 1, EncapsulationKey: []byte{1}}, "encapsulation_key"},
		{&RotateAck{}, "epoch 0"},
		{&Hello{Kind: KindGateway, KeySignature: []byte{1}, Prefixes: []netip.Prefix{{}}}, "address family 0"},
		{&Hello{Kind: KindGateway}, "key_signature: 0 bytes"},
		{&Hello{Kind: KindGateway, KeySignature: []byte{1}, Transports: make([]Transport, 17)}, "transports: 17 entries"},
		{&Refusal{Reason: ReasonProtocol, Detail: long}, "513 bytes"},
		{&Assignment{Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, SearchDomains: []string{strings.Repeat("a", 300)}}, "DNS name of 255 bytes"},
	}
	for _, tt := range tests {
		if _, err := Encode(tt.m); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Encode(%s): %v, want %q", tt.m.Type(), err, tt.want)
		}
	}
	many := &Assignment{Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}
	for range MaxPrefixes {
		many.Routes = append(many.Routes, netip.MustParsePrefix("2001:db8::/32"))
	}
	for range MaxSearchDomains {
		many.SearchDomains = append(many.SearchDomains, strings.Repeat("a", 63)+"."+strings.Repeat("b", 63)+"."+strings.Repeat("c", 63)+"."+strings.Repeat("d", 61))
	}
	if b, err := Encode(many); err != nil || len(b) > HeaderSize+MaxBodySize {
		t.Errorf("largest assignment: %d bytes, %v", len(b), err)
	}
}

func TestReadMessageStream(t *testing.T) {
	var stream []byte
	for _, m := range samples() {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	r := bytes.NewReader(stream)
	for _, want := range samples() {
		got, err := ReadMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := ReadMessage(r); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	ping, _ := Encode(&Ping{Seq: 1})
	for _, cut := range []int{2, 6} {
		if _, err := ReadMessage(bytes.NewReader(ping[:cut])); !errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d: %v, want ErrMalformed", cut, err)
		}
	}
	// A header announcing an oversized body is refused before the body is read.
	if _, err := ReadMessage(io.MultiReader(bytes.NewReader([]byte{1, byte(TypePing), 0xff, 0xff}), failReader{})); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized: %v", err)
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("read past the header") }

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := Reason(1); r.Valid(); r++ {
		n := r.String()
		if seen[n] || strings.Contains(n, "(") {
			t.Errorf("reason %d: name %q", r, n)
		}
		seen[n] = true
	}
	if len(seen) != int(ReasonStoreUnreachable) {
		t.Errorf("%d named reasons, want %d", len(seen), ReasonStoreUnreachable)
	}
	if Reason(0).Valid() || Reason(ReasonStoreUnreachable+1).Valid() {
		t.Error("reasons outside the table are valid")
	}
}
